import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSample, startSample } from './docs-helpers.js';
import { type TestServer, startServer } from './helpers/server.js';
import { type RawStream, openRaw } from './helpers/sse.js';
import { castSignature, postSigned } from './helpers/webhooks.js';

const WEBHOOK_SECRET = 'example-webhook-secret-0123456789abcdef';

// examples/hono, started with the command the examples page documents.
describe('examples/hono', () => {
  let server: TestServer;
  let example: RunningSample;
  let url: string;

  beforeAll(async () => {
    server = await startServer();
    example = startSample('examples/hono.sh', {
      env: { CAST_URL: server.url, CAST_API_KEY: server.apiKey, PORT: '0', CAST_WEBHOOK_SECRET: WEBHOOK_SECRET },
    });
    const out = await example.waitFor(/Example listening on (http:\/\/\S+)/, 45_000);
    url = /Example listening on (http:\/\/\S+)/.exec(out)?.[1] as string;
  });
  afterAll(async () => {
    await example?.stop();
    await server?.stop();
  });

  const post = (path: string, body?: unknown, user?: string) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(user ? { 'x-demo-user': user } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  async function streamFor(user: string): Promise<RawStream> {
    const res = await post('/api/cast-token', undefined, user);
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const stream = await openRaw(`${server.url}/push/stream?token=${encodeURIComponent(token)}`);
    await stream.waitFor(1);
    return stream;
  }

  it('refuses a token without a user', async () => {
    const res = await post('/api/cast-token');
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
  });

  it("tracks an order: created on the user's channel, each step once on the order's channel", async () => {
    const mine = await streamFor('ada');
    const created = (await (await post('/api/orders', { item: 'lamp' }, 'ada')).json()) as { orderId: string };
    const [event] = await mine.waitFor(1, { match: (e) => e.event === 'order.created' });
    expect(JSON.parse(event?.data ?? '')).toEqual({ orderId: created.orderId, item: 'lamp' });
    mine.close();

    // A new token now grants the order's channel too.
    const tracking = await streamFor('ada');
    expect(JSON.parse(tracking.events[0]?.data ?? '').channels).toEqual([
      'user:ada',
      'announcements',
      `order:${created.orderId}`,
    ]);
    const step = async () => (await post(`/api/orders/${created.orderId}/status`, { status: 'shipped' })).json();
    expect(await step()).toMatchObject({ status: 'shipped', delivered: 1 });
    expect(await step()).toMatchObject({ status: 'shipped', delivered: 1 }); // the duplicate repeats the first answer
    await tracking.waitFor(1, { match: (e) => e.event === 'status.changed' });
    await post('/api/announcements', { message: 'done' });
    await tracking.waitFor(1, { match: (e) => e.event === 'notification' });
    expect(tracking.events.filter((e) => e.event === 'status.changed')).toHaveLength(1);
    tracking.close();
  });

  it("does not grant another user's order", async () => {
    const created = (await (await post('/api/orders', { item: 'desk' }, 'ada')).json()) as { orderId: string };
    const res = await post('/api/cast-token', undefined, 'bob');
    const { channels } = (await res.json()) as { channels: string[] };
    expect(channels).toEqual(['user:bob', 'announcements']);
    expect(channels).not.toContain(`order:${created.orderId}`);
  });

  it('receives signed Cast webhooks once each and refuses forged or old ones', async () => {
    const hook = `${url}/api/cast-webhooks`;
    const event = {
      id: 'wh_example1',
      type: 'presence.join' as const,
      tenant: 'acme',
      channel: 'order:1',
      userId: 'ada',
      at: new Date().toISOString(),
    };
    expect(await postSigned(hook, [event], WEBHOOK_SECRET)).toBe(204);
    expect(await postSigned(hook, [event], WEBHOOK_SECRET)).toBe(204);
    await example.waitFor('webhook: presence.join order:1 ada');
    expect(example.output().split('webhook: presence.join order:1 ada')).toHaveLength(2);
    expect(await postSigned(hook, [event], 'another-secret-0123456789abcdef0123')).toBe(400);
    const body = JSON.stringify({ events: [event] });
    const old = castSignature(body, WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 600);
    expect(await postSigned(hook, [event], WEBHOOK_SECRET, old)).toBe(400);
    expect(await postSigned(hook, [event], WEBHOOK_SECRET, 'garbage')).toBe(400);
  });
});
