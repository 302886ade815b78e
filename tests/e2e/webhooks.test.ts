import { WEBHOOK_EVENT_TYPES, type WebhookEvent } from '@cast/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { publish, startServer, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';
import { type Respond, startTestReceiver, type TestReceiver } from './helpers/webhooks.js';

// The events come from real streams opening and closing and from POST /push/revoke: the presence
// grace period is short so that a closed stream's leave and vacated events come quickly.
const SECRET = 'e2e-webhook-secret-0123456789abcdef';
const FAST = { CAST_PRESENCE_GRACE_MS: '200', CAST_WEBHOOK_RETRY_BASE_MS: '100', CAST_WEBHOOK_SECRET: SECRET };

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

async function receiver(respond?: Respond): Promise<TestReceiver> {
  const r = await startTestReceiver(SECRET, respond);
  cleanup.push(() => r.stop());
  return r;
}

async function node(env: Record<string, string>): Promise<TestServer> {
  const s = await startServer({ env: { ...FAST, ...env } });
  cleanup.push(() => s.stop());
  return s;
}

async function cluster(env: Record<string, string>): Promise<TestCluster> {
  const c = await startCluster({ size: 3, env: { ...FAST, ...env } });
  cleanup.push(() => c.stop());
  return c;
}

type Api = { url: string; apiKey: string };

