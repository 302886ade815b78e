/** Something that ends at a time: its place in an {@link ExpiryQueue} is kept on it. */
export interface Expiring {
  /** When it ends, ms since the epoch. */
  readonly expiresAt: number;
  /** Its index in the queue's heap, -1 when not queued. Owned by the queue. */
  expiryIndex: number;
}

/**
 * A min-heap of expiring items by `expiresAt`, indexed so that an item can be
 * removed in O(log n) when it ends early. One queue and one timer serve every
 * stream of a hub, instead of a timer and a closure per stream.
 *
 * @example
 * ```ts
 * const queue = new ExpiryQueue<Conn>();
 * queue.add(conn);
 * while (queue.peek() && queue.peek()!.expiresAt <= Date.now()) expire(queue.pop()!);
 * ```
 */
export class ExpiryQueue<T extends Expiring> {
  private readonly heap: T[] = [];

  /** Items queued. */
  get size(): number {
    return this.heap.length;
  }

  /** The item that expires first, if any. */
  peek(): T | undefined {
    return this.heap[0];
  }

  /** Queues an item (once; adding a queued item again is a no-op). */
  add(item: T): void {
    if (item.expiryIndex >= 0) return;
    item.expiryIndex = this.heap.length;
    this.heap.push(item);
    this.up(item.expiryIndex);
  }

  /** Takes out the item that expires first. */
  pop(): T | undefined {
    const top = this.heap[0];
    if (top) this.remove(top);
    return top;
  }

  /** Takes an item out; a no-op when it is not queued. */
  remove(item: T): void {
    const i = item.expiryIndex;
    if (i < 0 || this.heap[i] !== item) return;
    item.expiryIndex = -1;
    const last = this.heap.pop() as T;
    if (last === item) return;
    this.heap[i] = last;
    last.expiryIndex = i;
    this.down(i);
    this.up(last.expiryIndex);
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i] as T;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as T;
      if (p.expiresAt <= item.expiresAt) break;
      heap[i] = p;
      p.expiryIndex = i;
      i = parent;
    }
    heap[i] = item;
    item.expiryIndex = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i] as T;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && (heap[right] as T).expiresAt < (heap[child] as T).expiresAt) child = right;
      const c = heap[child] as T;
      if (c.expiresAt >= item.expiresAt) break;
      heap[i] = c;
      c.expiryIndex = i;
      i = child;
    }
    heap[i] = item;
    item.expiryIndex = i;
  }
}
