import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { comparePositions, formatPosition, formatWireId, parsePosition, parseWireId } from './event-id.js';

const posArb = fc.record({
  ms: fc.integer({ min: 0, max: 999_999_999_999_999 }),
  seq: fc.integer({ min: 0, max: 999_999 }),
});
const channelArb = fc.string({ unit: fc.constantFrom(...'abcxyz019_-.:@=+'), minLength: 1, maxLength: 30 });

describe('positions', () => {
  it('round-trips through formatPosition and parsePosition', () => {
    fc.assert(
      fc.property(posArb, (p) => {
        expect(parsePosition(formatPosition(p))).toEqual(p);
      }),
    );
  });

  it('refuses malformed positions', () => {
    for (const v of ['', '5', '5-', '-5', 'a-b', '5-0-1', '5-0/orders', ' 5-0', '1234567890123456-0']) {
      expect(parsePosition(v), v).toBeUndefined();
    }
  });

  it('orders by milliseconds, then by sequence', () => {
    fc.assert(
      fc.property(posArb, posArb, (a, b) => {
        const c = comparePositions(a, b);
        expect(Math.sign(c)).toBe(-Math.sign(comparePositions(b, a)) || 0);
        if (a.ms !== b.ms) expect(c < 0).toBe(a.ms < b.ms);
        else expect(Math.sign(c)).toBe(Math.sign(a.seq - b.seq));
      }),
    );
  });
});

describe('wire ids', () => {
  it('round-trips position and channel', () => {
    fc.assert(
      fc.property(posArb, channelArb, (p, ch) => {
        const wire = formatWireId(formatPosition(p), ch);
        expect(parseWireId(wire)).toEqual({ position: formatPosition(p), ms: p.ms, seq: p.seq, channel: ch });
      }),
    );
  });

  it('accepts a bare position, and surrounding blanks', () => {
    expect(parseWireId('5-0')).toEqual({ position: '5-0', ms: 5, seq: 0, channel: undefined });
    expect(parseWireId(' 5-1/orders ')).toEqual({ position: '5-1', ms: 5, seq: 1, channel: 'orders' });
  });

  it('refuses ids the server never sends', () => {
    for (const v of ['', 'abc', '5/orders', 'x-1/orders', '5-0orders']) expect(parseWireId(v), v).toBeUndefined();
  });
});
