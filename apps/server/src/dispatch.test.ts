import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRequestListener } from './dispatch.js';
import { createInProcessServer, type InProcessServer } from './test-support.js';

const KEY = 'sk_test_0123456789abcdef';
const ORIGIN = 'https://app.example';

/** One request, sent both ways. */
interface Probe {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** What is compared between the two paths: status, the headers a client reads, the error body. */
interface Answer {
  status: number;
  headers: Record<string, string | null>;
  /** The error body, or the sorted keys of a success body (ids and times differ between requests). */
  body: unknown;
}

const COMPARED_HEADERS = [
  'content-type',
  'access-control-allow-origin',
  'access-control-expose-headers',
  'vary',
  'connection',
  'retry-after',
  'cache-control',
];

async function answerOf(res: Response, method: string): Promise<Answer> {
  const headers: Record<string, string | null> = {};
  for (const name of COMPARED_HEADERS) headers[name] = res.headers.get(name);
  // A kept-alive answer says nothing on the node path and nothing under app.request(): compare only
  // "close", and not after a HEAD, whose connection Node closes whichever handler answered it.
  if (headers.connection !== 'close' || method === 'HEAD') headers.connection = null;
  const text = res.headers.get('content-type')?.startsWith('text/event-stream') ? '' : await res.text();
  let body: unknown = text;
  if (text.startsWith('{')) {
    const json = JSON.parse(text) as Record<string, unknown>;
    body = 'error' in json ? json : Object.keys(json).sort();
  }
  return { status: res.status, headers, body };
}

describe('createRequestListener', () => {
  let server: InProcessServer;
  let node: http.Server;
  let base: string;
  /** The paths of the requests that reached Hono. */
  const viaHono: string[] = [];
  let token: string;

  beforeAll(async () => {
    server = await createInProcessServer({
      CAST_API_KEYS: `acme=${KEY}`,
      CAST_PUBLIC_KEYS: 'acme=pk_test_0123456789abcdef',
      CAST_SIGNING_SECRET: 's'.repeat(32),
      CAST_CORS_ORIGINS: ORIGIN,
    });
    const { app } = server;
    const honoFetch = app.fetch;
    app.fetch = (request, env, ctx) => {
      viaHono.push(`${request.method} ${new URL(request.url).pathname}`);
      return honoFetch(request, env, ctx);
    };
    node = http.createServer(createRequestListener(server.deps, app));
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
    ({ token } = await server.deps.tokens.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 60 }));
  });
  afterAll(async () => {
    server.close();
    node.closeAllConnections();
    await new Promise<void>((resolve) => node.close(() => resolve()));
  });

  const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  const probes = (): Probe[] => [
    {
      name: 'a publish',
      method: 'POST',
      path: '/push/publish',
      headers: auth,
      body: '{"channel":"orders","event":"order.created","data":{"id":1}}',
    },
    {
      name: 'a publish with an Origin',
      method: 'POST',
      path: '/push/publish',
      headers: { ...auth, origin: ORIGIN },
      body: '{"channel":"orders","event":"a","data":1}',
    },
    {
      name: 'a publish without a key',
      method: 'POST',
      path: '/push/publish',
      headers: { 'content-type': 'application/json', origin: ORIGIN },
      body: '{}',
    },
    {
      name: 'a publish with a read-only key',
      method: 'POST',
      path: '/push/publish',
      headers: { authorization: 'Bearer pk_test_0123456789abcdef' },
      body: '{}',
    },
    { name: 'a publish of bad JSON', method: 'POST', path: '/push/publish', headers: auth, body: '{"channel":' },
    {
      name: 'a publish of text',
      method: 'POST',
      path: '/push/publish',
      headers: { ...auth, 'content-type': 'text/plain' },
      body: 'hi',
    },
    {
      name: 'a publish to a bad channel',
      method: 'POST',
      path: '/push/publish',
      headers: auth,
      body: '{"channel":"a b","event":"x","data":1}',
    },
    {
      name: 'a publish too large',
      method: 'POST',
      path: '/push/publish',
      headers: auth,
      body: `{"channel":"orders","event":"x","data":"${'x'.repeat(200_000)}"}`,
    },
    {
      name: 'a token',
      method: 'POST',
      path: '/push/tokens',
      headers: auth,
      body: '{"channels":["orders"],"userId":"u1"}',
    },
    { name: 'a token without channels', method: 'POST', path: '/push/tokens', headers: auth, body: '{"channels":[]}' },
    {
      name: 'a token with a bad ttl',
      method: 'POST',
      path: '/push/tokens',
      headers: { ...auth, origin: ORIGIN },
      body: '{"channels":["a"],"ttlSeconds":0.5}',
    },
    { name: 'a stream without a token', method: 'GET', path: '/push/stream' },
    { name: 'a stream with a bad token', method: 'GET', path: '/push/stream?token=abc', headers: { origin: ORIGIN } },
    { name: 'a stream with a bad filter', method: 'GET', path: `/push/stream?token=${token}&types=a..b` },
    { name: 'a HEAD of a stream', method: 'HEAD', path: `/push/stream?token=${token}`, headers: { origin: ORIGIN } },
    { name: 'a HEAD of a stream with a bad token', method: 'HEAD', path: '/push/stream?token=abc' },
    {
      name: 'a stream with a token in the Authorization header',
      method: 'HEAD',
      path: '/push/stream',
      headers: { authorization: `Bearer ${token}` },
    },
    {
      name: 'a stream resuming from an id it cannot parse',
      method: 'HEAD',
      path: `/push/stream?token=${token}&lastEventId=x`,
    },
  ];

