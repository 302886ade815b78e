import { createRealtime } from '@cast/realtime-client';
import type { Realtime } from '@cast/realtime-client';

/** Where the app keeps the last id between page loads. */
export interface Store {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Resumes from a saved id and refetches when the server could not replay. */
export function resumable(
  castUrl: string,
  token: () => Promise<string>,
  storage: Store,
  refetch: () => void,
): Realtime {
  // #region resume
  const saved = storage.getItem('cast:lastEventId') ?? undefined;
  const realtime = createRealtime({ url: castUrl, token, lastEventId: saved });

  realtime.onAny((event) => {
    if (event.id) storage.setItem('cast:lastEventId', event.id);
  });
  realtime.onResume(({ recovered }) => {
    // false: the server no longer holds every event after our id (too old, or it
    // restarted). Nothing more will be replayed: reload the state from your API.
    if (!recovered) refetch();
  });
  // #endregion resume
  return realtime;
}
