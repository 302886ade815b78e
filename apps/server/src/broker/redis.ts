import { randomUUID } from 'node:crypto';
import { backoffDelay, CastError, type SessionInfo } from '@cast/protocol';
import { Redis, type RedisOptions } from 'ioredis';
import {
  comparePositions,
  decodeLiveMessage,
  type ParsedPosition,
  parseRedisPosition,
  positionBefore,
} from './redis-codec.js';
import { createRedisKeys, type RedisKeys } from './redis-keys.js';
import {
  MAX_REVOCATIONS_PER_TENANT,
  type Revocation,
  RevocationList,
  type Revocations,
  revocationFromMember,
  revocationMember,
  revocationTime,
} from '../revocation/list.js';
import { createRedisPresence, type PresenceClient } from './redis-presence.js';
import { PRESENCE_SCRIPT, PUBLISH_SCRIPT, READ_SCRIPT, REVOKE_SCRIPT, SNAPSHOT_SCRIPT } from './redis-scripts.js';
import type {
  Broker,
  ControlMessage,
  LocalDelivery,
  PresenceStore,
  PublishInput,
  PublishOutcome,
  ReplayPage,
  ReplayResult,
  SessionRecord,
  StoredEvent,
} from './types.js';
import { fingerprint, reusedKey } from './idempotency.js';

