/**
 * Subscriber load generator (a child process of the runner). Holds many SSE
 * connections, reads every frame, and per measurement window records the
 * publish→receive latency of every delivery and the loss, duplicate and order
 * accounting of every connection. Controlled over IPC (see messages.ts).
 */
import net from 'node:net';
import { LatencyHistogram } from '../stats/histogram.js';
import { DeliveryLedger, addCounts, emptyCounts } from '../stats/ledger.js';
import { sourceAddress } from './addresses.js';
import type { ConnectReply, SubscriberCommand, WindowCommandBody, WorkerReply } from './messages.js';
import { preciseNow, readPayload } from './payload.js';
import { createHttpStreamDecoder } from './http-stream-decoder.js';
import { latin1 } from './bytes.js';
import { createSseScanner, frameEventIs, frameField, readPosition, type ScannedFrame } from './sse-scanner.js';

interface Conn {
  index: number;
  ledger: DeliveryLedger;
  socket: net.Socket | undefined;
  alive: boolean;
  closing: boolean;
  lastId: string | undefined;
}

const conns: Conn[] = [];
const latency = new LatencyHistogram();
let malformed = 0;
let expired = 0;
let dropped = 0;
let windowTotal = 0;
let expectTotal = 0;
let completedAt = 0;
let cpuAtWindow = process.cpuUsage();

/**
 * Every socket reads into this one buffer (`onread`): a read is decoded and
 * scanned before the next, so nothing is allocated per read and no stream
 * machinery runs between the socket and the scanner.
 */
const readBuffer = Buffer.allocUnsafe(64 * 1024);

const position = { ms: 0, seq: 0 };
const payload = { seq: 0, sentAt: 0 };

function send(reply: WorkerReply): void {
  process.send?.(reply);
}

function openWindow(w: WindowCommandBody, targets: Conn[] = conns): void {
  for (const c of targets) c.ledger.open(w.base, w.capacity);
  latency.reset();
  malformed = 0;
  expired = 0;
  dropped = 0;
  windowTotal = 0;
  expectTotal = w.expectTotal ?? 0;
  completedAt = 0;
  cpuAtWindow = process.cpuUsage();
}

interface ConnectOutcome {
  ok: boolean;
  error?: string;
  recovered?: boolean;
}

function connectOne(
  c: Conn,
  url: URL,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (o: ConnectOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const timer = setTimeout(() => {
      settle({ ok: false, error: 'timeout' });
      c.closing = true;
      c.socket?.destroy();
    }, timeoutMs);
    let now = 0;
    const onFrame = (f: ScannedFrame): void => {
      if (f.idStart !== -1) {
        if (!readPosition(f.bytes, f.idStart, f.idEnd, position) || f.dataStart === -1) {
          malformed++;
          return;
        }
        if (!readPayload(f.bytes, f.dataStart, f.dataEnd, payload) || f.dataLines !== 1) {
          malformed++;
          return;
        }
        if (c.ledger.record(payload.seq, position.ms, position.seq) === 0) {
          windowTotal++;
          if (windowTotal === expectTotal) completedAt = preciseNow();
        }
        latency.record((now - payload.sentAt) * 1000);
        if (c === conns[0]) c.lastId = latin1(f.bytes, f.idStart, f.idEnd);
        return;
      }
      if (frameEventIs(f, 'connected')) {
        const data = frameField(f, 'data') ?? '{}';
        let recovered: boolean | undefined;
        try {
          const parsed = JSON.parse(data) as { recovered?: boolean };
          recovered = parsed.recovered;
        } catch {
          malformed++;
        }
        c.alive = true;
        settle({ ok: true, recovered });
        return;
      }
      if (frameEventIs(f, 'expired')) expired++;
    };
    const scanner = createSseScanner(onFrame);
    let status = 0;
    let errorBody = '';
    const decoder = createHttpStreamDecoder({
      onHead: (code) => {
        status = code;
      },
      onBody: (bytes, start, end) => {
        if (status === 200) scanner.feed(bytes, start, end);
        else if (errorBody.length < 500) errorBody += latin1(bytes, start, Math.min(end, start + 500));
      },
      onError: (e) => {
        settle({ ok: false, error: e.message });
        c.closing = true;
        socket.destroy();
      },
    });
    let request = `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n`;
    for (const [k, v] of Object.entries(headers)) request += `${k}: ${v}\r\n`;
    const socket = net.connect({
      host: url.hostname,
      port: Number(url.port),
      localAddress: sourceAddress(c.index),
      onread: {
        buffer: readBuffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          now = preciseNow();
          decoder.feed(buf, 0, n);
          return true;
        },
      },
    });
    c.socket = socket;
    c.closing = false;
    socket.once('connect', () => {
      socket.setNoDelay(true);
      socket.write(`${request}\r\n`);
    });
    const onGone = (e?: Error): void => {
      if (c.alive && !c.closing) dropped++;
      c.alive = false;
      settle({
        ok: false,
        error:
          e?.message ?? (status && status !== 200 ? `${status} ${errorBody.slice(0, 200)}` : 'closed before connected'),
      });
    };
    socket.on('error', onGone);
    socket.on('close', () => onGone());
  });
}

