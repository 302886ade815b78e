import { RealtimeProvider, useConnectionState, useRealtimeEvent } from '@cast/react';
import type { RealtimeEvent } from '@cast/realtime-client';
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';

/** Asks the example's backend for a stream token (called before each connection). */
async function fetchToken(): Promise<string> {
  const res = await fetch('/api/token', { method: 'POST' });
  if (!res.ok) throw new Error(`token request failed: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

function Events() {
  const state = useConnectionState();
  const [events, setEvents] = useState<RealtimeEvent[]>([]);
  // Every event of the stream's channels, newest first.
  useRealtimeEvent('*', (event) => setEvents((list) => [event, ...list].slice(0, 50)));

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
const castUrl = root.dataset.castUrl ?? 'http://127.0.0.1:8080';
// StrictMode runs effects twice in development; the provider still opens one stream.
createRoot(root).render(
  <StrictMode>
    <RealtimeProvider options={{ url: castUrl, token: fetchToken }}>
      <Events />
    </RealtimeProvider>
  </StrictMode>,
);