/** Options of {@link createRedisBroker}. */
export interface RedisBrokerOptions {
  /** `redis://` or `rediss://` URL (CAST_REDIS_URL). */
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

/** Events read from Redis per round trip when replaying or catching up. */
const PAGE = 1000;
/** Live events held per tenant while its catch-up read runs; past this they are read from the log again. */
const MAX_BUFFERED = 10_000;
/** Slack for clock drift between two clock measurements, ms. */
const DRIFT_MS = 100;
/** How often a stalled subscription or catch-up is retried, ms. */
const REPAIR_MS = 500;

interface ScriptClient extends PresenceClient {
  castPublish(...args: Array<string | number>): Promise<unknown>;
  castRead(...args: Array<string | number>): Promise<unknown>;
  castRevoke(...args: Array<string | number>): Promise<number>;
}

/**
 * This node's copy of one tenant's revocations. Loaded once (after
 * subscribing to the tenant's control channel, so nothing falls between),
 * then kept current by the control messages; read again after the
 * subscription was lost.
 */
interface Mirror {
  readonly list: RevocationList;
  subscribed: boolean;
  loaded: boolean;
  /** Control messages may have been missed since the last read. */
  stale: boolean;
  loading: Promise<void> | undefined;
}

/** A control message this node sent, collecting the answers of the nodes it reached. */
interface PendingReplies {
  sum: number;
  got: number;
  /** How many nodes the message reached (known once the publish returns). */
  expected: number | undefined;
  resolve: () => void;
}

/** A control message on the wire: who sent it (for the answer) and what it says. */
interface ControlEnvelope {
  id: string;
  from: string;
  message: ControlMessage;
}

/**
 * One tenant this node listens to. Live events arrive on the tenant's pub/sub
 * channel in position order; after (re)subscribing, the log is read from the
 * last delivered position while live events wait in `buffer`, so the node
 * delivers every position once and in order.
 */
interface Feed {
  readonly tenant: string;
  readonly channels: Set<string>;
  /** Last position delivered to the hub (or the position the feed joined at). */
  after: string;
  afterPos: ParsedPosition;
  subscribed: boolean;
  live: boolean;
  catching: boolean;
  /** Buffer overflowed during a catch-up: read the log once more before going live. */
  dropped: boolean;
  buffer: StoredEvent[];
  /** Bumped when the subscription is lost, to ignore a catch-up that started before. */
  generation: number;
  closed: boolean;
  /** Replays waiting for the feed to pass a position. */
  waiters: Array<{ at: ParsedPosition; resolve: () => void }>;
  /** Registrations of new streams in flight: events wait in `parked` until each stream has its floor. */
  registering: number;
  parked: StoredEvent[];
}

interface PageResult {
  recovered: boolean;
  floor: string;
  more: string;
  events: StoredEvent[];
  /** The newest position of the log ('' when it has none). */
  last: string;
}

interface LocalWait {
  count: number | undefined;
  resolve: () => void;
  done: Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref?.();
  });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The Redis broker: several server nodes share one Redis.
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
 * - Revocations live in a per-tenant sorted set that expires a max token
 *   TTL after its last write; each node keeps a copy per tenant it serves
 *   (read once, then updated by the tenant's control channel), so a stream
 *   open costs no round trip. Control messages (revoke, disconnect) reach
 *   every node subscribed to the tenant's control channel; each answers its
 *   count on the sender's reply channel, and PUBLISH says how many to await.
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
  readonly presence: PresenceStore;
  /** Set when the command connection dropped: Redis may have lost (or missed writes to) this node's presence part. */
  private presenceLost = false;
  private readonly keys: RedisKeys;
  private readonly node: string;
  private readonly now: () => number;
  /** The `now` argument of the scripts: '' lets them read Redis's clock. */
  private readonly scriptNow: () => string;
  private readonly log: (line: string) => void;
  private readonly timeoutMs: number;
  private readonly nodeTtlMs: number;
  private readonly maxAgeMs: number;
  private readonly revocationTtlMs: number;
  private readonly maxRevocations: number;
  private readonly cmd: ScriptClient;
  private readonly sub: Redis;
  private local: LocalDelivery | undefined;
  private readonly feeds = new Map<string, Feed>();
  private readonly waits = new Map<string, LocalWait>();
  private readonly sessions = new Map<string, Map<string, SessionRecord>>();
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly mirrors = new Map<string, Mirror>();
  private readonly replies = new Map<string, PendingReplies>();
  /** Subscribed to this node's reply channel and every mirror's control channel. */
  private controlSubscribed = false;
  private controlSubscribing = false;
  /** Bumped whenever the subscriber connection is lost: a mirror read that began before is stale. */
  private subscriberGeneration = 0;
  private lastPrune = 0;
  /** Tenants whose session hashes must be rewritten whole (a write failed, or Redis came back). */
  private readonly dirty = new Set<string>();
  /** Redis time minus local time, a lower bound (ms); undefined until measured. */
  private clockOffset: number | undefined;
  private epochMs: number | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private repairTimer: ReturnType<typeof setInterval> | undefined;
  private down = false;
  private closed = false;

  constructor(private readonly options: RedisBrokerOptions) {
    this.keys = createRedisKeys(options.prefix);
    this.node = options.nodeId ?? randomUUID();
    this.now = options.now ?? Date.now;
    this.scriptNow = options.now ? () => String(this.now()) : () => '';
    this.log = options.log ?? ((line) => console.error(line));
    this.timeoutMs = options.commandTimeoutMs ?? 1000;
    this.nodeTtlMs = options.nodeTtlMs ?? 15_000;
    this.maxAgeMs = options.historyMaxAgeSeconds * 1000;
    this.revocationTtlMs = (options.revocationTtlSeconds ?? 86_400) * 1000;
    this.maxRevocations = options.maxRevocations ?? MAX_REVOCATIONS_PER_TENANT;
    const common: RedisOptions = {
      lazyConnect: true,
      // Fail fast instead of queueing while disconnected: publishes answer 503 at once.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.timeoutMs,
      connectTimeout: Math.max(this.timeoutMs, 1000),
      retryStrategy: (attempt) => backoffDelay(attempt, { floorMs: 50, capMs: 1000, jitter: 'none' }),
    };
    this.cmd = new Redis(options.url, { ...common, connectionName: `cast:${this.node}` }) as ScriptClient;
    this.cmd.defineCommand('castPublish', { numberOfKeys: 0, lua: PUBLISH_SCRIPT });
    this.cmd.defineCommand('castRead', { numberOfKeys: 0, lua: READ_SCRIPT });
    this.cmd.defineCommand('castRevoke', { numberOfKeys: 2, lua: REVOKE_SCRIPT });
    this.cmd.defineCommand('castPresence', { numberOfKeys: 0, lua: PRESENCE_SCRIPT });
    this.cmd.defineCommand('castSnapshot', { numberOfKeys: 0, lua: SNAPSHOT_SCRIPT });
    this.presence = createRedisPresence({
      cmd: this.cmd,
      keys: this.keys,
      node: this.node,
      scriptNow: () => this.scriptNow(),
      redisNow: () => this.now() + (this.clockOffset ?? 0),
      maxAgeMs: this.maxAgeMs,
      historySize: options.historySize,
      historyMaxBytes: options.historyMaxBytes ?? -1,
      nodeTtlMs: this.nodeTtlMs,
      localConnections: (tenant, channel) => this.counts.get(tenant)?.get(channel) ?? 0,
      unavailable: (err, what) => this.unavailable(err, what),
      caughtUp: async (tenant, position) => {
        const feed = this.feeds.get(tenant);
        const at = parseRedisPosition(position);
        if (!feed || !at) return true;
        if (comparePositions(feed.afterPos, at) < 0) await this.feedReaches(feed, at);
        return comparePositions(feed.afterPos, at) >= 0;
      },
      lost: () => {
        const lost = this.presenceLost;
        this.presenceLost = false;
        return lost;
      },
    });
    // The subscriber resubscribes itself (see onSubscriberReady) so it can catch up after.
    this.sub = new Redis(options.url, { ...common, autoResubscribe: false, connectionName: `cast:${this.node}:sub` });
  }

  async start(local: LocalDelivery): Promise<void> {
    this.local = local;
    for (const [name, client] of [
      ['commands', this.cmd],
      ['subscriber', this.sub],
    ] as const) {
      client.on('error', (err: Error) => this.reportDown(`${name}: ${err.message}`));
    }
    this.cmd.on('ready', () => void this.onCommandReady());
    this.cmd.on('close', () => {
      if (!this.closed) this.presenceLost = true;
    });
    this.sub.on('ready', () => this.onSubscriberReady());
    this.sub.on('close', () => this.onSubscriberLost());
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel, message));
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(100, Math.floor(this.nodeTtlMs / 3)));
    this.heartbeatTimer.unref?.();
    this.repairTimer = setInterval(() => this.repair(), REPAIR_MS);
    this.repairTimer.unref?.();
    // Wait for the first connection, but start anyway when Redis is down: the
    // node serves streams, answers publishes with 503 and joins when Redis comes.
    const connected = await Promise.race([
      Promise.allSettled([this.cmd.connect(), this.sub.connect()]).then((r) => r.every((x) => x.status === 'fulfilled')),
      sleep(5000).then(() => false),
    ]);
    if (connected) await this.onCommandReady();
    else this.log(`cast: Redis at ${redact(this.options.url)} is not reachable yet; retrying in the background.`);
  }

  // ---- publishing ---------------------------------------------------------

  async publish(tenant: string, inputs: readonly PublishInput[]): Promise<PublishOutcome[]> {
    const messageIds = inputs.map(() => randomUUID());
    // Events come back to this node through its own feed (one order for every
    // publisher); the hub's count for each is picked up there.
    const listening = this.feeds.has(tenant);
    if (listening) for (const id of messageIds) this.expectLocal(id);
    const args: Array<string | number> = [
      this.keys.prefix,
      tenant,
      this.node,
      this.scriptNow(),
      this.maxAgeMs,
      this.options.historySize,
      this.options.idempotencyWindowSeconds * 1000,
      this.nodeTtlMs,
      this.maxAgeMs + 60_000,
      this.options.historyMaxBytes ?? -1,
      this.options.maxIdempotencyKeys ?? 100_000,
      inputs.length,
    ];
    const prints = inputs.map((input) => (input.idempotencyKey === undefined ? '' : fingerprint(input)));
    inputs.forEach((input, i) => {
      args.push(input.channel, input.event, input.data, input.idempotencyKey ?? '', messageIds[i] as string, prints[i] as string);
    });
    let reply: Array<[string, string, string?]>;
    try {
      reply = (await this.cmd.castPublish(...args)) as Array<[string, string, string?]>;
    } catch (err) {
      for (const id of messageIds) this.waits.delete(id);
      throw this.unavailable(err, 'the publish');
    }
    if (reply[0]?.[0] === 'reused') {
      for (const id of messageIds) this.waits.delete(id);
      throw reusedKey(reply[0][1]);
    }

    if (listening) {
      const pending = messageIds.filter((id, i) => reply[i]?.[0] === '0' && this.waits.get(id)?.count === undefined);
      if (pending.length > 0) {
        await Promise.race([
          Promise.all(pending.map((id) => (this.waits.get(id) as LocalWait).done)),
          sleep(this.timeoutMs),
        ]);
      }
    }

    const outcomes: PublishOutcome[] = [];
    const remember: Array<[string, string]> = [];
    reply.forEach((row, i) => {
      const input = inputs[i] as PublishInput;
      const messageId = messageIds[i] as string;
      const wait = this.waits.get(messageId);
      this.waits.delete(messageId);
      if (row[0] === '1') {
        const [position, firstId, channel, event, delivered] = JSON.parse(row[1]) as string[];
        outcomes.push({
          // The log keeps the payload; the first answer does not, so a retry's own data stands in.
          event: { position: position as string, channel: channel as string, event: event as string, data: input.data, messageId: firstId as string },
          delivered: Number(delivered) || 0,
          duplicate: true,
        });
        return;
      }
      const position = row[1];
      const delivered = Number(row[2] ?? 0) + (wait?.count ?? 0);
      outcomes.push({
        event: { position, channel: input.channel, event: input.event, data: input.data, messageId },
        delivered,
        duplicate: false,
      });
      if (input.idempotencyKey !== undefined) {
        remember.push([
          `${this.keys.tenant(tenant)}idem:${input.idempotencyKey}`,
          JSON.stringify([position, messageId, input.channel, input.event, String(delivered), prints[i]]),
        ]);
      }
    });
    if (remember.length > 0) {
      // Completes the first answer with the final count, keeping the key's window.
      const m = this.cmd.multi();
      for (const [key, value] of remember) m.set(key, value, 'KEEPTTL', 'XX');
      m.exec().catch(() => {});
    }
    return outcomes;
  }

  private expectLocal(messageId: string): void {
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    this.waits.set(messageId, { count: undefined, resolve, done });
  }

  // ---- replay -------------------------------------------------------------

  async replay(tenant: string, channels: readonly string[], after: string): Promise<ReplayResult> {
    const events: StoredEvent[] = [];
    let recovered = true;
    let from = after;
    // Never stop early: the stream hand-off relies on the replay reaching the log's end.
    for (;;) {
      const page = await this.replayPage(tenant, channels, from, Number.MAX_SAFE_INTEGER);
      recovered &&= page.recovered;
      events.push(...page.events);
      if (page.next === undefined) break;
      from = page.next;
    }
    return { events, recovered };
  }

  async replayPage(tenant: string, channels: readonly string[], after: string, maxBytes: number): Promise<ReplayPage> {
    if (!parseRedisPosition(after)) return { events: [], recovered: false, next: undefined, end: undefined };
    const page = await this.readPage(tenant, after, channels, true, maxBytes);
    if (page.more) return { events: page.events, recovered: page.recovered, next: page.more, end: undefined };
    const { events } = page;
    let end = page.last === '' ? undefined : page.last;
    // The stream hand-off drops live frames up to the replay's end and sends
    // every later one, so this node's feed must not deliver anything at or
    // before that end afterwards. The feed may be behind the log just read
    // (joining the tenant, or a pub/sub message still on its way): wait until
    // it has passed the log's end.
    const feed = this.feeds.get(tenant);
    const endPos = end === undefined ? undefined : parseRedisPosition(end);
    if (feed && endPos && comparePositions(feed.afterPos, endPos) < 0) {
      await this.feedReaches(feed, endPos);
      if (comparePositions(feed.afterPos, endPos) < 0) {
        // Still behind (its subscription is down): stop the replay where the
        // feed is; the feed delivers the rest live when it catches up.
        let keep = events.length;
        while (keep > 0 && comparePositions(parseRedisPosition((events[keep - 1] as StoredEvent).position) as ParsedPosition, feed.afterPos) > 0) keep--;
        events.length = keep;
        end = feed.after;
      }
    }
    return { events, recovered: page.recovered, next: undefined, end };
  }

  /**
   * Reads one page of the log after a position.
   *
   * @param strict - a client's position: also not recovered when past the log's end
   */
  private async readPage(
    tenant: string,
    after: string,
    channels: readonly string[],
    strict: boolean,
    maxBytes = Number.MAX_SAFE_INTEGER,
  ): Promise<PageResult> {
    let reply: [number, string, string, string[], string];
    try {
      reply = (await this.cmd.castRead(
        this.keys.prefix,
        tenant,
        this.scriptNow(),
        this.maxAgeMs,
        after,
        PAGE,
        maxBytes,
        strict ? 1 : 0,
        channels.length,
        ...channels,
      )) as [number, string, string, string[], string];
    } catch (err) {
      throw this.unavailable(err, 'the replay');
    }
    const [recovered, floor, more, flat, last] = reply;
    const events: StoredEvent[] = [];
    for (let i = 0; i + 4 < flat.length; i += 5) {
      events.push({
        position: flat[i] as string,
        channel: flat[i + 1] as string,
        event: flat[i + 2] as string,
        data: flat[i + 3] as string,
        messageId: flat[i + 4] as string,
      });
    }
    return { recovered: recovered === 1, floor, more, events, last };
  }

  // ---- fan-out --------------------------------------------------------------

  listen(tenant: string, channel: string): void {
    let feed = this.feeds.get(tenant);
    if (feed) {
      feed.channels.add(channel);
      return;
    }
    const after = this.joinPosition();
    feed = {
      tenant,
      channels: new Set([channel]),
      after,
      afterPos: parseRedisPosition(after) as ParsedPosition,
      subscribed: false,
      live: false,
      catching: false,
      dropped: false,
      buffer: [],
      generation: 0,
      closed: false,
      waiters: [],
      registering: 0,
      parked: [],
    };
    this.feeds.set(tenant, feed);
    this.subscribe([feed]);
  }

  unlisten(tenant: string, channel: string): void {
    const feed = this.feeds.get(tenant);
    if (!feed) return;
    feed.channels.delete(channel);
    if (feed.channels.size > 0) return;
    feed.closed = true;
    feed.buffer = [];
    this.releaseWaiters(feed, true);
    this.feeds.delete(tenant);
    if (this.sub.status === 'ready') this.sub.unsubscribe(this.keys.live(tenant)).catch(() => {});
  }

  /**
   * Where a newly listened tenant starts: a position no later than Redis's
   * clock now, so every event appended from now on is after it. Redis time is
   * estimated from the last TIME measurement (a lower bound, less drift
   * slack), so the feed may start up to ~100 ms early; each stream's own
   * floor (see addSession) keeps those earlier events from reaching it.
   */
  private joinPosition(): string {
    const estimate = this.now() + (this.clockOffset ?? -1000) - DRIFT_MS;
    return positionBefore(Math.max(estimate, this.epochMs ?? 0));
  }

  private subscribe(feeds: Feed[]): void {
    if (this.sub.status !== 'ready' || feeds.length === 0) return; // onSubscriberReady or repair() will
    const generation = new Map(feeds.map((f) => [f, f.generation]));
    this.sub
      .subscribe(...feeds.map((f) => this.keys.live(f.tenant)))
      .then(() => {
        for (const feed of feeds) {
          if (feed.closed || feed.generation !== generation.get(feed)) continue;
          feed.subscribed = true;
          void this.catchUp(feed);
        }
      })
      .catch(() => {
        // repair() retries.
      });
  }

  private onSubscriberReady(): void {
    if (this.closed) return;
    if (this.down) {
      this.down = false;
      this.log('cast: Redis is reachable again; catching up.');
    }
    const feeds = [...this.feeds.values()];
    for (let i = 0; i < feeds.length; i += 1000) this.subscribe(feeds.slice(i, i + 1000));
    this.subscribeControl();
  }

  private onSubscriberLost(): void {
    this.subscriberGeneration++;
    this.controlSubscribed = false;
    for (const mirror of this.mirrors.values()) {
      // Control messages sent from now on may be missed: read the set again when back.
      mirror.subscribed = false;
      mirror.stale = true;
    }
    for (const feed of this.feeds.values()) {
      // Messages published from now on may be missed: read the log when back.
      feed.subscribed = false;
      feed.live = false;
      feed.buffer = [];
      feed.generation++;
    }
  }

  private onMessage(channel: Buffer, message: Buffer): void {
    const name = channel.toString('utf8');
    const tenant = this.keys.tenantOfLive(name);
    if (tenant !== undefined) {
      this.onLive(tenant, message);
      return;
    }
    const controlled = this.keys.tenantOfControl(name);
    if (controlled !== undefined) this.onControl(controlled, message);
    else if (name === this.keys.replies(this.node)) this.onReply(message);
  }

  private onLive(tenant: string, message: Buffer): void {
    const feed = this.feeds.get(tenant);
    if (!feed || !feed.subscribed) return;
    const event = decodeLiveMessage(message);
    if (!event) return;
    if (feed.live) {
      this.deliver(feed, event);
      return;
    }
    feed.buffer.push(event);
    if (feed.buffer.length > MAX_BUFFERED) {
      // Every buffered event is in the log too: read it from there instead of holding it.
      feed.buffer = [];
      feed.dropped = true;
    }
  }

  /**
   * Reads the tenant's log from the feed's last position until its end, then
   * releases the live events that arrived meanwhile, skipping any position
   * already delivered.
   */
  private async catchUp(feed: Feed): Promise<void> {
    if (feed.catching || feed.closed || feed.live || !feed.subscribed) return;
    feed.catching = true;
    const generation = feed.generation;
    const stale = () => feed.closed || feed.generation !== generation;
    try {
      for (;;) {
        const page = await this.readPage(feed.tenant, feed.after, [], false);
        if (stale()) return;
        if (!page.recovered) {
          // Events this node's streams should have had are gone from the log
          // (trimmed while the node was cut off, or Redis lost its data): end
          // those streams so each client resumes by replay and learns
          // `recovered: false` instead of silently missing events.
          this.log(`cast: tenant ${feed.tenant}: events after ${feed.after} are no longer in Redis; ending its streams on this node so they resume.`);
          this.local?.reset?.(feed.tenant);
          if (stale()) return;
          const floor = parseRedisPosition(page.floor);
          if (floor && comparePositions(floor, feed.afterPos) > 0) {
            feed.after = page.floor;
            feed.afterPos = floor;
            this.releaseWaiters(feed, false);
          }
        }
        for (const event of page.events) this.deliver(feed, event);
        if (page.more) {
          if (comparePositions(parseRedisPosition(page.more) as ParsedPosition, feed.afterPos) > 0) {
            feed.after = page.more;
            feed.afterPos = parseRedisPosition(page.more) as ParsedPosition;
            this.releaseWaiters(feed, false);
          }
          continue;
        }
        if (feed.dropped) {
          feed.dropped = false;
          continue;
        }
        break;
      }
      const buffered = feed.buffer;
      feed.buffer = [];
      feed.live = true;
      for (const event of buffered) this.deliver(feed, event);
    } catch {
      // repair() retries while the feed still needs it.
    } finally {
      feed.catching = false;
    }
  }

  private deliver(feed: Feed, event: StoredEvent): void {
    const at = parseRedisPosition(event.position);
    if (!at || comparePositions(at, feed.afterPos) <= 0) return;
    feed.after = event.position;
    feed.afterPos = at;
    if (feed.registering > 0) feed.parked.push(event);
    else this.handOver(feed, event);
  }

  /** Hands one event to the hub and completes a local publish's count. */
  private handOver(feed: Feed, event: StoredEvent): void {
    let count = 0;
    try {
      count = this.local?.deliver(feed.tenant, event) ?? 0;
    } catch (err) {
      this.log(`cast: local delivery failed: ${messageOf(err)}`);
    }
    const wait = this.waits.get(event.messageId);
    if (wait && wait.count === undefined) {
      wait.count = count;
      wait.resolve();
    }
    if (feed.waiters.length > 0) this.releaseWaiters(feed, false);
  }

  /** Resolves when the feed has delivered up to `at`, or after the command timeout. */
  private feedReaches(feed: Feed, at: ParsedPosition): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.timeoutMs);
      timer.unref?.();
      const waiter = { at, resolve: done };
      feed.waiters.push(waiter);
      function done() {
        clearTimeout(timer);
        const i = feed.waiters.indexOf(waiter);
        if (i >= 0) feed.waiters.splice(i, 1);
        resolve();
      }
    });
  }

  private releaseWaiters(feed: Feed, all: boolean): void {
    for (const w of [...feed.waiters]) if (all || comparePositions(feed.afterPos, w.at) >= 0) w.resolve();
  }

  private repair(): void {
    if (this.closed || this.sub.status !== 'ready') return;
    this.subscribeControl();
    for (const [tenant, mirror] of this.mirrors) {
      if (mirror.subscribed && mirror.stale) this.loadMirror(tenant, mirror).catch(() => {});
    }
    const unsubscribed: Feed[] = [];
    for (const feed of this.feeds.values()) {
      if (!feed.subscribed) unsubscribed.push(feed);
      else if (!feed.live && !feed.catching) void this.catchUp(feed);
    }
    for (let i = 0; i < unsubscribed.length; i += 1000) this.subscribe(unsubscribed.slice(i, i + 1000));
  }

  // ---- control messages and revocations ------------------------------------------

  async broadcast(tenant: string, message: ControlMessage): Promise<number> {
    return this.sendControl(tenant, message, undefined);
  }

  async revoke(tenant: string, revocation: Revocation): Promise<number> {
    return this.sendControl(tenant, { type: 'revoke', revocation }, revocation);
  }

  async revocations(tenant: string): Promise<Revocations> {
    const known = this.mirrors.get(tenant);
    if (known?.loaded && !known.stale) return known.list;
    const mirror = known ?? this.newMirror(tenant);
    try {
      await this.loadMirror(tenant, mirror);
    } catch (err) {
      // Cut off from Redis: the copy read before is the best knowledge there is; with none, refuse.
      if (mirror.loaded) return mirror.list;
      throw this.unavailable(err, 'the revocation check');
    }
    return mirror.list;
  }

  private newMirror(tenant: string): Mirror {
    const mirror: Mirror = {
      list: new RevocationList(this.revocationTtlMs),
      subscribed: false,
      loaded: false,
      stale: false,
      loading: undefined,
    };
    this.mirrors.set(tenant, mirror);
    return mirror;
  }

  /**
   * Subscribes to the tenant's control channel (once), then reads its
   * revocation set into the mirror. Revocations that were not in the mirror
   * (made while this node was cut off) end the streams they cover.
   */
  private loadMirror(tenant: string, mirror: Mirror): Promise<void> {
    mirror.loading ??= (async () => {
      const generation = this.subscriberGeneration;
      try {
        if (!mirror.subscribed) {
          if (this.sub.status !== 'ready') throw new Error('the subscriber connection is not ready');
          await this.sub.subscribe(this.keys.control(tenant));
          if (generation !== this.subscriberGeneration) throw new Error('the subscriber connection was lost');
          mirror.subscribed = true;
        }
        const flat = await this.cmd.zrange(this.keys.revocations(tenant), 0, -1, 'WITHSCORES');
        const added: Revocation[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const r = revocationFromMember(flat[i] as string, Number(flat[i + 1]));
          if (r && mirror.list.add(r)) added.push(r);
        }
        mirror.list.prune(this.now());
        mirror.loaded = true;
        mirror.stale = generation !== this.subscriberGeneration || !mirror.subscribed;
        for (const revocation of added) this.controlLocal(tenant, { type: 'revoke', revocation });
      } finally {
        mirror.loading = undefined;
      }
    })();
    return mirror.loading;
  }

  /** Subscribes to this node's reply channel and the control channel of every mirror, in one command. */
  private subscribeControl(): void {
    if (this.controlSubscribed || this.controlSubscribing || this.closed || this.sub.status !== 'ready') return;
    this.controlSubscribing = true;
    const generation = this.subscriberGeneration;
    const mirrors = [...this.mirrors];
    this.sub
      .subscribe(this.keys.replies(this.node), ...mirrors.map(([tenant]) => this.keys.control(tenant)))
      .then(() => {
        if (generation !== this.subscriberGeneration) return;
        this.controlSubscribed = true;
        for (const [tenant, mirror] of mirrors) {
          mirror.subscribed = true;
          if (mirror.loaded) this.loadMirror(tenant, mirror).catch(() => {});
        }
      })
      .catch(() => {
        // repair() retries.
      })
      .finally(() => {
        this.controlSubscribing = false;
      });
  }

  /**
   * Publishes a control message to the tenant's control channel (storing the
   * revocation with it, atomically, for `revoke`) and sums the answers of the
   * nodes it reached, waiting at most the command timeout.
   */
  private async sendControl(tenant: string, message: ControlMessage, revocation: Revocation | undefined): Promise<number> {
    const what = revocation ? 'the revocation' : 'the disconnect';
    if (!this.controlSubscribed) {
      // Just started or reconnected: the answers must have somewhere to arrive before anything is sent.
      if (this.sub.status !== 'ready') throw this.unavailable(new Error('the subscriber connection is not ready'), what);
      try {
        await this.sub.subscribe(this.keys.replies(this.node));
      } catch (err) {
        throw this.unavailable(err, what);
      }
    }
    const id = randomUUID();
    const envelope: ControlEnvelope = { id, from: this.node, message };
    const payload = JSON.stringify(envelope);
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    const pending: PendingReplies = { sum: 0, got: 0, expected: undefined, resolve };
    this.replies.set(id, pending);
    try {
      let reached: number;
      try {
        if (revocation) {
          const now = this.now();
          const oldest = now - this.revocationTtlMs;
          const time = revocationTime(revocation);
          reached = Number(
            await this.cmd.castRevoke(
              this.keys.revocations(tenant),
              this.keys.control(tenant),
              revocationMember(revocation),
              time,
              oldest,
              this.revocationTtlMs + 60_000,
              this.maxRevocations,
              payload,
              time >= oldest ? '1' : '0',
            ),
          );
        } else {
          reached = await this.cmd.publish(this.keys.control(tenant), payload);
        }
      } catch (err) {
        throw this.unavailable(err, what);
      }
      if (reached < 0) {
        throw new CastError(
          'RATE_LIMITED',
          `The tenant holds ${this.maxRevocations} revocations, the most kept at once; revoke by user or by issue time instead of token by token.`,
          { retryAfter: 60 },
        );
      }
      pending.expected = reached;
      if (pending.got < reached) await Promise.race([done, sleep(this.timeoutMs)]);
      return pending.sum;
    } finally {
      this.replies.delete(id);
    }
  }

  /** A control message from any node (this one included): update the mirror, act locally, answer the count. */
  private onControl(tenant: string, raw: Buffer): void {
    let envelope: ControlEnvelope;
    try {
      envelope = JSON.parse(raw.toString('utf8')) as ControlEnvelope;
    } catch {
      return;
    }
    const { id, from, message } = envelope;
    if (typeof id !== 'string' || typeof from !== 'string' || typeof message?.type !== 'string') return;
    if (message.type === 'revoke') this.mirrors.get(tenant)?.list.add(message.revocation);
    const count = this.controlLocal(tenant, message);
    if (this.cmd.status !== 'ready') return;
    this.cmd.publish(this.keys.replies(from), JSON.stringify({ id, count })).catch(() => {});
  }

  private controlLocal(tenant: string, message: ControlMessage): number {
    try {
      return this.local?.control?.(tenant, message) ?? 0;
    } catch (err) {
      this.log(`cast: a control message failed on this node: ${messageOf(err)}`);
      return 0;
    }
  }

  private onReply(raw: Buffer): void {
    let reply: { id?: unknown; count?: unknown };
    try {
      reply = JSON.parse(raw.toString('utf8')) as { id?: unknown; count?: unknown };
    } catch {
      return;
    }
    const pending = typeof reply.id === 'string' ? this.replies.get(reply.id) : undefined;
    if (!pending) return;
    pending.sum += typeof reply.count === 'number' && Number.isFinite(reply.count) ? reply.count : 0;
    pending.got++;
    if (pending.expected !== undefined && pending.got >= pending.expected) pending.resolve();
  }

  /** Forgets revocations no valid token can match any more, about once a minute. */
  private pruneMirrors(): void {
    const now = this.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    for (const mirror of this.mirrors.values()) mirror.list.prune(now);
  }

  // ---- sessions ---------------------------------------------------------------

  /**
   * Registers a stream. The registration (the subscriber counts that publish
   * scripts read for `delivered`) is written together with a read of the
   * tenant's newest position, which becomes the stream's floor: an event
   * counted for the stream is after it, one not counted is at or before it.
   * This node's feed parks the tenant's events until the floor is set.
   */
  addSession(session: SessionRecord): Promise<void> {
    const { tenant } = session;
    let byId = this.sessions.get(tenant);
    if (!byId) {
      byId = new Map();
      this.sessions.set(tenant, byId);
    }
    byId.set(session.id, session);
    const counts = this.channelCounts(tenant);
    for (const ch of session.channels) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    const feed = this.feeds.get(tenant);
    if (feed) feed.registering++;
    return this.writeSession(tenant, session, true).then((last) => {
      session.startAfter?.(last);
      if (!feed) return;
      feed.registering--;
      if (feed.registering > 0 || feed.closed) return;
      const parked = feed.parked;
      feed.parked = [];
      for (const event of parked) this.handOver(feed, event);
    });
  }

  removeSession(tenant: string, id: string): void {
    const byId = this.sessions.get(tenant);
    const session = byId?.get(id);
    if (!byId || !session) return;
    byId.delete(id);
    const counts = this.channelCounts(tenant);
    for (const ch of session.channels) {
      const n = (counts.get(ch) ?? 1) - 1;
      if (n > 0) counts.set(ch, n);
      else counts.delete(ch);
    }
    if (byId.size === 0) {
      this.sessions.delete(tenant);
      this.counts.delete(tenant);
    }
    this.writeSession(tenant, session, false);
  }

  private channelCounts(tenant: string): Map<string, number> {
    let counts = this.counts.get(tenant);
    if (!counts) {
      counts = new Map();
      this.counts.set(tenant, counts);
    }
    return counts;
  }

  /**
   * Writes one session change; a failure marks the tenant for a full rewrite
   * at the next heartbeat. Resolves (never rejects) with the tenant's newest
   * log position read in the same transaction when adding (undefined when
   * unknown: no log, or the write did not happen).
   */
  private writeSession(tenant: string, session: SessionRecord, added: boolean): Promise<string | undefined> {
    if (this.cmd.status !== 'ready' || this.dirty.has(tenant)) {
      this.dirty.add(tenant);
      return Promise.resolve(undefined);
    }
    const sessKey = this.keys.sessions(tenant, this.node);
    const subsKey = this.keys.subscribers(tenant, this.node);
    const counts = this.counts.get(tenant);
    const m = this.cmd.multi();
    if (added) m.hset(sessKey, session.id, sessionJson(session));
    else m.hdel(sessKey, session.id);
    for (const ch of session.channels) {
      const n = counts?.get(ch) ?? 0;
      // Absolute counts, so a repeated write cannot drift.
      if (n > 0) m.hset(subsKey, ch, n);
      else m.hdel(subsKey, ch);
    }
    m.pexpire(sessKey, this.nodeTtlMs).pexpire(subsKey, this.nodeTtlMs);
    if (added) m.hget(this.keys.meta(tenant), 'last');
    return m
      .exec()
      .then((results) => {
        if (!results || results.some(([err]) => err)) {
          this.dirty.add(tenant);
          return undefined;
        }
        const last = added ? results[results.length - 1]?.[1] : undefined;
        return typeof last === 'string' && parseRedisPosition(last) ? last : undefined;
      })
      .catch(() => {
        this.dirty.add(tenant);
        return undefined;
      });
  }

  async listSessions(tenant: string, filter: { channel?: string; userId?: string }): Promise<SessionInfo[]> {
    const found: SessionInfo[] = [];
    for (const s of this.sessions.get(tenant)?.values() ?? []) found.push(toInfo(s));
    try {
      const redisNow = this.now() + (this.clockOffset ?? 0);
      const nodes = await this.cmd.zrangebyscore(this.keys.nodes, redisNow - this.nodeTtlMs, '+inf');
      const others = nodes.filter((n) => n !== this.node);
      if (others.length > 0) {
        const p = this.cmd.pipeline();
        for (const node of others) p.hvals(this.keys.sessions(tenant, node));
        for (const [err, values] of (await p.exec()) ?? []) {
          if (err) throw err;
          for (const raw of values as string[]) {
            const s = parseSession(raw);
            if (s) found.push(s);
          }
        }
      }
    } catch (err) {
      throw this.unavailable(err, 'the sessions listing');
    }
    return found.filter(
      (s) =>
        (filter.channel === undefined || s.channels.includes(filter.channel)) &&
        (filter.userId === undefined || s.userId === filter.userId),
    );
  }

  // ---- node liveness ---------------------------------------------------------

  private async onCommandReady(): Promise<void> {
    if (this.closed) return;
    // Redis may have restarted (and lost our session hashes): write them all again.
    for (const tenant of this.sessions.keys()) this.dirty.add(tenant);
    await this.heartbeat();
  }

  /** Registers the node, refreshes its session hashes, measures the clock and reads the epoch. */
  private async heartbeat(): Promise<void> {
    if (this.closed || this.cmd.status !== 'ready') return;
    this.pruneMirrors();
    try {
      const [sec, usec] = await this.cmd.time();
      const received = this.now();
      const redisMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
      // Redis read its clock before we received the answer: a lower bound.
      this.clockOffset = redisMs - received;
      await this.cmd.set(this.keys.epoch, String(redisMs), 'NX');
      const epoch = Number(await this.cmd.get(this.keys.epoch));
      if (this.epochMs !== undefined && epoch !== this.epochMs) {
        this.log('cast: Redis lost its data (new epoch); streams that may have missed events will resume by replay.');
      }
      this.epochMs = epoch;

      const m = this.cmd.multi();
      // Heartbeats are scored in Redis time, which the publish script compares against.
      m.zadd(this.keys.nodes, redisMs, this.node);
      m.zremrangebyscore(this.keys.nodes, '-inf', redisMs - 10 * this.nodeTtlMs);
      const rewritten = [...this.dirty];
      for (const tenant of rewritten) {
        const sessKey = this.keys.sessions(tenant, this.node);
        const subsKey = this.keys.subscribers(tenant, this.node);
        m.del(sessKey, subsKey);
        const byId = this.sessions.get(tenant);
        if (!byId) continue;
        for (const s of byId.values()) m.hset(sessKey, s.id, sessionJson(s));
        for (const [ch, n] of this.counts.get(tenant) ?? []) m.hset(subsKey, ch, n);
      }
      for (const tenant of this.sessions.keys()) {
        m.pexpire(this.keys.sessions(tenant, this.node), this.nodeTtlMs);
        m.pexpire(this.keys.subscribers(tenant, this.node), this.nodeTtlMs);
      }
      const results = await m.exec();
      if (!results?.some(([err]) => err)) for (const tenant of rewritten) this.dirty.delete(tenant);
    } catch {
      // Retried at the next heartbeat.
    }
  }

  async ready(): Promise<boolean> {
    if (this.cmd.status !== 'ready' || this.sub.status !== 'ready') return false;
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
    for (const feed of this.feeds.values()) {
      feed.closed = true;
      this.releaseWaiters(feed, true);
    }
    this.feeds.clear();
    for (const wait of this.waits.values()) wait.resolve();
    this.waits.clear();
    for (const pending of this.replies.values()) pending.resolve();
    this.replies.clear();
    if (this.cmd.status === 'ready') {
      // Leave at once rather than after the node TTL: other nodes stop counting our sessions.
      // The node stays listed as seen one TTL ago, so its presence part is reaped after the grace period.
      const redisNow = this.now() + (this.clockOffset ?? 0);
      const m = this.cmd.multi().zadd(this.keys.nodes, redisNow - this.nodeTtlMs - 1, this.node);
      for (const tenant of this.sessions.keys()) {
        m.del(this.keys.sessions(tenant, this.node), this.keys.subscribers(tenant, this.node));
      }
      await m.exec().catch(() => {});
    }
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  // ---- errors -------------------------------------------------------------------

  private reportDown(detail: string): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.log(`cast: Redis is not reachable (${detail}); publishes answer 503 until it returns, open streams stay open.`);
  }

  private unavailable(err: unknown, what: string): CastError {
    const message = messageOf(err);
    if (/timed? ?out/i.test(message)) {
      return new CastError(
        'UNAVAILABLE',
        `Redis did not answer within ${this.timeoutMs} ms, so ${what} may or may not have taken effect; retry (publishes with an idempotency key).`,
        { retryAfter: 1, cause: err },
      );
    }
    if ((err as { name?: unknown } | null)?.name === 'ReplyError') {
      // Redis answered with an error (e.g. OOM under maxmemory-policy noeviction): nothing was written.
      return new CastError('UNAVAILABLE', `Redis refused ${what} (${message}); retry later.`, { retryAfter: 1, cause: err });
    }
    return new CastError('UNAVAILABLE', `Redis is not reachable, so ${what} failed (${message}); retry shortly.`, {
      retryAfter: 1,
      cause: err,
    });
  }
}

function sessionJson(s: SessionRecord): string {
  return JSON.stringify(toInfo(s));
}

function toInfo(s: SessionInfo): SessionInfo {
  return { id: s.id, userId: s.userId, channels: s.channels, connectedAt: s.connectedAt };
}

function parseSession(raw: string): SessionInfo | undefined {
  try {
    const s = JSON.parse(raw) as SessionInfo;
    return typeof s.id === 'string' && Array.isArray(s.channels) ? toInfo(s) : undefined;
  } catch {
    return undefined;
  }
}

/** A URL without its password, for logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured URL';
  }
}
