import { createRealtime } from '@cast/realtime-client';
import type { RealtimeEvent } from '@cast/realtime-client';

/** What the page around the snippet provides. */
export interface Page {
  castUrl: string;
  fetchToken: () => Promise<string>;
  show: (event: RealtimeEvent) => void;
  setLive: (live: boolean) => void;
}

/** Subscribes as the guide shows; returns the client and the unsubscribe functions. */
export function subscribe({ castUrl, fetchToken, show, setLive }: Page) {
  // #region subscribe
  const realtime = createRealtime({ url: castUrl, token: fetchToken });

  // One event name...
  const offCreated = realtime.on('order.created', (event) => {
    console.log('new order', event.data, 'on', event.channel);
  });
  // ...a family of names, or '*' for all of them.
  const offStatus = realtime.on('status.*', (event) => show(event));
  realtime.onAny((event) => console.debug(event.type, event.id));

  realtime.onConnectionChange((connected) => setLive(connected));
  realtime.onError((err) => console.warn('cast', err.code, err.message));
  // #endregion subscribe
  return { realtime, offCreated, offStatus };
}

/** Typed events. */
export function typedSubscribe(castUrl: string, token: string, onTotal: (total: number) => void) {
  // #region typed
  type Events = {
    'order.created': { orderId: string; total: number };
    'order.cancelled': { orderId: string; reason: string };
  };
  const realtime = createRealtime<Events>({ url: castUrl, token, types: ['order.*'] });
  realtime.on('order.created', (event) => onTotal(event.data.total)); // data is typed
  // #endregion typed
  return realtime;
}
