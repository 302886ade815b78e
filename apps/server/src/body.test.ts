import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { readJson } from './body.js';
import { errorResponse } from './errors.js';

function app(maxBytes: number) {
  const a = new Hono();
  a.post('/', async (c) => c.json({ got: await readJson(c, maxBytes) }));
  a.onError((err, c) => errorResponse(c, err));
  return a;
}

/** A body sent in 64 KiB chunks without a Content-Length, counting how much of it was pulled. */
function chunked(total: number) {
  const state = { pulled: 0 };
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) return c.close();
      const n = Math.min(64 * 1024, total - sent);
      sent += n;
      state.pulled = sent;
      c.enqueue(new Uint8Array(n).fill(0x20));
    },
  });
  return { body, state };
}

const post = (a: Hono, body: BodyInit, headers: Record<string, string> = {}) =>
  a.request('/', { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, duplex: 'half' } as RequestInit);

describe('readJson', () => {
  it('parses a JSON body within the limit', async () => {
    const res = await post(app(100), '{"a":1}');
    expect(await res.json()).toEqual({ got: { a: 1 } });
  });

  it('refuses a larger body with 413 after reading it to the end, keeping the connection usable', async () => {
    const { body, state } = chunked(2 * 1024 * 1024);
    const res = await post(app(1024), body);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(state.pulled).toBe(2 * 1024 * 1024);
    expect(res.headers.get('connection')).toBeNull();
  });

  it('cuts off a body far over the limit and closes the connection', async () => {
    const { body, state } = chunked(64 * 1024 * 1024);
    const res = await post(app(1024), body);
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(state.pulled).toBeLessThan(20 * 1024 * 1024);
  });

  it('refuses by Content-Length without waiting for a huge body', async () => {
    const res = await post(app(1024), '{}', { 'content-length': String(1 << 30) });
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
  });

  it('answers 400 for malformed JSON and an empty body, 415 for another content type', async () => {
    expect((await post(app(100), '{"a":')).status).toBe(400);
    expect((await post(app(100), '  ')).status).toBe(400);
    expect((await post(app(100), 'a=1', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
  });
});
