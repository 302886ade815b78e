/**
 * Request load generator (a child process of the runner): publishes events at
 * a paced rate, or drives one route closed-loop over keep-alive connections
 * for a fixed time. Controlled over IPC (see messages.ts).
 */
import { LatencyHistogram } from '../stats/histogram.js';
import { sourceAddress } from './addresses.js';
import { KeepAliveConnection, buildRequest } from './keep-alive-connection.js';
import type { PublishCommand, RequestCommand, RequestReply, ThroughputCommand } from './messages.js';
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
  const headers = { Authorization: `Bearer ${cmd.apiKey}` };
  const started = preciseNow();
  const deadline = started + cmd.durationMs;
  let seq = cmd.base;
  let user = 0;
  const lane = async (conn: KeepAliveConnection): Promise<void> => {
    while (preciseNow() < deadline) {
      const raw =
        cmd.kind === 'publish'
          ? buildRequest(
              'POST',
              '/push/publish',
              url.host,
              cmd.idempotencyKeys ? { ...headers, 'Idempotency-Key': `k${seq}` } : headers,
              publishBody(cmd, seq++),
            )
          : buildRequest(
              'POST',
              '/push/tokens',
              url.host,
              headers,
              `{"channels":["${cmd.channel}"],"userId":"u${user++}"}`,
            );
      await sendOne(conn, raw, t);
      if (!conn.idle) return; // the connection failed: stop this lane, the failure is counted
    }
  };
  await Promise.all(pool.map(lane));
  const elapsed = preciseNow() - started;
  for (const c of pool) c.close();
  return reply(cmd.id, t, elapsed, 0, cpu);
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