  it('answers the hot routes without Hono, with the same status, headers and errors as Hono gives', async () => {
    for (const probe of probes()) {
      viaHono.length = 0;
      const init: RequestInit = { method: probe.method, headers: probe.headers ?? {} };
      if (probe.body !== undefined) init.body = probe.body;
      const overNode = await answerOf(await fetch(`${base}${probe.path}`, init), probe.method);
      expect(viaHono, probe.name).toEqual([]);
      const underHono = await answerOf(await server.app.request(probe.path, init), probe.method);
      expect(overNode, probe.name).toEqual(underHono);
    }
  });

  it('streams over the node path: connected, then a published event', async () => {
    viaHono.length = 0;
    const controller = new AbortController();
    const res = await fetch(`${base}/push/stream?token=${token}`, { signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await readUntil('event: connected');
    const published = await fetch(`${base}/push/publish`, {
      method: 'POST',
      headers: auth,
      body: '{"channel":"orders","event":"order.paid","data":{"n":7}}',
    });
    expect(published.status).toBe(200);
    await readUntil('data: {"n":7}');
    expect(text).toContain('event: order.paid');
    expect(viaHono).toEqual([]);
    controller.abort();
  });

  it('hands every other request to Hono: other methods, other paths, trailing slashes, preflights', async () => {
    viaHono.length = 0;
    const other = [
      { method: 'GET', path: '/push/publish', status: 405 },
      { method: 'POST', path: '/push/publish/', status: 404 },
      { method: 'GET', path: '/healthz', status: 200 },
      { method: 'OPTIONS', path: '/push/publish', status: 204 },
    ];
    for (const { method, path, status } of other) {
      const headers: Record<string, string> =
        method === 'OPTIONS' ? { origin: ORIGIN, 'access-control-request-method': 'POST' } : {};
      const res = await fetch(`${base}${path}`, { method, headers });
      expect(res.status, `${method} ${path}`).toBe(status);
      await res.arrayBuffer();
    }
    expect(viaHono).toEqual(other.map(({ method, path }) => `${method} ${path}`));
  });
});

describe('createRequestListener, when a stream fails after its headers went out', () => {
  it('ends the response instead of leaving it open', async () => {
    const server = await createInProcessServer(
      { CAST_API_KEYS: `acme=${KEY}`, CAST_SIGNING_SECRET: 's'.repeat(32) },
      // The session store fails once the stream's headers are written.
      {
        wrapBroker: (memory) =>
          Object.assign(Object.create(memory) as typeof memory, {
            addSession: () => Promise.reject(new Error('store down')),
          }),
      },
    );
    const node = http.createServer(createRequestListener(server.deps, server.app));
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const { token } = await server.deps.tokens.sign({ tenant: 'acme', channels: ['orders'], ttlSeconds: 60 });
      const res = await fetch(`http://127.0.0.1:${(node.address() as AddressInfo).port}/push/stream?token=${token}`);
      expect(res.status).toBe(200);
      await expect(res.text()).rejects.toThrow();
    } finally {
      quiet.mockRestore();
      server.close();
      node.closeAllConnections();
      await new Promise<void>((resolve) => node.close(() => resolve()));
    }
  }, 10_000);
});
