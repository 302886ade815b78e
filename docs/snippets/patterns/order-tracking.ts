import { createRealtime } from '@cast/realtime-client';
import type { CastServer } from '@cast/server-sdk';
import type { Events } from '../server/cast.js';

/** The backend side: one channel per order, one event per step. */
export async function shipOrder(cast: CastServer<Events>, orderId: string) {
  // #region track
  async function orderStep(orderId: string, status: 'packed' | 'shipped' | 'delivered') {
    await cast.publish({
      channel: `order:${orderId}`,
      event: 'status.changed',
      data: { status },
      idempotencyKey: `order-${orderId}-${status}`,
    });
  }
  await orderStep(orderId, 'packed');
  await orderStep(orderId, 'shipped');
  // #endregion track
}

/** What the order page provides around the snippet. */
export interface OrderPage {
  castUrl: string;
  orderId: string;
  fetchToken: (orderId: string) => Promise<string>;
  render: (status: string) => void;
  reloadOrder: () => void;
}

/** The page side. */
export function watchOrder({ castUrl, orderId, fetchToken, render, reloadOrder }: OrderPage) {
  // #region page
  const realtime = createRealtime<Events>({
    url: castUrl,
    token: () => fetchToken(orderId), // your endpoint issues a token for `order:${orderId}`
    types: ['status.*'],
  });
  realtime.on('status.changed', (event) => render(event.data.status));
  realtime.onResume(({ recovered }) => {
    if (!recovered) reloadOrder();
  });
  // #endregion page
  return realtime;
}
