import { createMatcher } from '@cast/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SinkListener, StreamSink } from './sink.js';
import { type CloseReason, frameBytes, StreamConnection } from './connection.js';

/** A sink whose peer takes `accept` bytes of each write; the rest stays pending. */
function fakeSink(accept: number) {
  const state = { pending: 0, written: [] as Uint8Array[], ended: false, destroyed: false };
  let listener: SinkListener | undefined;
  let drained: { threshold: number; callback: () => void } | undefined;
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
    whenDrained(threshold, callback) {
      if (state.pending <= threshold) callback();
      else drained = { threshold, callback };
    },
  };
  /** The peer takes `bytes` (default: everything pending). */
  const drain = (bytes = Number.POSITIVE_INFINITY) => {
    state.pending = Math.max(0, state.pending - bytes);
    if (drained && state.pending <= drained.threshold) {
      const { callback } = drained;
      drained = undefined;
      callback();
    }
  };
  return { sink, state, drain, peerLeaves: () => listener?.sinkClosed() };
}

function connection(sink: StreamSink, maxPendingBytes: number, stallMs?: number) {
  const closed: CloseReason[] = [];
  const conn = new StreamConnection(sink, {
    id: 'c1',
    tenant: 'acme',
    channels: ['orders'],
    userId: undefined,
    matcher: createMatcher([]),
    maxPendingBytes,
    stallMs,
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

  it('writes a frame queued while the flush writes, with the next flush', async () => {
    const first = fakeSink(Number.POSITIVE_INFINITY);
    const second = fakeSink(Number.POSITIVE_INFINITY);
    const a = connection(first.sink, 1000).conn;
    const b = connection(second.sink, 1000).conn;
    const late = Uint8Array.from([7]);
    // While the flush writes b, a (already flushed) gets another frame.
    const write = second.sink.write.bind(second.sink);
    second.sink.write = (chunk) => {
      write(chunk);
      if (second.state.written.length === 1) a.send(late);
    };
    a.send(Uint8Array.from([1]));
    b.send(Uint8Array.from([2]));
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(first.state.written).toEqual([Uint8Array.from([1]), late]);
    expect(second.state.written).toEqual([Uint8Array.from([2])]);
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

  it("encodes an event's text once per flush for every connection that queued it, and counts its UTF-8 bytes", async () => {
    const a = fakeSink(0);
    const b = fakeSink(0);
    const ca = connection(a.sink, 1000).conn;
    const cb = connection(b.sink, 1000).conn;
    const text = 'data: é\n\n';
    expect(frameBytes(text)).toBe(10);
    ca.send(text);
    cb.send(text);
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.state.written).toHaveLength(1);
    expect(b.state.written[0]).toBe(a.state.written[0]);
    expect(Buffer.from(a.state.written[0]!).toString()).toBe(text);
    // The peer took nothing: what is pending is the UTF-8 length, not the string length.
    expect(a.state.pending).toBe(10);
  });

  it('joins bytes and text queued in one turn, in order, into one write', async () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.send(Buffer.from(': hb\n\n'));
    conn.send('data: ü\n\n');
    conn.send('data: 2\n\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(state.written).toHaveLength(1);
    expect(Buffer.from(state.written[0]!).toString()).toBe(': hb\n\ndata: ü\n\ndata: 2\n\n');
  });

  it('keeps its queue from write to write without carrying a frame over, however many frames each write holds', async () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1 << 20);
    const written = () => Buffer.from(state.written.at(-1)!).toString();
    // Each write holds n frames: fewer than, as many as and more than the one before it, past the
    // longest queue a connection keeps (64) and back.
    const sizes = [3, 5, 2, 1, 4, 70, 2, 66, 3];
    for (const [w, n] of sizes.entries()) {
      const frames = Array.from({ length: n }, (_, i) => `data: ${w}.${i}\n\n`);
      // A byte frame among the text ones from time to time.
      if (w % 3 === 1) frames.splice(1, 0, ': hb\n\n');
      for (const f of frames) conn.send(w % 3 === 1 && f === ': hb\n\n' ? Buffer.from(f) : f);
      await new Promise((resolve) => setImmediate(resolve));
      expect(state.written).toHaveLength(w + 1);
      expect(written()).toBe(frames.join(''));
    }
  });

  it('joins the same frames once for connections whose kept queues held more frames before', async () => {
    const a = fakeSink(Number.POSITIVE_INFINITY);
    const b = fakeSink(Number.POSITIVE_INFINITY);
    const ca = connection(a.sink, 1 << 20).conn;
    const cb = connection(b.sink, 1 << 20).conn;
    // a's queue held five frames once, b's two.
    for (let i = 0; i < 5; i++) ca.send(`data: a${i}\n\n`);
    cb.send('data: b0\n\n');
    cb.send('data: b1\n\n');
    await new Promise((resolve) => setImmediate(resolve));
    const f1 = 'data: 1\n\n';
    const f2 = 'data: 2\n\n';
    for (const conn of [ca, cb]) {
      conn.send(f1);
      conn.send(f2);
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(Buffer.from(a.state.written[1]!).toString()).toBe(f1 + f2);
    expect(b.state.written[1]).toBe(a.state.written[1]);
  });

  it('writes a replay page past the limit without dropping the stream, and resolves once the peer took it', async () => {
    const { sink, state, drain } = fakeSink(0);
    const { conn, closed } = connection(sink, 1000);
    let taken: boolean | undefined;
    void conn.sendPage([{ at: { ms: 1, seq: 0 }, frame: bytes(5000) }]).then((t) => (taken = t));
    expect(state.written.map((w) => w.byteLength)).toEqual([5000]);
    // A heartbeat meanwhile does not get the resuming client dropped.
    conn.send(bytes(4));
    conn.flush();
    expect(closed).toEqual([]);
    await Promise.resolve();
    expect(taken).toBeUndefined();
    drain(4600);
    await Promise.resolve();
    expect(taken).toBe(true);
    // Once taken, the limit applies again.
    drain();
    conn.send(bytes(1001));
    conn.flush();
    expect(closed).toEqual(['slow']);
  });

  it('waits for the peer to take the page down to half the limit before the next is read', async () => {
    const { sink, drain } = fakeSink(0);
    const { conn } = connection(sink, 1000);
    let taken = false;
    void conn
      .sendPage([
        { at: { ms: 1, seq: 0 }, frame: bytes(400) },
        { at: { ms: 1, seq: 1 }, frame: bytes(400) },
      ])
      .then(() => (taken = true));
    drain(200);
    await Promise.resolve();
    expect(taken).toBe(false);
    drain(100);
    await Promise.resolve();
    expect(taken).toBe(true);
  });

  describe('a peer that stops reading during a replay', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('is dropped as a slow consumer when it takes nothing for the stall time', async () => {
      vi.useFakeTimers();
      const { sink, state } = fakeSink(0);
      const { conn, closed } = connection(sink, 1000, 10_000);
      const taken = conn.sendPage([{ at: { ms: 1, seq: 0 }, frame: bytes(800) }]);
      await vi.advanceTimersByTimeAsync(9_999);
      expect(closed).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(closed).toEqual(['slow']);
      expect(state.destroyed).toBe(true);
      expect(await taken).toBe(false);
    });

    it('is kept while it takes some of the page in every stall period', async () => {
      vi.useFakeTimers();
      const { sink, drain } = fakeSink(0);
      const { conn, closed } = connection(sink, 1000, 10_000);
      const taken = conn.sendPage([{ at: { ms: 1, seq: 0 }, frame: bytes(900) }]);
      for (let i = 0; i < 3; i++) {
        drain(100);
        await vi.advanceTimersByTimeAsync(10_000);
      }
      expect(closed).toEqual([]);
      drain();
      expect(await taken).toBe(true);
    });
  });

  it('hands over held live frames on top of a page tail without dropping the client, then applies the limit again', async () => {
    const { sink, drain } = fakeSink(0);
    const { conn, closed } = connection(sink, 1000);
    conn.holdLive();
    expect(conn.offer('x', { ms: 5, seq: 0 }, bytes(900))).toBe(true);
    const taken = conn.sendPage([{ at: { ms: 1, seq: 0 }, frame: bytes(800) }]);
    drain(400);
    expect(await taken).toBe(true);
    conn.goLive({ ms: 1, seq: 0 });
    conn.flush();
    expect(closed).toEqual([]);
    drain(1000);
    conn.send(bytes(4));
    conn.flush();
    conn.send(bytes(700));
    conn.flush();
    expect(closed).toEqual(['slow']);
  });

  it('ends a page wait with false when the peer leaves', async () => {
    const { sink, peerLeaves } = fakeSink(0);
    const { conn, closed } = connection(sink, 1000);
    const taken = conn.sendPage([{ at: { ms: 1, seq: 0 }, frame: bytes(900) }]);
    peerLeaves();
    expect(await taken).toBe(false);
    expect(closed).toEqual(['client']);
  });

  it('skips page frames at or before the last position sent', async () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    await conn.sendPage([
      { at: { ms: 1, seq: 0 }, frame: bytes(1) },
      { at: { ms: 2, seq: 0 }, frame: bytes(2) },
    ]);
    await conn.sendPage([
      { at: { ms: 2, seq: 0 }, frame: bytes(4) },
      { at: { ms: 3, seq: 0 }, frame: bytes(8) },
    ]);
    expect(state.written.map((w) => w.byteLength)).toEqual([3, 8]);
  });

  it('drops held live frames once they pass the limit, says so once, and keeps holding', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    expect(conn.offer('x', { ms: 10, seq: 0 }, bytes(600))).toBe(true);
    expect(conn.takeDropped()).toBe(false);
    expect(conn.offer('x', { ms: 10, seq: 1 }, bytes(600))).toBe(true);
    expect(conn.takeDropped()).toBe(true);
    expect(conn.takeDropped()).toBe(false);
    expect(conn.offer('x', { ms: 10, seq: 2 }, bytes(7))).toBe(true);
    conn.goLive({ ms: 10, seq: 1 });
    conn.flush();
    // Only the frame held after the drop is left; the dropped ones come from the log.
    expect(state.written.map((w) => w.byteLength)).toEqual([7]);
  });

  it('takes no live event at or before the floor a broker gives a fresh stream', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.startAfter({ ms: 10, seq: 1 });
    expect(conn.offer('x', { ms: 10, seq: 1 }, bytes(1))).toBe(false);
    expect(conn.offer('x', { ms: 10, seq: 2 }, bytes(2))).toBe(true);
    conn.flush();
    expect(state.written.map((w) => w.byteLength)).toEqual([2]);
  });

  it('ignores the floor while replaying: the replay covers the log past it', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    conn.startAfter({ ms: 10, seq: 5 });
    expect(conn.offer('x', { ms: 10, seq: 3 }, bytes(3))).toBe(true);
    conn.goLive({ ms: 10, seq: 2 });
    conn.flush();
    expect(state.written.map((w) => w.byteLength)).toEqual([3]);
  });

  it('holds live frames during a replay and releases only those after the replay', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    const [a, b, c] = [bytes(1), bytes(2), bytes(3)];
    expect(conn.offer('x', { ms: 10, seq: 0 }, a)).toBe(true);
    expect(conn.offer('x', { ms: 10, seq: 1 }, b)).toBe(true);
    expect(conn.offer('x', { ms: 11, seq: 0 }, c)).toBe(true);
    conn.goLive({ ms: 10, seq: 1 });
    conn.flush();
    expect(state.written.map((w) => w.byteLength)).toEqual([3]);
  });
});

