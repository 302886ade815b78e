import { channelError, eventNameError, idempotencyKeyError, userIdError } from '@cast/protocol';
import { describe, expect, it } from 'vitest';
import { checkPublishRequest, checkTokenRequest } from './validate.js';

/** The code and message `fn` throws. */
function thrown(fn: () => unknown): { code?: string; message?: string } {
  try {
    fn();
  } catch (error) {
    const { code, message } = error as { code: string; message: string };
    return { code, message };
  }
  return {};
}

const same = (error: { code: string; message: string } | undefined) => ({ code: error?.code, message: error?.message });

describe('local checks say what the server says', () => {
  it('a bad channel, event name, reserved name or idempotency key in a publish', () => {
    const base = { channel: 'orders', event: 'order.created', data: 1 };
    expect(thrown(() => checkPublishRequest({ ...base, channel: 'a b' }))).toEqual(same(channelError('a b')));
    expect(thrown(() => checkPublishRequest({ ...base, event: '.x' }))).toEqual(same(eventNameError('.x')));
    expect(thrown(() => checkPublishRequest({ ...base, event: 'connected' }))).toEqual(
      same(eventNameError('connected')),
    );
    expect(thrown(() => checkPublishRequest({ ...base, idempotencyKey: 'a b' }))).toEqual(
      same(idempotencyKeyError('a b')),
    );
  });

  it('a bad channel (named by its index) or user id in a token request', () => {
    expect(thrown(() => checkTokenRequest({ channels: ['ok', 'not ok'] }))).toEqual(
      same(channelError('not ok', 'channels[1]')),
    );
    expect(thrown(() => checkTokenRequest({ channels: ['ok', 7 as unknown as string] })).message).toBe(
      '"channels[1]" must be a string.',
    );
    expect(thrown(() => checkTokenRequest({ channels: ['ok'], userId: 'a\nb' }))).toEqual(same(userIdError('a\nb')));
  });
});
