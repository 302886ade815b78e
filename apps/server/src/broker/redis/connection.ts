import { backoffDelay } from '@cast/protocol';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { slotOf } from './slot.js';
import type { RedisTarget } from './url.js';

/** The command connection: one Redis, or a Redis Cluster that routes each command to its key's shard. */
export type CommandClient = Redis | Cluster;

/** How long commands may take and how connections retry. */
export interface ConnectionOptions {
  /** How long a command may take before it fails, ms. */
  timeoutMs: number;
  /** The connection's name in `CLIENT LIST`. */
  name: string;
}

function common(options: ConnectionOptions): RedisOptions {
  return {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    commandTimeout: options.timeoutMs,
    connectTimeout: Math.max(options.timeoutMs, 1000),
    retryStrategy: (attempt) => backoffDelay(attempt, { floorMs: 50, capMs: 1000, jitter: 'none' }),
  };
}

/**
 * Opens the command connection for CAST_REDIS_URL. On one Redis no command
 * waits in an offline queue: while Redis is down a call fails at once (503).
 * On a cluster each command goes to the shard of its first key, following
 * MOVED and ASK and retrying TRYAGAIN while a slot moves; a command to a
 * shard that is down fails after the command timeout, and the other shards
 * keep answering.
 *
 * @param target - the parsed CAST_REDIS_URL
 * @param options - timeouts and the connection's name
 * @example
 * ```ts
 * const cmd = createCommandClient(parseRedisUrl(url), { timeoutMs: 1000, name: 'cast:node-1' })
 * await cmd.connect()
 * ```
 */
