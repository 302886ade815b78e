import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dropPrefix, TEST_REDIS_URL, testPrefix } from '../broker/redis-test-support.js';
import type { LifecycleEvent } from '../lifecycle.js';
import { createRedisWebhookEngine, type RedisWebhookEngine, webhookStreamKey } from './redis-engine.js';
import { type Respond, startTestReceiver, type TestReceiver } from './test-receiver.js';

const SECRET = 'r'.repeat(40);
const prefixes: string[] = [];
const engines: RedisWebhookEngine[] = [];
const receivers: TestReceiver[] = [];
const lines: string[] = [];

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(TEST_REDIS_URL, p);
});

async function receiver(respond?: Respond): Promise<TestReceiver> {
  const r = await startTestReceiver(SECRET, respond);
  receivers.push(r);
  return r;
}

/** Nodes of one cluster: engines on one Redis prefix, as three server processes would run them. */
function cluster(
  url: string | string[],
  size: number,
  extra: { maxPending?: number; leaseMs?: number } = {},
): RedisWebhookEngine[] {
  const prefix = testPrefix();
  prefixes.push(prefix);
  const nodes = Array.from({ length: size }, (_, i) =>
    createRedisWebhookEngine({
      url: TEST_REDIS_URL,
      prefix,
      nodeId: `node-${i}`,
      endpoints: (Array.isArray(url) ? url : [url]).map((u) => ({ tenant: 'acme', url: u, secret: SECRET })),
      maxPending: extra.maxPending ?? 100_000,
      retryBaseMs: 50,
      leaseMs: extra.leaseMs ?? 900,
      pollMs: 100,
      log: (l) => lines.push(l),
    }),
  );
  engines.push(...nodes);
  return nodes;
}

function event(i: number): LifecycleEvent {
  // userId carries the event's index so the test can check the order.
  return {
    type: i % 2 ? 'presence.leave' : 'presence.join',
    tenant: 'acme',
    channel: `c${i % 4}`,
    userId: String(i),
    at: Date.now(),
  };
}

/** Waits (up to 3 s) until every node's gauge reports `count` webhook events pending for acme. */
async function pendingOnEveryNode(nodes: RedisWebhookEngine[], count: number): Promise<void> {
  for (const n of nodes) {
    await expect
      .poll(() => n.metrics.render(), { timeout: 3000, interval: 50 })
      .toContain(`cast_webhook_pending{tenant="acme"} ${count}`);
  }
}

