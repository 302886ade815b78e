import type { EventPosition } from '@cast/protocol';
import type { LocalDelivery, StoredEvent } from '../types.js';
import { comparePositions, decodeLiveMessage, formatRedisPosition } from './codec.js';
import type { RedisKeys } from './keys.js';
import type { PubSub } from './connection.js';
import { Feed } from './feed.js';
import type { PageResult } from './log.js';

/** What the fan-out uses of its broker. */
export interface FanoutHost {
  keys: RedisKeys;
  pubsub: PubSub;
  timeoutMs: number;
  /** The hub of this node (set once the broker starts). */
  local(): LocalDelivery | undefined;
  /** Reads one page of the tenant's log after a position (not strict). */
  readPage(tenant: string, after: EventPosition): Promise<PageResult>;
  /** Where a newly listened tenant starts (see the broker's joinPosition). */
  joinPosition(): EventPosition;
  /**
   * On a Redis Cluster: the position just before the tenant's epoch (created
   * now when missing), which a new feed must not start before; undefined on
   * one Redis, whose epoch the join position already respects.
   */
  tenantEpoch?(tenant: string): Promise<EventPosition | undefined>;
  log(line: string): void;
}

/** A local publish waiting for this node's feed to hand its event to the hub (for `delivered`). */
interface LocalWait {
  count: number | undefined;
  resolve: () => void;
  done: Promise<void>;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The fan-out: one {@link Feed} per tenant this node has streams of. Each
 * feed subscribes to the tenant's live channel, reads the log after any gap,
 * and hands every event to the hub once, in position order.
 *
 * @example
 * ```ts
 * const fanout = new Fanout(host)
 * fanout.listen('acme', 'orders')
 * ```
 */
export class Fanout {
  private readonly feeds = new Map<string, Feed>();
  private readonly waits = new Map<string, LocalWait>();

  constructor(private readonly host: FanoutHost) {}

  /** The tenant's feed, when this node listens to it. */
  feed(tenant: string): Feed | undefined {
    return this.feeds.get(tenant);
  }

  listen(tenant: string, channel: string): void {
    let feed = this.feeds.get(tenant);
    if (feed) {
      feed.channels.add(channel);
      return;
    }
    const created = new Feed(tenant, this.host.joinPosition());
    created.channels.add(channel);
    this.feeds.set(tenant, created);
    if (!this.host.tenantEpoch) {
      this.subscribe([created]);
      return;
    }
    // A tenant's epoch is made by its first script: start after it, or the first
    // catch-up would take the fresh epoch for lost data.
    this.host
      .tenantEpoch(tenant)
      .then((position) => {
        created.skipTo(position);
      })
      .catch(() => {})
      .finally(() => this.subscribe([created]));
  }

  unlisten(tenant: string, channel: string): void {
    const feed = this.feeds.get(tenant);
    if (!feed) return;
    feed.channels.delete(channel);
    if (feed.channels.size > 0) return;
    feed.close();
    feed.releaseWaiters(true);
    this.feeds.delete(tenant);
    this.host.pubsub.unsubscribe([this.host.keys.live(tenant)]);
  }

  /** Subscribes feeds that are not (1000 channels per call at most). */
  subscribeMissing(): void {
    const unsubscribed = [...this.feeds.values()].filter((f) => f.state === 'unsubscribed');
    for (let i = 0; i < unsubscribed.length; i += 1000) this.subscribe(unsubscribed.slice(i, i + 1000));
  }

  /** Subscribes what is missing and retries catch-ups that failed. */
  repair(): void {
    for (const feed of this.feeds.values()) if (feed.state === 'subscribed') void this.catchUp(feed);
    this.subscribeMissing();
  }

  private subscribe(feeds: Feed[]): void {
    if (!this.host.pubsub.ready()) return; // the broker's repair will
    const runs = new Map<Feed, number>();
    for (const feed of feeds) {
      const run = feed.subscribing();
      if (run !== undefined) runs.set(feed, run);
    }
    if (runs.size === 0) return;
    const byChannel = new Map([...runs.keys()].map((f) => [this.host.keys.live(f.tenant), f]));
    this.host.pubsub
      .subscribe([...byChannel.keys()])
      .then((done) => {
        const ok = new Set(done);
        for (const [channel, feed] of byChannel) {
          const run = runs.get(feed) as number;
          if (!ok.has(channel)) feed.subscribeFailed(run);
          else if (feed.subscribed(run)) void this.catchUp(feed);
        }
      })
      .catch(() => {
        for (const [feed, run] of runs) feed.subscribeFailed(run);
      });
  }

  /** These tenants' live subscriptions ended: messages from now on may be missed. */
  lost(tenant: string): void {
    this.feeds.get(tenant)?.lost();
  }

