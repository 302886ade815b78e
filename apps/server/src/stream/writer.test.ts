import { createMatcher } from '@cast/protocol';
import { describe, expect, it } from 'vitest';
import type { SinkListener, StreamSink } from './sink.js';
import { type CloseReason, StreamConnection } from './writer.js';

/** A sink whose peer takes `accept` bytes of each write; the rest stays pending. */
function fakeSink(accept: number) {
  const state = { pending: 0, written: [] as Uint8Array[], ended: false, destroyed: false };
  let listener: SinkListener | undefined;
  const sink: StreamSink = {
    write(chunk) {
      state.written.push(chunk);
      state.pending += Math.max(0, chunk.byteLength - accept);
    },
    get pending() {
      return state.pending;
    },
    end() {
      state.ended = true;
      listener?.sinkClosed();
    },
    destroy() {
      state.destroyed = true;
      listener?.sinkClosed();
    },
    onClose(l) {
      listener = l;
    },
  };
  return { sink, state, drain: () => (state.pending = 0), peerLeaves: () => listener?.sinkClosed() };
}

function connection(sink: StreamSink, maxPendingBytes: number) {
  const closed: CloseReason[] = [];
  const conn = new StreamConnection(sink, {
    id: 'c1',
    tenant: 'acme',
    channels: ['orders'],
    userId: undefined,
    matcher: createMatcher([]),
    maxPendingBytes,
    owner: { remove: (_c, reason) => closed.push(reason) },
  });
  return { conn, closed };
}

const bytes = (n: number) => new Uint8Array(n);

describe('StreamConnection', () => {
  it('drops the connection once its unsent bytes pass the limit', () => {
    const { sink, state } = fakeSink(0);
    const { conn, closed } = connection(sink, 1000);
    conn.send(bytes(600));
    conn.flush();
    expect(closed).toEqual([]);
    conn.send(bytes(600));
    conn.flush();
    expect(closed).toEqual(['slow']);
    expect(state.destroyed).toBe(true);
    expect(conn.isClosed).toBe(true);
  });

  it('writes the frames of one turn in one write', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.send(bytes(10));
    conn.send(bytes(20));
    conn.flush();
    expect(state.written.map((w) => w.byteLength)).toEqual([30]);
  });

  it('gives connections that queued the same frames in one turn the same joined bytes', async () => {
    const a = fakeSink(Number.POSITIVE_INFINITY);
    const b = fakeSink(Number.POSITIVE_INFINITY);
    const c = fakeSink(Number.POSITIVE_INFINITY);
    const ca = connection(a.sink, 1000).conn;
    const cb = connection(b.sink, 1000).conn;
    const cc = connection(c.sink, 1000).conn;
    const f1 = Uint8Array.from([1, 2]);
    const f2 = Uint8Array.from([3]);
    const other = Uint8Array.from([9]);
    for (const conn of [ca, cb]) {
      conn.send(f1);
      conn.send(f2);
    }
    cc.send(f1);
    cc.send(other);
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.state.written).toHaveLength(1);
    expect([...a.state.written[0]!]).toEqual([1, 2, 3]);
    expect(b.state.written[0]).toBe(a.state.written[0]);
    expect([...c.state.written[0]!]).toEqual([1, 2, 9]);
  });

  it('tolerates a replay burst over the limit until the peer catches up, then applies the limit again', () => {
    const { sink, state, drain } = fakeSink(0);
    const { conn, closed } = connection(sink, 1000);
    conn.allowBurst(5000);
    conn.send(bytes(5500));
    conn.flush();
    expect(closed).toEqual([]);
    drain();
    conn.send(bytes(100));
    conn.flush();
    conn.send(bytes(1000));
    conn.flush();
    expect(closed).toEqual(['slow']);
    expect(state.destroyed).toBe(true);
  });

  it('still drops a resuming client that falls behind the burst plus the limit', () => {
    const { sink } = fakeSink(0);
    const { conn, closed } = connection(sink, 1000);
    conn.allowBurst(5000);
    conn.send(bytes(5000));
    conn.flush();
    conn.send(bytes(1001));
    conn.flush();
    expect(closed).toEqual(['slow']);
  });

  it('holds live frames during a replay and releases only those after the replay', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    const [a, b, c] = [bytes(1), bytes(2), bytes(3)];
    expect(conn.offer('x', 10, 0, a)).toBe(true);
    expect(conn.offer('x', 10, 1, b)).toBe(true);
    expect(conn.offer('x', 11, 0, c)).toBe(true);
    conn.goLive({ ms: 10, seq: 1 });
    conn.flush();
    expect(state.written.map((w) => w.byteLength)).toEqual([3]);
  });
});

