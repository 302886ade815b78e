import type { EventPosition } from '@cast/protocol';
import type { Broker } from '../broker/types.js';
import type { StreamObserver } from '../stream/hub.js';
import type { Change, ChangeSink, ChangeSource, Watch } from './types.js';

/** Change-feed events live in the tenant's log on `$db:<collection>`: no push token can name a `$` channel. */
export const COLLECTION_CHANNEL_PREFIX = '$db:';
/**
 * The SSE event name of a change. Plain `message`, so the standard
 * `EventSource.onmessage` handler receives changes; the change type is in the data.
 */
export const CHANGE_EVENT_NAME = 'message';

/**
 * The log channel of a collection's changes.
 *
 * @param collection - the canonical collection name
 * @returns the channel, e.g. `$db:public.todos`
 * @example
 * ```ts
 * collectionChannel('public.todos') // '$db:public.todos'
 * ```
 */
export function collectionChannel(collection: string): string {
  return `${COLLECTION_CHANNEL_PREFIX}${collection}`;
}

/** The collection of a `$db:` channel, or undefined for any other channel. */
function collectionOf(channel: string): string | undefined {
  return channel.startsWith(COLLECTION_CHANNEL_PREFIX) ? channel.slice(COLLECTION_CHANNEL_PREFIX.length) : undefined;
}

/** What the feeds need from the hub: ending the local streams of one channel. */
export interface StreamCloser {
  closeChannel(tenant: string, channel: string): number;
}

/** Options of {@link ChangeFeeds}. */
export interface ChangeFeedsOptions {
  /** Documents whose JSON is larger are sent without the document (`document: null, tooLarge: true`). */
  maxDocumentBytes: number;
  /**
   * Keep watching this long after the last subscriber leaves, so a client that
   * reconnects quickly resumes without a gap. @defaultValue 30_000
   */
  lingerMs?: number;
  /**
   * Publish with an idempotency key derived from the change, so several nodes
   * that all see it publish it once. Needless with one process. @defaultValue true
   */
  dedupe?: boolean;
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number;
  /** Where problems are logged. @defaultValue console.error */
  log?: (message: string, err?: unknown) => void;
}

interface Entry {
  watch: Watch;
  refs: number;
  /** Since when every change of this watch reaches the log; undefined while not active. */
  since: number | undefined;
  linger: ReturnType<typeof setTimeout> | undefined;
  waiters: Array<() => void>;
}

const keyOf = (tenant: string, collection: string) => `${tenant}\u0000${collection}`;

/**
 * Connects a change source to the broker and the streams. The hub's channel
 * signals (first and last local stream of a `$db:` channel) start and stop
 * watches; changes are published into the tenant's log like any event; and a
 * resume is `recovered` only when the watch was active, without a break,
 * since the client's last event ({@link ChangeFeeds.covers}).
 *
 * @example
 * ```ts
 * const feeds = new ChangeFeeds(source, { maxDocumentBytes: 65_536 })
 * hub.observe(feeds)
 * await feeds.start(broker, hub)
 * ```
 */
export class ChangeFeeds implements ChangeSink, StreamObserver {
  private readonly entries = new Map<string, Entry>();
  private readonly lingerMs: number;
  private readonly dedupe: boolean;
  private readonly now: () => number;
  private readonly log: (message: string, err?: unknown) => void;
  private broker: Broker | undefined;
  private streams: StreamCloser | undefined;
  private stopped = false;

  constructor(
    readonly source: ChangeSource,
    private readonly options: ChangeFeedsOptions,
  ) {
    this.lingerMs = options.lingerMs ?? 30_000;
    this.dedupe = options.dedupe ?? true;
    this.now = options.now ?? Date.now;
    this.log =
      options.log ?? ((message, err) => console.error(`cast: ${message}`, ...(err === undefined ? [] : [err])));
  }

  /** Starts the source; changes are published through `broker`, gaps end streams through `streams`. */
  async start(broker: Broker, streams: StreamCloser): Promise<void> {
    this.broker = broker;
    this.streams = streams;
    await this.source.start(this);
  }

  /**
   * Resolves a `collection=` value to a canonical collection name: exact
   * (`schema.table`), or a bare table name that one watched schema holds.
   * Asks the source again before answering "not watched".
   *
   * @returns the name, undefined when not watched, or `{ ambiguous }` when several schemas match
   */
  async resolve(collection: string): Promise<string | undefined | { ambiguous: string[] }> {
    const pick = (names: readonly string[]) => {
      if (names.includes(collection)) return collection;
      const matches = names.filter((n) => n.slice(n.indexOf('.') + 1) === collection && !collection.includes('.'));
      if (matches.length > 1) return { ambiguous: matches };
      return matches[0];
    };
    return pick(await this.source.collections(false)) ?? pick(await this.source.collections(true));
  }