  /** A message on a tenant's live channel. */
  onLive(tenant: string, message: Buffer): void {
    const feed = this.feeds.get(tenant);
    if (!feed) return;
    const event = decodeLiveMessage(message);
    if (event && feed.offer(event)) this.deliver(feed, event);
  }

  /**
   * Reads the tenant's log from the feed's last position until its end, then
   * releases the live events that arrived meanwhile, skipping any position
   * already delivered.
   */
  private async catchUp(feed: Feed): Promise<void> {
    const run = feed.beginCatchUp();
    if (run === undefined) return;
    try {
      for (;;) {
        const page = await this.host.readPage(feed.tenant, feed.after);
        if (!feed.current(run)) return;
        if (!page.recovered) {
          // Events this node's streams should have had are gone from the log
          // (trimmed while the node was cut off, or Redis lost its data): end
          // those streams so each client resumes by replay and learns
          // `recovered: false` instead of silently missing events.
          this.host.log(
            `cast: tenant ${feed.tenant}: events after ${formatRedisPosition(feed.after)} are no longer in Redis; ending its streams on this node so they resume.`,
          );
          this.host.local()?.reset?.(feed.tenant);
          if (!feed.current(run)) return;
          if (feed.skipTo(page.floor)) feed.releaseWaiters(false);
        }
        for (const event of page.events) this.deliver(feed, event);
        if (page.more) {
          if (feed.skipTo(page.more)) feed.releaseWaiters(false);
          continue;
        }
        if (feed.readAgain(run)) continue;
        break;
      }
      for (const event of feed.goLive(run)) this.deliver(feed, event);
    } catch {
      // repair() retries while the feed still needs it.
      feed.catchUpFailed(run);
    }
  }

  private deliver(feed: Feed, event: StoredEvent): void {
    if (!feed.advance(event)) return;
    if (feed.registering > 0) feed.parked.push(event);
    else this.handOver(feed, event);
  }

  /** Hands one event to the hub and completes a local publish's count. */
  handOver(feed: Feed, event: StoredEvent): void {
    let count = 0;
    try {
      count = this.host.local()?.deliver(feed.tenant, event) ?? 0;
    } catch (err) {
      this.host.log(`cast: local delivery failed: ${messageOf(err)}`);
    }
    const wait = this.waits.get(event.messageId);
    if (wait && wait.count === undefined) {
      wait.count = count;
      wait.resolve();
    }
    if (feed.waiters.length > 0) feed.releaseWaiters(false);
  }

  /** Resolves when the feed has delivered up to `at`, or after the command timeout. */
  reaches(feed: Feed, at: EventPosition): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.host.timeoutMs);
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

  /** Whether the tenant's feed has delivered up to `position` (waiting for it up to the command timeout). */
  async caughtUp(tenant: string, position: EventPosition): Promise<boolean> {
    const feed = this.feeds.get(tenant);
    if (!feed) return true;
    if (comparePositions(feed.after, position) < 0) await this.reaches(feed, position);
    return comparePositions(feed.after, position) >= 0;
  }

  // ---- local publishes: their count comes from this node's own feed ----------

  /** Whether this node listens to the tenant (its publishes then come back through its feed). */
  listening(tenant: string): boolean {
    return this.feeds.has(tenant);
  }

  expect(messageId: string): void {
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    this.waits.set(messageId, { count: undefined, resolve, done });
  }

  /** Waits (up to the timeout) for this node's feed to deliver these messages. */
  async awaitLocal(messageIds: readonly string[]): Promise<void> {
    const pending = messageIds
      .map((id) => this.waits.get(id))
      .filter((w) => w !== undefined && w.count === undefined) as LocalWait[];
    if (pending.length === 0) return;
    await Promise.race([
      Promise.all(pending.map((w) => w.done)),
      new Promise((resolve) => setTimeout(resolve, this.host.timeoutMs).unref?.()),
    ]);
  }

  /** Forgets a message's wait; answers this node's count for it (undefined when not delivered here). */
  settle(messageId: string): number | undefined {
    const wait = this.waits.get(messageId);
    this.waits.delete(messageId);
    return wait?.count;
  }

  /** Hands parked events over once no registration is in flight. */
  registered(feed: Feed): void {
    feed.registering--;
    if (feed.registering > 0 || feed.state === 'closed') return;
    const parked = feed.parked;
    feed.parked = [];
    for (const event of parked) this.handOver(feed, event);
  }

  close(): void {
    for (const feed of this.feeds.values()) {
      feed.close();
      feed.releaseWaiters(true);
    }
    this.feeds.clear();
    for (const wait of this.waits.values()) wait.resolve();
    this.waits.clear();
  }
}
