import { randomUUID } from 'node:crypto';
import type { CastError, EventPosition, SessionInfo } from '@cast/protocol';
import type { Revocation, Revocations } from '../../revocation/list.js';
import { positionBefore } from './codec.js';
import { createRedisKeys, type RedisKeys } from './keys.js';
import type {
  Broker,
  ControlMessage,
  LocalDelivery,
  PublishInput,
  PublishOutcome,
  ReplayPage,
  ReplayResult,
  SessionRecord,
} from '../types.js';
import { connectionUp, createCommandClient, createPubSub, type PubSub, redisTime } from './connection.js';
import { redact, type SentCall, unavailable } from './errors.js';
import { RedisControl } from './control.js';
import { Fanout } from './fanout.js';
import { RedisLog } from './log.js';
import { createRedisPresence, type RedisPresenceStore } from './presence.js';
import { defineScripts, type ScriptClient } from './scripts.js';
import { RedisSessions } from './sessions.js';
import { parseRedisUrl, type RedisTarget } from './url.js';

/** Options of {@link createRedisBroker}. */
export interface RedisBrokerOptions {
  /**
   * CAST_REDIS_URL: `redis://` or `rediss://` for one Redis, or
   * `redis+cluster://host:port,host:port` (`rediss+cluster://` for TLS) for a Redis Cluster.
   */
  url: string;
  /** First part of every key (CAST_REDIS_PREFIX). */
  prefix: string;
  /** Events kept per tenant. */
  historySize: number;
  /** Oldest event kept, seconds. */
  historyMaxAgeSeconds: number;
  /** How long an idempotency key is remembered, seconds. */
  idempotencyWindowSeconds: number;
  /** Bytes kept per tenant log (entry fields plus 64 each; oldest trimmed first). @defaultValue no cap */
  historyMaxBytes?: number;
  /** Most idempotency keys remembered per tenant (oldest forgotten first). @defaultValue 100_000 */
  maxIdempotencyKeys?: number;
  /**
   * Most bytes the idempotency keys of a tenant hold in Redis (name, answer and bookkeeping;
   * oldest forgotten first), the memory broker's `maxIdempotencyBytes` per tenant. @defaultValue 64 MiB
   */
  maxIdempotencyBytes?: number;
  /** How long a Redis command may take before the call fails with 503. @defaultValue 1000 */
  commandTimeoutMs?: number;
  /** How long a revocation is kept after its time: the longest token lifetime, seconds. @defaultValue 86_400 */
  revocationTtlSeconds?: number;
  /** Most revocations held per tenant at once. @defaultValue MAX_REVOCATIONS_PER_TENANT (100 000) */
  maxRevocations?: number;
  /** How long a node's sessions outlive its last heartbeat (a heartbeat runs every third of it). @defaultValue 15_000 */
  nodeTtlMs?: number;
  /** This node's id in Redis. @defaultValue a random UUID */
  nodeId?: string;
  /**
   * Clock for age limits, for tests. By default ages are measured by Redis's
   * clock, so nodes with skewed clocks agree (positions always come from Redis).
   */
  now?: () => number;
  /** Where connection changes are reported. @defaultValue console.error */
  log?: (line: string) => void;
}

/** Slack for clock drift between two clock measurements, ms. */
const DRIFT_MS = 100;
/** How often a stalled subscription or catch-up is retried, ms. */
const REPAIR_MS = 500;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref?.();
  });
}

