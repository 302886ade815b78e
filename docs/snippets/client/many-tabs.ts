import type { Realtime, RealtimeEvent } from '@cast/realtime-client';

/** The part of `navigator.locks` the snippet uses. */
export interface LockManagerLike {
  request(name: string, callback: () => Promise<void>): Promise<unknown>;
}

// #region many-tabs
/**
 * One stream for all the tabs of an origin: the tab holding the lock connects
 * and relays every event to the others over a BroadcastChannel. When it closes,
 * the lock passes to another tab, which connects and resumes.
 */
export function shareAcrossTabs(
  connect: () => Realtime,
  onEvent: (event: RealtimeEvent) => void,
  locks: LockManagerLike = navigator.locks,
): () => void {
  const relay = new BroadcastChannel('cast-events');
  relay.onmessage = (message: MessageEvent<RealtimeEvent>) => onEvent(message.data);
  let realtime: Realtime | undefined;
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  void locks.request('cast-leader', async () => {
    realtime = connect();
    realtime.onAny((event) => {
      onEvent(event);
      relay.postMessage(event);
    });
    await held; // keep the lock while this tab lives
  });
  return () => {
    realtime?.destroy();
    release();
    relay.close();
  };
}
// #endregion many-tabs
