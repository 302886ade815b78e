import { type ConnectionState, type Realtime, type RealtimeOptions, createRealtime } from '@cast/realtime-client';
import { useEffect, useState } from 'react';

/**
 * One realtime client for the lifetime of a component: created on mount,
 * destroyed on unmount, with its connection state as React state.
 */
export function useRealtime(options: RealtimeOptions): { realtime: Realtime | undefined; state: ConnectionState } {
  const [realtime, setRealtime] = useState<Realtime>();
  const [state, setState] = useState<ConnectionState>('connecting');
  const { url, token } = options;
  useEffect(() => {
    const client = createRealtime(options);
    setRealtime(client);
    setState(client.state);
    const off = client.onStateChange((next) => setState(next));
    return () => {
      off();
      client.destroy();
    };
    // A new client only when the server or the token source changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url, token]);
  return { realtime, state };
}
