import type { ConnectionState, EventFor, PresenceMember } from '@cast/realtime-client';
import { useCallback, useEffect, useRef, useSyncExternalStore } from 'react';
import { useRealtime } from './provider.js';
import type { RegisteredEvents } from './register.js';

/**
 * Calls `handler` for every event whose name matches `pattern` (an exact name,
 * `prefix.*` or `*`), from mount to unmount. The latest `handler` is called,
 * so an inline function does not resubscribe on every render; a new `pattern`
 * does.
 *
 * @param pattern - the event name or pattern
 * @param handler - receives each matching event, typed by the registered event map
 * @example
 * ```tsx
 * useRealtimeEvent('order.*', (event) => setOrders((list) => [event.data, ...list]))
 * ```
 */
export function useRealtimeEvent<P extends (keyof RegisteredEvents & string) | `${string}.*` | '*' | (string & {})>(
  pattern: P,
  handler: (event: EventFor<RegisteredEvents, P>) => void,
): void {
  const realtime = useRealtime();
  const latest = useRef(handler);
  useEffect(() => {
    latest.current = handler;
  });
  useEffect(() => {
    if (!realtime) return;
    return realtime.on(pattern, (event) => latest.current(event));
  }, [realtime, pattern]);
}

/**
 * The client's connection state, re-rendering on every change:
 * `disconnected` on the server and before the client exists.
 *
 * @returns the current state
 * @example
 * ```tsx
 * const state = useConnectionState()
 * return <span>{state === 'connected' ? 'Live' : 'Offline'}</span>
 * ```
 */
export function useConnectionState(): ConnectionState {
  const realtime = useRealtime();
  const subscribe = useCallback(
    (onChange: () => void) => (realtime ? realtime.onStateChange(onChange) : () => {}),
    [realtime],
  );
  return useSyncExternalStore(
    subscribe,
    () => realtime?.state ?? 'disconnected',
    () => 'disconnected',
  );
}

const NOBODY: readonly PresenceMember[] = Object.freeze([]);

/**
 * The members present on a channel of the stream, live (see
 * `realtime.presence()`: the stream's token needs `presence: true`). An empty
 * list on the server and before the first `presence.sync`.
 *
 * @param channel - the channel
 * @returns its members; a new array after every change
 * @example
 * ```tsx
 * const members = usePresence('room:1')
 * return <ul>{members.map((m) => <li key={m.userId}>{m.userId}</li>)}</ul>
 * ```
 */
export function usePresence(channel: string): readonly PresenceMember[] {
  const realtime = useRealtime();
  const view = realtime?.presence(channel);
  const subscribe = useCallback((onChange: () => void) => (view ? view.onChange(onChange) : () => {}), [view]);
  return useSyncExternalStore(
    subscribe,
    () => view?.members ?? NOBODY,
    () => NOBODY,
  );
}
