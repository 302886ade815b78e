import { createMatcher, type EventPosition } from '@cast/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Broker, SessionRecord, StoredEvent } from '../broker/types.js';
import { Metrics } from '../metrics.js';
import type { LifecycleEvent } from '../lifecycle.js';
import { DISCONNECTED_FRAMES, eventFrame, REVOKED_FRAME } from './frames.js';
import { Hub } from './hub.js';
import type { SinkListener, StreamSink } from './sink.js';
import { type CloseReason, type Frame, StreamConnection } from './connection.js';

interface FakeConn {
  conn: StreamConnection;
  offered: Frame[];
  sent: Uint8Array[];
  closedWith: string[];
}

let nextId = 0;
function fakeConn(tenant: string, channels: string[], types: string[] = [], userId?: string): FakeConn {
  const matcher = createMatcher(types);
  const offered: Frame[] = [];
  const sent: Uint8Array[] = [];
  const closedWith: string[] = [];
  const conn = {
    id: `c${nextId++}`,
    tenant,
    channels,
    userId: userId ?? null,
    connectedAt: new Date(0).toISOString(),
    expiresAt: Number.POSITIVE_INFINITY,
    expiryIndex: -1,
    isClosed: false,
    wants: (name: string) => matcher(name),
    offer: (name: string, _at: EventPosition, frame: Frame) => {
      if (!matcher(name)) return false;
      offered.push(frame);
      return true;
    },
    send: (frame: Uint8Array) => sent.push(frame),
    close: (reason: string) => closedWith.push(reason),
  } as unknown as StreamConnection;
  return { conn, offered, sent, closedWith };
}

function fakeBroker() {
  const calls: string[] = [];
  const sessions: SessionRecord[] = [];
  const broker = {
    listen: (t: string, ch: string) => calls.push(`listen ${t}/${ch}`),
    unlisten: (t: string, ch: string) => calls.push(`unlisten ${t}/${ch}`),
    addSession: (s: SessionRecord) => sessions.push(s),
    removeSession: (t: string, id: string) => calls.push(`remove ${t}/${id}`),
  } as unknown as Broker;
  return { broker, calls, sessions };
}

const event = (over: Partial<StoredEvent> = {}): StoredEvent => ({
  position: { ms: 1700000000000, seq: 0 },
  channel: 'orders',
  event: 'order.created',
  data: '{"orderId":"abc123"}',
  messageId: 'm1',
  ...over,
});

const hubs: Hub[] = [];
function newHub(broker: Broker, metrics = new Metrics(), heartbeatMs = 15_000): Hub {
  const hub = new Hub(broker, metrics, heartbeatMs);
  hubs.push(hub);
  return hub;
}
afterEach(() => {
  for (const h of hubs.splice(0)) h.closeAll();
  vi.useRealTimers();
});

