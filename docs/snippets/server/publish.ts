import { isCastError } from '@cast/server-sdk';
import type { CastServer } from '@cast/server-sdk';
import type { Events } from './cast.js';

/** Publishes one event, as the guide shows. */
export async function publishOne(cast: CastServer<Events>) {
  // #region publish
  const { messageId, eventId, delivered } = await cast.publish({
    channel: 'orders',
    event: 'order.created',
    data: { orderId: 'abc123', total: 4999, currency: 'AOA' },
  });
  console.log(`${messageId} is ${eventId}, delivered to ${delivered} connections`);
  // #endregion publish
  return { messageId, eventId, delivered };
}

/** Publishes a batch, as the guide shows. */
export async function publishMany(cast: CastServer<Events>) {
  // #region batch
  const results = await cast.publishBatch([
    { channel: 'order:abc123', event: 'status.changed', data: { status: 'packed' } },
    { channel: 'user:user_123', event: 'notification', data: { message: 'Your order is packed' } },
  ]);
  // One result per event, in order; the whole batch is refused if one event is invalid.
  // #endregion batch
  return results;
}

/** Publishes with an idempotency key twice; the second call is a duplicate. */
export async function publishOnce(cast: CastServer<Events>) {
  // #region idempotency
  const shipped = {
    channel: 'order:abc123',
    event: 'status.changed',
    data: { status: 'shipped', trackingUrl: 'https://carrier.example/track/abc123' },
    // Derived from your own state, so a retry after a crash sends the same key.
    idempotencyKey: 'order-abc123-shipped',
  } as const;
  const first = await cast.publish(shipped);
  const again = await cast.publish(shipped); // answered from memory: again.duplicate === true
  // #endregion idempotency
  return { first, again };
}

/** Shows how to tell errors apart. */
export async function publishCarefully(cast: CastServer<Events>, channel: string) {
  // #region errors
  try {
    await cast.publish({ channel, event: 'notification', data: { message: 'Hello' } }, { timeoutMs: 2000 });
  } catch (err) {
    if (!isCastError(err)) throw err;
    if (err.code === 'INVALID_CHANNEL') return 'fix the channel name';
    if (err.retryable) return `retry later (${err.code}, after ${err.retryAfter ?? 1} s)`;
    throw err; // INVALID_API_KEY, PAYLOAD_TOO_LARGE, ...: a bug to fix, not to retry
  }
  // #endregion errors
  return 'sent';
}
