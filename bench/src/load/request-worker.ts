/**
 * Request load generator (a child process of the runner): publishes events at
 * a paced rate, or drives one route closed-loop over keep-alive connections
 * for a fixed time. Controlled over IPC (see messages.ts).
 */
import { LatencyHistogram } from '../stats/histogram.js';
import { sourceAddress } from './addresses.js';
import { KeepAliveConnection, buildRequest } from './keep-alive-connection.js';
import type {
  PublishCommand,
  RequestCommand,
  RequestReply,
  SharedCounts,
  SharedStartCommand,
  ThroughputCommand,
} from './messages.js';
import { makePayload, preciseNow } from './payload.js';

interface Tally {
  sent: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  sampleError?: string;
  latency: LatencyHistogram;
}

function newTally(): Tally {
  return { sent: 0, ok: 0, failed: 0, statuses: {}, latency: new LatencyHistogram() };
}

async function openPool(url: URL, n: number, addressIndex: number): Promise<KeepAliveConnection[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      KeepAliveConnection.open({
        host: url.hostname,
        port: Number(url.port),
        localAddress: sourceAddress(addressIndex + i, 1),
      }),
    ),
  );
}

function publishBody(cmd: { channel: string; event: string; payloadBytes: number }, seq: number): string {
  return `{"channel":"${cmd.channel}","event":"${cmd.event}","data":${makePayload(seq, preciseNow(), cmd.payloadBytes)}}`;
}

async function sendOne(conn: KeepAliveConnection, raw: string, t: Tally): Promise<void> {
  const start = preciseNow();
  t.sent++;
  try {
    const r = await conn.request(raw);
    t.latency.record((preciseNow() - start) * 1000);
    t.statuses[r.status] = (t.statuses[r.status] ?? 0) + 1;
    if (r.status === 200) t.ok++;
    else {
      t.failed++;
      t.sampleError ??= `${r.status} ${r.body.slice(0, 300)}`;
    }
  } catch (e) {
    t.failed++;
    t.statuses.error = (t.statuses.error ?? 0) + 1;
    t.sampleError ??= (e as Error).message;
  }
}

async function publish(cmd: PublishCommand): Promise<RequestReply> {
  const cpu = process.cpuUsage();
  const url = new URL(cmd.url);
  const pool = await openPool(url, cmd.connections, cmd.addressIndex);
  const free = [...pool];
  const t = newTally();
  const headers = { Authorization: `Bearer ${cmd.apiKey}` };
  const started = preciseNow();
  const deadline = started + cmd.deadlineMs;
  const interval = Number.isFinite(cmd.rate) ? 1000 / cmd.rate : 0;
  let i = 0;
  let maxLagMs = 0;
  let inFlight = 0;

  await new Promise<void>((done) => {
    let timer: NodeJS.Timeout | undefined;
    const tick = (): void => {
      timer = undefined;
      const now = preciseNow();
      while (i < cmd.count && now <= deadline && free.length > 0) {
        const due = started + i * interval;
        if (due > now) break;
        maxLagMs = Math.max(maxLagMs, now - due);
        const conn = free.pop()!;
        const seq = cmd.base + i;
        i++;
        inFlight++;
        const raw = buildRequest('POST', '/push/publish', url.host, headers, publishBody(cmd, seq));
        void sendOne(conn, raw, t).then(() => {
          inFlight--;
          free.push(conn);
          if (timer === undefined) tick();
        });
      }
      const finished = i >= cmd.count || preciseNow() > deadline;
      if (finished) {
        if (inFlight === 0) done();
        return;
      }
      if (free.length > 0 && timer === undefined) {
        const wait = Math.max(0, started + i * interval - preciseNow());
        timer = setTimeout(tick, wait);
      }
    };
    tick();
  });
  for (const c of pool) c.close();
  return reply(cmd.id, t, preciseNow() - started, maxLagMs, cpu);
}

async function throughput(cmd: ThroughputCommand): Promise<RequestReply> {
  const cpu = process.cpuUsage();
  const url = new URL(cmd.url);
  const pool = await openPool(url, cmd.connections, cmd.addressIndex);
  const t = newTally();
  const started = preciseNow();
  const deadline = started + cmd.durationMs;
  const next = requestMaker(cmd, url.host, cmd.apiKey, cmd.base);
  const lane = async (conn: KeepAliveConnection): Promise<void> => {
    while (preciseNow() < deadline) {
      await sendOne(conn, next(), t);
      if (!conn.idle) return; // the connection failed: stop this lane, the failure is counted
    }
  };
  await Promise.all(pool.map(lane));
  const elapsed = preciseNow() - started;
  for (const c of pool) c.close();
  return reply(cmd.id, t, elapsed, 0, cpu);
}

/**
 * The requests of a closed loop, one after another: publishes numbered from
 * `base`, or token requests each for another user.
 */
