import { describe, expect, it } from 'vitest';
import { overflowDrops } from './engine.js';

describe('overflowDrops', () => {
  it('drops nothing while the receivers hold no more than the bound together', () => {
    expect(overflowDrops([60, 40], 100)).toEqual([0, 0]);
    expect(overflowDrops([], 100)).toEqual([]);
  });

  it('drops from the receiver furthest behind first, leaving one that keeps up whole', () => {
    expect(overflowDrops([99, 2], 100)).toEqual([1, 0]);
    expect(overflowDrops([2, 99, 0], 100)).toEqual([0, 1, 0]);
    expect(overflowDrops([100, 10], 100)).toEqual([10, 0]);
  });

  it('cuts receivers equally once they are equally far behind, the excess exactly', () => {
    expect(overflowDrops([60, 60], 100)).toEqual([10, 10]);
    expect(overflowDrops([51, 51], 100)).toEqual([1, 1]);
    expect(overflowDrops([51, 50], 100)).toEqual([1, 0]);
    // Cut to 47 drops 56, one too many: the first of the cut receivers keeps one more.
    expect(overflowDrops([80, 70, 5], 100)).toEqual([32, 23, 0]);
    expect(overflowDrops([3, 3, 3], 4)).toEqual([1, 2, 2]);
  });

  it('never leaves more than the bound, nor drops more than the excess', () => {
    for (const lengths of [[7], [1, 1], [5, 0, 9], [100, 100, 100], [13, 29, 2, 40]])
      for (const max of [1, 3, 10, 50]) {
        const drops = overflowDrops(lengths, max);
        const total = lengths.reduce((n, l) => n + l, 0);
        const dropped = drops.reduce((n, d) => n + d, 0);
        expect(dropped).toBe(Math.max(0, total - max));
        drops.forEach((d, i) => expect(d).toBeLessThanOrEqual(lengths[i] as number));
      }
  });
});
