import { createHash } from 'node:crypto';
import { CastError, type EventPosition } from '@cast/protocol';
import type { PublishInput } from './types.js';

/**
 * What a broker remembers of a publish with an idempotency key: the answer,
 * never the payload. The fingerprint tells a retry (same request) from a
 * reuse of the key for another event.
 */
export interface IdempotencyAnswer {
  position: EventPosition;
  messageId: string;
  channel: string;
  event: string;
  delivered: number;
  fingerprint: string;
}

/**
 * A short digest of what a publish asks for (channel, event name, data), for
 * comparing a request with the one that first used its idempotency key.
 *
 * @param input - the publish
 * @returns 22 base64url characters
 * @example
 * ```ts
 * fingerprint({ channel: 'orders', event: 'order.created', data: '{"id":1}' }) // 'q3J…'
 * ```
 */
export function fingerprint(input: Pick<PublishInput, 'channel' | 'event' | 'data'>): string {
  return createHash('sha256')
    .update(input.channel)
    .update('\u0000')
    .update(input.event)
    .update('\u0000')
    .update(input.data)
    .digest('base64url')
    .slice(0, 22);
}

/**
 * The error for an idempotency key that comes back with a different request.
 *
 * @example
 * ```ts
 * throw reusedKey('order-42')
 * ```
 */
export function reusedKey(key: string): CastError {
  return new CastError(
    'IDEMPOTENCY_KEY_REUSED',
    `Idempotency key ${JSON.stringify(key.slice(0, 140))} was already used for a different event (channel, event or data differ): use a new key for a new event.`,
  );
}
