// @vitest-environment happy-dom
import { createRealtime } from '@cast/realtime-client';
import type { RealtimeOptions, StreamFetch, StreamResponse } from '@cast/realtime-client';
import { act, cleanup, render, renderHook, screen } from '@testing-library/react';
import { StrictMode, createElement, useState } from 'react';
import type { ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { RealtimeProvider, useConnectionState, usePresence, useRealtime, useRealtimeEvent } from './index.js';
import type { RegisteredEvents } from './index.js';

declare module './register.js' {
  interface RealtimeRegister {
    events: { 'order.created': { id: string; total: number }; 'order.paid': { id: string } };
  }
}

/** A fetch whose streams the test writes to; counts requests and aborts. */
function createServer() {
  const encoder = new TextEncoder();
  const streams: Array<ReadableStreamDefaultController<Uint8Array>> = [];
  const signals: AbortSignal[] = [];
  const fetch: StreamFetch = async (_url, init) => {
    signals.push(init.signal);
    const body = new ReadableStream<Uint8Array>({ start: (c) => void streams.push(c) });
    init.signal.addEventListener('abort', () => {
      try {
        streams[streams.length - 1]?.error(new Error('aborted'));
      } catch {
        // closed
      }
    });
    const res: StreamResponse = {
      status: 200,
      headers: { get: (name) => (name.toLowerCase() === 'content-type' ? 'text/event-stream' : null) },
      body,
      text: async () => '',
    };
    return res;
  };
  return {
    fetch,
    signals,
    async send(frame: string) {
      await act(async () => {
        streams[streams.length - 1]?.enqueue(encoder.encode(frame));
        await new Promise((r) => setTimeout(r, 5));
      });
    },
  };
}

const connected = 'event: connected\ndata: {"channels":["orders","room:1"]}\n\n';
const frame = (id: string, event: string, data: unknown) =>
  `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const tick = () => act(() => new Promise((r) => setTimeout(r, 10)));

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe('<RealtimeProvider options>', () => {
  it('opens one stream under StrictMode’s double effects, and destroys the client on unmount', async () => {
    const server = createServer();
    const options: RealtimeOptions = { url: 'http://cast.test', token: 't', fetch: server.fetch };
    const create = vi.fn(createRealtime<RegisteredEvents>);
    function State() {
      return createElement('p', { 'data-testid': 'state' }, useConnectionState());
    }
    const view = render(
      createElement(StrictMode, null, createElement(RealtimeProvider, { options, create }, createElement(State))),
    );
    await tick();
    expect(create).toHaveBeenCalledTimes(1);
    expect(server.signals).toHaveLength(1);
    await server.send(connected);
    expect(screen.getByTestId('state').textContent).toBe('connected');
    view.unmount();
    await tick();
    expect(server.signals[0]?.aborted).toBe(true);
    expect(create.mock.results[0]?.value.state).toBe('closed');
  });

  it('creates no client and opens no stream on the server; the hooks give their empty values', () => {
    const server = createServer();
    const fetch = vi.fn(server.fetch);
    function Page() {
      const state = useConnectionState();
      const members = usePresence('room:1');
      useRealtimeEvent('order.created', () => {});
      return createElement('p', null, `${state} ${members.length} ${useRealtime() === null}`);
    }
    const html = renderToString(
      createElement(RealtimeProvider, { options: { url: 'http://cast.test', token: 't', fetch } }, createElement(Page)),
    );
    expect(html).toBe('<p>disconnected 0 true</p>');
    expect(fetch).not.toHaveBeenCalled();
  });

  it('throws a clear error when a hook has no provider above it', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(() => renderHook(() => useConnectionState())).toThrowError(/RealtimeProvider/);
  });
});

describe('hooks with <RealtimeProvider client>', () => {
  function setup() {
    const server = createServer();
    const client = createRealtime<RegisteredEvents>({ url: 'http://cast.test', token: 't', fetch: server.fetch });
    const wrapper = ({ children }: { children?: ReactNode }) => createElement(RealtimeProvider, { client }, children);
    return { server, client, wrapper };
  }

  it('useRealtimeEvent calls the latest handler, subscribes once across renders, and unsubscribes on unmount', async () => {
    const { server, client, wrapper } = setup();
    const on = vi.spyOn(client, 'on');
    const seen: string[] = [];
    const hook = renderHook(
      ({ tag }: { tag: string }) =>
        useRealtimeEvent('order.*', (event) => {
          seen.push(`${tag}:${event.type}:${event.data.id}`);
        }),
      { wrapper, initialProps: { tag: 'first' } },
    );
    await tick();
    await server.send(connected);
    await server.send(frame('1-0/orders', 'order.created', { id: 'a', total: 1 }));
    hook.rerender({ tag: 'second' });
    await server.send(frame('1-1/orders', 'order.paid', { id: 'a' }));
    await server.send(frame('1-2/orders', 'ticket.closed', { id: 'x' }));
    expect(seen).toEqual(['first:order.created:a', 'second:order.paid:a']);
    expect(on).toHaveBeenCalledTimes(1);
    hook.unmount();
    await server.send(frame('1-3/orders', 'order.created', { id: 'b', total: 2 }));
    expect(seen).toHaveLength(2);
    // The provider does not own a given client.
    expect(client.state).toBe('connected');
    client.destroy();
  });

  it('useRealtimeEvent resubscribes when the pattern changes', async () => {
    const { server, client, wrapper } = setup();
    const seen: string[] = [];
    const hook = renderHook(
      ({ pattern }: { pattern: string }) => useRealtimeEvent(pattern, (e) => void seen.push(e.type)),
      {
        wrapper,
        initialProps: { pattern: 'order.created' },
      },
    );
    await tick();
    await server.send(connected);
    await server.send(frame('1-0/orders', 'order.created', { id: 'a', total: 1 }));
    hook.rerender({ pattern: 'order.paid' });
    await server.send(frame('1-1/orders', 'order.created', { id: 'b', total: 1 }));
    await server.send(frame('1-2/orders', 'order.paid', { id: 'b' }));
    expect(seen).toEqual(['order.created', 'order.paid']);
    client.destroy();
  });

  it('useConnectionState follows the client', async () => {
    const { server, client, wrapper } = setup();
    const hook = renderHook(() => useConnectionState(), { wrapper });
    await tick();
    expect(hook.result.current).toBe('connecting');
    await server.send(connected);
    expect(hook.result.current).toBe('connected');
    act(() => client.destroy());
    expect(hook.result.current).toBe('closed');
  });

  it('usePresence follows presence.sync, joins and leaves of its channel', async () => {
    const { server, client, wrapper } = setup();
    const hook = renderHook(() => usePresence('room:1'), { wrapper });
    const first = hook.result.current;
    expect(first).toEqual([]);
    await tick();
    await server.send(connected);
    await server.send(
      frame('1-0/room:1', 'presence.sync', {
        channel: 'room:1',
        members: [{ userId: 'ada', userInfo: null, connections: 1 }],
      }),
    );
    expect(hook.result.current.map((m) => m.userId)).toEqual(['ada']);
    await server.send(
      frame('1-1/room:1', 'presence.join', { channel: 'room:1', userId: 'bob', userInfo: { name: 'Bob' } }),
    );
    await server.send(frame('1-2/room:1', 'presence.leave', { channel: 'room:1', userId: 'ada', userInfo: null }));
    expect(hook.result.current).toEqual([{ userId: 'bob', userInfo: { name: 'Bob' }, connections: 1 }]);
    client.destroy();
  });

  it('renders components that use the hooks, re-rendering on events', async () => {
    const { server, client, wrapper } = setup();
    function Orders() {
      const [total, setTotal] = useState(0);
      useRealtimeEvent('order.created', (e) => setTotal((t) => t + e.data.total));
      return createElement('output', null, String(total));
    }
    render(createElement(Orders), { wrapper });
    await tick();
    await server.send(connected);
    await server.send(frame('1-0/orders', 'order.created', { id: 'a', total: 3 }));
    await server.send(frame('1-1/orders', 'order.created', { id: 'b', total: 4 }));
    expect(screen.getByRole('status').textContent).toBe('7');
    client.destroy();
  });
});

describe('types', () => {
  it('types handlers by the registered event map', () => {
    const typeOnly = () => {
      useRealtimeEvent('order.created', (e) => expectTypeOf(e.data).toEqualTypeOf<{ id: string; total: number }>());
      useRealtimeEvent('order.*', (e) => expectTypeOf(e.type).toEqualTypeOf<'order.created' | 'order.paid'>());
      useRealtimeEvent('other.thing', (e) => expectTypeOf(e.data).toEqualTypeOf<unknown>());
    };
    expect(typeof typeOnly).toBe('function');
  });
});
