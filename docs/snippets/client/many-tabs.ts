import type { Realtime, RealtimeEvent } from '@cast/realtime-client';
// #region many-tabs
import { createSharedRealtime } from '@cast/realtime-client/shared';
// #endregion many-tabs

/** What the page around the snippet provides. */
export interface Tab {
  castUrl: string;
  fetchToken: () => Promise<string>;
  show: (event: RealtimeEvent) => void;
}

/** Opens the client as the guide shows, in one tab; returns it. */
export function shareAcrossTabs({ castUrl, fetchToken, show }: Tab): Realtime {
  // #region many-tabs
  // Every tab of the origin calls this; one of them holds the stream for all.
  const realtime = createSharedRealtime({ url: castUrl, token: fetchToken });
  realtime.on('order.*', (event) => show(event));
  // #endregion many-tabs
  return realtime;
}