function countIds(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

describe('the Redis webhook engine (three nodes, one Redis)', () => {
  it('delivers each event once for the whole cluster, in order per channel', async () => {
    const r = await receiver();
    const nodes = cluster(r.url, 3);
    for (let i = 0; i < 300; i++) (nodes[i % 3] as RedisWebhookEngine).lifecycle(event(i));
    await r.until(() => r.acked().length >= 300);
    await new Promise((done) => setTimeout(done, 500));
    const ids = r.acked().map((e) => e.id);
    expect(ids).toHaveLength(300);
    expect(new Set(ids).size).toBe(300);
    expect(r.deliveries.every((d) => d.signed && d.events.length <= 100)).toBe(true);
    // The events one node decided for one channel arrive in the order they happened.
    for (let node = 0; node < 3; node++) {
      for (const ch of ['c0', 'c1', 'c2', 'c3']) {
        const seq = r
          .acked()
          .filter((e) => e.channel === ch && Number(e.userId) % 3 === node)
          .map((e) => Number(e.userId));
        expect(seq.length).toBeGreaterThan(0);
        expect([...seq].sort((a, b) => a - b)).toEqual(seq);
      }
    }
    const delivered = nodes.reduce((n, e) => n + e.metrics.eventsDelivered, 0);
    expect(delivered).toBe(300);
  });

  it('loses nothing when the node holding a batch dies: another sends it again with the same ids', async () => {
    const r = await receiver((n) => (n === 0 ? 'hang' : 200));
    const nodes = cluster(r.url, 3);
    for (let i = 0; i < 20; i++) (nodes[0] as RedisWebhookEngine).lifecycle(event(i));
    await r.until(() => r.deliveries.length === 1);
    const holder = nodes.find((e) => e.metrics.attempts === 1) as RedisWebhookEngine;
    expect(holder).toBeDefined();
    holder.halt();
    engines.splice(engines.indexOf(holder), 1);
    await r.until(() => r.acked().length >= 20, 15_000);
    // The unanswered batch comes again first, with the same ids; every event is acknowledged once.
    const first = (r.deliveries[0]?.events ?? []).map((e) => e.id);
    expect(first.length).toBeGreaterThan(0);
    expect(
      r
        .acked()
        .slice(0, first.length)
        .map((e) => e.id),
    ).toEqual(first);
    expect(r.acked().map((e) => e.userId)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect([...countIds(r.acked().map((e) => e.id)).values()].every((n) => n === 1)).toBe(true);
    // The receiver counts a batch as acknowledged when it answers; the sender counts it once it has
    // read that answer, a moment later.
    await r.until(() => nodes.some((e) => e !== holder && e.metrics.deliveries > 0), 5_000);
  }, 30_000);

  it('hands its receivers over at once when a node closes', async () => {
    const r = await receiver((n) => (n === 0 ? 'hang' : 200));
    // A 6 s lease, renewed every 2 s: without the hand-over the other node would wait 4 s or more.
    const nodes = cluster(r.url, 2, { leaseMs: 6000 });
    (nodes[1] as RedisWebhookEngine).lifecycle(event(0));
    await r.until(() => r.deliveries.length === 1);
    const holder = nodes.find((e) => e.metrics.attempts === 1) as RedisWebhookEngine;
    const started = Date.now();
    engines.splice(engines.indexOf(holder), 1);
    await holder.close();
    await r.until(() => r.acked().length === 1, 5000);
    expect(Date.now() - started).toBeLessThan(3500);
  });

  it('keeps at most maxPending events for a tenant with one URL in Redis, dropping the oldest and counting them', async () => {
    const r = await receiver();
    await r.stop();
    const nodes = cluster(r.url, 2, { maxPending: 50 });
    const first = nodes[0] as RedisWebhookEngine;
    for (let i = 0; i < 80; i++) first.lifecycle({ ...event(i), channel: `n${i}` });
    const redis = new Redis(TEST_REDIS_URL);
    const key = webhookStreamKey(prefixes.at(-1) as string, 'acme', r.url);
    try {
      const end = Date.now() + 5000;
      while ((await redis.xlen(key)) !== 50 || first.metrics.dropped.overflow < 30) {
        if (Date.now() > end) throw new Error('the stream was not trimmed');
        await new Promise((done) => setTimeout(done, 20));
      }
    } finally {
      redis.disconnect();
    }
    expect(first.metrics.dropped.overflow).toBe(30);
    // Every node reports the cluster's backlog.
    await pendingOnEveryNode(nodes, 50);
    await r.start();
    await r.until(() => r.acked().length >= 50, 10_000);
    expect(r.acked().map((e) => e.channel)).toEqual(Array.from({ length: 50 }, (_, i) => `n${i + 30}`));
  }, 20_000);
});

describe('the Redis webhook engine with two URLs for a tenant', () => {
  /** Waits until `check` holds on the tenant's stream lengths (one per URL, in order). */
  async function lengthsUntil(keys: string[], check: (lengths: number[]) => boolean): Promise<number[]> {
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const end = Date.now() + 5000;
      for (;;) {
        const lengths = await Promise.all(keys.map((k) => redis.xlen(k)));
        if (check(lengths)) return lengths;
        if (Date.now() > end) throw new Error(`stream lengths: ${lengths.join(', ')}`);
        await new Promise((done) => setTimeout(done, 20));
      }
    } finally {
      redis.disconnect();
    }
  }

  it('bounds the tenant across its URLs: the dead one loses its oldest, the one that keeps up loses nothing', async () => {
    const dead = await receiver();
    await dead.stop();
    const healthy = await receiver();
    const nodes = cluster([dead.url, healthy.url], 2, { maxPending: 50 });
    const first = nodes[0] as RedisWebhookEngine;
    const keys = [dead.url, healthy.url].map((u) => webhookStreamKey(prefixes.at(-1) as string, 'acme', u));
    // Eight rounds of ten; the healthy URL gets each round before the next is decided.
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 10; i++) first.lifecycle({ ...event(round * 10 + i), channel: `n${round * 10 + i}` });
      await healthy.until(() => healthy.acked().length === (round + 1) * 10, 5000);
      await lengthsUntil(keys, ([, h]) => h === 0);
    }
    // Each round was appended while the healthy stream held its 10: the dead one was cut to 40.
    expect(await lengthsUntil(keys, () => true)).toEqual([40, 0]);
    expect(first.metrics.dropped.overflow).toBe(40);
    expect(healthy.acked().map((e) => e.channel)).toEqual(Array.from({ length: 80 }, (_, i) => `n${i}`));
    await pendingOnEveryNode(nodes, 40);
    await dead.start();
    await dead.until(() => dead.acked().length >= 40, 10_000);
    expect(dead.acked().map((e) => e.channel)).toEqual(Array.from({ length: 40 }, (_, i) => `n${i + 40}`));
  }, 30_000);

  it('splits the bound between two dead URLs, each keeping its newest events', async () => {
    const a = await receiver();
    const b = await receiver();
    await a.stop();
    await b.stop();
    const [only] = cluster([a.url, b.url], 1, { maxPending: 50 });
    for (let i = 0; i < 80; i++) only!.lifecycle({ ...event(i), channel: `n${i}` });
    const keys = [a.url, b.url].map((u) => webhookStreamKey(prefixes.at(-1) as string, 'acme', u));
    expect(await lengthsUntil(keys, (l) => l[0]! + l[1]! > 0 && only!.metrics.dropped.overflow > 0)).toEqual([25, 25]);
    expect(only!.metrics.dropped.overflow).toBe(110);
    await a.start();
    await b.start();
    await a.until(() => a.acked().length >= 25 && b.acked().length >= 25, 10_000);
    const newest = Array.from({ length: 25 }, (_, i) => `n${i + 55}`);
    expect(a.acked().map((e) => e.channel)).toEqual(newest);
    expect(b.acked().map((e) => e.channel)).toEqual(newest);
  }, 20_000);
});