/**
 * The Redis broker: several server nodes share one Redis, or one Redis
 * Cluster. Its rooms: the log (publish, replay: `log.ts`), the fan-out (one
 * feed per tenant: `fanout.ts`, `feed.ts`), sessions (`sessions.ts`),
 * revocations and control messages (`control.ts`), presence
 * (`presence.ts`), the Lua scripts (`scripts.ts`), the key layout
 * (`keys.ts`), the live message codec (`codec.ts`) and the connections
 * (`connection.ts`).
 *
 * - Each tenant's replay log is a Redis stream; its entry ids are the
 *   positions, assigned by Redis, so they increase per tenant across nodes.
 *   The log is trimmed by count and age; the newest trimmed id (the floor)
 *   decides `recovered`.
 * - Each append is published on the tenant's pub/sub channel in the same
 *   script, so every node sees one order. A node subscribes only to tenants
 *   its hub has subscribers for, hands each event to the hub once, and after
 *   any gap in its subscription reads the log from its last position.
 * - `delivered` = this node's exact count + connections registered by the
 *   other live nodes on that channel; sessions live in per-node hashes that
 *   expire when a node stops heartbeating.
 * - Revocations and control messages: see `control.ts`.
 * - On a Redis Cluster every key of a tenant carries the hash tag `{tenant}`,
 *   so a tenant lives on one shard and its scripts stay on it; live traffic
 *   uses sharded pub/sub on that shard. A shard that is down fails the calls
 *   of its tenants only.
 * - Redis unreachable: every call fails at once or after `commandTimeoutMs`
 *   with 503 `UNAVAILABLE` (no offline queue); open streams stay open.
 *
 * @example
 * ```ts
 * const broker = createRedisBroker({ url: 'redis://127.0.0.1:6379', prefix: 'cast',
 *   historySize: 10_000, historyMaxAgeSeconds: 3600, idempotencyWindowSeconds: 86_400 })
 * await broker.start(hub)
 * ```
 */
export function createRedisBroker(options: RedisBrokerOptions): Broker {
  return new RedisBroker(options);
}

class RedisBroker implements Broker {
  readonly kind = 'redis';
  readonly presence: RedisPresenceStore;
  /** Set when the command connection dropped: Redis may have lost (or missed writes to) this node's presence part. */
  private presenceLost = false;
  private readonly target: RedisTarget;
  private readonly keys: RedisKeys;
  private readonly node: string;
  private readonly now: () => number;
  /** The `now` argument of the scripts: '' lets them read Redis's clock. */
  private readonly scriptNow: () => string;
  private readonly log: (line: string) => void;
  private readonly timeoutMs: number;
  private readonly nodeTtlMs: number;
  private readonly cmd: ScriptClient;
  private readonly pubsub: PubSub;
  private readonly fanout: Fanout;
  private readonly store: RedisLog;
  private readonly control: RedisControl;
  private readonly sessions: RedisSessions;
  private local: LocalDelivery | undefined;
  /** Redis time minus local time, a lower bound (ms); undefined until measured. */
  private clockOffset: number | undefined;
  private epochMs: number | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private repairTimer: ReturnType<typeof setInterval> | undefined;
  private down = false;
  /**
   * From when (local ms) the node list's heartbeats can be believed again:
   * Infinity while this node's heartbeat cannot write the list, then a node
   * TTL after it can (every live node has heartbeated by then).
   */
  private nodeListCurrentFrom = 0;
  private closed = false;

