import { type EventPosition, formatPosition, isCastError } from '@cast/protocol';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { testPrefix } from '../redis-test-support.js';
import type { Broker, ControlMessage, LocalDelivery, StoredEvent } from '../types.js';
import { comparePositions } from './codec.js';
import { createRedisBroker, type RedisBrokerOptions } from './index.js';
import { createRedisKeys } from './keys.js';

/** Runs commands on one Redis (or one cluster master) with a fresh connection. */
export async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** Kills the pub/sub clients with a connection name on each of these Redis servers; fails when none had one. */
export async function killPubsubClient(urls: readonly string[], name: string): Promise<void> {
  let killed = 0;
  for (const url of urls) {
    await withRedis(url, async (admin) => {
      const list = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
      for (const line of list.split('\n').filter((l) => l.includes(` name=${name} `))) {
        const id = /\bid=(\d+)/.exec(line)?.[1];
        if (id) killed += Number(await admin.client('KILL', 'ID', id)) || 0;
      }
    });
  }
  if (killed === 0) throw new Error(`no client named ${name}`);
}

/** Where the across-nodes suite runs: one Redis, or a Redis Cluster. */
export interface RedisBackend {
  cluster: boolean;
  url(): string;
  /** A fresh admin client (not connected). */
  admin(): Redis | Cluster;
  /** Deletes a test's keys. */
  drop(prefix: string): Promise<void>;
  /** Every key matching a pattern (on every shard). */
  keysLike(pattern: string): Promise<string[]>;
  /** `PUBSUB SHARDNUMSUB` of one channel, on the shard serving it. */
  shardNumsub(channel: string): Promise<unknown>;
  /** Kills every pub/sub client with this connection name (fault injection). */
  killClient(name: string): Promise<void>;
}

/** A node's hub, for tests: records every event, reset and control message the broker hands it. */
export class Recorder implements LocalDelivery {
  readonly received: Array<{ tenant: string; event: StoredEvent }> = [];
  readonly resets: string[] = [];
  /** Local connections per channel (the hub's count); 1 when not set. */
  readonly takers = new Map<string, number>();
  deliver(tenant: string, event: StoredEvent): number {
    this.received.push({ tenant, event });
    return this.takers.get(event.channel) ?? 1;
  }
  reset(tenant: string): void {
    this.resets.push(tenant);
  }
  readonly controls: ControlMessage[] = [];
  controlAnswer = 1;
  control(_tenant: string, message: ControlMessage): number {
    this.controls.push(message);
    return this.controlAnswer;
  }
  positions(tenant = 'acme'): EventPosition[] {
    return this.received.filter((r) => r.tenant === tenant).map((r) => r.event.position);
  }
}

/** Expects positions in increasing log order. */
export function expectIncreasing(positions: readonly EventPosition[]): void {
  for (let i = 1; i < positions.length; i++) {
    const a = positions[i - 1] as EventPosition;
    const b = positions[i] as EventPosition;
    expect(comparePositions(b, a) > 0, `${formatPosition(a)} < ${formatPosition(b)}`).toBe(true);
  }
}

/** One event to publish, numbered `n`. */
export const input = (channel: string, n: number, idempotencyKey?: string) => ({
  channel,
  event: 'order.created',
  data: JSON.stringify({ n }),
  ...(idempotencyKey ? { idempotencyKey } : {}),
});

/**
 * The Redis broker's tests across several nodes, for one Redis and for a
 * Redis Cluster.
 *
 * @example
 * ```ts
 * describeAcrossNodes(backend)
 * ```
 */