describe('the Redis webhook engine after Redis lost its data', () => {
  it('makes its stream and group again and goes on delivering', async () => {
    const r = await receiver();
    const [only] = cluster(r.url, 1) as [RedisWebhookEngine];
    only.lifecycle(event(0));
    await r.until(() => r.acked().length === 1);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await redis.del(webhookStreamKey(prefixes.at(-1) as string, 'acme', r.url));
    } finally {
      redis.disconnect();
    }
    only.lifecycle(event(1));
    await r.until(() => r.acked().length === 2, 5000);
    expect(r.acked().map((e) => e.userId)).toEqual(['0', '1']);
  });
});

describe('the Redis webhook engine while Redis is down', () => {
  it('keeps the events in memory and delivers them, in order, once Redis is back', async () => {
    const { spawn } = await import('node:child_process');
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    const r = await receiver();
    const engine = createRedisWebhookEngine({
      url: `redis://127.0.0.1:${port}`,
      prefix: testPrefix(),
      endpoints: [{ tenant: 'acme', url: r.url, secret: SECRET }],
      maxPending: 1000,
      retryBaseMs: 50,
      leaseMs: 900,
      pollMs: 100,
      log: (l) => lines.push(l),
    });
    engines.push(engine);
    for (let i = 0; i < 5; i++) engine.lifecycle(event(i));
    await new Promise((done) => setTimeout(done, 500));
    expect(r.deliveries).toHaveLength(0);
    expect(engine.metrics.render()).toContain('cast_webhook_pending{tenant="acme"} 5');
    // A Redis of the test's own, on the port the engine has been trying (never the shared one).
    const redis = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    try {
      await r.until(() => r.acked().length === 5, 10_000);
      expect(r.acked().map((e) => e.userId)).toEqual(['0', '1', '2', '3', '4']);
    } finally {
      await engine.close();
      engines.splice(engines.indexOf(engine), 1);
      redis.kill('SIGKILL');
    }
  }, 20_000);
});

describe('the Redis webhook engine and a former holder', () => {
  it('claims entries a former holder read after losing its lease and left unacknowledged, skipping a corrupt one', async () => {
    const r = await receiver();
    const [holder] = cluster(r.url, 1) as [RedisWebhookEngine];
    holder.lifecycle(event(0));
    await r.until(() => r.acked().length === 1);
    // A node that has not yet noticed it lost the lease reads an entry, then dies.
    const redis = new Redis(TEST_REDIS_URL);
    const key = webhookStreamKey(prefixes.at(-1) as string, 'acme', r.url);
    const late = {
      id: 'wh_late',
      type: 'channel.occupied',
      tenant: 'acme',
      channel: 'late',
      at: new Date().toISOString(),
    };
    try {
      await redis
        .multi()
        .xadd(key, '*', 'e', '{not json')
        .xadd(key, '*', 'e', JSON.stringify(late))
        .xreadgroup('GROUP', 'cast', 'former-holder', 'COUNT', 10, 'STREAMS', key, '>')
        .exec();
    } finally {
      redis.disconnect();
    }
    await r.until(() => r.acked().some((e) => e.id === 'wh_late'), 5000);
    expect(r.acked()).toHaveLength(2);
  });
});