  constructor(private readonly options: RedisBrokerOptions) {
    this.target = parseRedisUrl(options.url);
    this.keys = createRedisKeys(options.prefix, { cluster: this.target.kind === 'cluster' });
    this.node = options.nodeId ?? randomUUID();
    this.now = options.now ?? Date.now;
    this.scriptNow = options.now ? () => String(this.now()) : () => '';
    this.log = options.log ?? ((line) => console.error(line));
    this.timeoutMs = options.commandTimeoutMs ?? 1000;
    this.nodeTtlMs = options.nodeTtlMs ?? 15_000;
    const maxAgeMs = options.historyMaxAgeSeconds * 1000;
    this.cmd = defineScripts(
      createCommandClient(this.target, { timeoutMs: this.timeoutMs, name: `cast:${this.node}` }),
    );
    this.pubsub = createPubSub(
      this.target,
      this.cmd,
      { timeoutMs: this.timeoutMs, name: `cast:${this.node}:sub` },
      {
        message: (channel, message) => this.onMessage(channel, message),
        lost: (channels) => this.onLost(channels),
        up: () => this.onSubscriberReady(),
        error: (detail) => this.reportDown(detail),
      },
    );
    const host = {
      cmd: this.cmd,
      keys: this.keys,
      node: this.node,
      pubsub: this.pubsub,
      timeoutMs: this.timeoutMs,
      nodeTtlMs: this.nodeTtlMs,
      now: this.now,
      log: this.log,
      local: () => this.local,
      redisNow: () => this.now() + (this.clockOffset ?? 0),
      sending: (tenant: string, write: boolean): SentCall => ({
        tenant,
        write,
        up: connectionUp(this.cmd, this.keys.log(tenant)),
      }),
      unavailable: (err: unknown, what: string, sent?: SentCall) => this.unavailable(err, what, sent),
    };
    this.fanout = new Fanout({
      ...host,
      readPage: (tenant, after) => this.store.readPage(tenant, after, [], false),
      joinPosition: () => this.joinPosition(),
      ...(this.target.kind === 'cluster' ? { tenantEpoch: (tenant: string) => this.tenantEpoch(tenant) } : {}),
    });
    this.store = new RedisLog({
      ...host,
      fanout: this.fanout,
      scriptNow: this.scriptNow,
      maxAgeMs,
      historySize: options.historySize,
      historyMaxBytes: options.historyMaxBytes ?? -1,
      idempotencyWindowMs: options.idempotencyWindowSeconds * 1000,
      maxIdempotencyKeys: options.maxIdempotencyKeys ?? 100_000,
      maxIdempotencyBytes: options.maxIdempotencyBytes ?? 64 * 1024 * 1024,
    });
    this.control = new RedisControl({
      ...host,
      revocationTtlMs: (options.revocationTtlSeconds ?? 86_400) * 1000,
      maxRevocations: options.maxRevocations,
    });
    this.sessions = new RedisSessions({ ...host, fanout: this.fanout });
    this.presence = createRedisPresence({
      ...host,
      scriptNow: this.scriptNow,
      maxAgeMs,
      historySize: options.historySize,
      historyMaxBytes: options.historyMaxBytes ?? -1,
      localConnections: (tenant, channel) => this.sessions.localConnections(tenant, channel),
      caughtUp: (tenant, position) => this.fanout.caughtUp(tenant, position),
      lost: () => {
        const lost = this.presenceLost;
        this.presenceLost = false;
        return lost;
      },
      nodeListCurrent: () => this.now() >= this.nodeListCurrentFrom,
    });
  }

