import { describe, expect, it } from 'vitest';
import { clientErrorFor, httpServerOptions, MAX_REQUEST_HEAD_BYTES } from './http-limits.js';

const parseError = (code: string, packet?: string, bytesParsed?: number) =>
  Object.assign(new Error(code), {
    code,
    ...(packet === undefined
      ? {}
      : { rawPacket: Buffer.from(packet, 'latin1'), bytesParsed: bytesParsed ?? packet.length }),
  });

describe('clientErrorFor', () => {
  it('tells a URL overflow (414) from a header overflow (431)', () => {
    // The URL just ended where the parser stopped.
    expect(clientErrorFor(parseError('HPE_HEADER_OVERFLOW', 'aaaa HTTP/1.1\r\nHost: x\r\n', 4))?.code).toBe(
      'URI_TOO_LONG',
    );
    // The packet began with the request line and ended inside it.
    expect(clientErrorFor(parseError('HPE_HEADER_OVERFLOW', `GET /?t=${'a'.repeat(100)}`))?.code).toBe('URI_TOO_LONG');
    // A header value overflowed.
    expect(clientErrorFor(parseError('HPE_HEADER_OVERFLOW', `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(100)}`))?.code).toBe(
      'HEADERS_TOO_LARGE',
    );
    expect(clientErrorFor(parseError('HPE_HEADER_OVERFLOW', 'aaaa\r\nCookie: x', 4))?.code).toBe('HEADERS_TOO_LARGE');
    expect(clientErrorFor(parseError('HPE_HEADER_OVERFLOW'))?.code).toBe('HEADERS_TOO_LARGE');
  });

  it('answers a deadline 408, bad HTTP 400, and nothing to a reset', () => {
    expect(clientErrorFor(parseError('ERR_HTTP_REQUEST_TIMEOUT'))?.status).toBe(408);
    expect(clientErrorFor(parseError('HPE_INVALID_METHOD'))?.code).toBe('BAD_REQUEST');
    expect(clientErrorFor(parseError('ECONNRESET'))).toBeUndefined();
  });
});

describe('httpServerOptions', () => {
  it('bounds the head and the time to receive a request, with a header deadline Node accepts', () => {
    expect(httpServerOptions({ requestTimeoutMs: 30_000 })).toEqual({
      maxHeaderSize: MAX_REQUEST_HEAD_BYTES,
      requestTimeout: 30_000,
      headersTimeout: 30_000,
      connectionsCheckingInterval: 7500,
    });
    const long = httpServerOptions({ requestTimeoutMs: 600_000 });
    expect(long.headersTimeout).toBe(60_000);
    expect(long.connectionsCheckingInterval).toBe(30_000);
    expect(httpServerOptions({ requestTimeoutMs: 100 }).connectionsCheckingInterval).toBe(25);
  });
});