async function token(api: Api, channels: string[], userId?: string): Promise<string> {
  const res = await fetch(`${api.url}/push/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channels, ...(userId ? { userId, presence: true } : {}) }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Opens a stream and waits for its `connected` event. */
async function stream(api: Api, channels: string[], userId?: string): Promise<RawStream> {
  const s = await openRaw(`${api.url}/push/stream?token=${encodeURIComponent(await token(api, channels, userId))}`);
  cleanup.push(async () => s.close());
  expect(s.status).toBe(200);
  await s.waitFor(1);
  return s;
}

/** Opens and closes a stream on a channel: channel.occupied, then channel.vacated after the grace period. */
async function visit(api: Api, channel: string): Promise<void> {
  const s = await stream(api, [channel]);
  s.close();
  await s.ended;
}

function idCounts(events: WebhookEvent[]): number[] {
  const m = new Map<string, number>();
  for (const e of events) m.set(e.id, (m.get(e.id) ?? 0) + 1);
  return [...m.values()];
}

async function metric(s: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

describe('webhook configuration', () => {
  it('stops the start with one clear line when CAST_WEBHOOKS is invalid', async () => {
    const err = await startServer({
      env: { CAST_WEBHOOKS: 'acme=ftp://example.com', CAST_WEBHOOK_SECRET: SECRET },
    }).then(
      () => new Error('started'),
      (e: Error) => e,
    );
    expect(err.message).toMatch(/exited with 1/);
    const lines = err.message.split('\n').filter((l) => l.startsWith('cast:'));
    expect(lines).toEqual([
      expect.stringMatching(
        /^cast: invalid configuration: CAST_WEBHOOKS: "ftp:\/\/example.com" \(tenant "acme"\) must be an http/,
      ),
    ]);
  });

  it('shows the webhook metrics only when webhooks are configured', async () => {
    const r = await receiver();
    const on = await node({ CAST_WEBHOOKS: `acme=${r.url}` });
    const off = await node({});
    expect(await metric(on, 'cast_webhook_pending\\{tenant="acme"\\}')).toBe(0);
    expect(await metric(on, 'cast_webhook_deliveries_total')).toBe(0);
    expect(await (await fetch(`${off.url}/metrics`)).text()).not.toContain('cast_webhook');
  });
});

// These tests need the lifecycle events of presence and revocation (streams opening and closing,
// POST /push/revoke) reaching the server's `lifecycle` listener.
describe('webhooks from real streams, one node', () => {
  it('delivers every event type once, with a valid signature', async () => {
    const r = await receiver();
    const s = await node({ CAST_WEBHOOKS: `acme=${r.url}` });
    const first = await stream(s, ['room'], 'u1');
    await r.until(() => r.acked().some((e) => e.type === 'presence.join'));
    first.close();
    await first.ended;
    await r.until(() => r.acked().some((e) => e.type === 'channel.vacated'));
    await stream(s, ['room'], 'u2');
    const revoke = await fetch(`${s.url}/push/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'u2' }),
    });
    expect(revoke.status).toBe(200);
    await r.until(() => r.acked().some((e) => e.type === 'connection.revoked'));
    await r.until(() => r.acked().filter((e) => e.type === 'channel.vacated').length === 2);
    expect(r.deliveries.every((d) => d.signed)).toBe(true);
    expect(idCounts(r.acked()).every((n) => n === 1)).toBe(true);
    for (const type of WEBHOOK_EVENT_TYPES) expect(r.acked().map((e) => e.type)).toContain(type);
    const byType = (type: string, userId?: string) => r.acked().filter((e) => e.type === type && e.userId === userId);
    expect(byType('channel.occupied')).toHaveLength(2);
    expect(byType('presence.join', 'u1')).toHaveLength(1);
    expect(byType('presence.leave', 'u1')).toHaveLength(1);
    expect(byType('connection.revoked', 'u2')[0]).toMatchObject({ tenant: 'acme', channel: 'room' });
    for (const e of r.acked()) expect(Date.parse(e.at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('sends a batch answered 500 again, with the same ids, until a 200', async () => {
    const r = await receiver((n) => (n === 0 ? 500 : 200));
    const s = await node({ CAST_WEBHOOKS: `acme=${r.url}` });
    await stream(s, ['a', 'b']);
    await r.until(() => r.acked().length >= 1);
    expect(r.deliveries[0]?.status).toBe(500);
    expect(r.deliveries[1]?.events.map((e) => e.id)).toEqual(r.deliveries[0]?.events.map((e) => e.id));
    expect(await metric(s, 'cast_webhook_retries_total')).toBeGreaterThanOrEqual(1);
  });

  it('delivers everything to a receiver that was down for a while, once it is back', async () => {
    const r = await receiver();
    await r.stop();
    const s = await node({ CAST_WEBHOOKS: `acme=${r.url}` });
    for (let i = 0; i < 5; i++) await visit(s, `down:${i}`);
    await new Promise((done) => setTimeout(done, 1500));
    expect(await metric(s, 'cast_webhook_failures_total')).toBeGreaterThanOrEqual(1);
    await r.start();
    await r.until(() => r.acked().length >= 10, 20_000);
    for (let i = 0; i < 5; i++) {
      expect(
        r
          .acked()
          .filter((e) => e.channel === `down:${i}`)
          .map((e) => e.type),
      ).toEqual(['channel.occupied', 'channel.vacated']);
    }
    expect(idCounts(r.acked()).every((n) => n === 1)).toBe(true);
  });

  it('a slow receiver does not change publish latency', async () => {
    // Once slow, the receiver answers nothing until the measurement is over: every publish of
    // that measurement runs while a delivery to it is in flight, however long the run takes.
    let slow = false;
    let answer = () => {};
    const answered = new Promise<void>((done) => {
      answer = done;
    });
    const r = await receiver(() => (slow ? answered.then(() => 200) : 200));
    const s = await node({ CAST_WEBHOOKS: `acme=${r.url}` });
    let runs = 0;
    const measure = async () => {
      const run = runs++;
      const times: number[] = [];
      for (let i = 0; i < 60; i++) {
        // Each visit: channel.occupied, then channel.vacated after the grace period.
        if (i % 10 === 0) await visit(s, `load:${run}:${i}`);
        const started = performance.now();
        expect((await publish(s, { channel: 'news', event: 'tick', data: i })).status).toBe(200);
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      return times[Math.floor(times.length / 2)] as number;
    };
    await measure(); // warm-up
    const fast = await measure();
    const loadEvents = () =>
      new Set(
        r
          .acked()
          .filter((e) => e.channel.startsWith('load:'))
          .map((e) => e.id),
      ).size;
    // Every event of the fast runs is answered, so the next request is a slow one.
    await r.until(() => loadEvents() === 24);
    const before = r.deliveries.length;
    slow = true;
    // A delivery to the slow receiver is under way before the measurement starts (not a batch
    // window and a request's timing away from it).
    await visit(s, 'load:slow');
    await r.until(() => r.deliveries.length > before);
    const withSlow = await measure();
    const unanswered = r.deliveries.some((d) => d.status === 0);
    answer();
    expect(r.deliveries.length).toBeGreaterThan(before);
    expect(unanswered).toBe(true);
    // The median publish with a receiver that does not answer stays within noise of the fast case.
    expect(withSlow).toBeLessThan(fast * 3 + 5);
    // Nothing was lost meanwhile: once it answers, it gets every event of the slow run.
    await r.until(() => loadEvents() === 24 + 2 + 12, 20_000);
  });
});

describe('webhooks from real streams, three nodes on Redis', () => {
  it('deliver each event once for the whole cluster', async () => {
    const r = await receiver();
    const c = await cluster({ CAST_WEBHOOKS: `acme=${r.url}` });
    const api = (n: TestServer) => ({ url: n.url, apiKey: c.tenants.acme as string });
    await Promise.all(c.nodes.map((n, i) => visit(api(n), `spread:${i}`)));
    await r.until(() => r.acked().length >= 6, 20_000);
    await new Promise((done) => setTimeout(done, 1000));
    expect(idCounts(r.acked()).every((n) => n === 1)).toBe(true);
    for (let i = 0; i < 3; i++) {
      expect(
        r
          .acked()
          .filter((e) => e.channel === `spread:${i}`)
          .map((e) => e.type),
      ).toEqual(['channel.occupied', 'channel.vacated']);
    }
    expect(r.deliveries.every((d) => d.signed)).toBe(true);
  });

  it('lose nothing when the node holding a batch is killed', async () => {
    const r = await receiver((n) => (n === 0 ? 'hang' : 200));
    const c = await cluster({ CAST_WEBHOOKS: `acme=${r.url}` });
    const api = (n: TestServer) => ({ url: n.url, apiKey: c.tenants.acme as string });
    await visit(api(c.nodes[2] as TestServer), 'kill:0');
    await r.until(() => r.deliveries.length === 1, 20_000);
    const attempts = await Promise.all(c.nodes.map((n) => metric(n, 'cast_webhook_attempts_total')));
    const holder = c.nodes[attempts.findIndex((n) => n >= 1)] as TestServer;
    expect(holder).toBeDefined();
    await holder.kill();
    const batch = (r.deliveries[0]?.events ?? []).map((e) => e.id);
    expect(batch.length).toBeGreaterThan(0);
    await r.until(() => batch.every((id) => r.acked().some((e) => e.id === id)), 30_000);
    expect(idCounts(r.acked()).every((n) => n === 1)).toBe(true);
  });
});
