import { patternError } from '@cast/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CastServer } from '../cast-server.js';
import { listen, type ListenedEvent } from './listen.js';

const BASE = 'http://cast.test';

/** One scripted answer of GET /push/stream. */
type StreamScript = { status: number; body?: string; keepOpen?: boolean; json?: unknown };

interface Harness {
  fetch: (input: string, init?: RequestInit) => Promise<Response>;
  streamRequests: Array<{ url: URL; headers: Headers }>;
  tokensIssued: () => number;
}

/** A fetch that answers tokens with `tok-<n>` and streams with the next script (then hangs open). */
function harness(scripts: StreamScript[]): Harness {
  let issued = 0;
  const streamRequests: Harness['streamRequests'] = [];
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input);
    if (url.pathname === '/push/tokens') {
      issued += 1;
      return Response.json({ token: `tok-${issued}`, expiresAt: '2030-01-01T00:00:00.000Z', channels: ['orders'] });
    }
    streamRequests.push({ url, headers: new Headers(init?.headers) });
    const script = scripts.shift() ?? { status: 200, body: '', keepOpen: true };
    if (script.status !== 200) return Response.json(script.json ?? {}, { status: script.status });
    const signal = init?.signal;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(script.body ?? ''));
        if (!script.keepOpen) controller.close();
        else signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true });
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
  return { fetch, streamRequests, tokensIssued: () => issued };
}

const frame = (fields: Record<string, string>): string =>
  `${Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n')}\n\n`;
// A short `retry:` keeps the reconnect waits of these tests at a few milliseconds.
const hello = (extra: Record<string, unknown> = {}): string =>
  `retry: 20\n${frame({ event: 'connected', data: JSON.stringify({ channels: ['orders'], ...extra }) })}`;

