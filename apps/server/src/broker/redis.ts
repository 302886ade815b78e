import { randomUUID } from 'node:crypto';
import { CastError, type SessionInfo } from '@cast/protocol';
import { Redis, type RedisOptions } from 'ioredis';
import {
  comparePositions,
  decodeLiveMessage,
  type ParsedPosition,
  parseRedisPosition,
  positionBefore,
} from './redis-codec.js';
import { createRedisKeys, type RedisKeys } from './redis-keys.js';
import { createRedisPresence, type PresenceClient } from './redis-presence.js';
import { PRESENCE_SCRIPT, PUBLISH_SCRIPT, READ_SCRIPT, SNAPSHOT_SCRIPT } from './redis-scripts.js';
import type {
  Broker,
  LocalDelivery,
  PresenceStore,
  PublishInput,
  PublishOutcome,
  ReplayResult,
  SessionRecord,
  StoredEvent,
} from './types.js';

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
  /** How long a Redis command may take before the call fails with 503. @defaultValue 1000 */
  commandTimeoutMs?: number;
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
  private readonly cmd: ScriptClient;
  private readonly sub: Redis;
  private local: LocalDelivery | undefined;
  private readonly feeds = new Map<string, Feed>();
  private readonly waits = new Map<string, LocalWait>();
  private readonly sessions = new Map<string, Map<string, SessionRecord>>();
  private readonly counts = new Map<string, Map<string, number>>();
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
    const common: RedisOptions = {
      lazyConnect: true,
      // Fail fast instead of queueing while disconnected: publishes answer 503 at once.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.timeoutMs,
      connectTimeout: Math.max(this.timeoutMs, 1000),
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000),
    };
    this.cmd = new Redis(options.url, { ...common, connectionName: `cast:${this.node}` }) as ScriptClient;
    this.cmd.defineCommand('castPublish', { numberOfKeys: 0, lua: PUBLISH_SCRIPT });
    this.cmd.defineCommand('castRead', { numberOfKeys: 0, lua: READ_SCRIPT });
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
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onLive(channel, message));
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
      inputs.length,
    ];
    inputs.forEach((input, i) => {
      args.push(input.channel, input.event, input.data, input.idempotencyKey ?? '', messageIds[i] as string);
    });
    let reply: Array<[string, string, string?]>;
    try {
      reply = (await this.cmd.castPublish(...args)) as Array<[string, string, string?]>;
    } catch (err) {
      for (const id of messageIds) this.waits.delete(id);
      throw this.unavailable(err, 'the publish');
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
          JSON.stringify([position, messageId, input.channel, input.event, String(delivered)]),
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
    if (!parseRedisPosition(after)) return { events: [], recovered: false };
    const events: StoredEvent[] = [];
    let recovered = true;
    let from = after;
    let logEnd = '';
    // Never stop early: the stream hand-off relies on the replay reaching the log's end.
    for (;;) {
      const page = await this.readPage(tenant, from, channels, true);
      recovered &&= page.recovered;
      logEnd = page.last;
      events.push(...page.events);
      if (!page.more) break;
      from = page.more;
    }
    // The stream hand-off drops live frames up to the replay's end and sends
    // every later one, so this node's feed must not deliver anything at or
    // before that end afterwards. The feed may be behind the log just read
    // (joining the tenant, or a pub/sub message still on its way): wait until
    // it has passed the log's end.
    const feed = this.feeds.get(tenant);
    const end = parseRedisPosition(logEnd);
    if (feed && end && comparePositions(feed.afterPos, end) < 0) {
      await this.feedReaches(feed, end);
      if (comparePositions(feed.afterPos, end) < 0) {
        // Still behind (its subscription is down): stop the replay where the
        // feed is; the feed delivers the rest live when it catches up.
        let keep = events.length;
        while (keep > 0 && comparePositions(parseRedisPosition((events[keep - 1] as StoredEvent).position) as ParsedPosition, feed.afterPos) > 0) keep--;
        events.length = keep;
      }
    }
    return { events, recovered };
  }

  /**
   * Reads one page of the log after a position.
   *
   * @param strict - a client's position: also not recovered when past the log's end
   */
  private async readPage(tenant: string, after: string, channels: readonly string[], strict: boolean): Promise<PageResult> {
    let reply: [number, string, string, string[], string];
    try {
      reply = (await this.cmd.castRead(
        this.keys.prefix,
        tenant,
        this.scriptNow(),
        this.maxAgeMs,
        after,
        PAGE,
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
   * slack); the first subscriber of a tenant on a node may therefore also get
   * the events of the last ~100 ms before it connected, never fewer.
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
  }

  private onSubscriberLost(): void {
    for (const feed of this.feeds.values()) {
      // Messages published from now on may be missed: read the log when back.
      feed.subscribed = false;
      feed.live = false;
      feed.buffer = [];
      feed.generation++;
    }
  }

  private onLive(channel: Buffer, message: Buffer): void {
    const tenant = this.keys.tenantOfLive(channel.toString('utf8'));
    const feed = tenant === undefined ? undefined : this.feeds.get(tenant);
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
    const unsubscribed: Feed[] = [];
    for (const feed of this.feeds.values()) {
      if (!feed.subscribed) unsubscribed.push(feed);
      else if (!feed.live && !feed.catching) void this.catchUp(feed);
    }
    for (let i = 0; i < unsubscribed.length; i += 1000) this.subscribe(unsubscribed.slice(i, i + 1000));
  }

  // ---- sessions ---------------------------------------------------------------

  addSession(session: SessionRecord): void {
    const { tenant } = session;
    let byId = this.sessions.get(tenant);
    if (!byId) {
      byId = new Map();
      this.sessions.set(tenant, byId);
    }
    byId.set(session.id, session);
    const counts = this.channelCounts(tenant);
    for (const ch of session.channels) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    this.writeSession(tenant, session, true);
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

  /** Writes one session change; a failure marks the tenant for a full rewrite at the next heartbeat. */
  private writeSession(tenant: string, session: SessionRecord, added: boolean): void {
    if (this.cmd.status !== 'ready' || this.dirty.has(tenant)) {
      this.dirty.add(tenant);
      return;
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
    m.exec()
      .then((results) => {
        if (results?.some(([err]) => err)) this.dirty.add(tenant);
      })
      .catch(() => this.dirty.add(tenant));
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
