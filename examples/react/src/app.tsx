import type { RealtimeEvent } from '@cast/realtime-client';
import { useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useRealtime } from './use-realtime.js';

/** Asks the example's backend for a stream token (a stable function: one client). */
async function fetchToken(): Promise<string> {
  const res = await fetch('/api/token', { method: 'POST' });
  if (!res.ok) throw new Error(`token request failed: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

function App({ castUrl }: { castUrl: string }) {
  const { realtime, state } = useRealtime({ url: castUrl, token: fetchToken });
  const [events, setEvents] = useState<RealtimeEvent[]>([]);

  useEffect(() => {
    if (!realtime) return;
    // Every event of the stream's channels, newest first.
    return realtime.onAny((event) => setEvents((list) => [event, ...list].slice(0, 50)));
  }, [realtime]);

  return (
    <main>
      <h1>Live events</h1>
      <p>
        Stream: <strong data-testid="state">{state}</strong>
      </p>
      <button type="button" onClick={() => void fetch('/api/orders', { method: 'POST' })}>
        Publish a test order
      </button>
      <ul data-testid="events">
        {events.map((event) => (
          <li key={event.id}>
            <code>{event.type}</code> on <code>{event.channel}</code>: {JSON.stringify(event.data)}
          </li>
        ))}
      </ul>
    </main>
  );
}

const root = document.getElementById('root') as HTMLElement;
createRoot(root).render(<App castUrl={root.dataset.castUrl ?? 'http://127.0.0.1:8080'} />);
