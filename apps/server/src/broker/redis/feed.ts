import type { EventPosition } from '@cast/protocol';
import type { StoredEvent } from '../types.js';
import { comparePositions } from './codec.js';

/** Live events held per tenant while its catch-up read runs; past this they are read from the log again. */
export const MAX_BUFFERED = 10_000;

/**
 * Where one tenant's feed is:
 *
 * - `unsubscribed`: not subscribed to the tenant's live channel (new, or the
 *   subscription was lost); events may be missed until it is subscribed again.
 * - `subscribing`: the subscription is in flight.
 * - `subscribed`: subscribed, the log not yet read up to now (or that read
 *   failed); live events wait in the buffer.
 * - `catching`: reading the log from `after` to its end; live events wait.
 * - `overflowed`: catching, and the buffer overflowed (it was emptied): read
 *   the log once more before going live.
 * - `live`: caught up; live events are delivered as they arrive.
 * - `closed`: nobody on this node listens to the tenant any more.
 *
 * ```
 * unsubscribed → subscribing → subscribed → catching ⇄ overflowed
 *                                  ↑            ↓
 *                                  └─ failed ─  live
 * (any) → unsubscribed when the subscription is lost; (any) → closed
 * ```
 */
export type FeedState = 'unsubscribed' | 'subscribing' | 'subscribed' | 'catching' | 'overflowed' | 'live' | 'closed';

/**
 * One tenant this node listens to. Live events arrive on the tenant's pub/sub
 * channel in position order; after (re)subscribing, the log is read from the
 * last delivered position while live events wait in the buffer, so the node
 * delivers every position once and in order. Work begun under one
 * subscription (its SUBSCRIBE, a catch-up read) carries that subscription's
 * number and is dropped when the subscription was lost meanwhile.
 *
 * @example
 * ```ts
 * const feed = new Feed('acme', positionBefore(Date.now()))
 * const run = feed.subscribing() // then SUBSCRIBE; feed.subscribed(run) once it answered
 * ```
 */
export class Feed {
  state: FeedState = 'unsubscribed';
  readonly channels = new Set<string>();
  /** Last position delivered to the hub (or the position the feed joined at). */
  after: EventPosition;
  /** Replays waiting for the feed to pass a position. */
  readonly waiters: Array<{ at: EventPosition; resolve: () => void }> = [];
  /** Registrations of new streams in flight: events wait in `parked` until each stream has its floor. */
  registering = 0;
  parked: StoredEvent[] = [];
  private buffer: StoredEvent[] = [];
  /** The current subscription's number (bumped when one is lost). */
  private subscription = 0;

  constructor(
    readonly tenant: string,
    after: EventPosition,
  ) {
    this.after = after;
  }

  /** unsubscribed → subscribing; answers the subscription's number, or undefined when not unsubscribed. */
  subscribing(): number | undefined {
    if (this.state !== 'unsubscribed') return undefined;
    this.state = 'subscribing';
    return this.subscription;
  }

  /** subscribing → subscribed (true), unless the subscription was lost or the feed closed meanwhile. */
  subscribed(run: number): boolean {
    if (this.state !== 'subscribing' || run !== this.subscription) return false;
    this.state = 'subscribed';
    return true;
  }

  /** subscribing → unsubscribed: the SUBSCRIBE failed; the repair retries. */
  subscribeFailed(run: number): void {
    if (this.state === 'subscribing' && run === this.subscription) this.state = 'unsubscribed';
  }

  /** The subscription was lost: messages from now on may be missed, so the log is read when back. */
  lost(): void {
    if (this.state === 'closed') return;
    this.state = 'unsubscribed';
    this.buffer = [];
    this.subscription++;
  }

  close(): void {
    this.state = 'closed';
    this.buffer = [];
    this.subscription++;
  }

  /**
   * A live event arrived: answers true when it is to be delivered now (live);
   * otherwise it is held for the catch-up (or ignored when not subscribed).
   */
  offer(event: StoredEvent): boolean {
    switch (this.state) {
      case 'live':
        return true;
      case 'subscribed':
      case 'catching':
      case 'overflowed':
        this.buffer.push(event);
        if (this.buffer.length > MAX_BUFFERED) {
          // Every buffered event is in the log too: read it from there instead of holding it.
          this.buffer = [];
          if (this.state === 'catching') this.state = 'overflowed';
        }
        return false;
      default:
        return false;
    }
  }

  /** subscribed → catching; answers the subscription's number, or undefined when no catch-up is due. */
  beginCatchUp(): number | undefined {
    if (this.state !== 'subscribed') return undefined;
    this.state = 'catching';
    return this.subscription;
  }

  /** Whether the catch-up `run` still counts (no loss, no close since it began). */
  current(run: number): boolean {
    return run === this.subscription && (this.state === 'catching' || this.state === 'overflowed');
  }

  /** At the log's end: overflowed → catching (true: read again), catching → stays (false). */
  readAgain(run: number): boolean {
    if (!this.current(run) || this.state !== 'overflowed') return false;
    this.state = 'catching';
    return true;
  }

  /** catching → live; answers the events held meanwhile, to deliver in order. */
  goLive(run: number): StoredEvent[] {
    if (!this.current(run)) return [];
    const held = this.buffer;
    this.buffer = [];
    this.state = 'live';
    return held;
  }

  /** The catch-up read failed: catching → subscribed, for the repair to retry. */
  catchUpFailed(run: number): void {
    if (this.current(run)) this.state = 'subscribed';
  }

  /** Moves the feed past an event; false when it was at or before the last delivered position. */
  advance(event: StoredEvent): boolean {
    const { position } = event;
    if (comparePositions(position, this.after) <= 0) return false;
    this.after = position;
    return true;
  }

  /** Moves the feed to a later position (events up to it are gone or were skipped); false when not later. */
  skipTo(position: EventPosition | undefined): boolean {
    if (!position || comparePositions(position, this.after) <= 0) return false;
    this.after = position;
    return true;
  }

  /** Resolves the waiters the feed has passed (all of them when `all`). */
  releaseWaiters(all: boolean): void {
    for (const w of [...this.waiters]) if (all || comparePositions(this.after, w.at) >= 0) w.resolve();
  }
}
