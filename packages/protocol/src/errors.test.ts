import { describe, expect, it } from 'vitest';
import { CastError, codeForStatus, ERROR_CODES, errorFromResponse, isCastError, isErrorCode } from './errors.js';

describe('the error table', () => {
  it('maps the codes the wire contract names to their statuses', () => {
    const expected: Record<string, number> = {
      BAD_REQUEST: 400,
      INVALID_JSON: 400,
      INVALID_CHANNEL: 400,
      INVALID_EVENT_NAME: 400,
      RESERVED_EVENT_NAME: 400,
      TOO_MANY_CHANNELS: 400,
      UNAUTHORIZED: 401,
      INVALID_API_KEY: 401,
      INVALID_TOKEN: 401,
      TOKEN_EXPIRED: 401,
      FORBIDDEN: 403,
      NOT_FOUND: 404,
      PAYLOAD_TOO_LARGE: 413,
      RATE_LIMITED: 429,
      UNAVAILABLE: 503,
    };
    for (const [code, status] of Object.entries(expected))
      expect(ERROR_CODES[code as keyof typeof ERROR_CODES].status, code).toBe(status);
  });

  it('marks only transient failures retryable', () => {
    const retryable = Object.entries(ERROR_CODES)
      .filter(([, e]) => e.retryable)
      .map(([c]) => c)
      .sort();
    expect(retryable).toEqual([
      'INTERNAL',
      'NETWORK_ERROR',
      'RATE_LIMITED',
      'STREAM_INTERRUPTED',
      'TIMEOUT',
      'TOKEN_PROVIDER_FAILED',
      'UNAVAILABLE',
    ]);
  });

  it('uses SCREAMING_SNAKE codes', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^[A-Z][A-Z_]*[A-Z]$/);
  });
});

describe('CastError', () => {
  it('takes status and retryable from the table, and serializes to the wire error body', () => {
    const err = new CastError('TOKEN_EXPIRED', 'expired');
    expect(err).toBeInstanceOf(Error);
    expect([err.name, err.code, err.status, err.retryable]).toEqual(['CastError', 'TOKEN_EXPIRED', 401, false]);
    expect(JSON.parse(JSON.stringify(err))).toEqual({ error: { code: 'TOKEN_EXPIRED', message: 'expired' } });
  });

  it('lets options override status and retryable, and keeps cause and retryAfter', () => {
    const cause = new Error('x');
    const err = new CastError('RATE_LIMITED', 'slow down', { status: 429, retryable: false, retryAfter: 3, cause });
    expect([err.status, err.retryable, err.retryAfter, err.cause]).toEqual([429, false, 3, cause]);
  });

  it('is recognized across copies of the class by name and code', () => {
    expect(isCastError(new CastError('INTERNAL', 'x'))).toBe(true);
    expect(isCastError({ name: 'CastError', code: 'INTERNAL', message: 'x' })).toBe(true);
    expect(isCastError({ name: 'CastError', code: 'NOPE' })).toBe(false);
    expect(isCastError(new Error('x'))).toBe(false);
    expect(isErrorCode('TOKEN_EXPIRED')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
  });
});

describe('errorFromResponse', () => {
  it('keeps the code and message of a Cast error body and the status received', () => {
    const err = errorFromResponse(401, { error: { code: 'INVALID_TOKEN', message: 'bad token' } });
    expect([err.code, err.message, err.status, err.retryable]).toEqual(['INVALID_TOKEN', 'bad token', 401, false]);
  });

  it('derives a code from the status for foreign bodies, retrying 408/429/5xx', () => {
    expect(errorFromResponse(502, '<html>').code).toBe('UNAVAILABLE');
    expect(errorFromResponse(502, undefined).retryable).toBe(true);
    const limited = errorFromResponse(429, undefined, 7);
    expect([limited.code, limited.retryable, limited.retryAfter]).toEqual(['RATE_LIMITED', true, 7]);
    expect(errorFromResponse(418, {}).code).toBe('BAD_REQUEST');
    expect(codeForStatus(500)).toBe('INTERNAL');
    expect(codeForStatus(401)).toBe('UNAUTHORIZED');
  });

  it('maps a bare status to the general code the table lists first for it', () => {
    const general = {
      400: 'BAD_REQUEST',
      401: 'UNAUTHORIZED',
      403: 'FORBIDDEN',
      404: 'NOT_FOUND',
      405: 'METHOD_NOT_ALLOWED',
      408: 'TIMEOUT',
      413: 'PAYLOAD_TOO_LARGE',
      415: 'UNSUPPORTED_MEDIA_TYPE',
      429: 'RATE_LIMITED',
      500: 'INTERNAL',
      503: 'UNAVAILABLE',
    };
    for (const [status, code] of Object.entries(general)) expect(codeForStatus(Number(status)), status).toBe(code);
    // A proxy's answers the table has a code for keep it, not BAD_REQUEST.
    expect([codeForStatus(409), codeForStatus(414), codeForStatus(431)]).toEqual([
      'IDEMPOTENCY_KEY_REUSED',
      'URI_TOO_LONG',
      'HEADERS_TOO_LARGE',
    ]);
    expect([codeForStatus(504), codeForStatus(599), codeForStatus(0)]).toEqual([
      'UNAVAILABLE',
      'INTERNAL',
      'BAD_REQUEST',
    ]);
  });
});
