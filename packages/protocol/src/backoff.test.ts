import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay, full jitter (the default)', () => {
  const opts = { floorMs: 1000, capMs: 30_000 };

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

  // The server SDK's retry schedule (250 ms doubling, 5 s cap).
  it('draws from [0, floor * 2^attempt) with the SDK schedule', () => {
    const sdk = { floorMs: 250, capMs: 5000 };
    expect(backoffDelay(0, sdk, () => 0)).toBe(0);
    expect(backoffDelay(0, sdk, () => 0.999)).toBe(249);
    expect(backoffDelay(3, sdk, () => 0.5)).toBe(1000);
    expect(backoffDelay(1, { ...sdk, floorMs: 100 }, () => 0.5)).toBe(100);
    expect(backoffDelay(40, sdk, () => 0.999999)).toBeLessThan(5000);
    expect(backoffDelay(40, { ...sdk, capMs: 1000 }, () => 0.5)).toBe(500);
  });
});

describe('backoffDelay, equal jitter', () => {
  const feeds = { floorMs: 250, capMs: 5000, jitter: 'equal' } as const;

  it('doubles from the floor and takes off at most half at random', () => {
    expect(backoffDelay(0, feeds, () => 0)).toBe(125);
    expect(backoffDelay(0, feeds, () => 0.999999)).toBe(250);
    expect(backoffDelay(1, feeds, () => 0)).toBe(250);
    expect(backoffDelay(3, feeds, () => 0.5)).toBe(1500);
  });

  it('never waits longer than the cap, however many attempts failed', () => {
    for (const attempt of [5, 10, 50, 1000]) {
      const d = backoffDelay(attempt, feeds, () => 0.999999);
      expect(d).toBeLessThanOrEqual(5000);
      expect(d).toBeGreaterThanOrEqual(4999);
    }
    expect(backoffDelay(1000, { ...feeds, capMs: 800 }, () => 0)).toBe(400);
  });

  it('treats a negative attempt as the first', () => {
    expect(backoffDelay(-3, feeds, () => 0)).toBe(125);
  });
});

describe('backoffDelay, no jitter', () => {
  it('is the window itself, doubling to the cap, and never draws', () => {
    const never = () => {
      throw new Error('drew a random number');
    };
    const redis = { floorMs: 50, capMs: 1000, jitter: 'none' } as const;
    const delays = [1, 2, 3, 4, 5, 6, 100].map((attempt) => backoffDelay(attempt, redis, never));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });
});
