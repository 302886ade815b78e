import { MAX_EVENTS_PER_REQUEST, type Backlog, type PendingEvent } from './runner.js';

/** Options of {@link MemoryBacklog}. */
export interface MemoryBacklogOptions {
  /** How long the first event of a batch waits for company, ms. */
  batchWindowMs: number;
}

/**
 * One receiver's pending events in this process's memory (the memory broker's
 * mode: they survive nothing but the process). A queue with its head index, so
 * dropping the oldest of 100 000 costs nothing; the first `inflight` events
 * are the batch being delivered. Its bound is its tenant's, kept by the engine
 * ({@link dropOldest}).
 *
 * @example
 * ```ts
 * const backlog = new MemoryBacklog({ batchWindowMs: 100 })
 * backlog.push({ event, atMs: Date.now() })
 * ```
 */
export class MemoryBacklog implements Backlog {
  private items: PendingEvent[] = [];
  private head = 0;
  private inflight = 0;
  private wake: (() => void) | undefined;

  constructor(private readonly options: MemoryBacklogOptions) {}

  /** Events waiting, the batch in flight included. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Adds an event. */
  push(event: PendingEvent): void {
    this.items.push(event);
    this.wake?.();
  }

  /** Drops the `count` oldest events, the batch in flight first (what is left of it is retried). */
  dropOldest(count: number): void {
    const over = Math.min(count, this.size);
    if (over <= 0) return;
    this.head += over;
    this.inflight = Math.max(0, this.inflight - over);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  async next(signal: AbortSignal): Promise<PendingEvent[] | undefined> {
    if (this.inflight > 0) return this.items.slice(this.head, this.head + this.inflight);
    if (this.size === 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.wake = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
      if (signal.aborted) return undefined;
    }
    // A short window lets events that happen together travel in one request.
    if (this.size < MAX_EVENTS_PER_REQUEST && this.options.batchWindowMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.options.batchWindowMs);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
      if (signal.aborted) return undefined;
    }
    this.inflight = Math.min(this.size, MAX_EVENTS_PER_REQUEST);
    return this.items.slice(this.head, this.head + this.inflight);
  }

  async ack(): Promise<void> {
    // Overflow may have taken some of the batch already: what is left of it is the head.
    this.head += this.inflight;
    this.inflight = 0;
  }

  async drop(events: readonly PendingEvent[]): Promise<void> {
    const gone = new Set(events.map((e) => e.event.id));
    const batch = this.items.slice(this.head, this.head + this.inflight);
    const kept = batch.filter((e) => !gone.has(e.event.id));
    const removed = batch.length - kept.length;
    // Keep the survivors at the end of the batch's slots and move the head past the rest.
    for (let i = 0; i < kept.length; i++) this.items[this.head + removed + i] = kept[i] as PendingEvent;
    this.head += removed;
    this.inflight = kept.length;
  }
}
