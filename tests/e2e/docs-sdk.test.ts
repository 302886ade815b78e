import { type IncomingMessage, type Server, createServer, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Realtime, RealtimeEvent } from '@cast/realtime-client';
import type { CastServer } from '@cast/server-sdk';
import { type RawStream, openRaw } from './helpers/sse.js';
import { type TestServer, issueToken, startServer } from './helpers/server.js';

// The TypeScript samples of the docs (docs/snippets/**/*.ts), run against a real server.
type Events = import('../../docs/snippets/server/cast.js').Events;

let server: TestServer;
let cast: CastServer<Events>;
const opened: Array<{ destroy(): void } | RawStream> = [];

beforeAll(async () => {
  server = await startServer();
  // server/cast.ts reads these, as the guide says.
  process.env.CAST_API_KEY = server.apiKey;
  process.env.CAST_URL = server.url;
  ({ cast } = await import('../../docs/snippets/server/cast.js'));
});
afterAll(async () => {
  for (const o of opened) 'destroy' in o ? o.destroy() : o.close();
  await server.stop();
});

async function listen(channels: string[], userId?: string): Promise<RawStream> {
  const { token } = await issueToken(server, userId ? { channels, userId } : { channels });
  const stream = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
  opened.push(stream);
  await stream.waitFor(1, { match: (e) => e.event === 'connected' });
  return stream;
}

function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error('condition not met in time'));
      setTimeout(tick, 20);
    };
    tick();
  });
}

/** Serves a Fetch-API handler over node:http, as Hono or Next.js would. */
async function serveHandler(
  handler: (request: Request) => Promise<Response>,
): Promise<{ url: string; close(): Promise<void> }> {
  const site: Server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks);
    const answer = await handler(new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, body }));
    res.writeHead(answer.status, Object.fromEntries(answer.headers)).end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  const address = site.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => site.close(() => r())) };
}

describe('docs: server SDK samples', () => {
  it('server/publish.ts#publish reaches an open stream', async () => {
    const { publishOne } = await import('../../docs/snippets/server/publish.js');
    const stream = await listen(['orders']);
    const { eventId, delivered } = await publishOne(cast);
    expect(delivered).toBe(1);
    const [event] = await stream.waitFor(1, { match: (e) => e.id === eventId });
    expect(JSON.parse(event?.data ?? '')).toEqual({ orderId: 'abc123', total: 4999, currency: 'AOA' });
  });

  it('server/publish.ts#batch publishes both events in order', async () => {
    const { publishMany } = await import('../../docs/snippets/server/publish.js');
    const stream = await listen(['order:abc123', 'user:user_123']);
    const results = await publishMany(cast);
    expect(results).toHaveLength(2);
    const events = await stream.waitFor(3);
    expect(events.slice(1).map((e) => e.id)).toEqual(results.map((r) => r.eventId));
  });

  it('server/publish.ts#idempotency delivers the second publish as a duplicate', async () => {
    const { publishOnce } = await import('../../docs/snippets/server/publish.js');
    const { first, again } = await publishOnce(cast);
    expect(again).toEqual({ ...first, duplicate: true });
  });

  it('server/publish.ts#errors tells a bad channel from a sent event', async () => {
    const { publishCarefully } = await import('../../docs/snippets/server/publish.js');
    expect(await publishCarefully(cast, 'not a channel')).toBe('fix the channel name');
    expect(await publishCarefully(cast, 'user:user_123')).toBe('sent');
  });

  it('server/tokens.ts#create issues a token the stream accepts', async () => {
    const { issueToken: create } = await import('../../docs/snippets/server/tokens.js');
    const { token, channels } = await create(cast, 'u1');
    expect(channels).toEqual(['user:u1', 'announcements']);
    const stream = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    opened.push(stream);
    expect(stream.status).toBe(200);
  });

  it('server/tokens.ts#sign mints a token locally that the server accepts', async () => {
    const { signLocally } = await import('../../docs/snippets/server/tokens.js');
    const { CastServer } = await import('@cast/server-sdk');
    const local = new CastServer<Events>({ signingSecret: server.signingSecret, tenant: server.tenant });
    const token = await signLocally(local);
    const stream = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    opened.push(stream);
    const [connected] = await stream.waitFor(1);
    expect(JSON.parse(connected?.data ?? '')).toEqual({ channels: ['order:abc123'] });
  });

  it('server/tokens.ts#handler answers 401 without a user and a token with one', async () => {
    const { tokenEndpoint } = await import('../../docs/snippets/server/tokens.js');
    const handler = tokenEndpoint(cast, async (req) => {
      const id = req.headers.get('x-user');
      return id ? { id } : undefined;
    });
    const anonymous = await handler(new Request('http://app.test/api/cast-token', { method: 'POST' }));
    expect(anonymous.status).toBe(401);
    const signedIn = await handler(
      new Request('http://app.test/api/cast-token', { method: 'POST', headers: { 'x-user': 'u7' } }),
    );
    expect(signedIn.status).toBe(200);
    expect(signedIn.headers.get('cache-control')).toBe('no-store');
    expect(((await signedIn.json()) as { channels: string[] }).channels).toEqual(['user:u7', 'announcements']);
  });

  it('server/sessions.ts#sessions lists the user and the order watchers', async () => {
    const { whoIsConnected } = await import('../../docs/snippets/server/sessions.js');
    await listen(['order:abc123', 'user:user_123'], 'user_123');
    const { sessions, watchers } = await whoIsConnected(cast);
    expect(sessions.length).toBeGreaterThanOrEqual(1);
    expect(sessions.every((s) => s.userId === 'user_123')).toBe(true);
    expect(watchers.some((s) => s.userId === 'user_123')).toBe(true);
  });
});

