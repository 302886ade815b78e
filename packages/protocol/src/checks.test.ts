import { describe, expect, it } from 'vitest';
import {
  channelError,
  checkChannel,
  checkEventName,
  checkIdempotencyKey,
  checkUserId,
  eventNameError,
  idempotencyKeyError,
  patternError,
  userIdError,
} from './checks.js';
import { CastError } from './errors.js';

/** The code and message of what `fn` throws. */
function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CastError);
    const { code, message } = error as CastError;
    return { code, message };
  }
  throw new Error('did not throw');
}

describe('channel names', () => {
  it('passes a valid name through', () => {
    expect(channelError('user:user_123')).toBeUndefined();
    expect(checkChannel('user:user_123')).toBe('user:user_123');
  });

  it('says what a channel may hold, with the 400 code', () => {
    const error = channelError('a b');
    expect(error?.code).toBe('INVALID_CHANNEL');
    expect(error?.status).toBe(400);
    expect(error?.message).toBe('"a b" is not a valid channel: use 1-128 letters, digits and _ - . : @ = +.');
  });

  it('names the field when the value is absent or not a string', () => {
    expect(thrown(() => checkChannel(undefined))).toEqual({ code: 'BAD_REQUEST', message: '"channel" is required.' });
    expect(thrown(() => checkChannel(7, 'channels[2]'))).toEqual({
      code: 'BAD_REQUEST',
      message: '"channels[2]" must be a string.',
    });
  });

  it('quotes at most 140 characters of a huge value', () => {
    const message = channelError('x'.repeat(10_000))?.message ?? '';
    expect(message.length).toBeLessThan(220);
    expect(message).toContain(`"${'x'.repeat(140)}"`);
  });

  it('throws exactly the error it would return', () => {
    for (const bad of ['a b', 'a/b', '', 'a'.repeat(129), null, 1]) {
      const returned = channelError(bad);
      expect(thrown(() => checkChannel(bad))).toEqual({ code: returned?.code, message: returned?.message });
    }
  });
});

describe('event names', () => {
  it('passes a valid name through', () => {
    expect(eventNameError('order.created')).toBeUndefined();
    expect(checkEventName('order.created')).toBe('order.created');
  });

  it('says what an event name may hold', () => {
    expect(thrown(() => checkEventName('.hidden'))).toEqual({
      code: 'INVALID_EVENT_NAME',
      message: '".hidden" is not a valid event name: use 1-128 letters, digits and _ - . : (not starting with . or -).',
    });
    expect(eventNameError('x\nevent: connected')?.code).toBe('INVALID_EVENT_NAME');
  });

  it('refuses the names the server sends itself, listing them', () => {
    const error = eventNameError('presence.join');
    expect(error?.code).toBe('RESERVED_EVENT_NAME');
    expect(error?.message).toMatch(/^"presence\.join" is reserved for the server's own events \(connected, expired, /);
  });

  it('names its field (the event bus calls it topic)', () => {
    expect(thrown(() => checkEventName(undefined, 'topic')).message).toBe('"topic" is required.');
  });
});

describe('type filters', () => {
  it('accepts *, names and prefix.* and refuses the rest with INVALID_FILTER', () => {
    for (const ok of ['*', 'ticket.created', 'ticket.*']) expect(patternError(ok)).toBeUndefined();
    const error = patternError('ticket*');
    expect(error?.code).toBe('INVALID_FILTER');
    expect(error?.message).toBe('"ticket*" is not a valid type filter: use "*", "prefix.*" or an event name.');
  });
});

describe('optional fields', () => {
  it('lets an absent user id or idempotency key pass', () => {
    for (const absent of [undefined, null]) {
      expect(userIdError(absent)).toBeUndefined();
      expect(checkUserId(absent)).toBeUndefined();
      expect(idempotencyKeyError(absent)).toBeUndefined();
      expect(checkIdempotencyKey(absent)).toBeUndefined();
    }
    expect(checkUserId('user_123')).toBe('user_123');
    expect(checkIdempotencyKey('order-1')).toBe('order-1');
  });

  it('refuses a bad user id or idempotency key with BAD_REQUEST and the rule', () => {
    expect(thrown(() => checkUserId('a\nb'))).toEqual({
      code: 'BAD_REQUEST',
      message: '"userId" must be a string of 1-256 characters without control characters.',
    });
    expect(userIdError('')?.code).toBe('BAD_REQUEST');
    expect(thrown(() => checkIdempotencyKey('has space'))).toEqual({
      code: 'BAD_REQUEST',
      message: 'The idempotency key must be 1-255 visible ASCII characters.',
    });
    expect(idempotencyKeyError('')?.code).toBe('BAD_REQUEST');
  });
});
