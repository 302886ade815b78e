import { describe, expect, it } from 'vitest';
import { createHttpStreamDecoder } from './http-stream-decoder.js';

function decode(chunks: string[]) {
  const out = { status: 0, headers: {} as Record<string, string>, body: '', errors: 0 };
  const d = createHttpStreamDecoder({
    onHead: (s, h) => {
      out.status = s;
      out.headers = h;
    },
    onBody: (b, start, end) => {
      out.body += Buffer.from(b.subarray(start, end)).toString('latin1');
    },
    onError: () => {
      out.errors++;
    },
  });
  for (const c of chunks) d.feed(Buffer.from(c, 'latin1'));
  return out;
}

const pieces = ['event: connected\ndata: 1', 'id: 1-0/x\ndata: {"s":0}\n\n'];
const chunkedStream =
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n' +
  pieces.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join('') +
  '0\r\n\r\n';
const body = 'event: connected\ndata: 1id: 1-0/x\ndata: {"s":0}\n\n';

describe('createHttpStreamDecoder', () => {
  it('de-chunks a chunked stream', () => {
    const out = decode([chunkedStream]);
    expect(out.status).toBe(200);
    expect(out.headers['content-type']).toBe('text/event-stream');
    expect(out.body).toBe(body);
  });

  it('gives the same body for every split of the bytes', () => {
    for (let size = 1; size <= 17; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < chunkedStream.length; i += size) chunks.push(chunkedStream.slice(i, i + size));
      expect(decode(chunks).body).toBe(body);
    }
  });

  it('passes an unchunked body through', () => {
    const out = decode(['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc', 'def']);
    expect(out.body).toBe('abcdef');
  });

  it('reads an error response head and body', () => {
    const out = decode(['HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}']);
    expect(out.status).toBe(401);
    expect(out.body).toBe('{}');
  });

  it('reports a malformed chunk size', () => {
    const out = decode(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']);
    expect(out.errors).toBe(1);
  });

  it('reports chunk data not followed by CRLF, and decodes nothing after an error', () => {
    const out = decode(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n1\r\nd\r\n']);
    expect(out.errors).toBe(1);
    expect(out.body).toBe('abc');
  });

  it('skips chunk extensions and reads upper-case hex sizes', () => {
    const out = decode([
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1A;name=v\r\n',
      'x'.repeat(26),
      '\r\n0\r\n\r\n',
    ]);
    expect(out.body).toBe('x'.repeat(26));
    expect(out.errors).toBe(0);
  });

  it('reads only the range it is given', () => {
    const bytes = Buffer.from(`junk${chunkedStream}junk`, 'latin1');
    let text = '';
    const d = createHttpStreamDecoder({
      onHead: () => {},
      onBody: (b, start, end) => {
        text += Buffer.from(b.subarray(start, end)).toString('latin1');
      },
      onError: () => {
        throw new Error('unexpected');
      },
    });
    d.feed(bytes, 4, bytes.length - 4);
    expect(text).toBe(body);
  });
});
