import type { RealtimeEvent } from '@cast/realtime-client';
// #region many-tabs
import { createSharedRealtime } from '@cast/realtime-client/shared';
// #endregion many-tabs
import type { SharedRealtime } from '@cast/realtime-client/shared';

/** What the page around the snippet provides. */
export interface Tab {
  castUrl: string;
  fetchToken: () => Promise<string>;
  show: (event: RealtimeEvent) => void;
}

/** Opens the client as the guide shows, in one tab; returns it. */
export function shareAcrossTabs({ castUrl, fetchToken, show }: Tab): SharedRealtime {
  // #region many-tabs
  // Every tab of the origin calls this; one of them holds the stream for all.
  const realtime = createSharedRealtime({ url: castUrl, token: fetchToken });
  realtime.on('order.*', (event) => show(event));
  // #endregion many-tabs
  // #region own-stream
  // This tab's token grants a channel the shared stream lacks: it holds a stream of its own.
  realtime.onOwnStream((missing) => console.warn('Cast: one more stream, for', missing));
  // #endregion own-stream
  return realtime;
}
