import { CastError } from '@cast/protocol';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { FAKED_TIMERS, connectedFrame, createFakeFetch, eventFrame, settle } from '../testing/fake-fetch.js';
import type { ConnectionState, RealtimeEvent, RealtimeOptions } from '../types.js';
import { createRealtime } from './index.js';

const URL_BASE = 'http://cast.test';

function setup(extra: Partial<RealtimeOptions> = {}) {
  const server = createFakeFetch();
  const realtime = createRealtime({ url: URL_BASE, token: 'tok', fetch: server.fetch, ...extra });
  const errors: CastError[] = [];
  const states: ConnectionState[] = [];
  const events: RealtimeEvent[] = [];
  realtime.onError((e) => errors.push(e));
  realtime.onStateChange((s) => states.push(s));
  realtime.onAny((e) => events.push(e));
  return { server, realtime, errors, states, events };
}

/** Answers the latest request with a stream and the connected frame. */
async function accept(server: ReturnType<typeof createFakeFetch>, data?: Record<string, unknown>) {
  await settle();
  const stream = server.last.respond();
  stream.push(connectedFrame(data));
  await settle();
  return stream;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKED_TIMERS] });
  vi.spyOn(Math, 'random').mockReturnValue(0.5);
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('options', () => {
  it.each([
    ['no url', { url: '' }],
    ['a non-http url', { url: 'ftp://x' }],
    ['an empty token', { token: '' }],
    ['a token of the wrong type', { token: 42 }],
    ['a bad types pattern', { types: ['ticket*'] }],
    ['types not an array', { types: 'a.b' }],
    ['a negative stall timeout', { stallTimeoutMs: -1 }],
    ['a cap below the floor', { backoffFloorMs: 5000, backoffCapMs: 100 }],
    ['a lastEventId with a line break', { lastEventId: '1-0\nx' }],
    ['a non-boolean autoConnect', { autoConnect: 'yes' }],
  ])('throws INVALID_OPTIONS at construction for %s', (_, bad) => {
    const build = () =>
      createRealtime({
        url: URL_BASE,
        token: 't',
        fetch: createFakeFetch().fetch,
        ...(bad as object),
      } as RealtimeOptions);
    expect(build).toThrowError(CastError);
    expect(build).toThrowError(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it('throws INVALID_OPTIONS for a malformed on() pattern', () => {
    const { realtime } = setup({ autoConnect: false });
    expect(() => realtime.on('ticket*', () => {})).toThrowError(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it('does not connect before connect() when autoConnect is false', async () => {
    const { server, realtime } = setup({ autoConnect: false });
    await settle();
    expect(server.calls).toHaveLength(0);
    expect(realtime.state).toBe('disconnected');
    realtime.connect();
    await settle();
    expect(server.calls).toHaveLength(1);
    expect(realtime.state).toBe('connecting');
  });

  it('builds the stream URL from the base URL, token and types', async () => {
    const { server } = setup({ url: 'http://cast.test/base/', types: ['order.created', 'ticket.*'] });
    await settle();
    const { url, headers } = server.last;
    expect(url.pathname).toBe('/base/push/stream');
    expect(url.searchParams.get('token')).toBe('tok');
    expect(url.searchParams.get('types')).toBe('order.created,ticket.*');
    expect(headers.accept).toBe('text/event-stream');
    expect(headers['last-event-id']).toBeUndefined();
  });

  it('starts from the lastEventId option', async () => {
    const { server } = setup({ lastEventId: '100-0/orders' });
    await settle();
    expect(server.last.headers['last-event-id']).toBe('100-0/orders');
  });
});

describe('events', () => {
  it('delivers typed events with parsed data, raw id and channel, to exact, prefix and * handlers', async () => {
    const { server, realtime, events } = setup();
    const exact = vi.fn();
    const prefix = vi.fn();
    realtime.on('order.created', exact);
    const offPrefix = realtime.on('order.*', prefix);
    const stream = await accept(server);
    stream.push(eventFrame('1-0', 'orders', 'order.created', { id: 'a', total: 5 }));
    stream.push(eventFrame('1-1', 'user:u1', 'ticket.closed', { n: 1 }));
    await settle();
    expect(exact).toHaveBeenCalledWith({
      type: 'order.created',
      data: { id: 'a', total: 5 },
      id: '1-0/orders',
      channel: 'orders',
    });
    expect(prefix).toHaveBeenCalledTimes(1);
    expect(events.map((e) => [e.type, e.channel])).toEqual([
      ['order.created', 'orders'],
      ['ticket.closed', 'user:u1'],
    ]);
    offPrefix();
    stream.push(eventFrame('1-2', 'orders', 'order.paid', {}));
    await settle();
    expect(prefix).toHaveBeenCalledTimes(1);
    expect(realtime.lastEventId).toBe('1-2/orders');
  });

  it('does not hand the server control events (connected, expired) to handlers', async () => {
    const { server, events } = setup();
    const stream = await accept(server);
    stream.push('event: expired\ndata: {"reason":"token_expired","expiredAt":"2030-01-01T00:00:00Z"}\n\n');
    await settle();
    expect(events).toEqual([]);
  });

  it('names an event without an event field "message"', async () => {
    const { server, events } = setup();
    const stream = await accept(server);
    stream.push('id: 1-0/a\ndata: 7\n\n');
    await settle();
    expect(events[0]).toMatchObject({ type: 'message', data: 7 });
  });

  it('reports data that is not JSON as BAD_RESPONSE, skips it and keeps the stream', async () => {
    const { server, events, errors, realtime } = setup();
    const stream = await accept(server);
    stream.push('id: 1-0/a\nevent: x\ndata: {not json\n\n');
    stream.push(eventFrame('1-1', 'a', 'y', 1));
    await settle();
    expect(errors.map((e) => e.code)).toEqual(['BAD_RESPONSE']);
    expect(events.map((e) => e.type)).toEqual(['y']);
    expect(realtime.state).toBe('connected');
  });

  it('drops a replayed event at or before the last position delivered', async () => {
    const { server, events } = setup();
    const stream = await accept(server);
    stream.push(eventFrame('5-0', 'a', 'x', 1));
    stream.push(eventFrame('5-0', 'a', 'x', 1));
    stream.push(eventFrame('4-9', 'b', 'x', 2));
    stream.push(eventFrame('5-1', 'a', 'x', 3));
    await settle();
    expect(events.map((e) => e.data)).toEqual([1, 3]);
  });

  it('keeps other handlers and the stream going when a handler throws', async () => {
    vi.stubGlobal('reportError', vi.fn());
    const { server, realtime, events } = setup();
    realtime.on('x', () => {
      throw new Error('app bug');
    });
    const stream = await accept(server);
    stream.push(eventFrame('1-0', 'a', 'x', 1));
    stream.push(eventFrame('1-1', 'a', 'x', 2));
    await settle();
    expect(events).toHaveLength(2);
    expect(realtime.connected).toBe(true);
  });

  it('types handlers from the event map', () => {
    type Events = { 'order.created': { total: number }; 'order.paid': { at: string }; 'ticket.closed': { n: number } };
    const realtime = createRealtime<Events>({
      url: URL_BASE,
      token: 't',
      fetch: createFakeFetch().fetch,
      autoConnect: false,
    });
    realtime.on('order.created', (e) => {
      expectTypeOf(e.data).toEqualTypeOf<{ total: number }>();
      expectTypeOf(e.type).toEqualTypeOf<'order.created'>();
    });
    realtime.on('order.*', (e) => {
      expectTypeOf(e.type).toEqualTypeOf<'order.created' | 'order.paid'>();
    });
    realtime.on('unknown.name', (e) => {
      expectTypeOf(e.data).toEqualTypeOf<unknown>();
    });
    realtime.onAny((e) => {
      expectTypeOf(e.type).toEqualTypeOf<'order.created' | 'order.paid' | 'ticket.closed'>();
    });
    realtime.destroy();
  });
});

describe('SSE parsing edge cases', () => {
  it('handles LF, CR and CRLF line endings split anywhere across chunks', async () => {
    const { server, events } = setup();
    const stream = await accept(server);
    const text =
      'id: 1-0/a\r\nevent: crlf\r\ndata: 1\r\n\r\nid: 1-1/a\revent: cr\rdata: 2\r\rid: 1-2/a\nevent: lf\ndata: 3\n\n';
    for (const ch of text) stream.push(ch);
    await settle();
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['crlf', 1],
      ['cr', 2],
      ['lf', 3],
    ]);
  });

  it('treats a CR at the end of a chunk followed by LF in the next as one line break', async () => {
    const { server, events } = setup();
    const stream = await accept(server);
    stream.push('id: 1-0/a\r');
    stream.push('\nevent: x\r');
    stream.push('\ndata: 1\r');
    stream.push('\n\r');
    stream.push('\n');
    stream.push(eventFrame('1-1', 'a', 'y', 2));
    await settle();
    expect(events.map((e) => e.type)).toEqual(['x', 'y']);
  });

  it('drops a UTF-8 byte order mark at the start of the stream', async () => {
    const { server, realtime } = setup();
    await settle();
    const stream = server.last.respond();
    stream.push(new Uint8Array([0xef, 0xbb, 0xbf]));
    stream.push(connectedFrame());
    await settle();
    expect(realtime.state).toBe('connected');
  });

  it('decodes multi-byte UTF-8 split across chunks', async () => {
    const { server, events } = setup();
    const stream = await accept(server);
    const bytes = new TextEncoder().encode(eventFrame('1-0', 'a', 'x', { s: 'olá €😀' }));
    for (let i = 0; i < bytes.length; i += 3) stream.push(bytes.slice(i, i + 3));
    await settle();
    expect(events[0]?.data).toEqual({ s: 'olá €😀' });
  });

  it('delivers a 64 KB event (the default payload limit) split into 1 KB chunks whole', async () => {
    const { server, events } = setup();
    const stream = await accept(server);
    const data = { s: 'x'.repeat(65_536) };
    const frame = eventFrame('1-0', 'a', 'big', data);
    for (let i = 0; i < frame.length; i += 1024) stream.push(frame.slice(i, i + 1024));
    await settle();
    expect(events.map((e) => e.type)).toEqual(['big']);
    expect(events[0]?.data).toEqual(data);
  });

  it('joins multi-line data with LF', async () => {
    const { server, events } = setup();
    const stream = await accept(server);
    stream.push('id: 1-0/a\nevent: x\ndata: {"a":\ndata: [1,\ndata: 2]}\n\n');
    await settle();
    expect(events[0]?.data).toEqual({ a: [1, 2] });
  });

  it('ignores comments (heartbeats)', async () => {
    const { server, events, errors } = setup();
    const stream = await accept(server);
    stream.push(': hb\n\n:\n\n: x\n');
    stream.push(eventFrame('1-0', 'a', 'x', 1));
    await settle();
    expect(events).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('keeps the last id across blocks without an id and resends it; an empty id clears it', async () => {
    const { server, realtime, events } = setup();
    let stream = await accept(server);
    stream.push(eventFrame('3-0', 'a', 'x', 1));
    stream.push('event: x\ndata: 2\n\n');
    await settle();
    expect(events.map((e) => e.id)).toEqual(['3-0/a', undefined]);
    expect(realtime.lastEventId).toBe('3-0/a');
    stream.end();
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.last.headers['last-event-id']).toBe('3-0/a');
    stream = await accept(server);
    stream.push('id:\nevent: x\ndata: 3\n\n');
    await settle();
    expect(realtime.lastEventId).toBeUndefined();
  });

  it('does not move the resume point on an id-only block (eventsource-parser 3 dispatches only blocks with data)', async () => {
    // The SSE spec would update the last event id here; eventsource-parser 3.x does not report
    // such blocks. The Cast server never sends them (every event carries data), so the client
    // keeps the id of the last event it delivered, which is always a safe place to resume.
    const { server, realtime, events } = setup();
    const stream = await accept(server);
    stream.push(eventFrame('3-0', 'a', 'x', 1));
    stream.push('id: 9-0/a\n\n');
    await settle();
    expect(events).toHaveLength(1);
    expect(realtime.lastEventId).toBe('3-0/a');
  });
});

describe('reconnecting', () => {
  it('reconnects after the stream ends, with backoff, reporting STREAM_INTERRUPTED and sending Last-Event-ID', async () => {
    const { server, realtime, errors, states } = setup();
    const changes: boolean[] = [];
    realtime.onConnectionChange((c) => changes.push(c));
    const stream = await accept(server);
    stream.push(eventFrame('7-0', 'a', 'x', 1));
    stream.end();
    await settle();
    expect(errors.map((e) => [e.code, e.retryable])).toEqual([['STREAM_INTERRUPTED', true]]);
    expect(realtime.state).toBe('reconnecting');
    // retry: 1000 from the server is the floor; Math.random is 0.5 → 500 ms.
    await vi.advanceTimersByTimeAsync(499);
    expect(server.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.calls).toHaveLength(2);
    expect(server.last.headers['last-event-id']).toBe('7-0/a');
    await accept(server);
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    expect(changes).toEqual([true, false, true]);
  });

  it('grows the delay exponentially up to the cap while attempts keep failing', async () => {
    const fresh = setup({ backoffFloorMs: 100, backoffCapMs: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      await settle();
      const before = fresh.server.calls.length;
      fresh.server.last.fail();
      await settle();
      let waited = 0;
      while (fresh.server.calls.length === before && waited < 5000) {
        await vi.advanceTimersByTimeAsync(10);
        waited += 10;
      }
      delays.push(waited);
    }
    // retry: is never sent here, so the floor is 100; Math.random is 0.5: half of 100, 200, 400, 800, then the cap.
    expect(delays).toEqual([50, 100, 200, 400, 500, 500]);
  });

  it('honours the server retry: as the backoff floor', async () => {
    const { server } = setup({ backoffFloorMs: 10, backoffCapMs: 60_000 });
    await settle();
    const stream = server.last.respond();
    stream.push('retry: 4000\n\n');
    stream.push(connectedFrame().replace('retry: 1000\n', ''));
    await settle();
    stream.end();
    await settle();
    await vi.advanceTimersByTimeAsync(1999);
    expect(server.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.calls).toHaveLength(2);
  });

  it('resets the backoff only after a connection stayed healthy', async () => {
    const { server } = setup({ backoffFloorMs: 1000, backoffCapMs: 60_000 });
    const delayOfNext = async () => {
      let waited = 0;
      const before = server.calls.length;
      while (server.calls.length === before && waited < 100_000) {
        await vi.advanceTimersByTimeAsync(100);
        waited += 100;
      }
      return waited;
    };
    // Connects, then drops at once: counts as a failure each time.
    let stream = await accept(server);
    stream.end();
    await settle();
    expect(await delayOfNext()).toBe(500);
    stream = await accept(server);
    stream.end();
    await settle();
    expect(await delayOfNext()).toBe(1000);
    stream = await accept(server);
    // Stays up long enough to count as healthy (5 s), with heartbeats.
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(2000);
      stream.push(': hb\n\n');
    }
    stream.end();
    await settle();
    expect(await delayOfNext()).toBe(500);
  });

  it('waits at least Retry-After on a 429', async () => {
    const { server, errors } = setup();
    await settle();
    server.last.respond({
      status: 429,
      headers: { 'content-type': 'application/json', 'retry-after': '7' },
      body: '{"error":{"code":"RATE_LIMITED","message":"slow down"}}',
    });
    await settle();
    expect(errors[0]).toMatchObject({ code: 'RATE_LIMITED', retryable: true, retryAfter: 7, message: 'slow down' });
    await vi.advanceTimersByTimeAsync(6999);
    expect(server.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.calls).toHaveLength(2);
  });

  it.each([
    [408, 'TIMEOUT'],
    [500, 'INTERNAL'],
    [502, 'UNAVAILABLE'],
    [503, 'UNAVAILABLE'],
  ])('retries after HTTP %i (%s)', async (status, code) => {
    const { server, errors, realtime } = setup();
    await settle();
    server.last.respond({ status, headers: { 'content-type': 'text/html' }, body: '<h1>oops</h1>' });
    await settle();
    expect(errors[0]).toMatchObject({ code, status, retryable: true });
    expect(realtime.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.calls).toHaveLength(2);
  });

  it('retries after a network error (NETWORK_ERROR) and after the body breaks mid-stream', async () => {
    const { server, errors } = setup();
    await settle();
    server.last.fail(new TypeError('fetch failed'));
    await settle();
    expect(errors[0]).toMatchObject({ code: 'NETWORK_ERROR', retryable: true });
    // The message names the URL it tried, never the token.
    expect(errors[0]?.message).toContain('http://cast.test/push/stream');
    expect(errors[0]?.message).not.toContain('tok');
    await vi.advanceTimersByTimeAsync(1000);
    const stream = await accept(server);
    stream.error(new TypeError('terminated'));
    await settle();
    expect(errors[1]).toMatchObject({ code: 'NETWORK_ERROR', retryable: true });
    await vi.advanceTimersByTimeAsync(2000);
    expect(server.calls).toHaveLength(3);
  });

  it('reconnects at once on the online event while waiting out a backoff', async () => {
    const target = new EventTarget();
    vi.stubGlobal('addEventListener', target.addEventListener.bind(target));
    vi.stubGlobal('removeEventListener', target.removeEventListener.bind(target));
    const { server, realtime } = setup({ backoffCapMs: 60_000 });
    await settle();
    server.last.fail();
    await settle();
    expect(server.calls).toHaveLength(1);
    target.dispatchEvent(new Event('online'));
    await settle();
    expect(server.calls).toHaveLength(2);
    // Online while a connection is open or opening does not open another.
    target.dispatchEvent(new Event('online'));
    await accept(server);
    target.dispatchEvent(new Event('online'));
    await settle();
    expect(server.calls).toHaveLength(2);
    realtime.destroy();
    target.dispatchEvent(new Event('online'));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.calls).toHaveLength(2);
  });

  it('never opens a second connection when connect() is called while connecting or connected', async () => {
    const { server, realtime } = setup();
    realtime.connect();
    realtime.connect();
    await settle();
    expect(server.calls).toHaveLength(1);
    await accept(server);
    realtime.connect();
    await settle();
    expect(server.calls).toHaveLength(1);
  });
});

describe('stall detection', () => {
  it('reconnects when no byte arrives for stallTimeoutMs; heartbeats keep the stream alive', async () => {
    const { server, errors, realtime } = setup({ stallTimeoutMs: 1000 });
    const stream = await accept(server);
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(900);
      stream.push(': hb\n\n');
    }
    expect(errors).toEqual([]);
    expect(realtime.state).toBe('connected');
    await vi.advanceTimersByTimeAsync(1000);
    expect(errors.map((e) => e.code)).toEqual(['STREAM_INTERRUPTED']);
    expect(stream.cancelled).toBe(true);
    expect(realtime.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.calls).toHaveLength(2);
  });

  it('defaults to 35 s, a little over two 15 s heartbeats', async () => {
    const { server, errors } = setup();
    await accept(server);
    await vi.advanceTimersByTimeAsync(34_999);
    expect(errors).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(errors.map((e) => e.code)).toEqual(['STREAM_INTERRUPTED']);
  });

  it('gives up on a request that never answers after stallTimeoutMs and aborts it', async () => {
    const { server, errors } = setup({ stallTimeoutMs: 3000 });
    await settle();
    const first = server.last;
    await vi.advanceTimersByTimeAsync(3000);
    expect(first.signal.aborted).toBe(true);
    expect(errors.map((e) => e.code)).toEqual(['STREAM_INTERRUPTED']);
  });
});

describe('fatal errors and tokens', () => {
  const unauthorized = {
    status: 401,
    headers: { 'content-type': 'application/json' },
    body: '{"error":{"code":"INVALID_TOKEN","message":"bad token"}}',
  };

  it('stops on a 401 with a fixed token, reporting the server error', async () => {
    const { server, errors, realtime } = setup();
    await settle();
    server.last.respond(unauthorized);
    await settle();
    expect(errors.map((e) => [e.code, e.status, e.retryable])).toEqual([['INVALID_TOKEN', 401, false]]);
    expect(realtime.state).toBe('disconnected');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(1);
  });

  it('asks the provider once more after a 401 and goes on when the new token works', async () => {
    const provider = vi.fn().mockResolvedValueOnce('old').mockResolvedValueOnce('new');
    const { server, errors, realtime } = setup({ token: provider });
    await settle();
    server.last.respond(unauthorized);
    await settle();
    expect(provider).toHaveBeenCalledTimes(2);
    expect(server.last.url.searchParams.get('token')).toBe('new');
    await accept(server);
    expect(realtime.state).toBe('connected');
    expect(errors).toEqual([]);
  });

  it.each([401, 403])('stops when the refreshed token also gets %i', async (status) => {
    const provider = vi.fn().mockResolvedValue('t');
    const { server, errors, realtime } = setup({ token: provider });
    await settle();
    server.last.respond({ ...unauthorized, status });
    await settle();
    server.last.respond({ ...unauthorized, status });
    await settle();
    expect(server.calls).toHaveLength(2);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ status, retryable: false });
    expect(realtime.state).toBe('disconnected');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(2);
  });

  it('has a fresh token refresh available again after a good stream', async () => {
    const provider = vi.fn().mockResolvedValue('t');
    const { server, realtime } = setup({ token: provider });
    await settle();
    server.last.respond(unauthorized);
    await settle();
    const stream = await accept(server);
    stream.end();
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    server.last.respond(unauthorized);
    await settle();
    expect(server.calls).toHaveLength(4);
    expect(realtime.state).not.toBe('disconnected');
  });

  it.each([
    [400, 'BAD_REQUEST'],
    [404, 'NOT_FOUND'],
  ])('stops on HTTP %i', async (status, code) => {
    const { server, errors, realtime } = setup();
    await settle();
    server.last.respond({ status, headers: {}, body: '' });
    await settle();
    expect(errors[0]).toMatchObject({ code, retryable: false });
    expect(realtime.state).toBe('disconnected');
  });

  it('stops on a 200 that is not an event stream (BAD_RESPONSE), and connect() starts over', async () => {
    const { server, errors, realtime } = setup();
    await settle();
    server.last.respond({ status: 200, headers: { 'content-type': 'text/html' }, body: '<html>' });
    await settle();
    expect(errors[0]).toMatchObject({ code: 'BAD_RESPONSE', retryable: false });
    expect(realtime.state).toBe('disconnected');
    realtime.connect();
    await accept(server);
    expect(realtime.state).toBe('connected');
  });

  it('retries when the token provider throws, reporting a retryable error', async () => {
    const provider = vi.fn().mockRejectedValueOnce(new Error('backend down')).mockResolvedValue('t');
    const { server, errors } = setup({ token: provider });
    await settle();
    expect(server.calls).toHaveLength(0);
    // A provider failure is the app's backend, not the Cast server refusing the token.
    expect(errors[0]).toMatchObject({ code: 'TOKEN_PROVIDER_FAILED', status: 0, retryable: true });
    expect(errors[0]?.message).toContain('backend down');
    await vi.advanceTimersByTimeAsync(500);
    expect(server.calls).toHaveLength(1);
  });

  it('reconnects at once with a fresh token when the server says the token expired', async () => {
    let n = 0;
    const provider = vi.fn(async () => `t${++n}`);
    const { server, errors, realtime } = setup({ token: provider });
    const stream = await accept(server);
    stream.push(eventFrame('2-0', 'a', 'x', 1));
    stream.push('event: expired\ndata: {"reason":"token_expired","expiredAt":"2030-01-01T00:00:00Z"}\n\n');
    stream.end();
    await settle();
    await vi.advanceTimersByTimeAsync(0);
    expect(server.calls).toHaveLength(2);
    expect(server.last.url.searchParams.get('token')).toBe('t2');
    expect(server.last.headers['last-event-id']).toBe('2-0/a');
    expect(errors).toEqual([]);
    expect(realtime.state).toBe('reconnecting');
  });
});

describe('revoked and disconnected', () => {
  const revoked = 'event: revoked\ndata: {"reason":"token_revoked"}\n\n';
  const disconnected = (reconnect: boolean) =>
    `event: disconnected\ndata: {"reason":"disconnected_by_server","reconnect":${reconnect}}\n\n`;

  it('stops for good on revoked, reporting TOKEN_REVOKED, until connect() asks the provider for a new token', async () => {
    let n = 0;
    const provider = vi.fn(async () => `t${++n}`);
    const { server, errors, realtime, events } = setup({ token: provider });
    const stream = await accept(server);
    stream.push(eventFrame('1-0', 'orders', 'order.created', {}));
    stream.push(revoked);
    stream.push(eventFrame('1-1', 'orders', 'order.paid', {}));
    await settle();
    expect(events.map((e) => e.type)).toEqual(['order.created']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'TOKEN_REVOKED', retryable: false });
    expect(errors[0]?.message).toContain('token_revoked');
    expect(realtime.state).toBe('disconnected');
    expect(stream.cancelled).toBe(true);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(1);
    realtime.connect();
    await settle();
    expect(server.calls).toHaveLength(2);
    expect(server.last.url.searchParams.get('token')).toBe('t2');
    expect(server.last.headers['last-event-id']).toBe('1-0/orders');
  });

  it('stops on disconnected with reconnect: false, reporting DISCONNECTED', async () => {
    const { server, errors, realtime, events } = setup();
    const stream = await accept(server);
    stream.push(disconnected(false));
    stream.end();
    await settle();
    expect(errors.map((e) => [e.code, e.retryable])).toEqual([['DISCONNECTED', false]]);
    expect(errors[0]?.message).toContain('disconnected_by_server');
    expect(events).toEqual([]);
    expect(realtime.state).toBe('disconnected');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(1);
  });

  it('reconnects at once, with a fresh token and the last id, on disconnected with reconnect: true', async () => {
    let n = 0;
    const provider = vi.fn(async () => `t${++n}`);
    const { server, errors, realtime } = setup({ token: provider });
    const stream = await accept(server);
    stream.push(eventFrame('3-0', 'orders', 'x', 1));
    stream.push(disconnected(true));
    await settle();
    expect(realtime.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(0);
    expect(server.calls).toHaveLength(2);
    expect(server.last.url.searchParams.get('token')).toBe('t2');
    expect(server.last.headers['last-event-id']).toBe('3-0/orders');
    await accept(server);
    expect(realtime.state).toBe('connected');
    expect(errors).toEqual([]);
  });

  it('treats a 401 TOKEN_REVOKED as fatal even when the provider keeps returning the revoked token', async () => {
    const provider = vi.fn().mockResolvedValue('revoked-token');
    const { server, errors, realtime } = setup({ token: provider });
    const body = JSON.stringify({ error: { code: 'TOKEN_REVOKED', message: 'The token was revoked.' } });
    for (let i = 0; i < 2; i++) {
      await settle();
      server.last.respond({ status: 401, headers: { 'content-type': 'application/json' }, body });
    }
    await settle();
    expect(errors.map((e) => [e.code, e.status, e.retryable])).toEqual([['TOKEN_REVOKED', 401, false]]);
    expect(realtime.state).toBe('disconnected');
    await vi.advanceTimersByTimeAsync(300_000);
    expect(server.calls).toHaveLength(2);
    expect(provider).toHaveBeenCalledTimes(2);
  });
});

describe('resume', () => {
  it('tells onResume whether the server recovered everything after the last id', async () => {
    const { server, realtime } = setup({ lastEventId: '9-0/a' });
    const resumes: unknown[] = [];
    realtime.onResume((r) => resumes.push(r));
    let stream = await accept(server, { channels: ['a'], recovered: true });
    stream.end();
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    stream = await accept(server, { channels: ['a'], recovered: false });
    expect(resumes).toEqual([
      { recovered: true, lastEventId: '9-0/a' },
      { recovered: false, lastEventId: '9-0/a' },
    ]);
  });

  it('after recovered: false, accepts the new server positions even if lower than the old id', async () => {
    const { server, events } = setup({ lastEventId: '9000-0/a' });
    const stream = await accept(server, { channels: ['a'], recovered: false });
    stream.push(eventFrame('10-0', 'a', 'x', 1));
    await settle();
    expect(events).toHaveLength(1);
  });

  it('does not call onResume on a fresh connection without an id', async () => {
    const { server, realtime } = setup();
    const resume = vi.fn();
    realtime.onResume(resume);
    await accept(server, { channels: ['a'] });
    expect(resume).not.toHaveBeenCalled();
  });
});

describe('destroy', () => {
  it('right after creation: the deferred auto-connect never runs', async () => {
    const { server, realtime } = setup();
    realtime.destroy();
    await settle();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(0);
    expect(realtime.state).toBe('closed');
  });

  it('aborts a pending fetch, and a late answer opens nothing', async () => {
    const { server, realtime, states } = setup();
    await settle();
    const call = server.last;
    realtime.destroy();
    expect(call.signal.aborted).toBe(true);
    expect(realtime.state).toBe('closed');
    call.respond().push(connectedFrame());
    await settle();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(1);
    expect(states).toEqual(['connecting', 'closed']);
  });

  it('during a pending token provider: no request follows', async () => {
    let release!: (t: string) => void;
    const provider = () => new Promise<string>((r) => (release = r));
    const { server, realtime } = setup({ token: provider });
    await settle();
    realtime.destroy();
    release('t');
    await settle();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(0);
  });

  it('during a backoff wait: the pending reconnect never fires', async () => {
    const { server, realtime } = setup();
    await settle();
    server.last.fail();
    await settle();
    expect(realtime.state).toBe('reconnecting');
    realtime.destroy();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(1);
  });

  it('while connected: cancels the body, reports the disconnect once, is idempotent, and connect() stays a no-op', async () => {
    const { server, realtime, errors } = setup();
    const changes: boolean[] = [];
    realtime.onConnectionChange((c) => changes.push(c));
    const stream = await accept(server);
    realtime.destroy();
    realtime.destroy();
    await settle();
    expect(stream.cancelled).toBe(true);
    expect(changes).toEqual([true, false]);
    realtime.connect();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('from inside an event handler: later events in the same chunk are not delivered', async () => {
    const { server, realtime, events } = setup();
    realtime.on('stop', () => realtime.destroy());
    const stream = await accept(server);
    stream.push(eventFrame('1-0', 'a', 'stop', 1) + eventFrame('1-1', 'a', 'after', 2));
    await settle();
    expect(events.map((e) => e.type)).toEqual(['stop']);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(1);
  });

  it('from inside onError: no reconnect is scheduled', async () => {
    const { server, realtime } = setup();
    realtime.onError(() => realtime.destroy());
    await settle();
    server.last.fail();
    await settle();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(server.calls).toHaveLength(1);
    expect(realtime.state).toBe('closed');
  });
});