describe('Hub', () => {
  it('serializes an event once and hands the same frame to every connection', () => {
    const { broker } = fakeBroker();
    const metrics = new Metrics();
    const hub = newHub(broker, metrics);
    const conns = Array.from({ length: 1000 }, () => fakeConn('acme', ['orders']));
    for (const c of conns) hub.add(c.conn);
    expect(hub.deliver('acme', event())).toBe(1000);
    const first = conns[0]?.offered[0];
    expect(first).toBe('id: 1700000000000-0/orders\nevent: order.created\ndata: {"orderId":"abc123"}\n\n');
    for (const c of conns) {
      expect(c.offered).toHaveLength(1);
      expect(c.offered[0]).toBe(first);
    }
    expect(metrics.deliveries).toBe(1000);
  });

  it('never delivers an event of one tenant to another tenant on the same channel name', () => {
    const { broker } = fakeBroker();
    const hub = newHub(broker);
    const a = fakeConn('acme', ['orders']);
    const b = fakeConn('globex', ['orders']);
    hub.add(a.conn);
    hub.add(b.conn);
    expect(hub.deliver('acme', event())).toBe(1);
    expect(a.offered).toHaveLength(1);
    expect(b.offered).toHaveLength(0);
    expect(hub.deliver('initech', event())).toBe(0);
  });

  it('counts only connections on the channel whose type filter wants the event', () => {
    const { broker } = fakeBroker();
    const hub = newHub(broker);
    const all = fakeConn('acme', ['orders']);
    const tickets = fakeConn('acme', ['orders'], ['ticket.*']);
    const other = fakeConn('acme', ['billing']);
    for (const c of [all, tickets, other]) hub.add(c.conn);
    expect(hub.deliver('acme', event())).toBe(1);
    expect(hub.deliver('acme', event({ event: 'ticket.created' }))).toBe(2);
    expect(tickets.offered).toHaveLength(1);
    expect(other.offered).toHaveLength(0);
    expect(hub.subscribers('acme', 'orders')).toBe(2);
  });

  it('tells the broker when a channel gains its first and loses its last subscriber, and tracks sessions', () => {
    const { broker, calls, sessions } = fakeBroker();
    const metrics = new Metrics();
    const hub = newHub(broker, metrics);
    const a = fakeConn('acme', ['orders', 'user:u1'], [], 'u1');
    const b = fakeConn('acme', ['orders']);
    hub.add(a.conn);
    hub.add(b.conn);
    expect(calls).toEqual(['listen acme/orders', 'listen acme/user:u1']);
    expect(sessions.map((s) => [s.tenant, s.userId, s.channels])).toEqual([
      ['acme', 'u1', ['orders', 'user:u1']],
      ['acme', null, ['orders']],
    ]);
    hub.remove(a.conn, 'client');
    expect(calls.slice(2)).toEqual(['unlisten acme/user:u1', `remove acme/${a.conn.id}`]);
    hub.remove(b.conn, 'slow');
    hub.remove(b.conn, 'slow');
    expect(calls.slice(4)).toEqual(['unlisten acme/orders', `remove acme/${b.conn.id}`]);
    expect(hub.size).toBe(0);
    expect(metrics.slowConsumerDrops).toBe(1);
    expect(metrics.connectionsOpened).toBe(2);
  });

  it('sends a heartbeat comment to every connection each interval', () => {
    vi.useFakeTimers();
    const { broker } = fakeBroker();
    const hub = newHub(broker, new Metrics(), 1000);
    const a = fakeConn('acme', ['orders']);
    const b = fakeConn('globex', ['x']);
    hub.add(a.conn);
    hub.add(b.conn);
    vi.advanceTimersByTime(999);
    expect(a.sent).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(a.sent.map((f) => Buffer.from(f).toString())).toEqual([': hb\n\n']);
    vi.advanceTimersByTime(2000);
    expect(a.sent).toHaveLength(3);
    expect(b.sent).toHaveLength(3);
  });

  it('closes every connection on shutdown and stops the heartbeat', () => {
    vi.useFakeTimers();
    const { broker } = fakeBroker();
    const hub = newHub(broker, new Metrics(), 1000);
    const a = fakeConn('acme', ['orders']);
    hub.add(a.conn);
    hub.closeAll('shutdown');
    expect(a.closedWith).toEqual(['shutdown']);
    vi.advanceTimersByTime(5000);
    expect(a.sent).toHaveLength(0);
  });
});

/** A real connection over a sink that records what it was sent, owned by the hub. */
function expiringConn(hub: Hub, expiresAt: number | undefined) {
  const written: string[] = [];
  const reasons: CloseReason[] = [];
  let listener: SinkListener | undefined;
  const sink: StreamSink = {
    write: (chunk) => written.push(Buffer.from(chunk).toString()),
    pending: 0,
    end: () => listener?.sinkClosed(),
    destroy: () => listener?.sinkClosed(),
    onClose: (l) => {
      listener = l;
    },
    whenDrained: (_threshold, callback) => callback(),
  };
  const conn = new StreamConnection(sink, {
    id: `e${nextId++}`,
    tenant: 'acme',
    channels: ['orders'],
    userId: undefined,
    matcher: createMatcher([]),
    maxPendingBytes: 1 << 20,
    expiresAt,
    owner: {
      remove: (c, reason) => {
        reasons.push(reason);
        hub.remove(c, reason);
      },
    },
  });
  hub.add(conn);
  hub.watchExpiry(conn);
  return { conn, written, reasons, peerLeaves: () => listener?.sinkClosed() };
}