  async start(local: LocalDelivery): Promise<void> {
    this.local = local;
    this.cmd.on('error', (err: Error) => this.reportDown(`commands: ${err.message}`));
    this.cmd.on('ready', () => void this.onCommandReady());
    this.cmd.on('close', () => {
      if (!this.closed) this.presenceLost = true;
    });
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(100, Math.floor(this.nodeTtlMs / 3)));
    this.heartbeatTimer.unref?.();
    this.repairTimer = setInterval(() => this.repair(), REPAIR_MS);
    this.repairTimer.unref?.();
    // Wait for the first connection, but start anyway when Redis is down: the
    // node serves streams, answers publishes with 503 and joins when Redis comes.
    const connected = await Promise.race([
      Promise.allSettled([this.cmd.connect(), this.pubsub.connect()]).then((r) =>
        r.every((x) => x.status === 'fulfilled'),
      ),
      sleep(5000).then(() => false),
    ]);
    if (connected) await this.onCommandReady();
    else this.log(`cast: Redis at ${redact(this.options.url)} is not reachable yet; retrying in the background.`);
  }

  publish(tenant: string, inputs: readonly PublishInput[]): Promise<PublishOutcome[]> {
    return this.store.publish(tenant, inputs);
  }

  replay(tenant: string, channels: readonly string[], after: EventPosition): Promise<ReplayResult> {
    return this.store.replay(tenant, channels, after);
  }

  replayPage(tenant: string, channels: readonly string[], after: EventPosition, maxBytes: number): Promise<ReplayPage> {
    return this.store.replayPage(tenant, channels, after, maxBytes);
  }

  listen(tenant: string, channel: string): void {
    this.fanout.listen(tenant, channel);
  }

  unlisten(tenant: string, channel: string): void {
    this.fanout.unlisten(tenant, channel);
  }

  broadcast(tenant: string, message: ControlMessage): Promise<number> {
    return this.control.broadcast(tenant, message);
  }

  revoke(tenant: string, revocation: Revocation): Promise<number> {
    return this.control.revoke(tenant, revocation);
  }

  revocations(tenant: string): Promise<Revocations> {
    return this.control.revocations(tenant);
  }

  addSession(session: SessionRecord): Promise<void> {
    return this.sessions.add(session);
  }

  removeSession(tenant: string, id: string): void {
    this.sessions.remove(tenant, id);
  }

  listSessions(tenant: string, filter: { channel?: string; userId?: string }): Promise<SessionInfo[]> {
    return this.sessions.list(tenant, filter);
  }

  /**
   * Where a newly listened tenant starts: a position no later than Redis's
   * clock now, so every event appended from now on is after it. Redis time is
   * estimated from the last TIME measurement (a lower bound, less drift
   * slack), so the feed may start up to ~100 ms early; each stream's own
   * floor (see RedisSessions.add) keeps those earlier events from reaching it.
   */
  private joinPosition(): EventPosition {
    const estimate = this.now() + (this.clockOffset ?? -1000) - DRIFT_MS;
    return positionBefore(Math.max(estimate, this.epochMs ?? 0));
  }

  /** The tenant's epoch on a Redis Cluster (set now when missing), as the position just before it. */
  private async tenantEpoch(tenant: string): Promise<EventPosition | undefined> {
    const now = String(Math.floor(this.now() + (this.clockOffset ?? 0)));
    const old = await this.cmd.set(this.keys.epochOf(tenant), now, 'NX', 'GET');
    const epoch = Number(old ?? now);
    return Number.isFinite(epoch) ? positionBefore(epoch) : undefined;
  }

  // ---- subscriptions ----------------------------------------------------------

  private onSubscriberReady(): void {
    if (this.closed) return;
    if (this.down) {
      this.down = false;
      this.log('cast: Redis is reachable again; catching up.');
    }
    this.fanout.subscribeMissing();
    this.control.repair();
  }

  private onLost(channels: readonly string[]): void {
    for (const channel of channels) {
      const tenant = this.keys.tenantOfLive(channel);
      if (tenant !== undefined) this.fanout.lost(tenant);
      else this.control.lost(channel);
    }
  }

  private onMessage(name: string, message: Buffer): void {
    const tenant = this.keys.tenantOfLive(name);
    if (tenant !== undefined) {
      this.fanout.onLive(tenant, message);
      return;
    }
    const controlled = this.keys.tenantOfControl(name);
    if (controlled !== undefined) this.control.onControl(controlled, message);
    else if (name === this.keys.replies(this.node)) this.control.onReply(message);
  }

  private repair(): void {
    if (this.closed || !this.pubsub.ready()) return;
    this.control.repair();
    this.fanout.repair();
  }

  // ---- node liveness ---------------------------------------------------------

  private async onCommandReady(): Promise<void> {
    if (this.closed) return;
    // Redis may have restarted (and lost our session hashes): write them all again.
    this.sessions.rewriteAll();
    await this.heartbeat();
  }

  /** Registers the node, refreshes its session hashes, measures the clock and reads the epoch. */
  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    const redisMs = this.cmd.status === 'ready' ? await this.measureClock() : undefined;
    if (redisMs === undefined) {
      this.nodeListCurrentFrom = Infinity;
      return; // retried at the next heartbeat
    }
    // On a Redis Cluster each part may be on another shard: one that is down holds up none of the others
    // (the session hashes of the healthy shards' tenants must be refreshed before they expire).
    await Promise.all([this.readEpoch(redisMs), this.register(redisMs), this.sessions.refresh(redisMs)]);
  }

  /**
   * Redis's clock now (ms), and the offset from the local clock. On a Redis
   * Cluster with no master answering, the last offset stands in.
   */
  private async measureClock(): Promise<number | undefined> {
    try {
      const [sec, usec] = await redisTime(this.cmd);
      const received = this.now();
      const redisMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
      // Redis read its clock before we received the answer: a lower bound.
      this.clockOffset = redisMs - received;
      return redisMs;
    } catch {
      return this.clockOffset === undefined || this.target.kind !== 'cluster'
        ? undefined
        : this.now() + this.clockOffset;
    }
  }

  private async readEpoch(redisMs: number): Promise<void> {
    try {
      await this.cmd.set(this.keys.epoch, String(redisMs), 'NX');
      const epoch = Number(await this.cmd.get(this.keys.epoch));
      if (this.epochMs !== undefined && epoch !== this.epochMs) {
        this.log('cast: Redis lost its data (new epoch); streams that may have missed events will resume by replay.');
      }
      this.epochMs = epoch;
    } catch {
      // Retried at the next heartbeat.
    }
  }

  /** Writes this node's heartbeat in the node list (scored in Redis time, which the scripts compare against). */
  private async register(redisMs: number): Promise<void> {
    try {
      const results = await this.cmd
        .multi()
        .zadd(this.keys.nodes, redisMs, this.node)
        .zremrangebyscore(this.keys.nodes, '-inf', redisMs - 10 * this.nodeTtlMs)
        .exec();
      if (!results || results.some(([err]) => err)) throw new Error('the heartbeat was not written');
      if (this.nodeListCurrentFrom === Infinity) this.nodeListCurrentFrom = this.now() + this.nodeTtlMs;
    } catch {
      // Retried at the next heartbeat. The other nodes' heartbeats are failing too: see nodeListCurrent.
      this.nodeListCurrentFrom = Infinity;
    }
  }

  async ready(): Promise<boolean> {
    if (this.cmd.status !== 'ready' || !this.pubsub.ready()) return false;
    // A cluster is ready while its map is known; a shard that is down fails its tenants' calls only.
    if (this.target.kind === 'cluster') return true;
    try {
      return (await this.cmd.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.repairTimer) clearInterval(this.repairTimer);
    this.fanout.close();
    this.control.close();
    if (this.cmd.status === 'ready') {
      // A part whose registration is still in flight would be left where no reaper finds it.
      await this.presence.settleRegistrations();
      // Leave at once rather than after the node TTL: other nodes stop counting our sessions.
      // The node stays listed as seen one TTL ago, so its presence part is reaped after the grace period.
      const redisNow = this.now() + (this.clockOffset ?? 0);
      await Promise.all([
        this.cmd.zadd(this.keys.nodes, redisNow - this.nodeTtlMs - 1, this.node).catch(() => {}),
        this.sessions.removeAll(redisNow),
      ]);
    }
    this.cmd.disconnect();
    this.pubsub.close();
  }

  // ---- errors -------------------------------------------------------------------

  /**
   * The 503 of a failed call. A call sent while the connection to its tenant's
   * Redis was down, and failed while it still was, never reached Redis: the
   * connection was not up to carry it (see `connectionUp`).
   */
  private unavailable(err: unknown, what: string, sent: SentCall | undefined): CastError {
    const up = sent ? connectionUp(this.cmd, this.keys.log(sent.tenant)) : undefined;
    return unavailable(err, what, {
      timeoutMs: this.timeoutMs,
      cluster: this.target.kind === 'cluster',
      write: sent?.write ?? false,
      neverSent: sent !== undefined && (sent.unsent === true || (!sent.up && up === false)),
      ...(up === undefined ? {} : { reachable: up }),
    });
  }

  private reportDown(detail: string): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.log(
      `cast: Redis is not reachable (${detail}); publishes answer 503 until it returns, open streams stay open.`,
    );
  }
}