async function connectMany(
  targets: Conn[],
  urlText: string,
  path: string,
  headers: Record<string, string>,
  concurrency: number,
  timeoutMs: number,
  id: number,
): Promise<ConnectReply> {
  const url = new URL(urlText);
  const startedAt = preciseNow();
  const errors: string[] = [];
  let ok = 0;
  let failed = 0;
  let recoveredTrue = 0;
  let recoveredFalse = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < targets.length) {
      const c = targets[next++]!;
      const o = await connectOne(c, url, path, headers, timeoutMs);
      if (o.ok) {
        ok++;
        if (o.recovered === true) recoveredTrue++;
        if (o.recovered === false) recoveredFalse++;
      } else {
        failed++;
        if (errors.length < 5) errors.push(o.error ?? 'unknown');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, targets.length)) }, lane));
  return {
    type: 'connected',
    id,
    ok,
    failed,
    errors,
    elapsedMs: preciseNow() - startedAt,
    startedAt,
    recoveredTrue,
    recoveredFalse,
  };
}

process.on('message', (raw) => {
  const cmd = raw as SubscriberCommand;
  void handle(cmd).catch((e: unknown) => {
    console.error('subscriber worker:', e);
    process.exit(1);
  });
});

async function handle(cmd: SubscriberCommand): Promise<void> {
  switch (cmd.type) {
    case 'connect': {
      const fresh: Conn[] = [];
      for (let i = 0; i < cmd.count; i++) {
        const c: Conn = {
          index: cmd.addressIndex + i,
          ledger: new DeliveryLedger(),
          socket: undefined,
          alive: false,
          closing: false,
          lastId: undefined,
        };
        fresh.push(c);
        conns.push(c);
      }
      if (cmd.window) openWindow(cmd.window, fresh);
      send(await connectMany(fresh, cmd.url, cmd.path, cmd.headers ?? {}, cmd.concurrency, cmd.timeoutMs, cmd.id));
      return;
    }
    case 'window':
      openWindow(cmd);
      send({ type: 'ack', id: cmd.id });
      return;
    case 'poll': {
      let distinct = 0;
      let alive = 0;
      for (const c of conns) {
        distinct += c.ledger.distinct;
        if (c.alive) alive++;
      }
      send({ type: 'poll', id: cmd.id, distinct, alive });
      return;
    }
    case 'close-window': {
      const counts = emptyCounts();
      for (const c of conns) addCounts(counts, c.ledger.close(cmd.expected));
      send({
        type: 'window-report',
        id: cmd.id,
        counts,
        latency: latency.toJSON(),
        dropped,
        malformed,
        expired,
        completedAt,
        lastId: conns[0]?.lastId,
        cpu: process.cpuUsage(cpuAtWindow),
        rssBytes: process.memoryUsage.rss(),
      });
      return;
    }
    case 'heal': {
      const dead = conns.filter((c) => !c.alive);
      for (const c of dead) {
        c.socket?.destroy();
        c.ledger.resetOrder();
      }
      send(await connectMany(dead, cmd.url, cmd.path, {}, cmd.concurrency, cmd.timeoutMs, cmd.id));
      return;
    }
    case 'disconnect':
      for (const c of conns) {
        c.closing = true;
        c.socket?.destroy();
      }
      conns.length = 0;
      send({ type: 'ack', id: cmd.id });
      return;
    case 'exit':
      for (const c of conns) {
        c.closing = true;
        c.socket?.destroy();
      }
      send({ type: 'ack', id: cmd.id });
      setTimeout(() => process.exit(0), 50);
      return;
  }
}

// Never outlive the runner.
process.on('disconnect', () => process.exit(0));