  /** Resolves once the watch is active (or after `timeoutMs`), holding it meanwhile. */
  async whenActive(tenant: string, collection: string, timeoutMs: number): Promise<boolean> {
    const entry = this.acquire(tenant, collection);
    try {
      if (entry.since !== undefined) return true;
      return await new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          resolve(ok);
        };
        const timer = setTimeout(() => {
          entry.waiters = entry.waiters.filter((w) => w !== onActive);
          done(false);
        }, timeoutMs);
        const onActive = () => done(true);
        entry.waiters.push(onActive);
      });
    } finally {
      this.release(tenant, collection);
    }
  }

  /** The hub's signal: a `$db:` channel gained its first stream on this node; its watch starts (or stays). */
  channelOpened(tenant: string, channel: string): void {
    const collection = collectionOf(channel);
    if (collection !== undefined) this.acquire(tenant, collection);
  }

  /** The hub's signal: a `$db:` channel lost its last stream on this node; its watch lingers, then stops. */
  channelClosed(tenant: string, channel: string): void {
    const collection = collectionOf(channel);
    if (collection !== undefined) this.release(tenant, collection);
  }

  /**
   * Whether a resume of these channels after `after` can be complete as far as
   * the change feeds go: true unless one of them is a `$db:` channel whose
   * watch was not active, without a break, since then (its changes were never
   * published). The stream route ands this with the broker's `recovered`.
   */
  covers(tenant: string, channels: readonly string[], after: EventPosition): boolean {
    return channels.every((channel) => {
      const collection = collectionOf(channel);
      return collection === undefined || this.coveredSince(tenant, collection, after.ms);
    });
  }

  /** Whether every change of the watch after `ms` reached the log. */
  coveredSince(tenant: string, collection: string, ms: number): boolean {
    const since = this.entries.get(keyOf(tenant, collection))?.since;
    return since !== undefined && ms >= since;
  }

  /** Watches being held now (subscribed or lingering), for tests and metrics. */
  get watching(): number {
    return this.entries.size;
  }

  /** Stops every watch and the source. */
  async close(): Promise<void> {
    this.stopped = true;
    for (const entry of this.entries.values()) {
      if (entry.linger) clearTimeout(entry.linger);
      for (const w of entry.waiters) w();
    }
    this.entries.clear();
    await this.source.close();
  }

  // ChangeSink

  async change(change: Change): Promise<void> {
    const entry = this.entries.get(keyOf(change.tenant, change.collection));
    // A late notification after the watch ended: nobody here asked for it.
    if (!entry || !this.broker) return;
    // The document's own JSON text when the source has it, so that its numbers reach subscribers as written.
    const document = change.documentJson ?? JSON.stringify(change.document ?? null);
    let data = `{"type":${JSON.stringify(change.type)},"documentId":${JSON.stringify(change.documentId)},"document":${document}}`;
    if (Buffer.byteLength(data, 'utf8') > this.options.maxDocumentBytes) {
      // Never a truncated document presented as whole: say it is too large, the client reads it itself.
      data = JSON.stringify({ type: change.type, documentId: change.documentId, document: null, tooLarge: true });
    }
    try {
      await this.broker.publish(change.tenant, [
        {
          channel: collectionChannel(change.collection),
          event: CHANGE_EVENT_NAME,
          data,
          ...(this.dedupe ? { idempotencyKey: `change:${change.changeId}` } : {}),
        },
      ]);
    } catch (err) {
      this.log(`could not publish a change of ${change.collection}; its subscribers resume with recovered: false`, err);
      this.gap([entry.watch]);
    }
  }

  active(watches: readonly Watch[], reconnected: boolean): void {
    const t = this.now();
    for (const w of watches) {
      const entry = this.entries.get(keyOf(w.tenant, w.collection));
      if (!entry) continue;
      entry.since = t;
      for (const resolve of entry.waiters.splice(0)) resolve();
    }
    // Changes between the break and now never reached the log: end the streams
    // so their clients resume, and learn `recovered: false`.
    if (reconnected) for (const w of watches) this.streams?.closeChannel(w.tenant, collectionChannel(w.collection));
  }

  inactive(watches: readonly Watch[]): void {
    for (const w of watches) {
      const entry = this.entries.get(keyOf(w.tenant, w.collection));
      if (entry) entry.since = undefined;
    }
  }

  /** A change of these watches was lost: from now on they are whole again, earlier resumes are not. */
  private gap(watches: readonly Watch[]): void {
    this.inactive(watches);
    this.active(watches, true);
  }

  private acquire(tenant: string, collection: string): Entry {
    const key = keyOf(tenant, collection);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { watch: { tenant, collection }, refs: 0, since: undefined, linger: undefined, waiters: [] };
      this.entries.set(key, entry);
      if (!this.stopped) this.source.watch(tenant, collection);
    }
    if (entry.linger) {
      clearTimeout(entry.linger);
      entry.linger = undefined;
    }
    entry.refs++;
    return entry;
  }

  private release(tenant: string, collection: string): void {
    const key = keyOf(tenant, collection);
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.refs--;
    if (entry.refs > 0) return;
    const stop = () => {
      if (this.entries.get(key) !== entry || entry.refs > 0) return;
      this.entries.delete(key);
      this.source.unwatch(tenant, collection);
    };
    if (this.lingerMs <= 0) return stop();
    entry.linger = setTimeout(stop, this.lingerMs);
    entry.linger.unref?.();
  }
}