describe('Hub: token expiry', () => {
  const T0 = Date.UTC(2030, 0, 1);
  const DAY = 24 * 3600 * 1000;

  it('ends each stream with an expired frame at its own expiry, to the millisecond', () => {
    vi.useFakeTimers({ now: T0 });
    const { broker, calls } = fakeBroker();
    const hub = newHub(broker, new Metrics(), DAY);
    const late = expiringConn(hub, T0 + 5000);
    const soon = expiringConn(hub, T0 + 2000);
    const never = expiringConn(hub, undefined);
    vi.advanceTimersByTime(1999);
    expect(soon.reasons).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(soon.reasons).toEqual(['expired']);
    expect(soon.written).toEqual([
      `event: expired\ndata: {"reason":"token_expired","expiredAt":"${new Date(T0 + 2000).toISOString()}"}\n\n`,
    ]);
    expect(calls).toContain(`remove acme/${soon.conn.id}`);
    expect(late.reasons).toEqual([]);
    vi.advanceTimersByTime(3000);
    expect(late.reasons).toEqual(['expired']);
    vi.advanceTimersByTime(10 * DAY);
    expect(never.reasons).toEqual([]);
    expect(hub.size).toBe(1);
  });

  it('re-arms for a stream that expires before the one the timer waits for', () => {
    vi.useFakeTimers({ now: T0 });
    const hub = newHub(fakeBroker().broker, new Metrics(), DAY);
    const late = expiringConn(hub, T0 + 60_000);
    const soon = expiringConn(hub, T0 + 1000);
    vi.advanceTimersByTime(1000);
    expect(soon.reasons).toEqual(['expired']);
    expect(late.reasons).toEqual([]);
  });

  it('forgets a stream that closed before its expiry and still ends the next one on time', () => {
    vi.useFakeTimers({ now: T0 });
    const hub = newHub(fakeBroker().broker, new Metrics(), DAY);
    const gone = expiringConn(hub, T0 + 1000);
    const next = expiringConn(hub, T0 + 3000);
    vi.advanceTimersByTime(500);
    gone.peerLeaves();
    vi.advanceTimersByTime(2499);
    expect(gone.reasons).toEqual(['client']);
    expect(gone.written).toEqual([]);
    expect(next.reasons).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(next.reasons).toEqual(['expired']);
  });

  it('ends a stream whose token expired before it was watched at once', () => {
    vi.useFakeTimers({ now: T0 });
    const hub = newHub(fakeBroker().broker, new Metrics(), DAY);
    const stale = expiringConn(hub, T0 - 1);
    vi.advanceTimersByTime(0);
    expect(stale.reasons).toEqual(['expired']);
  });

  it('expires streams whose expiry is beyond the longest timer delay', () => {
    vi.useFakeTimers({ now: T0 });
    const hub = newHub(fakeBroker().broker, new Metrics(), DAY);
    const far = expiringConn(hub, T0 + 30 * DAY);
    vi.advanceTimersByTime(29 * DAY);
    expect(far.reasons).toEqual([]);
    vi.advanceTimersByTime(DAY);
    expect(far.reasons).toEqual(['expired']);
  });
});