describe('StreamConnection: the last position sent', () => {
  const text = (state: { written: Uint8Array[] }) => state.written.map((w) => Buffer.from(w).toString());
  const frame = (s: string) => Buffer.from(s);

  it('drops a live frame at or before the last position it sent', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    expect(conn.offer('x', 10, 1, frame('a'))).toBe(true);
    expect(conn.offer('x', 10, 1, frame('again'))).toBe(false);
    expect(conn.offer('x', 10, 0, frame('older'))).toBe(false);
    expect(conn.offer('x', 9, 5, frame('older ms'))).toBe(false);
    expect(conn.offer('x', 10, 2, frame('b'))).toBe(true);
    expect(conn.offer('x', 11, 0, frame('c'))).toBe(true);
    conn.flush();
    expect(text(state)).toEqual(['abc']);
  });

  it('drops live frames the replay covered even when the broker delivers them after the hand-off', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    conn.send(frame('r1'));
    conn.send(frame('r2'));
    conn.goLive({ ms: 20, seq: 3 });
    // A broker that publishes the replayed events on its live path late, after goLive.
    expect(conn.offer('x', 20, 2, frame('dup'))).toBe(false);
    expect(conn.offer('x', 20, 3, frame('dup'))).toBe(false);
    expect(conn.offer('x', 20, 4, frame('n'))).toBe(true);
    conn.flush();
    expect(text(state)).toEqual(['r1r2n']);
  });

  it('sends a held frame once when the broker offered it twice during the replay', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    conn.offer('x', 5, 0, frame('a'));
    conn.offer('x', 5, 1, frame('b'));
    conn.offer('x', 5, 1, frame('b'));
    conn.goLive({ ms: 5, seq: 0 });
    conn.flush();
    expect(text(state)).toEqual(['b']);
  });

  it('releases every held frame after a resume whose replay found nothing', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    conn.offer('x', 7, 0, frame('a'));
    conn.offer('x', 7, 1, frame('b'));
    conn.goLive(undefined);
    conn.flush();
    expect(text(state)).toEqual(['ab']);
  });
});

describe('StreamConnection: lifecycle', () => {
  it('tells its owner once when the peer leaves, and ignores frames afterwards', () => {
    const { sink, state, peerLeaves } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn, closed } = connection(sink, 1000);
    peerLeaves();
    peerLeaves();
    conn.close('shutdown');
    expect(closed).toEqual(['client']);
    expect(conn.offer('x', 1, 0, bytes(1))).toBe(false);
    conn.send(bytes(1));
    conn.flush();
    expect(state.written).toEqual([]);
  });

  it('is its own session record, with the time it connected', () => {
    const { sink } = fakeSink(Number.POSITIVE_INFINITY);
    const before = Date.now();
    const { conn } = connection(sink, 1000);
    expect({ id: conn.id, tenant: conn.tenant, userId: conn.userId, channels: conn.channels }).toEqual({
      id: 'c1',
      tenant: 'acme',
      userId: null,
      channels: ['orders'],
    });
    const at = Date.parse(conn.connectedAt);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
    expect(conn.connectedAt).toBe(new Date(at).toISOString());
  });
});

describe('StreamConnection presence resync', () => {
  it('sends the held events up to the sync position but the presence ones, then the sync, then the later ones, each once', () => {
    const { sink, state } = fakeSink(Number.MAX_SAFE_INTEGER);
    const { conn } = connection(sink, 1 << 20);
    const frame = (s: string) => new TextEncoder().encode(s);
    conn.offer('n', 1, 0, frame('a'));
    conn.holdLive();
    expect(conn.holding).toBe(true);
    conn.offer('n', 2, 0, frame('b'));
    conn.offer('presence.join', 3, 0, frame('join'));
    conn.offer('n', 5, 0, frame('c'));
    conn.offer('presence.leave', 6, 0, frame('leave'));
    conn.resync({ ms: 4, seq: 0 }, [frame('sync')]);
    expect(conn.holding).toBe(false);
    // Anything at or before the sync position arriving late is already covered.
    conn.offer('n', 4, 0, frame('late'));
    conn.offer('n', 7, 0, frame('d'));
    conn.flush();
    const text = state.written.map((w) => new TextDecoder().decode(w)).join('|');
    expect(text).toBe('absynccleaved');
  });
});
