// #region setup
import { CastServer } from '@cast/server-sdk';

/** Your events: name → payload. `publish` checks both at compile time. */
export type Events = {
  'order.created': { orderId: string; total: number; currency: string };
  'status.changed': { status: 'packed' | 'shipped' | 'delivered'; trackingUrl?: string };
  notification: { message: string };
};

// Left out, apiKey and baseUrl are read from CAST_API_KEY and CAST_URL.
export const cast = new CastServer<Events>({
  apiKey: process.env.CAST_API_KEY,
  baseUrl: process.env.CAST_URL ?? 'http://127.0.0.1:8080',
});
// #endregion setup
