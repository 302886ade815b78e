import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_PATTERN,
  isReservedEventName,
  isValidChannel,
  isValidEventName,
  isValidPattern,
  isValidUserId,
  RESERVED_EVENT_NAMES,
} from './names.js';

const CHANNEL_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:@=+';
const EVENT_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:';

const channelArb = fc.string({ unit: fc.constantFrom(...CHANNEL_CHARS), minLength: 1, maxLength: 128 });
const eventArb = fc
  .tuple(
    fc.constantFrom(...EVENT_CHARS.replace(/[.-]/g, '')),
    fc.string({ unit: fc.constantFrom(...EVENT_CHARS), maxLength: 127 }),
  )
  .map(([first, rest]) => first + rest);

describe('channel names', () => {
  it('accepts the channel patterns the seed uses', () => {
    for (const ch of [
      'orders',
      'notifications',
      'user:user_123',
      'order:abc123',
      'session:3fa85f64-5717-4562-b3fc-2c963f66afa6',
      'announcements',
    ]) {
      expect(isValidChannel(ch), ch).toBe(true);
    }
  });

  it('accepts every string of 1-128 allowed characters', () => {
    fc.assert(fc.property(channelArb, (ch) => isValidChannel(ch)));
  });

  it('refuses any string holding a character outside the grammar', () => {
    const bad = fc.string({ minLength: 1, maxLength: 1 }).filter((c) => !CHANNEL_CHARS.includes(c));
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...CHANNEL_CHARS), maxLength: 60 }),
        bad,
        fc.string({ unit: fc.constantFrom(...CHANNEL_CHARS), maxLength: 60 }),
        (a, c, b) => {
          expect(isValidChannel(a + c + b)).toBe(false);
        },
      ),
    );
  });

  it('refuses the empty name, names over 128 characters, wildcards, lists, slashes and line breaks', () => {
    for (const ch of ['', 'a'.repeat(129), 'orders*', 'a,b', 'a/b', 'a b', 'a\nb', 'a\rb', 'a\0b']) {
      expect(isValidChannel(ch), JSON.stringify(ch)).toBe(false);
    }
    expect(isValidChannel('a'.repeat(128))).toBe(true);
    expect(CHANNEL_PATTERN.test('orders')).toBe(true);
  });

  it('refuses non-strings', () => {
    for (const v of [undefined, null, 1, {}, ['orders']]) expect(isValidChannel(v)).toBe(false);
  });
});

describe('event names', () => {
  it('accepts names such as order.created and status.changed', () => {
    for (const e of [
      'order.created',
      'notification',
      'status.changed',
      'ticket.comment.added',
      'a',
      'x:y',
      '_private',
    ]) {
      expect(isValidEventName(e), e).toBe(true);
    }
  });

  it('accepts every generated valid name', () => {
    fc.assert(fc.property(eventArb, (e) => isValidEventName(e)));
  });

  it('never accepts a name holding CR, LF or NUL anywhere', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 60 }),
        fc.constantFrom('\r', '\n', '\r\n', '\0'),
        fc.string({ maxLength: 60 }),
        (a, brk, b) => {
          expect(isValidEventName(a + brk + b)).toBe(false);
        },
      ),
    );
  });

  it('refuses leading dots or dashes, spaces, wildcards and over-long names', () => {
    for (const e of ['', '.a', '-a', 'a b', 'a*', 'ticket.*', 'a,b', 'a/b', 'a'.repeat(129)]) {
      expect(isValidEventName(e), JSON.stringify(e)).toBe(false);
    }
    expect(isValidEventName('a'.repeat(128))).toBe(true);
  });

  it('marks exactly the names the server sends itself as reserved', () => {
    expect([...RESERVED_EVENT_NAMES].sort()).toEqual([
      'connected',
      'disconnected',
      'error',
      'expired',
      'presence.join',
      'presence.leave',
      'presence.sync',
      'revoked',
    ]);
    for (const n of RESERVED_EVENT_NAMES) expect(isReservedEventName(n)).toBe(true);
    fc.assert(
      fc.property(eventArb, (e) => isReservedEventName(e) === (RESERVED_EVENT_NAMES as readonly string[]).includes(e)),
    );
    expect(isReservedEventName('Connected')).toBe(false);
  });
});

describe('type filter patterns', () => {
  it('accepts "*", exact names and prefix.* for any valid name', () => {
    expect(isValidPattern('*')).toBe(true);
    fc.assert(fc.property(eventArb, (e) => isValidPattern(e) && isValidPattern(`${e}.*`)));
  });

  it('refuses partial wildcards and invalid prefixes', () => {
    for (const p of ['ticket*', '*.created', 'ticket.*.x', '.*', '**', '', 'a b.*', 'a\n.*', 5]) {
      expect(isValidPattern(p), JSON.stringify(p)).toBe(false);
    }
  });
});

describe('user ids', () => {
  it('accepts 1-256 characters of text, including non-ASCII', () => {
    for (const id of ['u', 'user_123', 'Zoë Müller', 'ユーザー', '😀', '\u00a0x', 'x'.repeat(256)]) {
      expect(isValidUserId(id), JSON.stringify(id)).toBe(true);
    }
  });

  it('refuses every control character, C0, DEL and C1 (U+0080-U+009F)', () => {
    for (let code = 0; code <= 0x9f; code++) {
      const control = code < 0x20 || code >= 0x7f;
      expect(isValidUserId(`u${String.fromCharCode(code)}1`), code.toString(16)).toBe(!control);
    }
    for (const id of ['', 'x'.repeat(257), 5, null]) expect(isValidUserId(id), JSON.stringify(id)).toBe(false);
  });
});