describe('docs: patterns samples', () => {
  it('patterns/per-user.ts notifies the user on their own channel', async () => {
    const { notifyUser } = await import('../../docs/snippets/patterns/per-user.js');
    const stream = await listen(['user:ada'], 'ada');
    const { delivered } = await notifyUser(cast, 'ada');
    expect(delivered).toBe(1);
    const [event] = await stream.waitFor(1, { match: (e) => e.event === 'notification' });
    expect(event?.id).toMatch(/\/user:ada$/);
  });

  it('patterns/broadcast.ts reaches every stream holding announcements', async () => {
    const { broadcast } = await import('../../docs/snippets/patterns/broadcast.js');
    const a = await listen(['user:a', 'announcements']);
    const b = await listen(['user:b', 'announcements']);
    await broadcast(cast, 'a');
    for (const s of [a, b])
      await s.waitFor(1, { match: (e) => e.event === 'notification' && e.data.includes('Maintenance') });
  });

  it('patterns/order-tracking.ts: the page renders each step once, even when the job is retried', async () => {
    const { shipOrder, watchOrder } = await import('../../docs/snippets/patterns/order-tracking.js');
    const rendered: string[] = [];
    let reloads = 0;
    const realtime = watchOrder({
      castUrl: server.url,
      orderId: 'o1',
      fetchToken: async (orderId) => (await issueToken(server, { channels: [`order:${orderId}`] })).token,
      render: (status) => rendered.push(status),
      reloadOrder: () => reloads++,
    });
    opened.push(realtime);
    await until(() => realtime.connected);
    await shipOrder(cast, 'o1');
    await shipOrder(cast, 'o1'); // a retried job: the same idempotency keys
    await until(() => rendered.length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(rendered).toEqual(['packed', 'shipped']);
    expect(reloads).toBe(0);
  });
});

describe('docs: realtime client samples', () => {
  const fetchToken = (channels: string[]) => async () => (await issueToken(server, { channels })).token;

  it('client/subscribe.ts#subscribe routes by name and pattern and reports the connection', async () => {
    const { subscribe } = await import('../../docs/snippets/client/subscribe.js');
    const shown: RealtimeEvent[] = [];
    const live: boolean[] = [];
    const { realtime, offStatus } = subscribe({
      castUrl: server.url,
      fetchToken: fetchToken(['orders', 'order:abc123']),
      show: (e) => shown.push(e),
      setLive: (l) => live.push(l),
    });
    opened.push(realtime);
    await until(() => realtime.connected);
    expect(live).toEqual([true]);
    await cast.publish({ channel: 'order:abc123', event: 'status.changed', data: { status: 'packed' } });
    await until(() => shown.length === 1);
    expect(shown[0]).toMatchObject({ type: 'status.changed', channel: 'order:abc123', data: { status: 'packed' } });
    offStatus();
    await cast.publish({ channel: 'order:abc123', event: 'status.changed', data: { status: 'shipped' } });
    await new Promise((r) => setTimeout(r, 200));
    expect(shown).toHaveLength(1);
    realtime.destroy();
  });

  it('client/subscribe.ts#typed receives only order.* and hands typed data', async () => {
    const { typedSubscribe } = await import('../../docs/snippets/client/subscribe.js');
    const { token } = await issueToken(server, { channels: ['orders'] });
    const totals: number[] = [];
    const realtime = typedSubscribe(server.url, token, (t) => totals.push(t));
    const seen: string[] = [];
    realtime.onAny((e) => seen.push(e.type));
    opened.push(realtime);
    await until(() => realtime.connected);
    await cast.publish({ channel: 'orders', event: 'notification', data: { message: 'filtered out by the server' } });
    await cast.publish({
      channel: 'orders',
      event: 'order.created',
      data: { orderId: 'x', total: 10, currency: 'AOA' },
    });
    await until(() => totals.length === 1);
    expect(totals).toEqual([10]);
    expect(seen).toEqual(['order.created']);
    realtime.destroy();
  });

  it('client/token.ts#provider connects with tokens from the token endpoint', async () => {
    const { tokenEndpoint } = await import('../../docs/snippets/server/tokens.js');
    const { connectWithProvider } = await import('../../docs/snippets/client/token.js');
    const site = await serveHandler(tokenEndpoint(cast, async () => ({ id: 'grace' })));
    try {
      const realtime = connectWithProvider(server.url, `${site.url}/api/cast-token`);
      opened.push(realtime);
      const got: unknown[] = [];
      realtime.on('notification', (e) => got.push(e.data));
      await until(() => realtime.connected);
      await cast.publish({ channel: 'user:grace', event: 'notification', data: { message: 'hi' } });
      await until(() => got.length === 1);
      realtime.destroy();
    } finally {
      await site.close();
    }
  });

  it('client/resume.ts#resume replays what was missed, and refetches after the server lost its history', async () => {
    const { resumable } = await import('../../docs/snippets/client/resume.js');
    const storage = new Map<string, string>();
    const store = {
      getItem: (k: string) => storage.get(k) ?? null,
      setItem: (k: string, v: string) => void storage.set(k, v),
    };
    let refetches = 0;
    const received: string[] = [];
    const open = () => {
      const r = resumable(server.url, fetchToken(['orders']), store, () => refetches++);
      r.on('order.*', (e) => received.push((e.data as { orderId: string }).orderId));
      opened.push(r);
      return r;
    };
    const first = open();
    await until(() => first.connected);
    await cast.publish({
      channel: 'orders',
      event: 'order.created',
      data: { orderId: 'r1', total: 1, currency: 'AOA' },
    });
    await until(() => received.includes('r1'));
    first.destroy();
    await cast.publish({
      channel: 'orders',
      event: 'order.created',
      data: { orderId: 'r2', total: 1, currency: 'AOA' },
    });
    const second = open();
    await until(() => received.includes('r2'));
    expect(refetches).toBe(0);
    second.destroy();

    await server.restart(); // the memory broker forgets its history
    const third = open();
    await until(() => refetches === 1);
    third.destroy();
  });

  it('client/react-native.ts#react-native streams over XMLHttpRequest', async () => {
    const { connectOnReactNative } = await import('../../docs/snippets/client/react-native.js');
    const previous = (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest;
    (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = NodeXhr;
    try {
      const realtime = connectOnReactNative(server.url, fetchToken(['orders']));
      opened.push(realtime);
      const got: string[] = [];
      realtime.on('order.created', (e) => got.push((e.data as { orderId: string }).orderId));
      await until(() => realtime.connected);
      await cast.publish({
        channel: 'orders',
        event: 'order.created',
        data: { orderId: 'rn1', total: 1, currency: 'AOA' },
      });
      await until(() => got.includes('rn1'));
      realtime.destroy();
    } finally {
      (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = previous;
    }
  });

  it('client/many-tabs.ts#many-tabs: one stream for two tabs, handed over when the leader closes', async () => {
    const { shareAcrossTabs } = await import('../../docs/snippets/client/many-tabs.js');
    // Node has BroadcastChannel (so two clients here are two tabs) but no Web Locks: the heartbeat elects.
    const streams: string[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      if (String(input).includes('/push/stream')) streams.push(String(input));
      return realFetch(input, init);
    }) as typeof fetch;
    const got: Record<'A' | 'B', string[]> = { A: [], B: [] };
    // Every tab asks its provider once for its grant; the token a stream carries tells which tab holds it.
    const issued: Record<'A' | 'B', string[]> = { A: [], B: [] };
    const holder = (stream: string | undefined) =>
      (['A', 'B'] as const).find((n) => issued[n].includes(new URL(stream ?? '').searchParams.get('token') ?? ''));
    const tab = (name: 'A' | 'B') => {
      const token = fetchToken(['orders']);
      const r = shareAcrossTabs({
        castUrl: server.url,
        fetchToken: async () => {
          const t = await token();
          issued[name].push(t);
          return t;
        },
        show: (e) => got[name].push((e.data as { orderId: string }).orderId),
      });
      opened.push(r);
      return r;
    };
    const tabs = { A: tab('A'), B: tab('B') };
    const { A: a, B: b } = tabs;
    try {
      await until(() => a.connected && b.connected);
      expect(streams).toHaveLength(1);
      await cast.publish({
        channel: 'orders',
        event: 'order.created',
        data: { orderId: 'o1', total: 1, currency: 'AOA' },
      });
      await until(() => got.A.length === 1 && got.B.length === 1);
      const leader = holder(streams[0]) as 'A' | 'B';
      expect(leader).toBeDefined();
      const follower = leader === 'A' ? 'B' : 'A';
      tabs[leader].destroy();
      await until(() => streams.length === 2 && tabs[follower].connected);
      expect(holder(streams[1])).toBe(follower);
      await cast.publish({
        channel: 'orders',
        event: 'order.created',
        data: { orderId: 'o2', total: 2, currency: 'AOA' },
      });
      await until(() => got[follower].length === 2);
      expect(got[follower]).toEqual(['o1', 'o2']);
      expect(got[leader]).toEqual(['o1']);
    } finally {
      globalThis.fetch = realFetch;
      a.destroy();
      b.destroy();
    }
  });
});

/** Just enough XMLHttpRequest over node:http for the client's XHR fetch. */
class NodeXhr {
  readyState = 0;
  status = 0;
  responseText = '';
  onreadystatechange: (() => void) | null = null;
  onprogress: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  #method = 'GET';
  #url = '';
  #headers: Record<string, string> = {};
  #response: IncomingMessage | undefined;
  #request: ReturnType<typeof httpRequest> | undefined;
  open(method: string, url: string) {
    this.#method = method;
    this.#url = url;
    this.readyState = 1;
  }
  setRequestHeader(name: string, value: string) {
    this.#headers[name] = value;
  }
  getResponseHeader(name: string): string | null {
    const v = this.#response?.headers[name.toLowerCase()];
    return typeof v === 'string' ? v : null;
  }
  send() {
    const req = httpRequest(this.#url, { method: this.#method, headers: this.#headers }, (res) => {
      this.#response = res;
      this.status = res.statusCode ?? 0;
      this.readyState = 2;
      this.onreadystatechange?.();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        this.responseText += chunk;
        this.readyState = 3;
        this.onprogress?.();
        this.onreadystatechange?.();
      });
      res.on('end', () => {
        this.readyState = 4;
        this.onreadystatechange?.();
      });
      res.on('error', () => this.onerror?.());
    });
    req.on('error', () => this.onerror?.());
    req.end();
    this.#request = req;
  }
  abort() {
    this.#request?.destroy();
    this.onabort?.();
  }
}

