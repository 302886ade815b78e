import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken, startServer, type TestServer } from './helpers/server.js';
import { openRaw } from './helpers/sse.js';

const key = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const tenants = { acme: key('sk_acme'), beta: key('sk_beta') };
const publicKeys = { acme: key('pk_acme'), beta: key('pk_beta') };

let server: TestServer;

beforeAll(async () => {
  server = await startServer({
    tenants,
    env: {
      CAST_PUBLIC_KEYS: Object.entries(publicKeys)
        .map(([t, k]) => `${t}=${k}`)
        .join(','),
    },
  });
});
afterAll(async () => {
  await server?.stop();
});

async function publishTopic(topic: string, data: unknown, headers: Record<string, string>) {
  const res = await fetch(`${server.url}/v1/events/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ topic, data }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const subscribeUrl = (query: string) => `${server.url}/v1/events/subscribe?${query}`;

describe('event bus over the real server', () => {
  it('delivers a tenant its own topics, filtered by wildcard, with SSE ids', async () => {
    const acme = await openRaw(subscribeUrl(`topic=order.*&apikey=${publicKeys.acme}`));
    const beta = await openRaw(subscribeUrl('topic=order.*'), { apikey: publicKeys.beta });
    try {
      expect(acme.status).toBe(200);
      expect(beta.status).toBe(200);
      await acme.waitFor(1);
      await beta.waitFor(1);
      const sent = await publishTopic('order.created', { id: 123 }, { apikey: tenants.acme });
      expect(sent.status).toBe(200);
      expect(sent.body.delivered).toBe(1);
      await publishTopic('ticket.created', { id: 1 }, { apikey: tenants.acme });
      await publishTopic('order.shipped', { id: 9 }, { authorization: `Bearer ${tenants.beta}` });
      const [, got] = await acme.waitFor(2);
      expect(got).toEqual({ id: sent.body.eventId, event: 'order.created', data: '{"id":123}' });
      const [, betaGot] = await beta.waitFor(2);
      expect(betaGot?.data).toBe('{"id":9}');
      // Neither saw the other's events nor the unmatched topic.
      await publishTopic('order.done', { last: true }, { apikey: tenants.acme });
      await acme.waitFor(3);
      expect(acme.events.map((e) => e.event)).toEqual(['connected', 'order.created', 'order.done']);
      expect(beta.events.map((e) => e.event)).toEqual(['connected', 'order.shipped']);
    } finally {
      acme.close();
      beta.close();
    }
  });

  it('replays missed topics after Last-Event-ID (header or lastEventId parameter), recovered: true', async () => {
    const first = await publishTopic('invoice.paid', { n: 1 }, { apikey: tenants.acme });
    await publishTopic('invoice.paid', { n: 2 }, { apikey: tenants.acme });
    await publishTopic('invoice.void', { n: 3 }, { apikey: tenants.acme });
    await publishTopic('invoice.paid', { n: 99 }, { apikey: tenants.beta });
    const byHeader = await openRaw(subscribeUrl(`topic=invoice.*&apikey=${publicKeys.acme}`), {
      'last-event-id': first.body.eventId,
    });
    const byQuery = await openRaw(
      subscribeUrl(
        `topic=invoice.paid&apikey=${publicKeys.acme}&lastEventId=${encodeURIComponent(first.body.eventId)}`,
      ),
    );
    try {
      const h = await byHeader.waitFor(3);
      expect(JSON.parse(h[0]?.data as string)).toEqual({ channels: ['$bus'], recovered: true });
      expect(h.slice(1).map((e) => e.data)).toEqual(['{"n":2}', '{"n":3}']);
      const q = await byQuery.waitFor(2);
      expect(q.slice(1).map((e) => e.data)).toEqual(['{"n":2}']);
    } finally {
      byHeader.close();
      byQuery.close();
    }
  });

  it('fails closed: no key 401, unknown key 401', async () => {
    const none = await openRaw(subscribeUrl('topic=a'));
    expect(none.status).toBe(401);
    expect(JSON.parse(none.text()).error.code).toBe('UNAUTHORIZED');
    const unknown = await openRaw(subscribeUrl('apikey=pk_nobody_0123456789abcdef'));
    expect(unknown.status).toBe(401);
  });

  it('refuses a read-only key on every route that writes or issues tokens (403)', async () => {
    const pub = await publishTopic('order.created', { id: 1 }, { apikey: publicKeys.acme });
    expect(pub.status).toBe(403);
    expect(pub.body.error.code).toBe('FORBIDDEN');
    const push = await fetch(`${server.url}/push/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${publicKeys.acme}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'orders', event: 'a', data: 1 }),
    });
    expect(push.status).toBe(403);
    await expect(issueToken(server, { channels: ['orders'] }, publicKeys.acme)).rejects.toThrow(/403/);
  });

  it('keeps the bus apart from push channels: a push token never receives bus events', async () => {
    const { token } = await issueToken(server, { channels: ['orders'] });
    const push = await openRaw(`${server.url}/push/stream?token=${token}`);
    try {
      await push.waitFor(1);
      const bus = await publishTopic('orders', { via: 'bus' }, { apikey: tenants.acme });
      expect(bus.body.delivered).toBe(0);
      const bad = await fetch(`${server.url}/push/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenants.acme}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channels: ['$bus'] }),
      });
      expect(bad.status).toBe(400);
    } finally {
      push.close();
    }
  });
});
