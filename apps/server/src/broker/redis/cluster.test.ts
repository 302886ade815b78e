import { type EventPosition, isCastError } from '@cast/protocol';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeBrokerContract } from '../contract.js';
import { startRedisCluster, type TestRedisCluster } from '../redis-cluster-test-support.js';
import { testPrefix } from '../redis-test-support.js';
import type { Broker } from '../types.js';
import { Presence, type PresenceStream } from '../../presence/presence.js';
import { describeAcrossNodes, expectIncreasing, input, killPubsubClient, Recorder, withRedis } from './across-nodes.js';
import { createRedisBroker, type RedisBrokerOptions } from './index.js';
import { createRedisKeys } from './keys.js';
import { slotOf } from './slot.js';

const quiet = () => {};

// One private Redis Cluster (three masters on loopback) for this file.
let cluster: TestRedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describeBrokerContract('redis', async (options) => {
  const broker = createRedisBroker({ url: cluster.url, prefix: testPrefix(), log: quiet, ...options });
  return { broker, cleanup: () => broker.close() };
});

const master = (port: number) => `redis://127.0.0.1:${port}`;

/**
 * Closes the `stopping` node's broker, then reaps with `survivor` (no grace
 * period) until it reaps something.
 *
 * @returns what the survivor reaped
 */
async function reapedOnceClosed(stopping: Broker, survivor: Broker): Promise<unknown[]> {
  await stopping.close();
  const gone: unknown[] = [];
  await vi.waitFor(async () => {
    gone.push(...(await survivor.presence.reap(0)));
    expect(gone).not.toEqual([]);
  });
  return gone;
}

/**
 * Reaps with `broker` every 50 ms, with no grace period, as a node's presence
 * loop would (failures while a shard is down count as nothing reaped).
 * `stop()` ends the loop and resolves with everything it reaped.
 */
function reapAllAlong(broker: Broker): { stop(): Promise<unknown[]> } {
  const reaped: unknown[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      reaped.push(...(await broker.presence.reap(0).catch(() => [])));
      await sleep(50);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return reaped;
    },
  };
}

/** One tenant per master of a cluster: tenant name → the port of the master serving it. */
async function tenantsPerShard(on: TestRedisCluster, prefix: string): Promise<Map<string, number>> {
  const keys = createRedisKeys(prefix, { cluster: true });
  const byPort = new Map<number, string>();
  for (let i = 0; byPort.size < 3 && i < 200; i++) {
    const port = await on.portOfSlot(slotOf(keys.log(`t${i}`)));
    if (!byPort.has(port)) byPort.set(port, `t${i}`);
  }
  return new Map([...byPort].map(([port, tenant]) => [tenant, port]));
}

/**
 * A prefix whose node list and presence holders live on two shards, a node id
 * whose tenant list and a tenant on neither the node list's shard: restarting
 * that shard loses the node list only.
 */
async function apartFromNodeList(on: TestRedisCluster) {
  let prefix: string;
  let nodesPort: number;
  do {
    prefix = testPrefix();
    nodesPort = await on.portOfSlot(slotOf(`${prefix}:nodes`));
  } while (nodesPort === (await on.portOfSlot(slotOf(`${prefix}:pnodes`))));
  let nodeId: string;
  do nodeId = `a-${testPrefix()}`;
  while ((await on.portOfSlot(slotOf(`${prefix}:ptenants:${nodeId}`))) === nodesPort);
  const [tenant] = [...(await tenantsPerShard(on, prefix))].find(([, port]) => port !== nodesPort) as [string, number];
  return { prefix, nodesPort, nodeId, tenant };
}

