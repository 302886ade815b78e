import { describe, expect, it } from 'vitest';
import { createHttpStreamDecoder } from './http-stream-decoder.js';

function decode(chunks: string[]) {
  const out = { status: 0, headers: {} as Record<string, string>, body: '', errors: 0 };
  const d = createHttpStreamDecoder({
    onHead: (s, h) => {
      out.status = s;
      out.headers = h;
    },
    onBody: (t) => {
      out.body += t;
    },
    onError: () => {
      out.errors++;
    },
  });
  for (const c of chunks) d.feed(c);
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
});
