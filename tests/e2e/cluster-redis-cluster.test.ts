import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { type TestRedisCluster, slotOf, startRedisCluster } from './helpers/redis-cluster.js';
import { issueToken, publish, type TestServer } from './helpers/server.js';
import { openConnected, type RawEvent, type RawStream } from './helpers/sse.js';

// Two server nodes on a private three-master Redis Cluster (CAST_REDIS_URL=redis+cluster://…),
// with three tenants, one on each shard.
let redis: TestRedisCluster;
let cluster: TestCluster;
let nodes: TestServer[];
/** Tenant → the port of the master serving it. */
const shardOf = new Map<string, number>();
const streams: RawStream[] = [];

beforeAll(async () => {
  redis = await startRedisCluster();
  const prefix = `cast-e2e-${randomBytes(6).toString('hex')}`;
  const tenants: Record<string, string> = {};
  const taken = new Set<number>();
  for (let i = 0; taken.size < 3 && i < 200; i++) {
    const port = await redis.portOfSlot(slotOf(`${prefix}:{tenant${i}}:log`));
    if (taken.has(port)) continue;
    taken.add(port);
    tenants[`tenant${i}`] = `sk_test_${randomBytes(12).toString('hex')}`;
    shardOf.set(`tenant${i}`, port);
  }
  cluster = await startCluster({ size: 2, redisUrl: redis.url, tenants, env: { CAST_REDIS_PREFIX: prefix } });
  nodes = cluster.nodes;
}, 60_000);
afterAll(async () => {
  for (const s of streams) s.close();
  await cluster?.stop();
  await redis?.stop();
});

const tenantNames = () => [...shardOf.keys()];

function as(node: TestServer, tenant: string) {
  return { url: node.url, apiKey: cluster.tenants[tenant] as string };
}

async function subscribe(
  node: TestServer,
  tenant: string,
  channels: string[],
  lastEventId?: string,
): Promise<RawStream> {
  const { token } = await issueToken(as(node, tenant), { channels });
  const s = await openConnected(
    `${node.url}/push/stream?token=${encodeURIComponent(token)}`,
    lastEventId ? { 'last-event-id': lastEventId } : {},
  );
  streams.push(s);
  return s;
}

const live = (s: RawStream) => s.events.filter((e) => e.event !== 'connected');
const ids = (events: RawEvent[]) => events.map((e) => e.id as string);