describe('StreamConnection: when a turn is flushed', () => {
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('writes at the end of the turn when the last flush was cheap', async () => {
    await sleep(5); // whatever an earlier test flushed has long passed
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1 << 20);
    conn.send(bytes(10));
    await turn();
    expect(state.written.map((w) => w.byteLength)).toEqual([10]);
  });

  it('after a flush that took long, waits half its cost so what comes meanwhile goes out in one write', async () => {
    await sleep(5);
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const write = sink.write.bind(sink);
    let slow = true;
    sink.write = (chunk) => {
      write(chunk);
      // The first flush costs about 40 ms, as 10k sockets would.
      const until = performance.now() + 40;
      while (slow && performance.now() < until);
      slow = false;
    };
    const { conn } = connection(sink, 1 << 20);
    conn.send(bytes(1));
    await turn();
    expect(state.written.map((w) => w.byteLength)).toEqual([1]);
    conn.send(bytes(2));
    await turn();
    await sleep(5);
    conn.send(bytes(3));
    // Not yet: the flush waits until about 20 ms after the costly one ended.
    expect(state.written.map((w) => w.byteLength)).toEqual([1]);
    await sleep(40);
    expect(state.written.map((w) => w.byteLength)).toEqual([1, 5]);
  });

  it('writes a long flush in slices, letting other work run between them, each connection once per flush and in order', async () => {
    await sleep(5);
    const order: number[] = [];
    const conns = Array.from({ length: 200 }, (_, i) => {
      const { sink } = fakeSink(Number.POSITIVE_INFINITY);
      const write = sink.write.bind(sink);
      sink.write = (chunk) => {
        // A slow socket: 0.2 ms a write, 40 ms for all, over the 10 ms a slice may take.
        const until = performance.now() + 0.2;
        while (performance.now() < until);
        order.push(i);
        write(chunk);
      };
      return connection(sink, 1000).conn;
    });
    for (const conn of conns) conn.send(Uint8Array.from([1]));
    await turn();
    const afterFirstTurn = order.length;
    expect(afterFirstTurn).toBeGreaterThan(0);
    expect(afterFirstTurn).toBeLessThan(200);
    // A frame queued between slices: connections still to come write it with the first (one
    // write each); those written already take it in the next flush, after this one ends.
    const late = Uint8Array.from([2]);
    for (const conn of conns) conn.send(late);
    for (let i = 0; i < 20 && order.length < 200; i++) await turn();
    expect(order).toHaveLength(200);
    for (let i = 0; i < 100 && order.length < 200 + afterFirstTurn; i++) await sleep(5);
    expect(order).toEqual([
      ...Array.from({ length: 200 }, (_, i) => i),
      ...Array.from({ length: afterFirstTurn }, (_, i) => i),
    ]);
    await sleep(60); // the next test starts after this costly flush's wait has passed
  });
});

