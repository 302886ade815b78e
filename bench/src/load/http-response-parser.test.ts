import { describe, expect, it } from 'vitest';
import { createResponseParser, type ParsedResponse } from './http-response-parser.js';

const fixed = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}';
const chunked =
  'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"err\r\n6\r\nor":1}\r\n0\r\n\r\n';

function parseAll(chunks: string[]): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  const p = createResponseParser((r) => out.push(r));
  for (const c of chunks) p.feed(c);
  return out;
}

describe('createResponseParser', () => {
  it('reads Content-Length and chunked responses back to back', () => {
    const out = parseAll([fixed + chunked + fixed]);
    expect(out.map((r) => [r.status, r.body])).toEqual([
      [200, '{"ok":true}'],
      [429, '{"error":1}'],
      [200, '{"ok":true}'],
    ]);
    expect(out[1]!.headers['retry-after']).toBe('1');
  });

  it('gives the same responses byte by byte', () => {
    const all = fixed + chunked;
    const out = parseAll([...all]);
    expect(out.map((r) => r.body)).toEqual(['{"ok":true}', '{"error":1}']);
  });

  it('waits for the whole body', () => {
    const out: ParsedResponse[] = [];
    const p = createResponseParser((r) => out.push(r));
    p.feed(fixed.slice(0, -3));
    expect(out).toHaveLength(0);
    p.feed(fixed.slice(-3));
    expect(out).toHaveLength(1);
  });

  it('reads a response without a body', () => {
    expect(parseAll(['HTTP/1.1 204 No Content\r\n\r\n'])).toEqual([{ status: 204, headers: {}, body: '' }]);
  });

  it('reports a malformed status line', () => {
    const errors: Error[] = [];
    const p = createResponseParser(
      () => {},
      (e) => errors.push(e),
    );
    p.feed('SMTP ready\r\n\r\n');
    expect(errors).toHaveLength(1);
  });
});
