import { describe, expect, it } from 'vitest';
import { reconnectDelay } from './backoff.js';

describe('reconnectDelay', () => {
  it('doubles from the base and takes off at most half at random', () => {
    expect(reconnectDelay(0, { random: () => 0 })).toBe(125);
    expect(reconnectDelay(0, { random: () => 0.999999 })).toBe(250);
    expect(reconnectDelay(1, { random: () => 0 })).toBe(250);
    expect(reconnectDelay(3, { random: () => 0.5 })).toBe(1500);
  });

  it('never waits longer than the cap, however many attempts failed', () => {
    for (const attempt of [5, 10, 50, 1000]) {
      const d = reconnectDelay(attempt, { random: () => 0.999999 });
      expect(d).toBeLessThanOrEqual(5000);
      expect(d).toBeGreaterThanOrEqual(4999);
    }
    expect(reconnectDelay(1000, { maxMs: 800, random: () => 0 })).toBe(400);
  });

  it('treats a negative attempt as the first', () => {
    expect(reconnectDelay(-3, { random: () => 0 })).toBe(125);
  });
});
