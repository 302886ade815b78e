import { CastError, CastServer, createTokenHandler } from '@cast/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

type Events = {
  'order.created': { id: string; total: number };
  'status.changed': { status: string };
};

let server: TestServer;
let cast: CastServer<Events>;
const streams: RawStream[] = [];

beforeAll(async () => {
  server = await startServer();
  cast = new CastServer<Events>({ apiKey: server.apiKey, baseUrl: server.url, retries: 2 });
});

afterAll(async () => {
  for (const stream of streams) stream.close();
  await server?.stop();
});

async function stream(token: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const opened = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`, headers);
  streams.push(opened);
  return opened;
}

async function connected(token: string): Promise<RawStream> {
  const opened = await stream(token);
  expect(opened.status).toBe(200);
  await opened.waitFor(1, { match: (e) => e.event === 'connected' });
  return opened;
}

describe('tokens from the SDK open streams that receive SDK publishes', () => {
  it('a token from tokens.create', async () => {
    const issued = await cast.tokens.create({ channels: ['order:sdk-remote'], userId: 'user_1', ttlSeconds: 600 });
    expect(issued.channels).toEqual(['order:sdk-remote']);
    expect(Date.parse(issued.expiresAt)).toBeGreaterThan(Date.now());
    const sse = await connected(issued.token);

    const result = await cast.publish({
      channel: 'order:sdk-remote',
      event: 'order.created',
      data: { id: 'a1', total: 4999 },
    });
    expect(result.delivered).toBe(1);
    expect(result.messageId).toMatch(/^[0-9a-f-]{36}$/);
    const [event] = await sse.waitFor(1, { match: (e) => e.event === 'order.created' });
    expect(event).toEqual({ id: result.eventId, event: 'order.created', data: '{"id":"a1","total":4999}' });
    expect(result.eventId.endsWith('/order:sdk-remote')).toBe(true);
  });

  it('a token signed locally with tokens.sign', async () => {
    const local = new CastServer<Events>({
      apiKey: server.apiKey,
      baseUrl: server.url,
      signingSecret: server.signingSecret,
      tenant: server.tenant,
    });
    const issued = await local.tokens.sign({ channels: ['order:sdk-local'], userId: 'user_2', ttlSeconds: 300 });
    const sse = await connected(issued.token);
    const connectedEvent = sse.events.find((e) => e.event === 'connected');
    expect(JSON.parse(connectedEvent?.data ?? '{}')).toMatchObject({ channels: ['order:sdk-local'] });

    const result = await local.publish({
      channel: 'order:sdk-local',
      event: 'status.changed',
      data: { status: 'shipped' },
    });
    const [event] = await sse.waitFor(1, { match: (e) => e.event === 'status.changed' });
    expect(event?.id).toBe(result.eventId);
    expect(JSON.parse(event?.data ?? 'null')).toEqual({ status: 'shipped' });
  });

  it('a locally signed token of another secret or tenant is refused', async () => {
    const wrongSecret = await new CastServer({
      apiKey: server.apiKey,
      baseUrl: server.url,
      signingSecret: 'not-the-server-secret',
      tenant: server.tenant,
    }).tokens.sign({ channels: ['orders'] });
    const refused = await stream(wrongSecret.token);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.text())).toMatchObject({ error: { code: 'INVALID_TOKEN' } });
  });

  it('a token from createTokenHandler opens a stream', async () => {
    const handler = createTokenHandler({
      cast,
      authorize: (req) => (req.headers.get('x-user') === 'u9' ? { channels: ['user:u9'], userId: 'u9' } : null),
    });
    expect((await handler(new Request('http://app.test/token'))).status).toBe(401);
    const res = await handler(new Request('http://app.test/token', { headers: { 'x-user': 'u9' } }));
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const sse = await connected(token);
    await cast.publish({ channel: 'user:u9', event: 'status.changed', data: { status: 'hello' } });
    await sse.waitFor(1, { match: (e) => e.event === 'status.changed' });
  });
});

describe('idempotent publishing', () => {
  it('a publish retried after a lost answer is delivered once', async () => {
    const { token } = await cast.tokens.create({ channels: ['order:retry'] });
    const sse = await connected(token);

    // The first answer is lost on the way back (the server did publish): the SDK sees a network error and retries.
    let attempts = 0;
    const keys: Array<string | null> = [];
    const flaky = new CastServer<Events>({
      apiKey: server.apiKey,
      baseUrl: server.url,
      fetch: async (input, init) => {
        attempts += 1;
        keys.push(new Headers(init?.headers).get('idempotency-key'));
        const res = await fetch(input, init);
        if (attempts === 1) {
          await res.body?.cancel();
          throw new TypeError('connection reset');
        }
        return res;
      },
    });
    const result = await flaky.publish({ channel: 'order:retry', event: 'status.changed', data: { status: 'paid' } });
    expect(attempts).toBe(2);
    expect(keys[0]).toBe(keys[1]);
    expect(result.duplicate).toBe(true);

    // A later event on the same stream proves everything before it has arrived.
    await cast.publish({ channel: 'order:retry', event: 'order.created', data: { id: 'sentinel', total: 0 } });
    await sse.waitFor(1, { match: (e) => e.event === 'order.created' });
    expect(sse.events.filter((e) => e.event === 'status.changed')).toHaveLength(1);
  });

  it('the same idempotency key twice returns the first answer', async () => {
    const first = await cast.publish({
      channel: 'order:same-key',
      event: 'status.changed',
      data: { status: 'a' },
      idempotencyKey: 'order-same-key-1',
    });
    const second = await cast.publish({
      channel: 'order:same-key',
      event: 'status.changed',
      data: { status: 'a' },
      idempotencyKey: 'order-same-key-1',
    });
    expect(second).toMatchObject({ messageId: first.messageId, eventId: first.eventId, duplicate: true });
  });
});

describe('batch, sessions and errors against the real server', () => {
  it('publishBatch delivers every event in order', async () => {
    const { token } = await cast.tokens.create({ channels: ['batch:a', 'batch:b'] });
    const sse = await connected(token);
    const results = await cast.publishBatch([
      { channel: 'batch:a', event: 'order.created', data: { id: '1', total: 1 } },
      { channel: 'batch:b', event: 'order.created', data: { id: '2', total: 2 } },
      { channel: 'batch:a', event: 'status.changed', data: { status: 'three' } },
    ]);
    expect(results).toHaveLength(3);
    const received = await sse.waitFor(3, { match: (e) => e.event !== 'connected' });
    expect(received.map((e) => e.id)).toEqual(results.map((r) => r.eventId));
  });

  it('sessions.list finds the stream of a user and of a channel', async () => {
    const { token } = await cast.tokens.create({ channels: ['room:sessions'], userId: 'user_sessions' });
    await connected(token);
    const byUser = await cast.sessions.list({ userId: 'user_sessions' });
    expect(byUser).toHaveLength(1);
    expect(byUser[0]).toMatchObject({ userId: 'user_sessions', channels: ['room:sessions'] });
    expect(Date.parse(byUser[0]?.connectedAt ?? '')).not.toBeNaN();
    const byChannel = await cast.sessions.list({ channel: 'room:sessions' });
    expect(byChannel.map((s) => s.id)).toEqual([byUser[0]?.id]);
    expect(await cast.sessions.list({ userId: 'nobody' })).toEqual([]);
  });

  it('a wrong API key is a non-retryable INVALID_API_KEY', async () => {
    const wrong = new CastServer({ apiKey: 'sk_wrong', baseUrl: server.url });
    const error = await wrong.publish({ channel: 'orders', event: 'x', data: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CastError);
    expect(error).toMatchObject({ code: 'INVALID_API_KEY', status: 401, retryable: false });
  });

  it('a batch over the server maximum is refused with BATCH_TOO_LARGE', async () => {
    const events = Array.from({ length: 101 }, (_, i) => ({
      channel: 'batch:big',
      event: 'order.created' as const,
      data: { id: String(i), total: i },
    }));
    await expect(cast.publishBatch(events)).rejects.toMatchObject({ code: 'BATCH_TOO_LARGE', status: 400 });
  });
});

describe('idempotency keys', () => {
  it('answers a retry as a duplicate and a key reused for another event with a non-retryable 409 IDEMPOTENCY_KEY_REUSED', async () => {
    const first = await cast.publish({
      channel: 'idem',
      event: 'order.created',
      data: { id: 'o-1', total: 5 },
      idempotencyKey: 'order-o-1',
    });
    const retry = await cast.publish({
      channel: 'idem',
      event: 'order.created',
      data: { id: 'o-1', total: 5 },
      idempotencyKey: 'order-o-1',
    });
    expect(retry).toMatchObject({ messageId: first.messageId, duplicate: true });
    const reused = cast.publish({
      channel: 'idem',
      event: 'order.created',
      data: { id: 'o-2', total: 7 },
      idempotencyKey: 'order-o-1',
    });
    await expect(reused).rejects.toBeInstanceOf(CastError);
    await expect(reused).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 409, retryable: false });
  });
});
