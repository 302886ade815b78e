import { type CastError, type ConnectionState, type RealtimeEvent, createRealtime } from '@cast/realtime-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, issueToken, publish, startServer } from './helpers/server.js';

let server: TestServer;
const clients: Array<{ destroy(): void }> = [];

beforeAll(async () => {
  server = await startServer();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await server?.stop();
});

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Events = {
  'order.created': { orderId: string; total: number };
  'order.shipped': { orderId: string };
  'ticket.created': { id: number };
};

describe('realtime client against the reference server', () => {
  it('receives events with type, data, id and channel, routed by exact name, prefix and *', async () => {
    const { token } = await issueToken(server, { channels: ['orders', 'user:u1'] });
    const realtime = createRealtime<Events>({ url: server.url, token });
    clients.push(realtime);
    const exact: RealtimeEvent[] = [];
    const orders: string[] = [];
    const all: string[] = [];
    realtime.on('order.created', (e) => {
      exact.push(e);
      const total: number = e.data.total;
      expect(typeof total).toBe('number');
    });
    realtime.on('order.*', (e) => orders.push(e.type));
    realtime.onAny((e) => all.push(`${e.channel}:${e.type}`));
    await waitFor(() => realtime.connected, 'connected');

    const first = await publish(server, {
      channel: 'orders',
      event: 'order.created',
      data: { orderId: 'a1', total: 4999 },
    });
    await publish(server, { channel: 'user:u1', event: 'ticket.created', data: { id: 7 } });
    await publish(server, { channel: 'orders', event: 'order.shipped', data: { orderId: 'a1' } });
    await publish(server, { channel: 'other', event: 'order.created', data: { orderId: 'x', total: 1 } });
    await waitFor(() => all.length >= 3, 'three events');
    // Give the event on a channel outside the token a moment to (wrongly) arrive.
    await new Promise((r) => setTimeout(r, 200));

    expect(first.status).toBe(200);
    expect(exact).toEqual([
      { type: 'order.created', data: { orderId: 'a1', total: 4999 }, id: first.body.eventId, channel: 'orders' },
    ]);
    expect(orders).toEqual(['order.created', 'order.shipped']);
    expect(all).toEqual(['orders:order.created', 'user:u1:ticket.created', 'orders:order.shipped']);
    expect(realtime.lastEventId).toMatch(/^\d+-\d+\/orders$/);
  });

  it('passes types to the server as its filter', async () => {
    const { token } = await issueToken(server, { channels: ['filtered'] });
    const realtime = createRealtime({ url: server.url, token, types: ['ticket.*'] });
    clients.push(realtime);
    const seen: string[] = [];
    realtime.onAny((e) => seen.push(e.type));
    await waitFor(() => realtime.connected, 'connected');
    await publish(server, { channel: 'filtered', event: 'order.created', data: {} });
    await publish(server, { channel: 'filtered', event: 'ticket.closed', data: {} });
    await waitFor(() => seen.length >= 1, 'the ticket event');
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual(['ticket.closed']);
  });

  it('reports states and connection changes, and destroy closes the server session', async () => {
    const { token } = await issueToken(server, { channels: ['lifecycle'], userId: 'life-1' });
    const realtime = createRealtime({ url: server.url, token });
    const states: ConnectionState[] = [];
    const changes: boolean[] = [];
    realtime.onStateChange((s) => states.push(s));
    realtime.onConnectionChange((c) => changes.push(c));
    await waitFor(() => realtime.connected, 'connected');
    const sessions = async () => {
      const res = await fetch(`${server.url}/push/sessions?userId=life-1`, {
        headers: { authorization: `Bearer ${server.apiKey}` },
      });
      return ((await res.json()) as { sessions: unknown[] }).sessions.length;
    };
    expect(await sessions()).toBe(1);
    realtime.destroy();
    const deadline = Date.now() + 5000;
    while ((await sessions()) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await sessions()).toBe(0);
    expect(states).toEqual(['connecting', 'connected', 'closed']);
    expect(changes).toEqual([true, false]);
  });

  it('stops with the server error on a token it refuses', async () => {
    const realtime = createRealtime({ url: server.url, token: 'not-a-token' });
    clients.push(realtime);
    const errors: CastError[] = [];
    realtime.onError((e) => errors.push(e));
    await waitFor(() => errors.length > 0, 'an error');
    expect(errors[0]).toMatchObject({ code: 'INVALID_TOKEN', status: 401, retryable: false });
    await waitFor(() => realtime.state === 'disconnected', 'disconnected');
  });

  it('resumes from a Last-Event-ID the server cannot parse with recovered: false, then receives live events', async () => {
    const { token } = await issueToken(server, { channels: ['orders'] });
    const realtime = createRealtime({ url: server.url, token, lastEventId: 'garbage' });
    clients.push(realtime);
    const errors: CastError[] = [];
    const resumes: Array<{ recovered: boolean; lastEventId: string }> = [];
    const got: RealtimeEvent[] = [];
    realtime.onError((e) => errors.push(e));
    realtime.onResume((info) => resumes.push(info));
    realtime.on('garbage.test', (e) => got.push(e));
    await waitFor(() => realtime.state === 'connected', 'connected');
    await publish(server, { channel: 'orders', event: 'garbage.test', data: { n: 1 } });
    await waitFor(() => got.length === 1, 'the live event');
    expect(resumes).toEqual([{ recovered: false, lastEventId: 'garbage' }]);
    expect(errors).toEqual([]);
  });
});