describe('Hub control (revoke, disconnect)', () => {
  function setupControl() {
    const events: LifecycleEvent[] = [];
    const hub = new Hub(fakeBroker().broker, new Metrics(), 86_400_000, { lifecycle: (e) => events.push(e) });
    hubs.push(hub);
    const conn = (
      channels: string[],
      userId: string | undefined,
      token: { tokenId?: string; issuedAt?: number },
      tenant = 'acme',
    ) => {
      const f = fakeConn(tenant, channels, [], userId);
      Object.assign(f.conn, { tokenId: token.tokenId, issuedAt: token.issuedAt ?? 1000 });
      hub.add(f.conn);
      return f;
    };
    return { hub, events, conn };
  }
  const text = (frames: Uint8Array[]) => frames.map((f) => Buffer.from(f).toString());

  it('ends the streams a revocation covers with a final revoked event, and reports connection.revoked per channel', () => {
    const { hub, events, conn } = setupControl();
    const old = conn(['orders', 'user:u1'], 'u1', { tokenId: 't-old', issuedAt: 1000 });
    const fresh = conn(['orders'], 'u1', { tokenId: 't-new', issuedAt: 2000 });
    const other = conn(['orders'], 'u2', { tokenId: 't-other', issuedAt: 1000 });
    const elsewhere = conn(['orders'], 'u1', { tokenId: 't-globex', issuedAt: 1000 }, 'globex');
    expect(hub.control('acme', { type: 'revoke', revocation: { kind: 'user', userId: 'u1', before: 2000 } })).toBe(1);
    expect(text(old.sent)).toEqual(['event: revoked\ndata: {"reason":"token_revoked"}\n\n']);
    expect(old.sent[0]).toBe(REVOKED_FRAME);
    expect(old.closedWith).toEqual(['revoked']);
    for (const f of [fresh, other, elsewhere]) expect(f.closedWith).toEqual([]);
    expect(events.map(({ at, ...e }) => e)).toEqual([
      { type: 'connection.revoked', tenant: 'acme', channel: 'orders', userId: 'u1' },
      { type: 'connection.revoked', tenant: 'acme', channel: 'user:u1', userId: 'u1' },
    ]);
    expect(hub.control('acme', { type: 'revoke', revocation: { kind: 'token', tokenId: 't-other', at: 5000 } })).toBe(
      1,
    );
    expect(other.closedWith).toEqual(['revoked']);
    expect(hub.control('nobody', { type: 'revoke', revocation: { kind: 'all', before: 1e15 } })).toBe(0);
  });

  it('disconnects by user or session, only streams holding the channel when one is given, telling whether to reconnect', () => {
    const { hub, events, conn } = setupControl();
    const a = conn(['orders'], 'u1', {});
    const b = conn(['tickets'], 'u1', {});
    const c = conn(['orders'], 'u2', {});
    const anonymous = conn(['orders'], undefined, {});
    expect(hub.control('acme', { type: 'disconnect', userId: 'u1', channel: 'tickets', reconnect: true })).toBe(1);
    expect(b.sent).toEqual([DISCONNECTED_FRAMES.reconnect]);
    expect(text(b.sent)).toEqual([
      'event: disconnected\ndata: {"reason":"disconnected_by_server","reconnect":true}\n\n',
    ]);
    expect(b.closedWith).toEqual(['disconnected']);
    expect(a.closedWith).toEqual([]);
    expect(hub.control('acme', { type: 'disconnect', sessionId: anonymous.conn.id, reconnect: false })).toBe(1);
    expect(text(anonymous.sent)).toEqual([
      'event: disconnected\ndata: {"reason":"disconnected_by_server","reconnect":false}\n\n',
    ]);
    expect(hub.control('acme', { type: 'disconnect', sessionId: 'unknown', reconnect: false })).toBe(0);
    expect(hub.control('acme', { type: 'disconnect', reconnect: false })).toBe(0);
    expect(a.closedWith).toEqual([]);
    expect(c.closedWith).toEqual([]);
    expect(events.map((e) => [e.type, e.channel, e.userId])).toEqual([
      ['connection.revoked', 'tickets', 'u1'],
      ['connection.revoked', 'orders', undefined],
    ]);
  });

  it('never covers a stream without a token issue time by a time-based revocation', () => {
    const { hub, conn } = setupControl();
    const apiKeyStream = conn(['orders'], undefined, { issuedAt: Number.POSITIVE_INFINITY });
    expect(hub.control('acme', { type: 'revoke', revocation: { kind: 'all', before: Date.now() } })).toBe(0);
    expect(apiKeyStream.closedWith).toEqual([]);
  });
});

describe('eventFrame', () => {
  it('puts the position and channel in the id, and the data on one line', () => {
    expect(
      eventFrame(
        event({ position: { ms: 5, seq: 2 }, channel: 'user:u1', event: 'x', data: '{"a":"b\\nc"}' }),
      ).toString(),
    ).toBe('id: 5-2/user:u1\nevent: x\ndata: {"a":"b\\nc"}\n\n');
  });
});
