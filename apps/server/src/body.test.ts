import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readJson } from './body.js';
import { errorResponse } from './errors.js';
import { requestOf } from './request.js';

function app(maxBytes: number) {
  const a = new Hono();
  a.post('/', async (c) => c.json({ got: await readJson(requestOf(c), maxBytes) }));
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
  a.request('/', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
    duplex: 'half',
  } as RequestInit);

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

  it('refuses invalid UTF-8 anywhere in the body with 400 INVALID_JSON instead of turning it into U+FFFD', async () => {
    const enc = new TextEncoder();
    const bad = (before: string, bytes: number[], after: string) =>
      new Uint8Array([...enc.encode(before), ...bytes, ...enc.encode(after)]);
    for (const body of [
      bad('{"a":"', [0xff], '"}'),
      bad('{"a":"', [0xc3], '"}'),
      bad('{"a":"', [0xed, 0xa0, 0x80], '"}'),
      bad('{"', [0x80], '":1}'),
    ]) {
      const res = await post(app(100), body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: { code: 'INVALID_JSON', message: 'The request body is not valid UTF-8.' },
      });
    }
    expect(await (await post(app(100), enc.encode('{"a":"é✓😀"}'))).json()).toEqual({ got: { a: 'é✓😀' } });
  });

  it('refuses nesting deeper than 64 levels with 400 INVALID_JSON saying so, never a 500', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      for (const body of [
        '['.repeat(30_000) + ']'.repeat(30_000),
        '{"a":'.repeat(6000) + '1' + '}'.repeat(6000),
        `{"x":${'['.repeat(64)}${']'.repeat(64)}}`,
      ]) {
        const res = await post(app(1 << 20), body);
        expect(res.status).toBe(400);
        const { error } = (await res.json()) as { error: { code: string; message: string } };
        expect(error.code).toBe('INVALID_JSON');
        expect(error.message).toMatch(/deeper than 64 levels/);
      }
      expect(errors).not.toHaveBeenCalled();
      expect((await post(app(1 << 20), `{"x":${'['.repeat(63)}${']'.repeat(63)}}`)).status).toBe(200);
    } finally {
      errors.mockRestore();
    }
  });

  it('answers 400 for malformed JSON and an empty body, 415 for another content type', async () => {
    expect((await post(app(100), '{"a":')).status).toBe(400);
    expect((await post(app(100), '  ')).status).toBe(400);
    expect((await post(app(100), 'a=1', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
  });
});

/** Serves an app over real Node HTTP on loopback, where `readJson` reads the `IncomingMessage`. */
async function listen(a: Hono): Promise<{ port: number; close(): Promise<void> }> {
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: a.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
  /** Bytes of the request body written before the answer arrived. */
  sent: number;
}

/**
 * POSTs to `/` over `agent`, writing `chunks` (each after the previous one
 * drained) until they run out or the answer arrives.
 */
function postNode(
  port: number,
  chunks: Iterable<Uint8Array | string>,
  headers: Record<string, string>,
  agent?: http.Agent,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/',
      agent,
      headers: { 'content-type': 'application/json', ...headers },
    });
    req.on('error', (err) => (answered ? undefined : reject(err)));
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket, sent }),
      );
    });
    const it = chunks[Symbol.iterator]();
    const next = (): void => {
      if (answered) return;
      const { value, done } = it.next();
      if (done) return void req.end();
      sent += typeof value === 'string' ? Buffer.byteLength(value) : value.byteLength;
      if (req.write(value)) setImmediate(next);
      else req.once('drain', next);
    };
    next();
  });
}

/** `count` chunks of `size` spaces (valid JSON whitespace). */
function* spaces(count: number, size = 64 * 1024): Generator<Uint8Array> {
  const chunk = new Uint8Array(size).fill(0x20);
  for (let i = 0; i < count; i++) yield chunk;
}

describe('readJson from the Node request', () => {
  let node: Awaited<ReturnType<typeof listen>>;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  beforeAll(async () => {
    node = await listen(app(1024));
  });
  afterAll(async () => {
    agent.destroy();
    await node.close();
  });

  it('parses a body sent in several chunks, with or without a Content-Length', async () => {
    const parts = ['{"a":', '[1,2', '],"b":"é"}'];
    const chunked = await postNode(node.port, parts, {});
    expect(chunked.status).toBe(200);
    expect(JSON.parse(chunked.body)).toEqual({ got: { a: [1, 2], b: 'é' } });
    const length = String(Buffer.byteLength(parts.join('')));
    const declared = await postNode(node.port, parts, { 'content-length': length });
    expect(JSON.parse(declared.body)).toEqual({ got: { a: [1, 2], b: 'é' } });
  });

  it('answers 400, 415 and 400 for malformed JSON, another content type and an empty body', async () => {
    const code = (a: Answer) => `${a.status} ${(JSON.parse(a.body) as { error: { code: string } }).error.code}`;
    expect(code(await postNode(node.port, ['{"a":'], {}))).toBe('400 INVALID_JSON');
    expect(code(await postNode(node.port, ['a=1'], { 'content-type': 'application/x-www-form-urlencoded' }))).toBe(
      '415 UNSUPPORTED_MEDIA_TYPE',
    );
    expect(code(await postNode(node.port, [], {}))).toBe('400 BAD_REQUEST');
  });

  it('refuses a larger body with 413 after reading it to the end, and the same connection serves the next request', async () => {
    const over = await postNode(node.port, spaces(32), {}, agent);
    expect(over.status).toBe(413);
    expect(over.sent).toBe(32 * 64 * 1024);
    expect(over.headers.connection).not.toBe('close');
    const next = await postNode(node.port, ['{"after":1}'], {}, agent);
    expect(next.reusedSocket).toBe(true);
    expect(JSON.parse(next.body)).toEqual({ got: { after: 1 } });
  });

  it('refuses by Content-Length without reading the body, and closes the connection', async () => {
    const res = await postNode(node.port, [], { 'content-length': String(1 << 30) });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
  });

  it('does not log a client that aborts its upload as a server error, and the read ends', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    // What each read came to: the aborted one must settle, not wait forever holding its chunks.
    const outcomes: string[] = [];
    const recording = new Hono();
    recording.post('/', async (c) => {
      try {
        const got = await readJson(requestOf(c), 1024);
        outcomes.push('read');
        return c.json({ got });
      } catch (err) {
        outcomes.push((err as Error).name);
        throw err;
      }
    });
    recording.onError((err, c) => errorResponse(c, err));
    const own = await listen(recording);
    try {
      const socket = net.connect(own.port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":');
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
      await new Promise((r) => setTimeout(r, 200));
      expect(errors).not.toHaveBeenCalled();
      expect(outcomes).toEqual(['ClientGoneError']);
      // The server is fine: the next request is answered.
      expect((await postNode(own.port, ['{"after":2}'], {})).status).toBe(200);
      expect(outcomes).toEqual(['ClientGoneError', 'read']);
    } finally {
      errors.mockRestore();
      await own.close();
    }
  });

  it('cuts off a body far over the limit and closes the connection', async () => {
    const res = await postNode(node.port, spaces(1024), {});
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(res.sent).toBeLessThan(64 * 1024 * 1024);
  });
});