export function describeAcrossNodes(backend: RedisBackend): void {
  const quiet = () => {};
  describe(`redis broker across nodes${backend.cluster ? ' on a Redis Cluster' : ''}`, () => {
    let prefix: string;
    let admin: Redis | Cluster;
    let brokers: Broker[] = [];

    beforeAll(async () => {
      admin = backend.admin();
      await admin.connect();
    });
    afterAll(() => admin.disconnect());

    afterEach(async () => {
      await Promise.all(brokers.map((b) => b.close()));
      brokers = [];
      await backend.drop(prefix);
    });

    async function node(options: Partial<RedisBrokerOptions> = {}) {
      const broker = createRedisBroker({
        url: backend.url(),
        prefix,
        historySize: 100,
        historyMaxAgeSeconds: 3600,
        idempotencyWindowSeconds: 3600,
        log: quiet,
        ...options,
      });
      brokers.push(broker);
      const local = new Recorder();
      await broker.start(local);
      return { broker, local };
    }

    // Every test gets its own prefix, so parallel runs never meet.
    beforeEach(() => {
      prefix = testPrefix();
    });

    it("presence: a user on two nodes joins once and leaves only when the last node's stream has settled", async () => {
      const a = await node();
      const b = await node();
      expect(await a.broker.presence.occupy('acme', 'room')).toBe(true);
      expect(await b.broker.presence.occupy('acme', 'room')).toBe(false);
      expect(await a.broker.presence.join('acme', 'room', 'ada', null)).toBe(true);
      expect(await b.broker.presence.join('acme', 'room', 'ada', '{"n":2}')).toBe(false);
      const snap = await b.broker.presence.snapshot('acme', ['room']);
      expect(snap.channels[0]!.members).toEqual([{ userId: 'ada', userInfo: { n: 2 }, connections: 2 }]);
      await a.broker.presence.part('acme', 'room', 'ada');
      await a.broker.presence.release('acme', 'room');
      expect(await a.broker.presence.settleMember('acme', 'room', 'ada', 0)).toBe(false);
      expect(await a.broker.presence.settleChannel('acme', 'room', 0)).toBe(false);
      await b.broker.presence.part('acme', 'room', 'ada');
      await b.broker.presence.release('acme', 'room');
      // Either node may settle once the user is gone everywhere; only one leave is appended.
      const settled = await Promise.all([
        a.broker.presence.settleMember('acme', 'room', 'ada', 0),
        b.broker.presence.settleMember('acme', 'room', 'ada', 0),
      ]);
      expect(settled.filter(Boolean)).toHaveLength(1);
      expect(await b.broker.presence.settleChannel('acme', 'room', 0)).toBe(true);
      const log = await a.broker.replay('acme', ['room'], { ms: 0, seq: 0 });
      expect(log.events.map((e) => e.event)).toEqual(['presence.join', 'presence.leave']);
    });

    it('presence: the part of a node that stopped is reaped once, by one surviving node, after the TTL and the grace period', async () => {
      const a = await node({ nodeTtlMs: 300 });
      const b = await node({ nodeTtlMs: 300 });
      const c = await node({ nodeTtlMs: 300 });
      await a.broker.presence.occupy('acme', 'room');
      await a.broker.presence.join('acme', 'room', 'ada', null);
      await b.broker.presence.occupy('acme', 'room');
      await b.broker.presence.join('acme', 'room', 'bob', null);
      await a.broker.close();
      // Too early: the node is listed as gone for one TTL only, the grace period has not passed.
      expect(await b.broker.presence.reap(60_000)).toEqual([]);
      // A node trusts the node list a TTL after its first heartbeat that landed (on a cluster one may fail
      // while the connections to the shards open): both reap side by side until one of them does.
      const reaped: unknown[] = [];
      await vi.waitFor(
        async () => {
          reaped.push(...(await Promise.all([b.broker.presence.reap(0), c.broker.presence.reap(0)])).flat());
          expect(reaped).not.toEqual([]);
        },
        { timeout: 5000, interval: 50 },
      );
      expect(reaped).toEqual([{ type: 'presence.leave', tenant: 'acme', channel: 'room', userId: 'ada' }]);
      expect(await c.broker.presence.reap(0)).toEqual([]);
      const log = await b.broker.replay('acme', ['room'], { ms: 0, seq: 0 });
      expect(log.events.map((e) => [e.event, JSON.parse(e.data).userId])).toEqual([
        ['presence.join', 'ada'],
        ['presence.join', 'bob'],
        ['presence.leave', 'ada'],
      ]);
      // The channel stays occupied by b.
      expect((await c.broker.presence.snapshot('acme', ['room'])).channels[0]!.members.map((m) => m.userId)).toEqual([
        'bob',
      ]);
    });

    it('presence: a node whose part was reaped while it was cut off says so, so its part is written again', async () => {
      // a heartbeats once a minute, so nothing refreshes its entry between the write below and b's reap;
      // b counts a node gone after its own 300 ms.
      const a = await node({ nodeTtlMs: 180_000 });
      const b = await node({ nodeTtlMs: 300 });
      await a.broker.presence.join('acme', 'room', 'ada', null);
      // a lists itself among the presence holders once its tenant list is written, after the join.
      await vi.waitFor(async () => expect(await admin.smembers(`${prefix}:pnodes`)).toHaveLength(1));
      const aNode = (await admin.smembers(`${prefix}:pnodes`))[0] as string;
      // a's first heartbeat runs as it connects, in several round trips: let it land, or it would
      // overwrite the stale score below and b would still see a alive.
      await vi.waitFor(async () => expect(await admin.zscore(`${prefix}:nodes`, aNode)).not.toBeNull());
      // a stops heartbeating as far as b can tell: its entry is made stale before every reap, since a
      // heartbeat a started as it connected may still land after the first write. b trusts the list a TTL
      // after its own first heartbeat that landed (see the test above), so it reaps until it does.
      const reaped: unknown[] = [];
      await vi.waitFor(
        async () => {
          await admin.zadd(`${prefix}:nodes`, 1, aNode);
          reaped.push(...(await b.broker.presence.reap(0)));
          expect(reaped).not.toEqual([]);
        },
        { timeout: 5000, interval: 50 },
      );
      expect(reaped).toEqual([{ type: 'presence.leave', tenant: 'acme', channel: 'room', userId: 'ada' }]);
      expect(a.broker.presence.lost?.()).toBe(false);
      await a.broker.presence.reap(0);
      expect(a.broker.presence.lost?.()).toBe(true);
      expect(a.broker.presence.lost?.()).toBe(false);
    });

    it('presence: steps sent without waiting apply in the order they were sent', async () => {
      const a = await node();
      const steps = [];
      for (let i = 0; i < 20; i++) {
        steps.push(a.broker.presence.join('acme', 'room', `u${i}`, null));
        steps.push(a.broker.presence.part('acme', 'room', `u${i}`));
      }
      // The snapshot, sent last, sees every step before it.
      const snap = a.broker.presence.snapshot('acme', ['room']);
      await Promise.all(steps);
      expect((await snap).channels[0]!.members.map((m) => m.connections)).toEqual(Array(20).fill(0));
      expect(await a.broker.presence.settleMember('acme', 'room', 'u7', 0)).toBe(true);
    });

    it("presence: a rewrite replaces a node's part, joining who is new and leaving the rest to settle", async () => {
      const a = await node();
      await a.broker.presence.occupy('acme', 'room');
      await a.broker.presence.join('acme', 'room', 'ada', null);
      const changes = await a.broker.presence.rewrite('acme', {
        channels: ['room'],
        members: [{ channel: 'room', userId: 'bob', userInfo: null, count: 2 }],
      });
      expect(changes).toEqual([{ type: 'presence.join', tenant: 'acme', channel: 'room', userId: 'bob' }]);
      expect(await a.broker.presence.settleMember('acme', 'room', 'ada', 0)).toBe(true);
      const snap = await a.broker.presence.snapshot('acme', ['room']);
      expect(snap.channels[0]!.members).toEqual([{ userId: 'bob', userInfo: null, connections: 2 }]);
    });

    it('hands an event published on one node to every node that listens to the tenant, once', async () => {
      const a = await node();
      const b = await node();
      const c = await node();
      b.broker.listen('acme', 'orders');
      c.broker.listen('acme', 'orders');
      const [out] = await a.broker.publish('acme', [input('orders', 1)]);
      await vi.waitFor(() => {
        expect(b.local.positions()).toEqual([out!.event.position]);
        expect(c.local.positions()).toEqual([out!.event.position]);
      });
      // a has no subscriber for acme: it does not receive acme's events at all.
      expect(a.local.received).toEqual([]);
    });

    it('gives concurrent publishers on different nodes one order that every node delivers', async () => {
      const nodes = [await node(), await node(), await node()];
      for (const n of nodes) n.broker.listen('acme', 'orders');
      const outcomes = (
        await Promise.all(
          Array.from({ length: 60 }, (_, i) =>
            (nodes[i % 3] as (typeof nodes)[0]).broker.publish('acme', [input('orders', i)]),
          ),
        )
      ).flat();
      const expected = outcomes.map((o) => o.event.position).sort(comparePositions);
      await vi.waitFor(() => {
        for (const n of nodes) expect(n.local.positions()).toHaveLength(60);
      });
      for (const n of nodes) expect(n.local.positions()).toEqual(expected);
      expectIncreasing(expected);
    });

    it('counts delivered across nodes: this node exactly, others by their registered connections', async () => {
      const a = await node();
      const b = await node();
      a.local.takers.set('orders', 2);
      a.local.takers.set('tickets', 0);
      a.local.takers.set('nobody', 0);
      a.broker.listen('acme', 'orders');
      const at = new Date().toISOString();
      b.broker.addSession({ tenant: 'acme', id: 'b1', userId: null, channels: ['orders'], connectedAt: at });
      b.broker.addSession({ tenant: 'acme', id: 'b2', userId: null, channels: ['orders', 'tickets'], connectedAt: at });
      b.broker.addSession({ tenant: 'globex', id: 'b3', userId: null, channels: ['orders'], connectedAt: at });
      await b.broker.listSessions('acme', {}); // the writes above are on the same connection, before this
      const [orders, tickets, other] = await a.broker.publish('acme', [
        input('orders', 1),
        input('tickets', 2),
        input('nobody', 3),
      ]);
      expect(orders!.delivered).toBe(2 + 2);
      expect(tickets!.delivered).toBe(1);
      expect(other!.delivered).toBe(0);
      b.broker.removeSession('acme', 'b1');
      await b.broker.listSessions('acme', {});
      const [later] = await a.broker.publish('acme', [input('orders', 4)]);
      expect(later!.delivered).toBe(2 + 1);
    });

    it("counts another node's streams only for the events their types filter takes", async () => {
      const a = await node();
      const b = await node();
      a.local.takers.set('orders', 0);
      const at = new Date().toISOString();
      const session = (id: string, types?: string[]) =>
        b.broker.addSession({ tenant: 'acme', id, userId: null, channels: ['orders'], connectedAt: at, types });
      session('all');
      session('orders', ['order.*']);
      session('orders-2', ['order.*']);
      session('named', ['order.created', 'ticket.closed']);
      session('tickets', ['ticket.*']);
      // Overlapping patterns: each event it takes counts it once.
      session('overlap', ['order.created', 'order.*', 'order.paid.*', 'x.y.*']);
      await b.broker.listSessions('acme', {});
      const named = (event: string, n: number) => ({ ...input('orders', n), event });
      const delivered = async () =>
        (
          await a.broker.publish('acme', [
            named('order.created', 1),
            named('order.paid', 2),
            named('ticket.closed', 3),
            named('ticket', 4),
            named('other', 5),
            named('x.y.z', 6),
            named('x.y', 7),
          ])
        ).map((o) => o.delivered);
      expect(await delivered()).toEqual([1 + 2 + 1 + 1, 1 + 2 + 1, 1 + 1 + 1, 1, 1, 1 + 1, 1]);
      // Leaving, a filtered stream stops counting for its events only.
      b.broker.removeSession('acme', 'orders');
      b.broker.removeSession('acme', 'tickets');
      await b.broker.listSessions('acme', {});
      expect(await delivered()).toEqual([1 + 1 + 1 + 1, 1 + 1 + 1, 1 + 1, 1, 1, 1 + 1, 1]);
      b.broker.removeSession('acme', 'orders-2');
      b.broker.removeSession('acme', 'named');
      b.broker.removeSession('acme', 'overlap');
      await b.broker.listSessions('acme', {});
      expect(await delivered()).toEqual([1, 1, 1, 1, 1, 1, 1]);
      // Only the channel's count is left in the node's hash.
      const keys = createRedisKeys(prefix, { cluster: backend.cluster });
      const [subs] = await backend.keysLike(`${keys.tenant('acme')}subs:*`);
      expect(await admin.hgetall(subs as string)).toEqual({ orders: '1' });
    });

    it('gives a new stream the log position at its registration as its floor, and parks live events until it has it', async () => {
      const a = await node();
      const c = await node();
      a.broker.listen('acme', 'orders');
      const [before] = await c.broker.publish('acme', [input('orders', 1)]);
      await vi.waitFor(() => expect(a.local.positions()).toEqual([before!.event.position]));
      const floors: Array<EventPosition | undefined> = [];
      const handedBeforeFloor: number[] = [];
      const registered = a.broker.addSession({
        tenant: 'acme',
        id: 'a1',
        userId: null,
        channels: ['orders'],
        connectedAt: new Date().toISOString(),
        startAfter: (p) => {
          floors.push(p);
          handedBeforeFloor.push(a.local.received.length);
        },
      });
      // Sent after the registration on the same connection: after the floor. Its
      // live message may arrive before the registration's answer; it waits for it.
      const during = a.broker.publish('acme', [input('orders', 2)]);
      await registered;
      expect(floors).toEqual([before!.event.position]);
      expect(handedBeforeFloor).toEqual([1]);
      const [after] = await during;
      await vi.waitFor(() => expect(a.local.positions()).toEqual([before!.event.position, after!.event.position]));
      // Another node's publish counts the registered stream.
      const [later] = await c.broker.publish('acme', [input('orders', 3)]);
      expect(later!.delivered).toBe(1);
    });

    it('bounds the idempotency keys of a tenant by count, forgetting the oldest', async () => {
      const a = await node({ maxIdempotencyKeys: 3 });
      for (let i = 1; i <= 5; i++) await a.broker.publish('acme', [input('orders', i, `k${i}`)]);
      const keys = createRedisKeys(prefix, { cluster: backend.cluster });
      expect((await backend.keysLike(`${keys.tenant('acme')}idem:*`)).sort()).toEqual(
        ['k3', 'k4', 'k5'].map((k) => `${keys.tenant('acme')}idem:${k}`),
      );
      expect((await a.broker.publish('acme', [input('orders', 5, 'k5')]))[0]!.duplicate).toBe(true);
      expect((await a.broker.publish('acme', [input('orders', 1, 'k1')]))[0]!.duplicate).toBe(false);
    });

    it('bounds the bytes of the idempotency keys of a tenant, forgetting the oldest: an old key publishes again, a recent one is a duplicate', async () => {
      const a = await node({ maxIdempotencyKeys: 1000, maxIdempotencyBytes: 2000 });
      const keys = createRedisKeys(prefix, { cluster: backend.cluster });
      const sizes = `${keys.tenant('acme')}idemsize`;
      // Names in publish order, so keys set in the same millisecond are forgotten in that order too.
      const key = (i: number) => `key-${String(i).padStart(2, '0')}`;
      for (let i = 1; i <= 20; i++) await a.broker.publish('acme', [input('orders', i, key(i))]);

      const held = (await backend.keysLike(`${keys.tenant('acme')}idem:*`))
        .map((k) => k.slice(`${keys.tenant('acme')}idem:`.length))
        .sort();
      // The newest keys, and only as many as the bound holds (each is a few hundred bytes).
      expect(held.length).toBeGreaterThanOrEqual(2);
      expect(held.length).toBeLessThan(20);
      expect(held).toEqual(Array.from({ length: held.length }, (_, i) => key(21 - held.length + i)));
      // The sum is what the kept keys hold in Redis, counted as the script counts it, and within the bound.
      let counted = 0;
      for (const k of held) {
        const name = `${keys.tenant('acme')}idem:${k}`;
        counted += name.length + (await admin.strlen(name)) + 2 * k.length + 3 * 64;
        expect(Number(await admin.hget(sizes, k))).toBeGreaterThan(0);
      }
      const total = Number(await admin.hget(sizes, ''));
      expect(total).toBe(counted);
      expect(total).toBeLessThanOrEqual(2000);
      expect(Object.keys(await admin.hgetall(sizes)).sort()).toEqual(['', ...held]);

      expect((await a.broker.publish('acme', [input('orders', 20, key(20))]))[0]!.duplicate).toBe(true);
      expect((await a.broker.publish('acme', [input('orders', 1, key(1))]))[0]!.duplicate).toBe(false);
      expect(Number(await admin.hget(sizes, ''))).toBeLessThanOrEqual(2000);
    });

    it('keeps only the answer of an idempotency key, never the published data', async () => {
      const a = await node();
      const pad = 'x'.repeat(64 * 1024);
      const data = JSON.stringify({ pad });
      const [first] = await a.broker.publish('acme', [{ channel: 'orders', event: 'n', data, idempotencyKey: 'big' }]);
      const keys = createRedisKeys(prefix, { cluster: backend.cluster });
      const name = `${keys.tenant('acme')}idem:big`;
      const stored = (await admin.get(name)) as string;
      expect(stored.length).toBeLessThan(300);
      expect(stored).not.toContain('xxxx');
      expect(Number(await admin.hget(`${keys.tenant('acme')}idemsize`, 'big'))).toBeLessThan(600);
      // The retry still gets the first answer, and its own data stands in for the payload.
      const [again] = await a.broker.publish('acme', [{ channel: 'orders', event: 'n', data, idempotencyKey: 'big' }]);
      expect(again).toMatchObject({ duplicate: true, event: { messageId: first!.event.messageId, data } });
    });

    it('keeps the Redis history within CAST_HISTORY_MAX_BYTES, counting bytes as it trims', async () => {
      const a = await node({ historyMaxBytes: 50_000 });
      const pad = 'x'.repeat(10_000);
      for (let i = 0; i < 40; i++)
        await a.broker.publish('acme', [{ channel: 'orders', event: 'n', data: JSON.stringify({ i, pad }) }]);
      const keys = createRedisKeys(prefix, { cluster: backend.cluster });
      const len = await admin.xlen(keys.log('acme'));
      expect(len).toBeGreaterThanOrEqual(3);
      expect(len).toBeLessThanOrEqual(5);
      const bytes = Number(await admin.hget(keys.meta('acme'), 'bytes'));
      expect(bytes).toBeLessThanOrEqual(50_000);
      expect(bytes).toBeGreaterThan(len * 10_000);
    });

    it('counts presence events against CAST_HISTORY_MAX_BYTES like any event: one byte count, trimmed oldest first', async () => {
      const a = await node({ historyMaxBytes: 5000 });
      const info = JSON.stringify({ pad: 'x'.repeat(900) });
      const keys = createRedisKeys(prefix, { cluster: backend.cluster });
      /** The bytes the log holds, counted as the scripts count them (64 plus each field value). */
      const held = async () =>
        (await admin.xrange(keys.log('acme'), '-', '+')).reduce(
          (n, [, fields]) =>
            n + 64 + fields.filter((_, j) => j % 2 === 1).reduce((m, v) => m + Buffer.byteLength(v), 0),
          0,
        );
      for (let i = 0; i < 12; i++) expect(await a.broker.presence.join('acme', 'room', `u${i}`, info)).toBe(true);
      // The presence steps alone keep the log within the cap and the count exact.
      expect(Number(await admin.hget(keys.meta('acme'), 'bytes'))).toBe(await held());
      expect(await held()).toBeLessThanOrEqual(5000);
      expect(await admin.xlen(keys.log('acme'))).toBeLessThan(12);
      const [published] = await a.broker.publish('acme', [input('room', 1)]);
      expect(Number(await admin.hget(keys.meta('acme'), 'bytes'))).toBe(await held());
      // Positions are shared: the publish comes after every join, and a replay from the start says the trimmed joins are gone.
      const replay = await a.broker.replay('acme', ['room'], { ms: 0, seq: 0 });
      expect(replay.recovered).toBe(false);
      expect(replay.events.at(-1)?.position).toEqual(published!.event.position);
      expectIncreasing(replay.events.map((e) => e.position));
      expect(replay.events.slice(0, -1).every((e) => e.event === 'presence.join')).toBe(true);
    });

    it('lists sessions of every live node and ignores a node that stopped heartbeating', async () => {
      const a = await node();
      const b = await node();
      const at = new Date().toISOString();
      a.broker.addSession({ tenant: 'acme', id: 'a1', userId: 'u1', channels: ['orders'], connectedAt: at });
      b.broker.addSession({ tenant: 'acme', id: 'b1', userId: 'u1', channels: ['orders'], connectedAt: at });
      // A node that died a minute ago: its hash is still there, its heartbeat is old.
      const keys = createRedisKeys(prefix, { cluster: backend.cluster });
      await admin.zadd(keys.liveNodes('acme'), Date.now() - 60_000, 'dead-node');
      await admin.hset(
        keys.sessions('acme', 'dead-node'),
        'd1',
        JSON.stringify({ id: 'd1', userId: 'u1', channels: ['orders'], connectedAt: at }),
      );
      await admin.hset(keys.subscribers('acme', 'dead-node'), 'orders', 5);
      await vi.waitFor(async () => {
        expect((await a.broker.listSessions('acme', { userId: 'u1' })).map((s) => s.id).sort()).toEqual(['a1', 'b1']);
      });
      expect((await b.broker.listSessions('acme', { channel: 'orders' })).map((s) => s.id).sort()).toEqual([
        'a1',
        'b1',
      ]);
      // The dead node's connections are not counted as delivered either.
      const [out] = await a.broker.publish('acme', [input('orders', 1)]);
      expect(out!.delivered).toBe(1);
    });

    it('expires a node’s session hashes when it stops refreshing them', async () => {
      const a = await node({ nodeTtlMs: 300 });
      a.broker.addSession({
        tenant: 'acme',
        id: 'a1',
        userId: null,
        channels: ['orders'],
        connectedAt: new Date().toISOString(),
      });
      const keys = createRedisKeys(prefix, { cluster: backend.cluster });
      await vi.waitFor(async () =>
        expect(await admin.pttl((await backend.keysLike(`${keys.tenant('acme')}sess:*`))[0] ?? 'none')).toBeGreaterThan(
          0,
        ),
      );
      const ttl = await admin.pttl((await backend.keysLike(`${keys.tenant('acme')}sess:*`))[0] as string);
      expect(ttl).toBeLessThanOrEqual(300);
    });

    it('ages the log by Redis’s clock, so a node whose clock runs hours ahead keeps fresh events', async () => {
      const real = Date.now.bind(Date);
      const skewed = vi.spyOn(Date, 'now').mockImplementation(() => real() + 2 * 3_600_000);
      try {
        const a = await node({ historyMaxAgeSeconds: 3600 });
        const out = await a.broker.publish('acme', [input('orders', 1), input('orders', 2)]);
        const replay = await a.broker.replay('acme', ['orders'], out[0]!.event.position);
        expect(replay.recovered).toBe(true);
        expect(replay.events.map((e) => e.position)).toEqual([out[1]!.event.position]);
      } finally {
        skewed.mockRestore();
      }
    });

    it('honours an idempotency key on any node', async () => {
      const a = await node();
      const b = await node();
      const [first] = await a.broker.publish('acme', [input('orders', 1, 'order-1')]);
      const [again] = await b.broker.publish('acme', [input('orders', 1, 'order-1')]);
      expect(again!.duplicate).toBe(true);
      expect(again!.event.messageId).toBe(first!.event.messageId);
      expect(again!.event.position).toEqual(first!.event.position);
      const replay = await b.broker.replay('acme', ['orders'], { ms: 0, seq: 1 });
      expect(replay.events).toHaveLength(1);
    });

    it('delivers events published while a node joins a tenant, without waiting for its subscription', async () => {
      const a = await node();
      const b = await node();
      b.broker.listen('acme', 'orders');
      // Published before b's SUBSCRIBE may have reached Redis: the join reads the log.
      const out = await a.broker.publish('acme', [input('orders', 1), input('orders', 2)]);
      await vi.waitFor(() => expect(b.local.positions()).toEqual(out.map((o) => o.event.position)));
    });

    it('joins a tenant whose newest event is old without mistaking the idle time for a gap', async () => {
      const a = await node();
      const b = await node();
      const keys = createRedisKeys(prefix, { cluster: backend.cluster });
      // A log whose newest event is ten seconds old.
      const oldMs = Date.now() - 10_000;
      const old = `${oldMs}-0`;
      await admin.xadd(keys.log('acme'), old, 'c', 'orders', 'e', 'x', 'd', '1', 'm', 'old-message');
      await admin.hset(keys.meta('acme'), 'floor', '0-1', 'last', old);
      b.broker.listen('acme', 'orders');
      // Let b subscribe and read the log before anything new is published.
      await vi.waitFor(async () =>
        expect(await backend.shardNumsub(keys.live('acme'))).toEqual([keys.live('acme'), 1]),
      );
      await b.broker.replay('acme', ['orders'], { ms: oldMs, seq: 0 });
      await b.broker.replay('acme', ['orders'], { ms: oldMs, seq: 0 });
      expect(b.local.resets).toEqual([]);
      const [fresh] = await a.broker.publish('acme', [input('orders', 2)]);
      await vi.waitFor(() => expect(b.local.positions()).toEqual([fresh!.event.position]));
      expect(b.local.resets).toEqual([]);
      // A client position past the log's end is still not vouched for.
      expect((await b.broker.replay('acme', ['orders'], { ms: Date.now() + 60_000, seq: 0 })).recovered).toBe(false);
    });

    it('stops receiving a tenant after its last channel is unlistened', async () => {
      const a = await node();
      const b = await node();
      b.broker.listen('acme', 'orders');
      b.broker.listen('acme', 'tickets');
      const [one] = await a.broker.publish('acme', [input('orders', 1)]);
      await vi.waitFor(() => expect(b.local.positions()).toEqual([one!.event.position]));
      b.broker.unlisten('acme', 'orders');
      const [two] = await a.broker.publish('acme', [input('tickets', 2)]);
      await vi.waitFor(() => expect(b.local.positions()).toEqual([one!.event.position, two!.event.position]));
      b.broker.unlisten('acme', 'tickets');
      // A listener on another node, to know when the next event has gone round.
      const c = await node();
      c.broker.listen('acme', 'orders');
      const [three] = await a.broker.publish('acme', [input('orders', 3)]);
      await vi.waitFor(() => expect(c.local.positions()).toContainEqual(three!.event.position));
      expect(b.local.positions()).toHaveLength(2);
    });

    it('catches up from the log after losing its subscription: no event lost, none twice, in order', async () => {
      const a = await node();
      const b = await node({ nodeId: `b-${prefix}` });
      b.broker.listen('acme', 'orders');
      const before = await a.broker.publish('acme', [input('orders', 1)]);
      await vi.waitFor(() => expect(b.local.positions()).toHaveLength(1));
      await backend.killClient(`cast:b-${prefix}:sub`);
      const during = await a.broker.publish('acme', [input('orders', 2), input('orders', 3)]);
      const after = await a.broker.publish('acme', [input('orders', 4)]);
      const all = [...before, ...during, ...after].map((o) => o.event.position);
      await vi.waitFor(() => expect(b.local.positions()).toEqual(all), { timeout: 5000 });
      expect(b.local.resets).toEqual([]);
    });

    it('ends a tenant’s streams on a node that was cut off longer than the log keeps events', async () => {
      const a = await node({ historySize: 2 });
      const b = await node({ historySize: 2, nodeId: `b-${prefix}` });
      b.broker.listen('acme', 'orders');
      await a.broker.publish('acme', [input('orders', 1)]);
      await vi.waitFor(() => expect(b.local.positions()).toHaveLength(1));
      await backend.killClient(`cast:b-${prefix}:sub`);
      const missed = await a.broker.publish('acme', [
        input('orders', 2),
        input('orders', 3),
        input('orders', 4),
        input('orders', 5),
      ]);
      await vi.waitFor(() => expect(b.local.resets).toEqual(['acme']), { timeout: 5000 });
      // It then goes on from what the log still holds.
      await vi.waitFor(() =>
        expect(b.local.positions().slice(1)).toEqual(missed.slice(2).map((o) => o.event.position)),
      );
    });

    it('sends a revocation to every node serving the tenant and sums their answers; a node joining later reads it', async () => {
      const a = await node();
      const b = await node();
      const c = await node();
      // Nodes that serve streams of the tenant have read its revocations.
      await b.broker.revocations('acme');
      await c.broker.revocations('acme');
      await a.broker.revocations('globex');
      b.local.controlAnswer = 2;
      c.local.controlAnswer = 3;
      const revocation = { kind: 'user', userId: 'u1', before: Date.now() } as const;
      expect(await a.broker.revoke('acme', revocation)).toBe(5);
      expect(b.local.controls).toEqual([{ type: 'revoke', revocation }]);
      expect(c.local.controls).toEqual([{ type: 'revoke', revocation }]);
      expect(a.local.controls).toEqual([]);
      // Their copies are current without a round trip; a new node reads the set.
      const issued = { tokenId: 'x', userId: 'u1', issuedAt: revocation.before - 1 };
      expect((await b.broker.revocations('acme')).covers(issued)).toBe(true);
      const d = await node();
      expect((await d.broker.revocations('acme')).covers(issued)).toBe(true);
      expect((await d.broker.revocations('acme')).covers({ ...issued, issuedAt: revocation.before })).toBe(false);
      // A disconnect reaches the same nodes, and d now too.
      d.local.controlAnswer = 4;
      expect(await c.broker.broadcast('acme', { type: 'disconnect', sessionId: 's1', reconnect: true })).toBe(9);
    });

    it('reads the revocations it missed while cut off from Redis and ends the streams they cover', async () => {
      const a = await node();
      const b = await node({ nodeId: `b-${prefix}` });
      await b.broker.revocations('acme');
      await backend.killClient(`cast:b-${prefix}:sub`);
      const revocation = { kind: 'token', tokenId: 'tok-1', at: Date.now() } as const;
      // b may or may not be back in time to answer; either way it must act once it is.
      await a.broker.revoke('acme', revocation);
      await vi.waitFor(() => expect(b.local.controls).toContainEqual({ type: 'revoke', revocation }), {
        timeout: 5000,
      });
      expect((await b.broker.revocations('acme')).covers({ tokenId: 'tok-1', userId: null, issuedAt: 0 })).toBe(true);
    });

    it('keeps revocations for the longest token lifetime: the set expires, and older members are dropped', async () => {
      let clock = Date.now();
      const a = await node({ revocationTtlSeconds: 60, now: () => clock });
      await a.broker.revoke('acme', { kind: 'user', userId: 'old', before: clock });
      const key = createRedisKeys(prefix, { cluster: backend.cluster }).revocations('acme');
      const ttl = await admin.pttl(key);
      expect(ttl).toBeGreaterThan(60_000);
      expect(ttl).toBeLessThanOrEqual(120_000);
      clock += 61_000;
      await a.broker.revoke('acme', { kind: 'user', userId: 'new', before: clock });
      // One that no valid token can match any more is not stored at all.
      await a.broker.revoke('acme', { kind: 'all', before: clock - 61_000 });
      expect(await admin.zrange(key, 0, -1)).toEqual(['u:new']);
    });

    it.skipIf(backend.cluster)(
      'answers 503 UNAVAILABLE at once when Redis is unreachable, and is not ready',
      async () => {
        const lines: string[] = [];
        const down = createRedisBroker({
          url: 'redis://127.0.0.1:1',
          prefix,
          historySize: 10,
          historyMaxAgeSeconds: 60,
          idempotencyWindowSeconds: 60,
          log: (l) => lines.push(l),
        });
        brokers.push(down);
        await down.start(new Recorder());
        expect(lines.join('\n')).toMatch(/not reachable/);
        const started = Date.now();
        const err = await down.publish('acme', [input('orders', 1)]).catch((e: unknown) => e);
        expect(Date.now() - started).toBeLessThan(500);
        expect(isCastError(err) && err.code === 'UNAVAILABLE' && err.status === 503).toBe(true);
        expect(await down.ready()).toBe(false);
        await expect(down.replay('acme', ['orders'], { ms: 1, seq: 0 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
        await expect(down.listSessions('acme', {})).rejects.toMatchObject({ code: 'UNAVAILABLE' });
        await expect(down.revoke('acme', { kind: 'user', userId: 'u1', before: Date.now() })).rejects.toMatchObject({
          code: 'UNAVAILABLE',
        });
        await expect(
          down.broadcast('acme', { type: 'disconnect', userId: 'u1', reconnect: false }),
        ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
        // A node that never read the tenant's revocations cannot vouch for a token.
        await expect(down.revocations('acme')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
        // Session changes while down are kept locally, not queued towards Redis.
        down.addSession({
          tenant: 'acme',
          id: 's',
          userId: null,
          channels: ['orders'],
          connectedAt: new Date().toISOString(),
        });
      },
    );
  });
}