export function createCommandClient(target: RedisTarget, options: ConnectionOptions): CommandClient {
  if (target.kind === 'single') {
    return batchWrites(
      new Redis(target.url, { ...common(options), enableOfflineQueue: false, connectionName: options.name }),
    );
  }
  const cluster = new Cluster(target.seeds, {
    lazyConnect: true,
    // No queue while the cluster as a whole is not ready (its queue knows no timeout): fail at once, 503.
    enableOfflineQueue: false,
    scaleReads: 'master',
    maxRedirections: 16,
    retryDelayOnMoved: 0,
    retryDelayOnTryAgain: 50,
    retryDelayOnClusterDown: 100,
    retryDelayOnFailover: 100,
    slotsRefreshTimeout: Math.max(options.timeoutMs, 1000),
    slotsRefreshInterval: 2000,
    clusterRetryStrategy: (attempt) => backoffDelay(attempt, { floorMs: 50, capMs: 1000, jitter: 'none' }),
    redisOptions: {
      ...common(options),
      connectionName: options.name,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
  });
  // Each shard's connection, as the cluster opens it.
  cluster.on('+node', (node: Redis) => batchWrites(node));
  return cluster;
}

/**
 * Sends the commands a connection is given in one event-loop turn in one
 * socket write, at the end of the turn, instead of one write per command.
 * The publishes of the requests one turn serves each run a script: on this
 * server a write to Redis costs more than building the command, and the
 * writes made Redis wake for each one. The commands keep their order and
 * their timeouts; ioredis's own auto-pipelining builds a pipeline per turn,
 * which copies every script command of the client and measured slower.
 *
 * @param client - a connection (one Redis, or one shard of a cluster)
 * @returns the same connection
 * @example
 * ```ts
 * const cmd = batchWrites(new Redis(url))
 * ```
 */
export function batchWrites(client: Redis): Redis {
  const send = client.sendCommand;
  let corked: Redis['stream'] | undefined;
  const release = (): void => {
    const stream = corked;
    corked = undefined;
    stream?.uncork();
  };
  client.sendCommand = function sendBatched(this: Redis, ...args: Parameters<Redis['sendCommand']>) {
    const { stream } = this;
    // Before ready, ioredis queues commands itself (or refuses them) and writes its own handshake.
    if (corked === undefined && this.status === 'ready' && stream && !stream.destroyed) {
      stream.cork();
      corked = stream;
      setImmediate(release);
    }
    return send.apply(this, args);
  };
  return client;
}

/**
 * Whether the connection that carries a command on `key` is up: on one
 * Redis, the command connection; on a Redis Cluster, the connection to the
 * master serving the key's slot. ioredis drops a cluster node's connection
 * when its process goes away and opens a new one when a command needs it, so
 * a missing, new or reconnecting connection is not up. A command sent while
 * it is not up waits in that connection's offline queue or is redirected,
 * and does not reach Redis unless the connection comes up.
 *
 * @param cmd - the command connection
 * @param key - a key of the command (a tenant's keys share one slot)
 * @returns true when the connection is ready
 * @example
 * ```ts
 * const up = connectionUp(cmd, keys.log('acme'))
 * ```
 */
export function connectionUp(cmd: CommandClient, key: string): boolean {
  if (cmd.status !== 'ready') return false;
  if (!(cmd instanceof Cluster)) return true;
  const owner = cmd.slots[slotOf(key)]?.[0];
  if (owner === undefined) return false;
  const conn = cmd.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
  return conn?.status === 'ready';
}

/**
 * Redis's clock (`TIME`). TIME has no key, so a Redis Cluster would send it to
 * any master, maybe one that is down (and fail after the timeout): it is
 * asked of a master whose connection is up, when there is one.
 *
 * @param cmd - the command connection
 * @returns seconds and microseconds, as TIME answers (ioredis types them as numbers; they may be strings)
 * @example
 * ```ts
 * const [sec, usec] = await redisTime(cmd)
 * ```
 */
export function redisTime(cmd: CommandClient): Promise<number[]> {
  const up = cmd instanceof Cluster ? cmd.nodes('master').find((n) => n.status === 'ready') : undefined;
  return (up ?? cmd).time();
}

/** What a {@link PubSub} reports. */
export interface PubSubEvents {
  /** A message on a subscribed channel. */
  message(channel: string, message: Buffer): void;
  /**
   * These subscriptions ended (their connection closed, or their slot moved to
   * another shard): messages sent from now on may be missed until they are
   * subscribed again.
   */
  lost(channels: string[]): void;
  /** A connection is (back) up: subscribe what is missing. */
  up(): void;
  /** A connection failed (for the log). */
  error(detail: string): void;
}

/**
 * The broker's subscriptions, sharded pub/sub (`SSUBSCRIBE`, Redis 7) to match
 * the scripts' `SPUBLISH`: on one Redis, on one connection; on a Redis
 * Cluster, on one connection per shard, each channel on the shard that serves
 * its slot, so live traffic stays on the tenant's shard.
 */
export interface PubSub {
  /** Connects (on a cluster, the per-shard connections open as channels need them). */
  connect(): Promise<void>;
  /**
   * Subscribes channels; resolves with those now subscribed. The others (their
   * shard is down, or their slot is moving) are left for a later call.
   */
  subscribe(channels: readonly string[]): Promise<string[]>;
  /** Ends subscriptions (best effort). */
  unsubscribe(channels: readonly string[]): void;
  /** Whether subscribing can be tried now. */
  ready(): boolean;
  close(): void;
}

/**
 * Creates the subscriptions for CAST_REDIS_URL.
 *
 * @param target - the parsed CAST_REDIS_URL
 * @param cmd - the command client (on a cluster, its slot map says which shard serves a channel)
 * @param options - timeouts and the connection's name
 * @param events - where messages and lost subscriptions are reported
 * @example
 * ```ts
 * const pubsub = createPubSub(target, cmd, { timeoutMs: 1000, name: 'cast:n1:sub' }, events)
 * await pubsub.subscribe(['cast:{acme}:live'])
 * ```
 */
export function createPubSub(
  target: RedisTarget,
  cmd: CommandClient,
  options: ConnectionOptions,
  events: PubSubEvents,
): PubSub {
  return target.kind === 'single'
    ? new SinglePubSub(target.url, options, events)
    : new ShardedPubSub(target, cmd as Cluster, options, events);
}

class SinglePubSub implements PubSub {
  private readonly sub: Redis;
  private readonly subscribed = new Set<string>();
  /** Bumped when the connection closes: a SUBSCRIBE sent before answers for a lost connection. */
  private generation = 0;

  constructor(
    url: string,
    options: ConnectionOptions,
    private readonly events: PubSubEvents,
  ) {
    // The broker resubscribes itself (events.up) so it can catch up after.
    this.sub = new Redis(url, {
      ...common(options),
      enableOfflineQueue: false,
      autoResubscribe: false,
      connectionName: options.name,
    });
    this.sub.on('error', (err: Error) => events.error(`subscriber: ${err.message}`));
    this.sub.on('ready', () => events.up());
    this.sub.on('close', () => {
      this.generation++;
      const lost = [...this.subscribed];
      this.subscribed.clear();
      events.lost(lost);
    });
    this.sub.on('smessageBuffer', (channel: Buffer, message: Buffer) =>
      events.message(channel.toString('utf8'), message),
    );
  }

  async connect(): Promise<void> {
    await this.sub.connect();
  }

  async subscribe(channels: readonly string[]): Promise<string[]> {
    if (channels.length === 0 || this.sub.status !== 'ready') return [];
    const generation = this.generation;
    await this.sub.ssubscribe(...channels);
    if (generation !== this.generation) return [];
    for (const channel of channels) this.subscribed.add(channel);
    return [...channels];
  }

  unsubscribe(channels: readonly string[]): void {
    for (const channel of channels) this.subscribed.delete(channel);
    if (channels.length > 0 && this.sub.status === 'ready') this.sub.sunsubscribe(...channels).catch(() => {});
  }

  ready(): boolean {
    return this.sub.status === 'ready';
  }

  close(): void {
    this.sub.disconnect();
  }
}

/** One shard's subscriber connection and the channels subscribed on it. */
interface Shard {
  readonly key: string;
  readonly conn: Redis;
  readonly channels: Set<string>;
  opening: Promise<void> | undefined;
  dropped: boolean;
}

class ShardedPubSub implements PubSub {
  private readonly shards = new Map<string, Shard>();
  private closed = false;

  constructor(
    private readonly target: Extract<RedisTarget, { kind: 'cluster' }>,
    private readonly cluster: Cluster,
    private readonly options: ConnectionOptions,
    private readonly events: PubSubEvents,
  ) {
    cluster.on('ready', () => events.up());
  }

  async connect(): Promise<void> {
    // The per-shard connections open when a channel first needs one; the command client reads the slot map.
  }

  ready(): boolean {
    return !this.closed && this.cluster.status === 'ready';
  }

  async subscribe(channels: readonly string[]): Promise<string[]> {
    if (!this.ready()) return [];
    // SSUBSCRIBE takes channels of one slot per call.
    const bySlot = new Map<number, string[]>();
    for (const channel of channels) {
      const slot = slotOf(channel);
      bySlot.set(slot, [...(bySlot.get(slot) ?? []), channel]);
    }
    const done: string[] = [];
    await Promise.all(
      [...bySlot].map(async ([slot, group]) => {
        const owner = this.cluster.slots[slot]?.[0];
        if (!owner) return;
        try {
          const shard = await this.open(owner);
          await shard.conn.ssubscribe(...group);
          if (shard.dropped) return;
          for (const channel of group) shard.channels.add(channel);
          done.push(...group);
        } catch {
          // The shard is down or the slot moved: the caller retries.
        }
      }),
    );
    return done;
  }

  unsubscribe(channels: readonly string[]): void {
    for (const shard of this.shards.values()) {
      const mine = channels.filter((c) => shard.channels.delete(c));
      if (mine.length === 0 || shard.conn.status !== 'ready') continue;
      const bySlot = new Map<number, string[]>();
      for (const channel of mine) bySlot.set(slotOf(channel), [...(bySlot.get(slotOf(channel)) ?? []), channel]);
      for (const group of bySlot.values()) shard.conn.sunsubscribe(...group).catch(() => {});
    }
  }

  close(): void {
    this.closed = true;
    for (const shard of this.shards.values()) shard.conn.disconnect();
    this.shards.clear();
  }

  private open(key: string): Promise<Shard> {
    let shard = this.shards.get(key);
    if (!shard) {
      const [host, port] = splitNodeKey(key);
      const conn = new Redis({
        ...common(this.options),
        host,
        port,
        // One attempt per connection: a lost one is replaced (with the slot map read again).
        retryStrategy: () => null,
        enableOfflineQueue: true,
        autoResubscribe: false,
        connectionName: this.options.name,
        ...(this.target.username ? { username: this.target.username } : {}),
        ...(this.target.password ? { password: this.target.password } : {}),
        ...(this.target.tls ? { tls: {} } : {}),
      });
      const created: Shard = { key, conn, channels: new Set(), opening: undefined, dropped: false };
      shard = created;
      this.shards.set(key, created);
      conn.on('smessageBuffer', (channel: Buffer, message: Buffer) =>
        this.events.message(channel.toString('utf8'), message),
      );
      conn.on('close', () => this.drop(created));
      // SSUBSCRIBE answered MOVED: the slot map is stale.
      conn.on('moved', () => this.drop(created));
      conn.on('error', (err: Error) => {
        // Redis 7 ends a shard's sharded subscriptions when their slot moves away, with a
        // `sunsubscribe` nobody asked for; ioredis reports it as a queue state error.
        if (/sunsubscribe|queue state/i.test(err.message)) this.drop(created);
        else this.events.error(`subscriber for ${key}: ${err.message}`);
      });
      created.opening = conn.connect().finally(() => {
        created.opening = undefined;
      });
    }
    const current = shard;
    return (current.opening ?? Promise.resolve()).then(() => {
      if (current.dropped || current.conn.status !== 'ready') throw new Error(`the subscriber for ${key} is not ready`);
      return current;
    });
  }

  /** Forgets a shard connection: its channels are lost; the slot map is read again before they are subscribed anew. */
  private drop(shard: Shard): void {
    if (shard.dropped) return;
    shard.dropped = true;
    if (this.shards.get(shard.key) === shard) this.shards.delete(shard.key);
    shard.conn.removeAllListeners('close');
    shard.conn.on('error', () => {});
    shard.conn.disconnect();
    const lost = [...shard.channels];
    shard.channels.clear();
    if (lost.length === 0 || this.closed) return; // a failed open: the broker's repair retries
    this.events.lost(lost);
    this.cluster.refreshSlotsCache(() => {
      if (!this.closed) this.events.up();
    });
  }
}

function splitNodeKey(key: string): [string, number] {
  const colon = key.lastIndexOf(':');
  return [key.slice(0, colon), Number(key.slice(colon + 1))];
}
