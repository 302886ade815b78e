import { describe, expect, it } from 'vitest';
import { backoffDelay } from './index.js';

const opts = { floorMs: 1000, capMs: 30_000 };

describe('backoffDelay', () => {
  it('doubles the window per attempt up to the cap (top of the jitter range)', () => {
    const top = () => 0.999_999;
    const windows = Array.from({ length: 8 }, (_, attempt) => backoffDelay(attempt, opts, top));
    expect(windows).toEqual([999, 1999, 3999, 7999, 15_999, 29_999, 29_999, 29_999]);
  });

  it('draws uniformly in the whole window (full jitter), down to zero', () => {
    expect(backoffDelay(2, opts, () => 0)).toBe(0);
    expect(backoffDelay(2, opts, () => 0.5)).toBe(2000);
    expect(backoffDelay(2, opts, () => 0.25)).toBe(1000);
  });

  it('stays within [0, window) for real random draws', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const delay = backoffDelay(attempt, opts);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(Math.min(30_000, 1000 * 2 ** attempt));
    }
  });

  it('stays finite at the cap for huge attempt counts', () => {
    expect(backoffDelay(10_000, opts, () => 0.5)).toBe(15_000);
  });

  it('uses the floor as the first window', () => {
    expect(backoffDelay(0, { floorMs: 250, capMs: 1000 }, () => 0.999)).toBe(249);
  });
});
