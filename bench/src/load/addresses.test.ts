import { describe, expect, it } from 'vitest';
import { sourceAddress } from './addresses.js';

describe('sourceAddress', () => {
  it('groups connections per address and moves on', () => {
    expect(sourceAddress(0)).toBe('127.1.1.1');
    expect(sourceAddress(63)).toBe('127.1.1.1');
    expect(sourceAddress(64)).toBe('127.1.1.2');
    expect(sourceAddress(250 * 64)).toBe('127.1.2.1');
    expect(sourceAddress(5, 1)).toBe('127.1.1.6');
  });

  it('stays inside 127.0.0.0/8 without .0 or .255 octets', () => {
    for (let i = 0; i < 2_000_000; i += 9973) {
      const octets = sourceAddress(i, 1).split('.').map(Number);
      expect(octets[0]).toBe(127);
      for (const o of octets.slice(1)) {
        expect(o).toBeGreaterThanOrEqual(1);
        expect(o).toBeLessThanOrEqual(250);
      }
    }
  });

  it('gives distinct addresses to distinct groups', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(sourceAddress(i, 1));
    expect(seen.size).toBe(20_000);
  });
});