describe('StreamConnection: the last position sent', () => {
  const text = (state: { written: Uint8Array[] }) => state.written.map((w) => Buffer.from(w).toString());
  const frame = (s: string) => Buffer.from(s);

  it('drops a live frame at or before the last position it sent', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    expect(conn.offer('x', { ms: 10, seq: 1 }, frame('a'))).toBe(true);
    expect(conn.offer('x', { ms: 10, seq: 1 }, frame('again'))).toBe(false);
    expect(conn.offer('x', { ms: 10, seq: 0 }, frame('older'))).toBe(false);
    expect(conn.offer('x', { ms: 9, seq: 5 }, frame('older ms'))).toBe(false);
    expect(conn.offer('x', { ms: 10, seq: 2 }, frame('b'))).toBe(true);
    expect(conn.offer('x', { ms: 11, seq: 0 }, frame('c'))).toBe(true);
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
    expect(conn.offer('x', { ms: 20, seq: 2 }, frame('dup'))).toBe(false);
    expect(conn.offer('x', { ms: 20, seq: 3 }, frame('dup'))).toBe(false);
    expect(conn.offer('x', { ms: 20, seq: 4 }, frame('n'))).toBe(true);
    conn.flush();
    expect(text(state)).toEqual(['r1r2n']);
  });

  it('sends a held frame once when the broker offered it twice during the replay', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    conn.offer('x', { ms: 5, seq: 0 }, frame('a'));
    conn.offer('x', { ms: 5, seq: 1 }, frame('b'));
    conn.offer('x', { ms: 5, seq: 1 }, frame('b'));
    conn.goLive({ ms: 5, seq: 0 });
    conn.flush();
    expect(text(state)).toEqual(['b']);
  });

  it('releases every held frame after a resume whose replay found nothing', () => {
    const { sink, state } = fakeSink(Number.POSITIVE_INFINITY);
    const { conn } = connection(sink, 1000);
    conn.holdLive();
    conn.offer('x', { ms: 7, seq: 0 }, frame('a'));
    conn.offer('x', { ms: 7, seq: 1 }, frame('b'));
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
    expect(conn.offer('x', { ms: 1, seq: 0 }, bytes(1))).toBe(false);
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
    conn.offer('n', { ms: 1, seq: 0 }, frame('a'));
    conn.holdLive();
    expect(conn.holding).toBe(true);
    conn.offer('n', { ms: 2, seq: 0 }, frame('b'));
    conn.offer('presence.join', { ms: 3, seq: 0 }, frame('join'));
    conn.offer('n', { ms: 5, seq: 0 }, frame('c'));
    conn.offer('presence.leave', { ms: 6, seq: 0 }, frame('leave'));
    conn.resync({ ms: 4, seq: 0 }, [frame('sync')]);
    expect(conn.holding).toBe(false);
    // Anything at or before the sync position arriving late is already covered.
    conn.offer('n', { ms: 4, seq: 0 }, frame('late'));
    conn.offer('n', { ms: 7, seq: 0 }, frame('d'));
    conn.flush();
    const text = state.written.map((w) => new TextDecoder().decode(w)).join('|');
    expect(text).toBe('absynccleaved');
  });
});