function requestMaker(
  cmd: { kind: 'publish' | 'token'; channel: string; event: string; payloadBytes: number; idempotencyKeys?: boolean },
  host: string,
  apiKey: string,
  base: number,
): () => string {
  const headers = { Authorization: `Bearer ${apiKey}` };
  let seq = base;
  let user = 0;
  return () =>
    cmd.kind === 'publish'
      ? buildRequest(
          'POST',
          '/push/publish',
          host,
          cmd.idempotencyKeys ? { ...headers, 'Idempotency-Key': `k${seq}` } : headers,
          publishBody(cmd, seq++),
        )
      : buildRequest('POST', '/push/tokens', host, headers, `{"channels":["${cmd.channel}"],"userId":"u${user++}"}`);
}

/** The closed loops of `shared-start`, until `shared-stop`. */
let shared: { tallies: Tally[]; pools: KeepAliveConnection[][]; stop: boolean; lanes: Promise<void>[] } | undefined;

async function sharedStart(cmd: SharedStartCommand): Promise<SharedCounts> {
  if (shared) throw new Error('shared load is already running');
  const urls = cmd.hubs.map((h) => new URL(h.url));
  // Connections are opened and started in turns, one per hub, the hub that goes first rotating
  // from turn to turn: no hub's connections all come first (without the rotation, the hubs later
  // in the order read a few percent dearer, the peers' token rows included).
  const n = urls.length;
  const order = (turn: number): number[] => urls.map((_url, k) => (turn + k) % n);
  const pools: KeepAliveConnection[][] = urls.map(() => []);
  for (let i = 0; i < cmd.connections; i++) {
    for (const h of order(i)) {
      const url = urls[h]!;
      pools[h]!.push(
        await KeepAliveConnection.open({
          host: url.hostname,
          port: Number(url.port),
          localAddress: sourceAddress(cmd.addressIndex + i * n + h, 1),
        }),
      );
    }
  }
  const state = { tallies: urls.map(() => newTally()), pools, stop: false, lanes: [] as Promise<void>[] };
  shared = state;
  // Bounded in time even if the runner never says stop.
  setTimeout(() => {
    state.stop = true;
  }, cmd.maxMs).unref();
  // One sequence per hub, shared by its connections.
  const makers = urls.map((url, h) => requestMaker(cmd, url.host, cmd.hubs[h]!.apiKey, 0));
  for (let i = 0; i < cmd.connections; i++) {
    for (const h of order(i)) {
      const next = makers[h]!;
      const conn = pools[h]![i]!;
      const t = state.tallies[h]!;
      state.lanes.push(
        (async () => {
          while (!state.stop && conn.idle) await sendOne(conn, next(), t);
        })(),
      );
    }
  }
  return sharedCounts(cmd.id);
}

function sharedCounts(id: number): SharedCounts {
  const tallies = shared?.tallies ?? [];
  return {
    type: 'shared-counts',
    id,
    ok: tallies.map((t) => t.ok),
    sent: tallies.map((t) => t.sent),
    failed: tallies.map((t) => t.failed),
    sampleErrors: tallies.map((t) => t.sampleError),
  };
}

async function sharedStop(id: number): Promise<SharedCounts> {
  const state = shared;
  if (!state) return sharedCounts(id);
  state.stop = true;
  await Promise.all(state.lanes);
  const counts = sharedCounts(id);
  for (const pool of state.pools) for (const c of pool) c.close();
  shared = undefined;
  return counts;
}

function reply(id: number, t: Tally, elapsedMs: number, maxLagMs: number, cpu: NodeJS.CpuUsage): RequestReply {
  return {
    type: 'requests',
    id,
    sent: t.sent,
    ok: t.ok,
    failed: t.failed,
    statuses: t.statuses,
    sampleError: t.sampleError,
    elapsedMs,
    latency: t.latency.toJSON(),
    maxLagMs,
    cpu: process.cpuUsage(cpu),
  };
}

process.on('message', (raw) => {
  const cmd = raw as RequestCommand;
  const run = async (): Promise<void> => {
    if (cmd.type === 'publish') process.send?.(await publish(cmd));
    else if (cmd.type === 'throughput') process.send?.(await throughput(cmd));
    else if (cmd.type === 'shared-start') process.send?.(await sharedStart(cmd));
    else if (cmd.type === 'shared-count') process.send?.(sharedCounts(cmd.id));
    else if (cmd.type === 'shared-stop') process.send?.(await sharedStop(cmd.id));
    else {
      process.send?.({ type: 'ack', id: cmd.id });
      setTimeout(() => process.exit(0), 50);
    }
  };
  run().catch((e: unknown) => {
    console.error('request worker:', e);
    process.exit(1);
  });
});

process.on('disconnect', () => process.exit(0));