function run(h: Harness, options: { stallMs?: number; types?: string } = {}) {
  // No jitter: every reconnect of these tests goes at once.
  vi.spyOn(Math, 'random').mockReturnValue(0);
  const events: ListenedEvent[] = [];
  const status: string[] = [];
  const stop = new AbortController();
  const cast = new CastServer({ apiKey: 'sk', baseUrl: BASE, fetch: h.fetch, retries: 0 });
  const done = listen({
    cast,
    baseUrl: BASE,
    fetch: h.fetch,
    channels: ['orders'],
    signal: stop.signal,
    onEvent: (e) => events.push(e),
    onStatus: (m) => status.push(m),
    ...options,
  });
  return { events, status, stop, done };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('listen', () => {
  it('prints events with their channel and resumes a dropped stream with Last-Event-ID', async () => {
    const h = harness([
      { status: 200, body: hello() + frame({ id: '5-0/orders', event: 'order.created', data: '{"id":"a1"}' }) },
      {
        status: 200,
        body: hello({ recovered: true }) + frame({ id: '6-0/orders', event: 'order.paid', data: '"x"' }),
        keepOpen: true,
      },
    ]);
    const { events, status, stop, done } = run(h);
    await vi.waitFor(() => expect(events).toHaveLength(2));
    stop.abort();
    await done;

    expect(events).toEqual([
      { id: '5-0/orders', channel: 'orders', event: 'order.created', data: { id: 'a1' } },
      { id: '6-0/orders', channel: 'orders', event: 'order.paid', data: 'x' },
    ]);
    expect(h.streamRequests[0]?.headers.get('last-event-id')).toBeNull();
    expect(h.streamRequests[1]?.headers.get('last-event-id')).toBe('5-0/orders');
    expect(h.streamRequests[1]?.headers.get('authorization')).toBe('Bearer tok-1');
    expect(h.tokensIssued()).toBe(1);
    expect(status.some((m) => m.includes('nothing missed'))).toBe(true);
  });

  it('warns when the server could not replay everything', async () => {
    const h = harness([
      { status: 200, body: hello() + frame({ id: '5-0/orders', event: 'e', data: '1' }) },
      { status: 200, body: hello({ recovered: false }), keepOpen: true },
    ]);
    const { status, stop, done } = run(h);
    await vi.waitFor(() => expect(status.some((m) => m.includes('could not be replayed'))).toBe(true));
    stop.abort();
    await done;
  });

  it('fetches a fresh token after an expired event and resumes from the last id', async () => {
    const h = harness([
      {
        status: 200,
        body:
          hello() +
          frame({ id: '7-0/orders', event: 'e', data: '1' }) +
          frame({ event: 'expired', data: '{"reason":"token_expired","expiredAt":"2030-01-01T00:00:00.000Z"}' }),
        // The server ends the stream after `expired`.
        keepOpen: false,
      },
      { status: 200, body: hello({ recovered: true }), keepOpen: true },
    ]);
    const { events, stop, done } = run(h);
    await vi.waitFor(() => expect(h.streamRequests).toHaveLength(2));
    stop.abort();
    await done;
    expect(h.tokensIssued()).toBe(2);
    expect(h.streamRequests[1]?.headers.get('authorization')).toBe('Bearer tok-2');
    expect(h.streamRequests[1]?.headers.get('last-event-id')).toBe('7-0/orders');
    expect(events.map((e) => e.event)).toEqual(['e']);
  });

  it('replaces a token the server refuses, and gives up when a fresh one is refused too', async () => {
    const expired = { status: 401, json: { error: { code: 'TOKEN_EXPIRED', message: 'expired' } } };
    const h = harness([expired, expired]);
    const { done } = run(h);
    await expect(done).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
    expect(h.tokensIssued()).toBe(2);
  });

  it('stops with the error when the server refuses the request for good', async () => {
    const h = harness([{ status: 400, json: { error: { code: 'INVALID_FILTER', message: 'bad types' } } }]);
    const { done } = run(h);
    await expect(done).rejects.toMatchObject({ code: 'INVALID_FILTER', status: 400 });
  });

  it('stops with the error when the API key is refused, without opening a stream', async () => {
    const h = harness([]);
    const fetch = async (input: string, init?: RequestInit): Promise<Response> =>
      new URL(input).pathname === '/push/tokens'
        ? Response.json({ error: { code: 'INVALID_API_KEY', message: 'The API key is not valid.' } }, { status: 401 })
        : h.fetch(input, init);
    const { done } = run({ ...h, fetch });
    await expect(done).rejects.toMatchObject({ code: 'INVALID_API_KEY', message: 'The API key is not valid.' });
    expect(h.streamRequests).toHaveLength(0);
  });

  it('retries a 503 and then connects', async () => {
    const h = harness([
      { status: 503, json: { error: { code: 'UNAVAILABLE', message: 'down' } } },
      { status: 200, body: hello() + frame({ id: '1-0/orders', event: 'e', data: '1' }), keepOpen: true },
    ]);
    const { events, stop, done } = run(h);
    await vi.waitFor(() => expect(events).toHaveLength(1), { timeout: 3000 });
    stop.abort();
    await done;
  });

  it('reconnects a stream that stalls (no byte within stallMs)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = harness([
      { status: 200, body: hello() + frame({ id: '3-0/orders', event: 'e', data: '1' }), keepOpen: true },
      { status: 200, body: hello({ recovered: true }), keepOpen: true },
    ]);
    const { status, stop, done } = run(h, { stallMs: 1_000 });
    await vi.advanceTimersByTimeAsync(999);
    expect(h.streamRequests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1 + 10);
    expect(h.streamRequests).toHaveLength(2);
    expect(h.streamRequests[1]?.headers.get('last-event-id')).toBe('3-0/orders');
    expect(status.some((m) => m.includes('no heartbeat'))).toBe(true);
    stop.abort();
    await done;
  });

  it('prints an event a resume replays again (another node, a retried resume) only once', async () => {
    const h = harness([
      { status: 200, body: hello() + frame({ id: '5-0/orders', event: 'e', data: '1' }) },
      {
        status: 200,
        body:
          hello({ recovered: true }) +
          frame({ id: '5-0/orders', event: 'e', data: '1' }) +
          frame({ id: '6-0/orders', event: 'e', data: '2' }),
        keepOpen: true,
      },
    ]);
    const { events, stop, done } = run(h);
    await vi.waitFor(() => expect(events.map((e) => e.id)).toContain('6-0/orders'));
    stop.abort();
    await done;
    expect(events.map((e) => e.id)).toEqual(['5-0/orders', '6-0/orders']);
  });

  it('says when it cannot reach the server, naming the URL and the cause, and keeps trying', async () => {
    const h = harness([{ status: 200, body: hello(), keepOpen: true }]);
    let refusals = 2;
    const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
      if (refusals > 0) {
        refusals -= 1;
        throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:9') });
      }
      return h.fetch(input, init);
    };
    const { status, stop, done } = run({ ...h, fetch });
    await vi.waitFor(() => expect(status).toContain('listening on orders'));
    stop.abort();
    await done;
    expect(
      status.filter((m) => m === 'cannot reach http://cast.test (connect ECONNREFUSED 127.0.0.1:9); retrying'),
    ).toHaveLength(2);
  });

  it('refuses a malformed types filter as the server would, before any request', async () => {
    const h = harness([]);
    const { done } = run(h, { types: 'order.*, ticket*' });
    await expect(done).rejects.toMatchObject({ code: 'INVALID_FILTER', message: patternError('ticket*')?.message });
    expect(h.tokensIssued()).toBe(0);
    expect(h.streamRequests).toHaveLength(0);
  });

  it('passes the types filter and resolves when stopped', async () => {
    const h = harness([{ status: 200, body: hello(), keepOpen: true }]);
    const events: ListenedEvent[] = [];
    const stop = new AbortController();
    const cast = new CastServer({ apiKey: 'sk', baseUrl: BASE, fetch: h.fetch });
    const done = listen({
      cast,
      baseUrl: BASE,
      fetch: h.fetch,
      channels: ['orders'],
      types: 'order.*,ticket.closed',
      signal: stop.signal,
      onEvent: (e) => events.push(e),
      onStatus: () => undefined,
    });
    await vi.waitFor(() => expect(h.streamRequests).toHaveLength(1));
    expect(h.streamRequests[0]?.url.searchParams.get('types')).toBe('order.*,ticket.closed');
    stop.abort();
    await expect(done).resolves.toBeUndefined();
  });
});