/** Whether the server answers a route at all (presence and revocation are routes of their own, issue 14). */
async function serverHas(method: 'GET' | 'POST', path: string): Promise<boolean> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    ...(method === 'POST' ? { body: '{}' } : {}),
  });
  return res.status !== 404;
}

// Last in the file: revoking user_123 must not touch the samples above.
describe('docs: presence, revocation and webhook samples', () => {
  it('server/presence.ts#token, #presence and #channels: a present user is listed on the order page', async (test) => {
    if (!(await serverHas('GET', '/push/presence?channel=order:abc123'))) test.skip();
    const { presenceToken, whoIsHere } = await import('../../docs/snippets/server/presence.js');
    const { token, tokenId } = await presenceToken(cast);
    expect(typeof tokenId).toBe('string');
    const stream = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    opened.push(stream);
    await stream.waitFor(1, { match: (e) => e.event === 'presence.sync' });
    const { members, open } = await whoIsHere(cast);
    // Other samples above may hold user_123 streams on the page too: one member, with the newest userInfo.
    expect(members).toContainEqual(
      expect.objectContaining({ userId: 'user_123', userInfo: { name: 'Ada', role: 'support' } }),
    );
    expect(open).toContainEqual(expect.stringMatching(/^order:abc123: [1-9]\d* user\(s\)$/));
  });

  it('server/revoke.ts#disconnect and #revoke close the user’s streams', async (test) => {
    if (!(await serverHas('POST', '/push/revoke'))) test.skip();
    const { kick, logOutEverywhere } = await import('../../docs/snippets/server/revoke.js');
    const first = await listen(['user:user_123'], 'user_123');
    expect(await kick(cast, true)).toBeGreaterThanOrEqual(1);
    await first.ended;
    expect(first.events.at(-1)?.event).toBe('disconnected');
    const second = await listen(['user:user_123'], 'user_123');
    expect(await logOutEverywhere(cast)).toBeGreaterThanOrEqual(1);
    await second.ended;
    expect(second.events.at(-1)?.event).toBe('revoked');
  });

  it('server/webhooks.ts#handler hands signed deliveries to the app and refuses forged ones', async () => {
    const { webhookEndpoint } = await import('../../docs/snippets/server/webhooks.js');
    const { signWebhook } = await import('@cast/server-sdk');
    const secret = 'whsec_docs_sample_secret_0123456789abcdef';
    const seen: string[] = [];
    const site = await serveHandler(
      webhookEndpoint(secret, async (event) => void seen.push(`${event.type} ${event.channel}`)),
    );
    try {
      const body = JSON.stringify({
        events: [
          {
            id: 'wh_1',
            type: 'channel.occupied',
            tenant: 'acme',
            channel: 'order:abc123',
            at: new Date().toISOString(),
          },
        ],
      });
      const signed = await fetch(`${site.url}/webhooks/cast`, {
        method: 'POST',
        body,
        headers: { 'cast-signature': await signWebhook(body, secret) },
      });
      expect(signed.status).toBe(200);
      expect(seen).toEqual(['channel.occupied order:abc123']);
      const forged = await fetch(`${site.url}/webhooks/cast`, {
        method: 'POST',
        body,
        headers: { 'cast-signature': await signWebhook(body, `${secret}-not`) },
      });
      expect(forged.status).toBe(401);
      expect(seen).toHaveLength(1);
    } finally {
      await site.close();
    }
  });

  it('server/webhooks.ts#verify returns the events of a signed body and throws on a tampered one', async () => {
    const { verifyByHand } = await import('../../docs/snippets/server/webhooks.js');
    const { signWebhook } = await import('@cast/server-sdk');
    const secret = 'whsec_docs_sample_secret_0123456789abcdef';
    const body = JSON.stringify({
      events: [
        {
          id: 'wh_2',
          type: 'presence.join',
          tenant: 'acme',
          channel: 'order:abc123',
          userId: 'user_123',
          at: new Date().toISOString(),
        },
      ],
    });
    const signature = await signWebhook(body, secret);
    expect((await verifyByHand(body, signature, secret)).map((e) => e.userId)).toEqual(['user_123']);
    await expect(verifyByHand(body.replace('user_123', 'user_999'), signature, secret)).rejects.toMatchObject({
      code: 'INVALID_SIGNATURE',
    });
  });
});
