import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMatcher, matchesPattern, parsePatternList } from './wildcard.js';

const segment = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_'),
  minLength: 1,
  maxLength: 8,
});
const nameArb = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('.'));
const patternArb = fc.oneof(
  fc.constant('*'),
  nameArb,
  nameArb.map((n) => `${n}.*`),
);

/** A matcher written the slow, obvious way, to check the compiled one against. */
function reference(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) {
    const base = pattern.slice(0, -2).split('.');
    const parts = name.split('.');
    return parts.length > base.length && base.every((p, i) => parts[i] === p);
  }
  return pattern === name;
}

describe('matchesPattern', () => {
  it('matches ticket.* against ticket.created and deeper names, but not ticket or tickets.created', () => {
    expect(matchesPattern('ticket.*', 'ticket.created')).toBe(true);
    expect(matchesPattern('ticket.*', 'ticket.comment.added')).toBe(true);
    expect(matchesPattern('ticket.*', 'ticket')).toBe(false);
    expect(matchesPattern('ticket.*', 'tickets.created')).toBe(false);
    expect(matchesPattern('ticket.*', 'xticket.created')).toBe(false);
  });

  it('matches * against every name and exact names only against themselves', () => {
    fc.assert(fc.property(nameArb, (n) => matchesPattern('*', n)));
    fc.assert(fc.property(nameArb, nameArb, (a, b) => matchesPattern(a, b) === (a === b)));
  });

  it('agrees with a segment-by-segment reference', () => {
    fc.assert(fc.property(patternArb, nameArb, (p, n) => matchesPattern(p, n) === reference(p, n)));
  });

  it('matches every name built from the prefix', () => {
    fc.assert(fc.property(nameArb, nameArb, (prefix, rest) => matchesPattern(`${prefix}.*`, `${prefix}.${rest}`)));
  });
});

describe('createMatcher', () => {
  it('matches a name when any of the patterns does', () => {
    fc.assert(
      fc.property(fc.array(patternArb, { minLength: 1, maxLength: 5 }), nameArb, (patterns, n) => {
        expect(createMatcher(patterns)(n)).toBe(patterns.some((p) => matchesPattern(p, n)));
      }),
    );
  });

  it('matches everything with an empty list (no filter)', () => {
    fc.assert(fc.property(nameArb, (n) => createMatcher([])(n)));
  });

  it('refuses invalid patterns with a TypeError', () => {
    expect(() => createMatcher(['ticket*'])).toThrow(TypeError);
    expect(() => createMatcher(['*', 'a b'])).toThrow(TypeError);
  });
});

describe('parsePatternList', () => {
  it('splits on commas, trims and drops blanks', () => {
    expect(parsePatternList(' order.created , ticket.* ,, ')).toEqual(['order.created', 'ticket.*']);
    expect(parsePatternList('')).toEqual([]);
  });

  it('round-trips any list of patterns joined by commas', () => {
    fc.assert(
      fc.property(fc.array(patternArb, { maxLength: 6 }), (ps) => {
        expect(parsePatternList(ps.join(','))).toEqual(ps);
      }),
    );
  });
});