describe('StreamConnection presence sync of a new stream', () => {
  const text = (written: Uint8Array[]) => written.map((w) => new TextDecoder().decode(w)).join('|');
  const frame = (s: string) => new TextEncoder().encode(s);

  it("takes the broker's floor while holding for its snapshot: nothing at or before it, then the sync at its position", () => {
    const { sink, state } = fakeSink(Number.MAX_SAFE_INTEGER);
    const { conn } = connection(sink, 1 << 20);
    conn.holdLive(false);
    conn.startAfter({ ms: 10, seq: 1 });
    conn.offer('n', { ms: 10, seq: 1 }, frame('before-floor'));
    conn.offer('presence.join', { ms: 10, seq: 2 }, frame('join'));
    conn.offer('n', { ms: 10, seq: 3 }, frame('a'));
    conn.offer('n', { ms: 10, seq: 5 }, frame('b'));
    conn.resync({ ms: 10, seq: 4 }, [frame('sync')]);
    conn.flush();
    expect(text(state.written)).toBe('async' + 'b');
  });

  it('after a replay, skips held frames the replay covered', () => {
    const { sink, state } = fakeSink(Number.MAX_SAFE_INTEGER);
    const { conn } = connection(sink, 1 << 20);
    conn.holdLive();
    conn.offer('n', { ms: 10, seq: 1 }, frame('replayed'));
    conn.offer('n', { ms: 10, seq: 3 }, frame('a'));
    conn.resync({ ms: 10, seq: 4 }, [frame('sync')], { ms: 10, seq: 2 });
    conn.flush();
    expect(text(state.written)).toBe('async');
  });

  it.each([
    ['at a log position', { ms: 10, seq: 4 } as const],
    ['of an empty log', undefined],
  ])('writes a sync larger than the limit (%s) without dropping the stream, then applies the limit again', (_, at) => {
    const { sink, state, drain } = fakeSink(0);
    const { conn, closed } = connection(sink, 1000);
    conn.holdLive(false);
    conn.offer('n', { ms: 10, seq: 5 }, bytes(300));
    // A channel with many members: its sync is several times the connection's limit.
    conn.resync(at, [bytes(2500), bytes(1500)]);
    conn.flush();
    expect(closed).toEqual([]);
    expect(state.pending).toBe(4300);
    // While the peer reads the sync, live frames may add up to the limit on top of it, not more.
    conn.offer('n', { ms: 10, seq: 6 }, bytes(900));
    conn.flush();
    expect(closed).toEqual([]);
    drain();
    conn.offer('n', { ms: 10, seq: 7 }, bytes(100));
    conn.flush();
    expect(closed).toEqual([]);
    // Read: the limit is the limit again.
    conn.offer('n', { ms: 10, seq: 8 }, bytes(1200));
    conn.flush();
    expect(closed).toEqual(['slow']);
  });

  it('drops a stream whose live frames pass the limit on top of a sync it is still reading', () => {
    const { sink } = fakeSink(0);
    const { conn, closed } = connection(sink, 1000);
    conn.holdLive(false);
    conn.resync({ ms: 10, seq: 4 }, [bytes(3000)]);
    conn.flush();
    conn.offer('n', { ms: 10, seq: 5 }, bytes(1100));
    conn.flush();
    expect(closed).toEqual(['slow']);
  });

  it('ends the stream instead of syncing when held frames were dropped over the limit', () => {
    const { sink, state } = fakeSink(Number.MAX_SAFE_INTEGER);
    const { conn, closed } = connection(sink, 100);
    conn.holdLive(false);
    conn.offer('n', { ms: 10, seq: 1 }, bytes(80));
    conn.offer('n', { ms: 10, seq: 2 }, bytes(80));
    conn.resync({ ms: 10, seq: 4 }, [frame('sync')]);
    conn.flush();
    expect(closed).toEqual(['shutdown']);
    expect(text(state.written)).toBe('');
  });
});