/** A stream's session record, for `addSession`. */
const session = (tenant: string, id: string) => ({
  id,
  tenant,
  channels: ['orders'],
  userId: 'ada',
  connectedAt: new Date().toISOString(),
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The Redis broker's tests across nodes, as on one Redis.
describeAcrossNodes({
  cluster: true,
  url: () => cluster.url,
  admin: () =>
    new Cluster(
      cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
      { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } },
    ),
  // The cluster is this file's own and goes away whole.
  drop: async () => {},
  keysLike: async (pattern) =>
    (await Promise.all(cluster.ports.map((p) => withRedis(master(p), (r) => r.keys(pattern))))).flat(),
  shardNumsub: async (channel) =>
    withRedis(master(await cluster.portOfSlot(slotOf(channel))), (r) => r.call('PUBSUB', 'SHARDNUMSUB', channel)),
  killClient: (name) => killPubsubClient(cluster.ports.map(master), name),
});

describe('redis broker on a Redis Cluster, across nodes', () => {
  let prefix: string;
  let brokers: Broker[] = [];

  afterEach(async () => {
    await Promise.all(brokers.map((b) => b.close()));
    brokers = [];
    // A test that failed with a master down leaves it down: the next test finds the cluster whole.
    for (const port of cluster.ports) await cluster.restart(port);
  });

  async function node(options: Partial<RedisBrokerOptions> = {}) {
    const broker = createRedisBroker({
      url: cluster.url,
      prefix,
      historySize: 1000,
      historyMaxAgeSeconds: 3600,
      idempotencyWindowSeconds: 3600,
      nodeTtlMs: 3000,
      log: process.env.CAST_TEST_LOG ? (line) => console.log(line) : quiet,
      ...options,
    });
    brokers.push(broker);
    const local = new Recorder();
    await broker.start(local);
    return { broker, local };
  }

  it('keeps every key of a tenant in one slot, and spreads tenants over the shards', async () => {
    prefix = testPrefix();
    const keys = createRedisKeys(prefix, { cluster: true });
    const slot = slotOf(keys.log('acme'));
    for (const key of [
      keys.meta('acme'),
      keys.live('acme'),
      keys.control('acme'),
      keys.epochOf('acme'),
      keys.liveNodes('acme'),
      keys.sessions('acme', 'n1'),
      keys.revocations('acme'),
    ]) {
      expect(slotOf(key), key).toBe(slot);
    }
    expect(new Set((await tenantsPerShard(cluster, prefix)).values()).size).toBe(3);
  });

  it('delivers, counts and replays across nodes for tenants on every shard', async () => {
    prefix = testPrefix();
    const a = await node();
    const b = await node();
    const tenants = [...(await tenantsPerShard(cluster, prefix)).keys()];
    for (const t of tenants) b.broker.listen(t, 'orders');
    await b.broker.addSession({
      id: 's1',
      tenant: tenants[0] as string,
      channels: ['orders'],
      userId: 'ada',
      connectedAt: new Date().toISOString(),
    } as never);
    for (const t of tenants) {
      const outcomes = await a.broker.publish(t, [input('orders', 1), input('orders', 2), input('orders', 3)]);
      expectIncreasing(outcomes.map((o) => o.event.position));
      await vi.waitFor(() =>
        expect(b.local.positions(t)).toEqual(expect.arrayContaining(outcomes.map((o) => o.event.position))),
      );
      const replay = await b.broker.replay(t, ['orders'], outcomes[0]!.event.position);
      expect(replay.recovered).toBe(true);
      expect(replay.events.map((e) => e.position)).toEqual(outcomes.slice(1).map((o) => o.event.position));
    }
    // `delivered` counts b's registered stream; sessions are listed from a.
    const [counted] = await a.broker.publish(tenants[0] as string, [input('orders', 4)]);
    expect(counted!.delivered).toBe(1);
    expect((await a.broker.listSessions(tenants[0] as string, {})).map((s) => s.id)).toEqual(['s1']);
    // Idempotency holds through either node.
    const [first] = await a.broker.publish(tenants[1] as string, [input('orders', 5, 'k1')]);
    const [again] = await b.broker.publish(tenants[1] as string, [input('orders', 5, 'k1')]);
    expect(again!.duplicate).toBe(true);
    expect(again!.event.messageId).toBe(first!.event.messageId);
  }, 30_000);

  it('sends a revocation to every node serving the tenant and sums their answers', async () => {
    prefix = testPrefix();
    const a = await node();
    const b = await node();
    const [tenant] = [...(await tenantsPerShard(cluster, prefix)).keys()];
    await b.broker.revocations(tenant as string); // b serves the tenant: it subscribed to its control channel
    await a.broker.revocations(tenant as string);
    const answered = await a.broker.revoke(tenant as string, { kind: 'user', userId: 'ada', at: Date.now() } as never);
    expect(answered).toBe(2);
    expect(b.local.controls).toHaveLength(1);
  });

  it('answers 503 for the tenants of a killed shard only, and catches up when it returns', async () => {
    prefix = testPrefix();
    const a = await node();
    const b = await node();
    const tenants = await tenantsPerShard(cluster, prefix);
    const [dead, victim] = [...tenants][0] as [string, number];
    const alive = [...tenants.keys()].filter((t) => t !== dead);
    for (const t of tenants.keys()) {
      b.broker.listen(t, 'orders');
      await b.broker.addSession(session(t, `s-${t}`));
    }
    // A stream whose filter refuses `order.created`: listed, never counted in `delivered`.
    await b.broker.addSession({ ...session(dead, `f-${dead}`), types: ['ticket.*'] });
    const before = await a.broker.publish(dead, [input('orders', 1)]);
    expect(before[0]!.delivered).toBe(1);
    await vi.waitFor(() => expect(b.local.positions(dead)).toEqual([before[0]!.event.position]));

    await cluster.kill(victim);
    const refused = await a.broker.publish(dead, [input('orders', 2)]).catch((err: unknown) => err);
    expect(isCastError(refused) && refused.code).toBe('UNAVAILABLE');
    // The message names the tenant's shard, not the client library's redirections or an address.
    expect((refused as Error).message).toMatch(
      /^The Redis shard that holds this tenant (is unreachable|did not answer)/,
    );
    expect((refused as Error).message).not.toMatch(/MOVED|redirection|127\.0\.0\.1|timed out/);
    // Once this node knows the shard is gone, a publish never reaches it: the answer says nothing was written.
    for (let i = 0; i < 3; i++) {
      const again = await a.broker.publish(dead, [input('orders', 2)]).catch((err: unknown) => err);
      expect(again).toMatchObject({
        code: 'UNAVAILABLE',
        message:
          'The Redis shard that holds this tenant is unreachable, so the publish failed without taking effect; retry shortly.',
      });
    }
    for (const t of alive) {
      const [ok] = await a.broker.publish(t, [input('orders', 3)]);
      await vi.waitFor(() => expect(b.local.positions(t)).toContainEqual(ok!.event.position));
    }
    expect(await a.broker.ready()).toBe(true);

    await cluster.restart(victim);
    // The shard came back empty (no persistence): publishes work again, and b's feed follows.
    const [back] = await vi.waitFor(() => a.broker.publish(dead, [input('orders', 4)]), {
      timeout: 15_000,
      interval: 200,
    });
    await vi.waitFor(() => expect(b.local.positions(dead)).toContainEqual(back!.event.position), { timeout: 15_000 });
    // b writes its sessions of the tenant again: a lists b's streams and counts the one whose filter takes the event.
    await vi.waitFor(
      async () =>
        expect((await a.broker.listSessions(dead, {})).map((s) => s.id).sort()).toEqual([`f-${dead}`, `s-${dead}`]),
      {
        timeout: 10_000,
      },
    );
    const [counted] = await a.broker.publish(dead, [input('orders', 5)]);
    expect(counted!.delivered).toBe(1);
    for (const t of alive) expect((await a.broker.listSessions(t, {})).map((s) => s.id)).toEqual([`s-${t}`]);
  }, 60_000);

  it("ends a tenant's streams when its shard restarts empty: their clients' rejoin lists the members on every node again, with no leave, and other shards' tenants keep theirs", async () => {
    prefix = testPrefix();
    const nodeTtlMs = 3000;
    const graceMs = 2000;
    const a = await node({ nodeTtlMs });
    const b = await node({ nodeTtlMs });
    const tenants = await tenantsPerShard(cluster, prefix);
    const [dead, victim] = [...tenants][0] as [string, number];
    const alive = [...tenants.keys()].find((t) => t !== dead) as string;
    const changes: string[] = [];
    const presence = new Presence(a.broker.presence, {
      graceMs,
      repairMs: 200,
      lifecycle: { lifecycle: (e) => changes.push(`${e.type} ${e.tenant} ${e.channel} ${e.userId ?? ''}`.trim()) },
      log: quiet,
    });
    // a's hub, as far as presence goes: a stream listens and opens; a reset ends the tenant's streams
    // (the last one unlistens) and their clients reconnect a moment later, within the grace period.
    const open = new Map<string, PresenceStream[]>();
    const connect = (stream: PresenceStream) => {
      if (!open.has(stream.tenant)) a.broker.listen(stream.tenant, 'room');
      open.set(stream.tenant, [...(open.get(stream.tenant) ?? []), stream]);
      presence.opened(stream);
    };
    a.local.reset = (tenant: string) => {
      a.local.resets.push(tenant);
      const ended = open.get(tenant) ?? [];
      open.delete(tenant);
      a.broker.unlisten(tenant, 'room');
      for (const stream of ended) presence.closed(stream);
      setTimeout(() => ended.forEach(connect), 300);
    };
    const stream = (tenant: string, userId: string): PresenceStream => ({
      tenant,
      channels: ['room'],
      userId,
      userInfo: null,
    });
    const members = async (tenant: string) =>
      (await b.broker.presence.snapshot(tenant, ['room'])).channels[0]!.members.map((m) => m.userId).sort();
    try {
      for (const t of [dead, alive]) {
        connect(stream(t, 'ada'));
        connect(stream(t, 'bob'));
        await presence.settled(t);
        expect(await members(t)).toEqual(['ada', 'bob']);
      }
      changes.length = 0;

      // b reads the healthy shard's tenant all along; a read counts for a phase only if it was sent
      // and answered within it.
      let phase: 'before' | 'down' | 'back' = 'before';
      const seen: { phase: typeof phase | 'across'; members: string }[] = [];
      const readIn = (p: typeof phase) => seen.filter((s) => s.phase === p).length;
      let stop = false;
      const watcher = (async () => {
        while (!stop) {
          const sentIn = phase;
          const m = await members(alive).catch(() => undefined);
          if (m) seen.push({ phase: sentIn === phase ? phase : 'across', members: m.join() });
          await sleep(100);
        }
      })();

      await cluster.kill(victim);
      phase = 'down';
      // The healthy shard answers while the victim is down (waited for, not assumed from timing).
      await vi.waitFor(() => expect(readIn('down')).toBeGreaterThan(0), { timeout: 10_000, interval: 50 });
      await cluster.restart(victim);
      phase = 'back';
      // a's feed finds the tenant's log gone and ends its streams there, once; the clients rejoin.
      await vi.waitFor(() => expect(a.local.resets).toEqual([dead]), { timeout: 3 * nodeTtlMs, interval: 100 });
      await vi.waitFor(async () => expect(await members(dead)).toEqual(['ada', 'bob']), {
        timeout: 3 * nodeTtlMs,
        interval: 100,
      });
      // A stream opened after the loss joins too, and is not ended.
      connect(stream(dead, 'cy'));
      await presence.settled(dead);
      expect(await members(dead)).toEqual(['ada', 'bob', 'cy']);
      // Past the grace period and several repairs: nobody leaves, nothing is ended again.
      await sleep(graceMs + 1000);
      stop = true;
      await watcher;
      expect(await members(dead)).toEqual(['ada', 'bob', 'cy']);
      expect(a.local.resets).toEqual([dead]);
      // The shard lost who was there: each member joins its new log once, the channel is occupied
      // once, and no one leaves. The healthy shard's tenant saw no change and never lost a member.
      expect(changes.sort()).toEqual(
        [
          `channel.occupied ${dead} room`,
          `presence.join ${dead} room ada`,
          `presence.join ${dead} room bob`,
          `presence.join ${dead} room cy`,
        ].sort(),
      );
      const log = await b.broker.replay(dead, ['room'], { ms: 0, seq: 0 });
      expect(log.events.map((e) => e.event)).toEqual(['presence.join', 'presence.join', 'presence.join']);
      expect(readIn('back')).toBeGreaterThan(0);
      expect(seen.filter((s) => s.members !== 'ada,bob')).toEqual([]);
      expect(await members(alive)).toEqual(['ada', 'bob']);
    } finally {
      presence.close();
    }
  }, 60_000);

  it('keeps the presence of tenants on healthy shards when the shard holding the node list restarts empty', async () => {
    const apart = await apartFromNodeList(cluster);
    prefix = apart.prefix;
    const { nodesPort, nodeId: aId, tenant } = apart;
    const nodeTtlMs = 1000;
    const a = await node({ nodeId: aId, nodeTtlMs });
    const b = await node({ nodeTtlMs });
    await a.broker.presence.occupy(tenant, 'room');
    expect(await a.broker.presence.join(tenant, 'room', 'ada', null)).toBe(true);
    const pnodes = master(await cluster.portOfSlot(slotOf(`${prefix}:pnodes`)));
    await vi.waitFor(async () => expect(await withRedis(pnodes, (r) => r.sismember(`${prefix}:pnodes`, aId))).toBe(1));

    // b reaps all along, with no grace period, as its presence loop would.
    const reaper = reapAllAlong(b.broker);
    await cluster.kill(nodesPort);
    await cluster.restart(nodesPort);
    // Long enough for every node to heartbeat into the empty list again, several times over.
    await sleep(3 * nodeTtlMs);
    expect(await reaper.stop()).toEqual([]);
    const snapshot = await b.broker.presence.snapshot(tenant, ['room']);
    expect(snapshot.channels[0]!.members.map((m) => m.userId)).toEqual(['ada']);
    const log = await b.broker.replay(tenant, ['room'], { ms: 0, seq: 0 });
    expect(log.events.map((e) => e.event)).toEqual(['presence.join']);

    // A node that really stops is still reaped: its user leaves and the channel is vacated, once.
    expect(await reapedOnceClosed(a.broker, b.broker)).toEqual([
      { type: 'presence.leave', tenant, channel: 'room', userId: 'ada' },
      { type: 'channel.vacated', tenant, channel: 'room' },
    ]);
  }, 60_000);

  it("lists a node's presence tenants again when the shard holding that list restarts empty, so the node's users still leave once it stops", async () => {
    // The node list and presence holders on one shard, a's list of tenants on another: restarting that one loses only the list.
    let nodesPort: number;
    do {
      prefix = testPrefix();
      nodesPort = await cluster.portOfSlot(slotOf(`${prefix}:nodes`));
    } while (nodesPort !== (await cluster.portOfSlot(slotOf(`${prefix}:pnodes`))));
    let aId: string;
    do aId = `a-${testPrefix()}`;
    while ((await cluster.portOfSlot(slotOf(`${prefix}:ptenants:${aId}`))) === nodesPort);
    const listPort = await cluster.portOfSlot(slotOf(`${prefix}:ptenants:${aId}`));
    const [tenant] = [...(await tenantsPerShard(cluster, prefix))].find(([, port]) => port !== listPort) as [
      string,
      number,
    ];
    const a = await node({ nodeId: aId, nodeTtlMs: 1000 });
    const b = await node({ nodeTtlMs: 1000 });
    const changes: string[] = [];
    const presence = new Presence(a.broker.presence, {
      graceMs: 0,
      repairMs: 200,
      lifecycle: { lifecycle: (e) => changes.push(`${e.type} ${e.channel} ${e.userId ?? ''}`.trim()) },
      log: quiet,
    });
    const listed = () => withRedis(master(listPort), (r) => r.sismember(`${prefix}:ptenants:${aId}`, tenant));
    try {
      a.broker.listen(tenant, 'room');
      presence.opened({ tenant, channels: ['room'], userId: 'ada', userInfo: null });
      await presence.settled(tenant);
      await vi.waitFor(async () => expect(await listed()).toBe(1));
      changes.length = 0;

      await cluster.kill(listPort);
      await cluster.restart(listPort);
      // a writes its part again and with it the list, within a few repairs; its tenant saw no change.
      await vi.waitFor(async () => expect(await listed()).toBe(1), { timeout: 5000, interval: 100 });
      expect(changes).toEqual([]);
      expect((await b.broker.presence.snapshot(tenant, ['room'])).channels[0]!.members.map((m) => m.userId)).toEqual([
        'ada',
      ]);
    } finally {
      presence.close();
    }

    // a stops: b finds its part through the list and removes it, so ada leaves and the channel is vacated, once.
    expect(await reapedOnceClosed(a.broker, b.broker)).toEqual([
      { type: 'presence.leave', tenant, channel: 'room', userId: 'ada' },
      { type: 'channel.vacated', tenant, channel: 'room' },
    ]);
  }, 60_000);

  it("loses no event while a listened tenant's slot moves to another shard", async () => {
    prefix = testPrefix();
    const a = await node();
    const b = await node();
    const tenant = 'mover';
    const keys = createRedisKeys(prefix, { cluster: true });
    const slot = slotOf(keys.log(tenant));
    b.broker.listen(tenant, 'orders');
    const published: EventPosition[] = [];
    const [first] = await a.broker.publish(tenant, [input('orders', 0)]);
    const [keyed] = await a.broker.publish(tenant, [input('orders', 0, 'key-before')]);
    published.push(first!.event.position, keyed!.event.position);
    await vi.waitFor(() => expect(b.local.positions(tenant)).toEqual(published));

    let stop = false;
    const publisher = (async () => {
      for (let n = 1; !stop && n < 2000; n++) {
        try {
          // Every other publish with an idempotency key (its keys move with the slot too).
          const [o] = await a.broker.publish(tenant, [input('orders', n, n % 2 ? `key-${n}` : undefined)]);
          published.push(o!.event.position);
        } catch {
          // 503 while the slot settles: the event was not published (retrying is the caller's).
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const from = await cluster.portOfSlot(slot);
    await cluster.moveSlot(slot, cluster.ports.find((p) => p !== from) as number, { pauseMs: 200 });
    await new Promise((r) => setTimeout(r, 500));
    // Enough publishes to mean something, however slow the host (the loop is bounded in count).
    await vi.waitFor(() => expect(published.length).toBeGreaterThan(20), { timeout: 10_000, interval: 50 });
    stop = true;
    await publisher;
    const [last] = await a.broker.publish(tenant, [input('orders', -1)]);
    published.push(last!.event.position);
    await vi.waitFor(() => expect(b.local.positions(tenant)).toEqual(published), { timeout: 15_000 });
    expect(b.local.resets).toEqual([]);
    // The idempotency keys came along: a retry of one is answered with its first outcome.
    const [retried] = await a.broker.publish(tenant, [input('orders', 0, 'key-before')]);
    expect(retried).toMatchObject({ duplicate: true, event: { position: keyed!.event.position } });
  }, 60_000);
});

describe('redis broker on a Redis Cluster whose masters keep their data (append-only file)', () => {
  let persistent: TestRedisCluster;
  let brokers: Broker[] = [];
  beforeAll(async () => {
    persistent = await startRedisCluster({ persistent: true });
  }, 60_000);
  afterAll(async () => {
    await persistent?.stop();
  });
  afterEach(async () => {
    await Promise.all(brokers.map((b) => b.close()));
    brokers = [];
    for (const port of persistent.ports) await persistent.restart(port);
  });

  async function node(prefix: string, nodeTtlMs: number, nodeId?: string) {
    const broker = createRedisBroker({
      url: persistent.url,
      prefix,
      ...(nodeId ? { nodeId } : {}),
      historySize: 1000,
      historyMaxAgeSeconds: 3600,
      idempotencyWindowSeconds: 3600,
      nodeTtlMs,
      log: process.env.CAST_TEST_LOG ? (line) => console.log(line) : quiet,
    });
    brokers.push(broker);
    const local = new Recorder();
    await broker.start(local);
    return { broker, local };
  }

  it('restores sessions and `delivered` of a shard that was down past the node TTL and came back with its data; its feed catches up once', async () => {
    const prefix = testPrefix();
    // Heartbeats a second apart, so a loaded machine still refreshes the healthy shards' hashes in time.
    const nodeTtlMs = 3000;
    const a = await node(prefix, nodeTtlMs);
    const b = await node(prefix, nodeTtlMs);
    const tenants = await tenantsPerShard(persistent, prefix);
    const [dead, victim] = [...tenants][0] as [string, number];
    const alive = [...tenants.keys()].filter((t) => t !== dead);
    for (const t of tenants.keys()) {
      b.broker.listen(t, 'orders');
      await b.broker.addSession(session(t, `s-${t}`));
    }
    const [before] = await a.broker.publish(dead, [input('orders', 1)]);
    expect(before!.delivered).toBe(1);
    await vi.waitFor(() => expect(b.local.positions(dead)).toEqual([before!.event.position]));

    await persistent.kill(victim);
    // Down past the session hashes' expiry: the restarted master loads them from disk already expired.
    await sleep(nodeTtlMs + 1000);
    // Meanwhile the other shards' tenants keep their sessions and counts. Tried again for a while: on a
    // loaded host one call can outlast the 1 s command timeout, where an unreachable shard fails every try.
    await vi.waitFor(
      async () => {
        for (const t of alive) {
          expect((await a.broker.listSessions(t, {})).map((s) => s.id)).toEqual([`s-${t}`]);
          const [ok] = await a.broker.publish(t, [input('orders', 2)]);
          expect(ok!.delivered).toBe(1);
        }
      },
      { timeout: 10_000, interval: 200 },
    );

    await persistent.restart(victim);
    // The master kept its log: the event published before the kill is still there.
    await vi.waitFor(
      async () =>
        expect((await a.broker.replay(dead, ['orders'], { ms: 0, seq: 0 })).events.map((e) => e.position)).toEqual([
          before!.event.position,
        ]),
      { timeout: 15_000, interval: 200 },
    );
    // b writes its registration again: a lists b's stream and counts it.
    await vi.waitFor(
      async () => expect((await a.broker.listSessions(dead, {})).map((s) => s.id)).toEqual([`s-${dead}`]),
      {
        timeout: 10_000,
        interval: 200,
      },
    );
    const after = await a.broker.publish(dead, [input('orders', 3), input('orders', 4)]);
    expect(after.map((o) => o.delivered)).toEqual([1, 1]);
    // b's feed goes on from where it was: every event once, in order, and no stream had to be ended.
    await vi.waitFor(
      () => expect(b.local.positions(dead)).toEqual([before!.event.position, ...after.map((o) => o.event.position)]),
      { timeout: 10_000 },
    );
    expect(b.local.resets).toEqual([]);
    for (const t of alive) expect((await a.broker.listSessions(t, {})).map((s) => s.id)).toEqual([`s-${t}`]);
  }, 60_000);

  it('does not take the old heartbeats of a node list back from disk for deaths before the nodes have heartbeated again', async () => {
    const { prefix, nodesPort, nodeId, tenant } = await apartFromNodeList(persistent);
    // Heartbeats a second apart: a window in which b reads a's entry from before the outage.
    const nodeTtlMs = 3000;
    const a = await node(prefix, nodeTtlMs, nodeId);
    const b = await node(prefix, nodeTtlMs);
    // Just after a master restarted (the test before), a new client's first commands to it can be refused
    // while its connection opens: ioredis refuses commands for a connecting node without an offline queue.
    for (const n of [a, b]) await vi.waitFor(() => n.broker.replay(tenant, ['room'], { ms: 0, seq: 0 }));
    await a.broker.presence.occupy(tenant, 'room');
    expect(await a.broker.presence.join(tenant, 'room', 'ada', null)).toBe(true);
    const pnodes = master(await persistent.portOfSlot(slotOf(`${prefix}:pnodes`)));
    await vi.waitFor(async () =>
      expect(await withRedis(pnodes, (r) => r.sismember(`${prefix}:pnodes`, nodeId))).toBe(1),
    );

    const reaper = reapAllAlong(b.broker);
    await persistent.kill(nodesPort);
    // Every heartbeat in the list is older than the TTL when it comes back.
    await sleep(nodeTtlMs + 500);
    await persistent.restart(nodesPort);
    // b believes the list again a TTL after its own heartbeat lands; by then a's has landed too.
    await sleep(2 * nodeTtlMs);
    expect(await reaper.stop()).toEqual([]);
    const snapshot = await b.broker.presence.snapshot(tenant, ['room']);
    expect(snapshot.channels[0]!.members.map((m) => m.userId)).toEqual(['ada']);
  }, 60_000);
});
