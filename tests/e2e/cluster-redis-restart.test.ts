import { afterEach, describe, expect, it, vi } from 'vitest';
import { startCluster, type TestCluster } from './helpers/cluster.js';
import { type PrivateRedis, startPrivateRedis } from './helpers/redis.js';
import { issueToken, publish, type TestServer } from './helpers/server.js';
import { openRaw, type RawStream } from './helpers/sse.js';

// Each test runs its own redis-server on a free port and stops and starts it,
// so the machine's Redis (and the test files using it) are never disturbed.
let redis: PrivateRedis | undefined;
let cluster: TestCluster | undefined;
const streams: RawStream[] = [];

afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  await cluster?.stop().catch(() => {});
  await redis?.dispose();
  cluster = undefined;
  redis = undefined;
});

async function setup(persistent: boolean): Promise<TestServer[]> {
  redis = await startPrivateRedis({ persistent });
  cluster = await startCluster({ size: 3, redisUrl: redis.url, env: { CAST_HEARTBEAT_MS: '200' } });
  return cluster.nodes;
}

const acme = (node: TestServer) => ({ url: node.url, apiKey: cluster?.tenants.acme as string });
const live = (s: RawStream) => s.events.filter((e) => e.event !== 'connected');
const connectedData = (s: RawStream) => JSON.parse(s.events[0]?.data ?? '{}') as { recovered?: boolean };

async function open(node: TestServer, lastEventId?: string): Promise<RawStream> {
  const { token } = await issueToken(acme(node), { channels: ['restart'] });
  const s = await openRaw(
    `${node.url}/push/stream?token=${encodeURIComponent(token)}`,
    lastEventId ? { 'last-event-id': lastEventId } : {},
  );
  streams.push(s);
  expect(s.status).toBe(200);
  await s.waitFor(1);
  return s;
}

function settled(p: Promise<unknown>): () => boolean {
  let done = false;
  void p.then(() => {
    done = true;
  });
  return () => done;
}

/** Redis is down: publishes fail fast with 503, streams stay open with heartbeats. */
async function checkOutage(nodes: TestServer[], subs: RawStream[]): Promise<void> {
  const ended = subs.map((s) => settled(s.ended));
  for (const node of nodes) {
    const started = Date.now();
    const res = await fetch(`${node.url}/push/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cluster?.tenants.acme}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'restart', event: 'n', data: 'lost' }),
    });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    expect((await fetch(`${node.url}/readyz`)).status).toBe(503);
  }
  const heartbeats = subs.map((s) => s.comments.length);
  await vi.waitFor(
    () => subs.forEach((s, i) => expect(s.comments.length).toBeGreaterThan((heartbeats[i] as number) + 2)),
    {
      timeout: 5000,
    },
  );
  expect(ended.map((e) => e())).toEqual([false, false, false]);
}

async function waitReady(nodes: TestServer[]): Promise<void> {
  await vi.waitFor(
    async () => {
      for (const node of nodes) expect((await fetch(`${node.url}/readyz`)).status).toBe(200);
    },
    { timeout: 15_000, interval: 100 },
  );
}

describe('cluster when Redis restarts', () => {
  it('without persistence: streams stay open through the outage, then resume by replay and learn history was lost', async () => {
    const nodes = await setup(false);
    const subs = await Promise.all(nodes.map((n) => open(n)));
    const first = await publish(acme(nodes[0] as TestServer), { channel: 'restart', event: 'n', data: 'before' });
    expect(first.status).toBe(200);
    for (const s of subs) await s.waitFor(2);

    await redis?.stop();
    await checkOutage(nodes, subs);
    await redis?.start();
    await waitReady(nodes);

    // Redis came back empty: the nodes cannot vouch for what their streams may
    // have missed, so they end them and each client resumes by replay.
    await Promise.all(subs.map((s) => s.ended));
    const resumed = await Promise.all(nodes.map((n) => open(n, first.body.eventId)));
    for (const s of resumed) expect(connectedData(s).recovered).toBe(false);
    const after = await publish(acme(nodes[1] as TestServer), { channel: 'restart', event: 'n', data: 'after' });
    expect(after.status).toBe(200);
    for (const s of resumed) {
      await s.waitFor(2);
      expect(live(s).map((e) => e.id)).toEqual([after.body.eventId]);
    }
  });

  it('with persistence: streams stay open, and every node catches up on what was published while it reconnected', async () => {
    const nodes = await setup(true);
    const subs = await Promise.all(nodes.map((n) => open(n)));
    const first = await publish(acme(nodes[0] as TestServer), { channel: 'restart', event: 'n', data: 'before' });
    for (const s of subs) await s.waitFor(2);

    await redis?.stop();
    await checkOutage(nodes, subs);
    await redis?.start();

    // Publish through whichever node reconnects first, while the others may still be reconnecting.
    const published: string[] = [first.body.eventId];
    await vi.waitFor(
      async () => {
        const res = await publish(acme(nodes[2] as TestServer), { channel: 'restart', event: 'n', data: 'back' });
        expect(res.status).toBe(200);
        published.push(res.body.eventId);
      },
      { timeout: 15_000, interval: 50 },
    );
    await waitReady(nodes);
    const last = await publish(acme(nodes[0] as TestServer), { channel: 'restart', event: 'n', data: 'last' });
    published.push(last.body.eventId);
    for (const s of subs) {
      await s.waitFor(1 + published.length);
      expect(live(s).map((e) => e.id)).toEqual(published);
    }
    // The log survived: a client resuming from before the outage recovers everything.
    const resumed = await open(nodes[1] as TestServer, first.body.eventId);
    expect(connectedData(resumed).recovered).toBe(true);
    await resumed.waitFor(published.length);
    expect(live(resumed).map((e) => e.id)).toEqual(published.slice(1));
    expect(subs.map((s) => settled(s.ended)())).toEqual([false, false, false]);
  });
});
