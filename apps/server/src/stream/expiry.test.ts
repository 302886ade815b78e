import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Expiring, ExpiryQueue } from './expiry.js';

const item = (expiresAt: number, name = String(expiresAt)): Expiring & { name: string } => ({
  expiresAt,
  expiryIndex: -1,
  name,
});

describe('ExpiryQueue', () => {
  it('pops items soonest first', () => {
    const q = new ExpiryQueue<ReturnType<typeof item>>();
    for (const t of [50, 10, 40, 10, 30, 20]) q.add(item(t));
    const out: number[] = [];
    for (let i = q.pop(); i; i = q.pop()) out.push(i.expiresAt);
    expect(out).toEqual([10, 10, 20, 30, 40, 50]);
    expect(q.size).toBe(0);
  });

  it('removes an item from the middle, and ignores items it does not hold', () => {
    const q = new ExpiryQueue<ReturnType<typeof item>>();
    const items = [30, 10, 20, 40].map((t) => item(t));
    for (const i of items) q.add(i);
    q.remove(items[2]!);
    q.remove(items[2]!);
    q.remove(item(5));
    expect(items[2]!.expiryIndex).toBe(-1);
    expect([q.pop(), q.pop(), q.pop(), q.pop()].map((i) => i?.expiresAt)).toEqual([10, 30, 40, undefined]);
  });

  it('adds an item once', () => {
    const q = new ExpiryQueue<ReturnType<typeof item>>();
    const a = item(1);
    q.add(a);
    q.add(a);
    expect(q.size).toBe(1);
  });

  it('keeps heap order through any mix of adds and removes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.boolean()), { maxLength: 60 }), (ops) => {
        const q = new ExpiryQueue<ReturnType<typeof item>>();
        const live: Array<ReturnType<typeof item>> = [];
        for (const [t, removeOne] of ops) {
          if (removeOne && live.length > 0) {
            const [gone] = live.splice(t % live.length, 1);
            q.remove(gone!);
          } else {
            const i = item(t);
            live.push(i);
            q.add(i);
          }
        }
        const out: number[] = [];
        for (let i = q.pop(); i; i = q.pop()) out.push(i.expiresAt);
        expect(out).toEqual(live.map((i) => i.expiresAt).sort((a, b) => a - b));
      }),
      { numRuns: 200 },
    );
  });
});
