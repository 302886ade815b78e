/**
 * Delivery accounting for one subscriber connection. Every published event
 * carries a sequence number in its payload; every delivered event carries its
 * log position (`<ms>-<seq>`) in its SSE id. A measurement window expects the
 * sequence numbers `[base, base + count)`: a number seen twice is a duplicate,
 * one never seen is lost, and a position that does not increase is out of
 * order. Any of them fails the benchmark.
 */

/** What a connection saw during one window. */
export interface DeliveryCounts {
  /** Distinct expected events received. */
  received: number;
  /** Expected events never received. */
  lost: number;
  /** Events received more than once (by sequence number). */
  duplicated: number;
  /** Events whose log position did not increase over the previous one. */
  outOfOrder: number;
  /** Events outside the window (late from an earlier window, or never published). */
  outside: number;
}

/** The result of recording one delivery. */
export const Delivery = {
  ok: 0,
  duplicate: 1,
  outside: 2,
} as const;
/** One of {@link Delivery}'s values. */
export type Delivery = (typeof Delivery)[keyof typeof Delivery];

/**
 * Adds up delivery counts.
 *
 * @param into - the running total (mutated)
 * @param add - the counts to add
 * @returns `into`
 * @example
 * ```ts
 * addCounts(emptyCounts(), { received: 1, lost: 0, duplicated: 0, outOfOrder: 0, outside: 0 })
 * ```
 */
export function addCounts(into: DeliveryCounts, add: DeliveryCounts): DeliveryCounts {
  into.received += add.received;
  into.lost += add.lost;
  into.duplicated += add.duplicated;
  into.outOfOrder += add.outOfOrder;
  into.outside += add.outside;
  return into;
}

/**
 * Counts with every field 0.
 *
 * @returns fresh zero counts
 * @example
 * ```ts
 * emptyCounts().lost // 0
 * ```
 */
export function emptyCounts(): DeliveryCounts {
  return { received: 0, lost: 0, duplicated: 0, outOfOrder: 0, outside: 0 };
}

/**
 * True when the counts show a failure (loss, duplicates, disorder or stray events).
 *
 * @param c - the counts
 * @returns whether the benchmark must fail
 * @example
 * ```ts
 * isFailure({ received: 9, lost: 1, duplicated: 0, outOfOrder: 0, outside: 0 }) // true
 * ```
 */
export function isFailure(c: DeliveryCounts): boolean {
  return c.lost > 0 || c.duplicated > 0 || c.outOfOrder > 0 || c.outside > 0;
}

/**
 * Per-connection delivery ledger; see the module comment.
 *
 * @example
 * ```ts
 * const ledger = new DeliveryLedger();
 * ledger.open(0, 2);
 * ledger.record(0, 10, 0);
 * ledger.close(2).lost // 1
 * ```
 */
export class DeliveryLedger {
  private base = 0;
  private capacity = 0;
  private seen = new Uint8Array(0);
  private received = 0;
  private duplicated = 0;
  private outOfOrder = 0;
  private outside = 0;
  private lastMs = -1;
  private lastSeq = -1;

  /**
   * Starts a window expecting sequence numbers from `base`. The order
   * tracking carries over from earlier windows.
   *
   * @param base - the first expected sequence number
   * @param capacity - how many sequence numbers the window may hold
   */
  open(base: number, capacity: number): void {
    this.base = base;
    this.capacity = capacity;
    const bytes = Math.ceil(capacity / 8);
    if (this.seen.length >= bytes && this.seen.length <= bytes * 4) this.seen.fill(0, 0, bytes);
    else this.seen = new Uint8Array(bytes);
    this.received = 0;
    this.duplicated = 0;
    this.outOfOrder = 0;
    this.outside = 0;
  }

  /**
   * Records one delivered event.
   *
   * @param seq - the sequence number from the payload
   * @param ms - the milliseconds part of its log position
   * @param posSeq - the counter part of its log position
   * @returns whether it was new, a duplicate, or outside the window
   */
  record(seq: number, ms: number, posSeq: number): Delivery {
    if (ms < this.lastMs || (ms === this.lastMs && posSeq < this.lastSeq)) this.outOfOrder += 1;
    else {
      this.lastMs = ms;
      this.lastSeq = posSeq;
    }
    const i = seq - this.base;
    if (i < 0 || i >= this.capacity || !Number.isInteger(i)) {
      this.outside += 1;
      return Delivery.outside;
    }
    const byte = i >> 3;
    const bit = 1 << (i & 7);
    if ((this.seen[byte]! & bit) !== 0) {
      this.duplicated += 1;
      return Delivery.duplicate;
    }
    this.seen[byte]! |= bit;
    this.received += 1;
    return Delivery.ok;
  }

  /** Distinct expected events received so far in this window. */
  get distinct(): number {
    return this.received;
  }

  /**
   * Forgets the last position (after a reconnect without resume, the server
   * may legitimately continue from any position).
   */
  resetOrder(): void {
    this.lastMs = -1;
    this.lastSeq = -1;
  }

  /**
   * Reports the window, counting as lost every expected number not seen.
   * Numbers recorded beyond `expected` (but within capacity) count as outside.
   *
   * @param expected - how many events were actually published in the window
   * @returns the window's counts
   */
  close(expected: number): DeliveryCounts {
    const n = Math.min(expected, this.capacity);
    let inRange = 0;
    const fullBytes = n >> 3;
    for (let b = 0; b < fullBytes; b++) inRange += POPCOUNT[this.seen[b]!]!;
    for (let i = fullBytes * 8; i < n; i++) if ((this.seen[i >> 3]! & (1 << (i & 7))) !== 0) inRange += 1;
    return {
      received: inRange,
      lost: expected - inRange,
      duplicated: this.duplicated,
      outOfOrder: this.outOfOrder,
      outside: this.outside + (this.received - inRange),
    };
  }
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, v) => {
  let n = 0;
  for (let x = v; x; x >>= 1) n += x & 1;
  return n;
});