describe('Cast nodes on a Redis Cluster', () => {
  it('are ready, on the Redis broker', async () => {
    for (const node of nodes) {
      const res = await fetch(`${node.url}/readyz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ready', broker: 'redis' });
    }
  });

  it('delivers across nodes and replays on any node, for tenants on every shard', async () => {
    for (const tenant of tenantNames()) {
      const sub = await subscribe(nodes[1] as TestServer, tenant, ['orders']);
      const published: string[] = [];
      for (let n = 0; n < 3; n++) {
        const res = await publish(as(nodes[0] as TestServer, tenant), {
          channel: 'orders',
          event: 'order.created',
          data: { n },
        });
        expect(res.status).toBe(200);
        expect(res.body.delivered).toBe(1);
        published.push(res.body.eventId as string);
      }
      await sub.waitFor(4);
      expect(ids(live(sub))).toEqual(published);
      // A resume on the other node from the first event gets the rest, recovered.
      const resumed = await subscribe(nodes[0] as TestServer, tenant, ['orders'], published[0]);
      expect(JSON.parse(resumed.events[0]!.data).recovered).toBe(true);
      await resumed.waitFor(3);
      expect(ids(live(resumed))).toEqual(published.slice(1));
    }
  });

  it('answers 503 for the tenants of a killed shard only, saying nothing was written, and delivers every event once when it returns', async () => {
    const [dead, ...alive] = tenantNames() as [string, ...string[]];
    const order = (n: number, idempotencyKey?: string) => ({
      channel: 'orders',
      event: 'order.created',
      data: { n },
      ...(idempotencyKey ? { idempotencyKey } : {}),
    });
    const sub = await subscribe(nodes[1] as TestServer, dead, ['orders']);
    const first = await publish(as(nodes[0] as TestServer, dead), order(0));
    expect(first.status).toBe(200);
    await sub.waitFor(1, { match: (e) => e.id === first.body.eventId });

    await redis.kill(shardOf.get(dead) as number);
    const refused = await publish(as(nodes[0] as TestServer, dead), order(1));
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('UNAVAILABLE');
    // The tenant's shard, in plain words: no client library detail, no address.
    expect(refused.body.error.message).toMatch(
      /^The Redis shard that holds this tenant (is unreachable|did not answer)/,
    );
    expect(refused.body.error.message).not.toMatch(/MOVED|redirection|127\.0\.0\.1|timed out/);
    // Once the node has seen the shard go, a publish never reaches it, and the answer says so.
    const again = await publish(as(nodes[0] as TestServer, dead), order(1));
    expect(again.body.error.message).toBe(
      'The Redis shard that holds this tenant is unreachable, so the publish failed without taking effect; retry shortly.',
    );
    for (const tenant of alive) {
      const ok = await publish(as(nodes[0] as TestServer, tenant), order(1));
      expect(ok.status).toBe(200);
    }

    await redis.restart(shardOf.get(dead) as number);
    // Back, empty (no persistence). The publish is retried with one idempotency key, as a client
    // would: however many attempts reached Redis, it is one event.
    const back = await vi.waitFor(
      async () => {
        const res = await publish(as(nodes[0] as TestServer, dead), order(2, 'back-after-restart'));
        expect(res.status).toBe(200);
        return res.body.eventId as string;
      },
      { timeout: 20_000, interval: 250 },
    );
    // The open stream gets that event, or is ended so that its client resumes: nothing else will do.
    const delivered = sub.waitFor(1, { match: (e) => e.id === back, timeoutMs: 20_000 });
    delivered.catch(() => {});
    const outcome = await Promise.race([
      sub.ended.then(() => 'ended' as const),
      delivered.then(() => 'delivered' as const),
    ]);
    let stream = sub;
    const seen = [...live(sub)];
    if (outcome === 'ended') {
      const lastId = seen.at(-1)?.id as string;
      stream = await subscribe(nodes[1] as TestServer, dead, ['orders'], lastId);
    }
    const last = await publish(as(nodes[0] as TestServer, dead), order(3));
    expect(last.status).toBe(200);
    await stream.waitFor(1, { match: (e) => e.id === last.body.eventId });
    if (stream !== sub) seen.push(...live(stream));
    else seen.splice(0, seen.length, ...live(sub));
    // The client has every event once, in order.
    expect(ids(seen)).toEqual([first.body.eventId, back, last.body.eventId]);
    stream.close();
    sub.close();
  }, 60_000);

  it("loses no event while a connected tenant's slot is moved to another shard", async () => {
    const tenant = tenantNames()[1] as string;
    const sub = await subscribe(nodes[1] as TestServer, tenant, ['moving']);
    const slot = slotOf(`${cluster.prefix}:{${tenant}}:log`);
    const published: string[] = [];
    let stop = false;
    const publisher = (async () => {
      for (let n = 0; !stop && n < 1000; n++) {
        const res = await publish(as(nodes[0] as TestServer, tenant), {
          channel: 'moving',
          event: 'order.created',
          data: { n },
        });
        // 503 while the slot settles: not published (a client would retry).
        if (res.status === 200) published.push(res.body.eventId as string);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const from = await redis.portOfSlot(slot);
    await redis.moveSlot(
      slot,
      redis.ports.find((p) => p !== from && p !== shardOf.get(tenantNames()[0] as string)) ??
        (redis.ports.find((p) => p !== from) as number),
      { pauseMs: 200 },
    );
    await new Promise((r) => setTimeout(r, 500));
    // Enough publishes to mean something, however slow the host (the loop is bounded in count).
    await vi.waitFor(() => expect(published.length).toBeGreaterThan(20), { timeout: 10_000, interval: 50 });
    stop = true;
    await publisher;
    await sub.waitFor(published.length + 1, { timeoutMs: 15_000 });
    expect(ids(live(sub))).toEqual(published);
  }, 60_000);
});
