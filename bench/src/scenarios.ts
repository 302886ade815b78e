/**
 * The scenarios of a run. Each one measures one target (the baseline hub or
 * the Cast server) and returns figures; the runner pairs them up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { LatencyHistogram } from './stats/histogram.js';
import { type DeliveryCounts, addCounts, emptyCounts } from './stats/ledger.js';
import { createRateSearch } from './stats/rate-search.js';
import { type Hub, Worker, cpuBetween, distPath, freePort, openFiles, sampleProcess, sleep } from './harness.js';
import type { ConnectReply, PollReply, RequestReply, WindowReply } from './load/messages.js';

export const CHANNEL = 'bench';
export const EVENT = 'bench.tick';
export const TENANT = 'bench';

/** What starts a target's hub(s). */
export interface TargetSpec {
  name: 'baseline' | 'cast';
  /** Starts one hub node; `extraEnv` adds e.g. CAST_REDIS_URL. */
  start(extraEnv?: Record<string, string>): Promise<Hub>;
  apiKey: string;
}

/** Sizes and durations of a run. */
export interface RunSettings {
  quick: boolean;
  fanoutSmall: number;
  fanoutLarge: number;
  stepMs: number;
  latencyMs: number;
  memoryConnections: number;
  memoryMax: boolean;
  throughputMs: number;
  throughputConnections: number;
  replayEvents: number;
  subscriberWorkers: number;
  payloadBytes: number;
  redisSubscribers: number;
}

/** CPU use of the hub and of the load generators during a measurement, in cores. */
export interface CpuFigures {
  hubUser: number;
  hubSystem: number;
  load: number;
}

/** One measured figure of one target. */
export interface Measurement {
  value: number;
  /** Details (percentiles, counts, steps). */
  detail: Record<string, unknown>;
  cpu?: CpuFigures;
  /** Reasons this measurement fails the benchmark (loss, duplicates, errors). */
  failures: string[];
}

function failuresOf(counts: DeliveryCounts, dropped: number, malformed: number): string[] {
  const f: string[] = [];
  if (counts.lost) f.push(`${counts.lost} lost`);
  if (counts.duplicated) f.push(`${counts.duplicated} duplicated`);
  if (counts.outOfOrder) f.push(`${counts.outOfOrder} out of order`);
  if (counts.outside) f.push(`${counts.outside} unexpected`);
  if (dropped) f.push(`${dropped} connections dropped`);
  if (malformed) f.push(`${malformed} malformed frames`);
  return f;
}

async function issueToken(url: string, apiKey: string, channels = [CHANNEL]): Promise<string> {
  const res = await fetch(`${url}/push/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channels, ttlSeconds: 3600 }),
  });
  if (!res.ok) throw new Error(`token issue failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** A set of subscriber workers holding connections to one or more hubs. */
class Subscribers {
  readonly workers: Worker[];
  private readonly share: number[] = [];
  private addressBase = Math.floor(Math.random() * 200) * 50_000;

  constructor(count: number) {
    this.workers = Array.from({ length: count }, () => new Worker(distPath('load/subscriber-worker.js')));
  }

  /** Opens `total` connections split over the workers; worker i connects to urls[i % urls.length]. */
  async connect(
    urls: string[],
    token: string,
    total: number,
    window?: { base: number; capacity: number; expectTotal?: number },
    headers?: Record<string, string>,
  ): Promise<ConnectReply[]> {
    const n = this.workers.length;
    const replies = await Promise.all(
      this.workers.map((w, i) => {
        const count = Math.floor(total / n) + (i < total % n ? 1 : 0);
        this.share[i] = (this.share[i] ?? 0) + count;
        const addressIndex = this.addressBase;
        this.addressBase += count + 64;
        return w.call<ConnectReply>(
          {
            type: 'connect',
            url: urls[i % urls.length]!,
            path: `/push/stream?token=${encodeURIComponent(token)}`,
            count,
            addressIndex,
            concurrency: 64,
            timeoutMs: 30_000,
            window,
            headers,
          },
          300_000,
        );
      }),
    );
    return replies;
  }

  async heal(urls: string[], token: string): Promise<void> {
    await Promise.all(
      this.workers.map((w, i) =>
        w.call<ConnectReply>(
          { type: 'heal', url: urls[i % urls.length]!, path: `/push/stream?token=${encodeURIComponent(token)}`, concurrency: 64, timeoutMs: 30_000 },
          300_000,
        ),
      ),
    );
  }

  async window(base: number, capacity: number, expectTotal?: number): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ type: 'window', base, capacity, expectTotal })));
  }

  async poll(): Promise<{ distinct: number; alive: number }> {
    const r = await Promise.all(this.workers.map((w) => w.call<PollReply>({ type: 'poll' })));
    return { distinct: r.reduce((a, x) => a + x.distinct, 0), alive: r.reduce((a, x) => a + x.alive, 0) };
  }

  /** Waits until `expected` distinct deliveries arrived, or nothing arrived for `quietMs`, or `maxMs` passed. */
  async drain(expected: number, quietMs: number, maxMs: number): Promise<void> {
    const end = performance.now() + maxMs;
    let last = -1;
    let lastChange = performance.now();
    while (performance.now() < end) {
      const { distinct } = await this.poll();
      if (distinct >= expected) return;
      if (distinct !== last) {
        last = distinct;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > quietMs) return;
      await sleep(20);
    }
  }

  async close(expected: number): Promise<{ counts: DeliveryCounts; latency: LatencyHistogram; dropped: number; malformed: number; loadCpuMs: number; reports: WindowReply[] }> {
    const reports = await Promise.all(this.workers.map((w) => w.call<WindowReply>({ type: 'close-window', expected })));
    const counts = emptyCounts();
    const latency = new LatencyHistogram();
    let dropped = 0;
    let malformed = 0;
    let loadCpuMs = 0;
    for (const r of reports) {
      addCounts(counts, r.counts);
      latency.merge(r.latency);
      dropped += r.dropped;
      malformed += r.malformed;
      loadCpuMs += (r.cpu.user + r.cpu.system) / 1000;
    }
    return { counts, latency, dropped, malformed, loadCpuMs, reports };
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ type: 'disconnect' })));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}

function connectFailures(replies: ConnectReply[], wanted: number): string[] {
  const ok = replies.reduce((a, r) => a + r.ok, 0);
  if (ok === wanted) return [];
  const errors = [...new Set(replies.flatMap((r) => r.errors))].slice(0, 3);
  return [`${wanted - ok} of ${wanted} connections failed (${errors.join('; ')})`];
}

interface StepResult {
  rate: number;
  passed: boolean;
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failures: string[];
  cpu: CpuFigures;
  publish: { ok: number; failed: number; maxLagMs: number; sample?: string };
}

/** One paced publishing step over connected subscribers, measured end to end. */
async function publishStep(
  hubs: Hub[],
  subs: Subscribers,
  publisher: Worker,
  apiKey: string,
  subscriberCount: number,
  rate: number,
  durationMs: number,
  seq: { next: number },
  payloadBytes: number,
  p99LimitMs: number,
): Promise<StepResult> {
  const count = Math.max(1, Math.round((rate * durationMs) / 1000));
  const base = seq.next;
  seq.next += count;
  await subs.window(base, count);
  const before = hubs.map((h) => sampleProcess(h.pid));
  const pub = await publisher.call<RequestReply>(
    {
      type: 'publish',
      url: hubs[0]!.url,
      apiKey,
      channel: CHANNEL,
      event: EVENT,
      base,
      count,
      rate,
      payloadBytes,
      connections: 16,
      addressIndex: Math.floor(Math.random() * 1e6),
      deadlineMs: durationMs * 2 + 5000,
    },
    durationMs * 3 + 60_000,
  );
  await subs.drain(pub.sent * subscriberCount, 1500, 5000);
  const after = hubs.map((h) => sampleProcess(h.pid));
  const report = await subs.close(pub.sent);
  const cpus = before.map((b, i) => cpuBetween(b, after[i]!));
  const wallMs = Math.max(1, after[0]!.at - before[0]!.at);
  const cpu: CpuFigures = {
    hubUser: cpus.reduce((a, c) => a + c.user, 0),
    hubSystem: cpus.reduce((a, c) => a + c.system, 0),
    load: (report.loadCpuMs + (pub.cpu.user + pub.cpu.system) / 1000) / wallMs,
  };
  const failures = failuresOf(report.counts, report.dropped, report.malformed);
  if (pub.failed) failures.push(`${pub.failed} publishes failed (${pub.sampleError ?? ''})`);
  if (pub.sent < count) failures.push(`only ${pub.sent} of ${count} publishes sent in time`);
  if (pub.maxLagMs > 250) failures.push(`publisher fell ${pub.maxLagMs.toFixed(0)} ms behind`);
  const p99Ms = report.latency.percentile(99) / 1000;
  const passed = failures.length === 0 && p99Ms <= p99LimitMs;
  return {
    rate,
    passed,
    deliveriesPerSec: (report.counts.received * rate) / count,
    p50Ms: report.latency.percentile(50) / 1000,
    p99Ms,
    maxMs: report.latency.max / 1000,
    failures,
    cpu,
    publish: { ok: pub.ok, failed: pub.failed, maxLagMs: pub.maxLagMs, sample: pub.sampleError },
  };
}

/** Waits until a failed step's leftovers stop arriving, then reconnects dropped subscribers. */
async function recover(subs: Subscribers, urls: string[], token: string): Promise<void> {
  let last = -1;
  for (let i = 0; i < 40; i++) {
    const { distinct } = await subs.poll();
    if (distinct === last) break;
    last = distinct;
    await sleep(250);
  }
  await subs.heal(urls, token);
}

/** Options of a fan-out search. */
export interface FanoutOptions {
  subscribers: number;
  startRate: number;
  maxRate: number;
  /** Run the fixed-rate latency measurement (10/s) first on the same connections. */
  latency?: { rate: number; durationMs: number };
  search: boolean;
  /** Extra nodes (Redis scale-out): subscribers are split over all hubs, publishes go to the first. */
  nodes?: number;
  hubEnv?: Record<string, string>;
}

/** Results of {@link fanout}. */
export interface FanoutResult {
  fanout?: Measurement;
  latency?: { p50: Measurement; p99: Measurement; max: Measurement };
}

/**
 * Fan-out: N subscribers on one channel; raise the publish rate until p99
 * latency passes 100 ms or any event is lost. Optionally measures latency at a
 * fixed rate first.
 *
 * @param target - the target
 * @param settings - run settings
 * @param options - sizes
 * @returns the figures
 * @example
 * ```ts
 * await fanout(cast, settings, { subscribers: 1000, startRate: 100, maxRate: 20000, search: true });
 * ```
 */
export async function fanout(target: TargetSpec, settings: RunSettings, options: FanoutOptions): Promise<FanoutResult> {
  const hubs: Hub[] = [];
  const subs = new Subscribers(Math.max(settings.subscriberWorkers, options.nodes ?? 1));
  const publisher = new Worker(distPath('load/request-worker.js'));
  const result: FanoutResult = {};
  try {
    for (let i = 0; i < (options.nodes ?? 1); i++) hubs.push(await target.start(options.hubEnv));
    const urls = hubs.map((h) => h.url);
    const token = await issueToken(urls[0]!, target.apiKey);
    const t0 = performance.now();
    const replies = await subs.connect(urls, token, options.subscribers);
    const connectFail = connectFailures(replies, options.subscribers);
    log(`  ${target.name}: ${options.subscribers} subscribers connected in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (connectFail.length) throw new Error(connectFail.join('; '));
    await sleep(300);
    const seq = { next: 0 };
    // Warm-up (not measured): JIT, buffers and socket paths of both sides.
    const warm = await publishStep(hubs, subs, publisher, target.apiKey, options.subscribers, options.startRate, 1000, seq, settings.payloadBytes, Number.POSITIVE_INFINITY);
    if (!warm.passed) await recover(subs, urls, token);
    if (options.latency) {
      const s = await publishStep(hubs, subs, publisher, target.apiKey, options.subscribers, options.latency.rate, options.latency.durationMs, seq, settings.payloadBytes, Number.POSITIVE_INFINITY);
      log(`  ${target.name}: latency at ${options.latency.rate}/s: p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms, max ${s.maxMs.toFixed(2)} ms ${s.failures.join(', ')}`);
      const detail = { subscribers: options.subscribers, rate: options.latency.rate, durationMs: options.latency.durationMs, p50Ms: s.p50Ms, p99Ms: s.p99Ms, maxMs: s.maxMs };
      result.latency = {
        p50: { value: s.p50Ms, detail, cpu: s.cpu, failures: s.failures },
        p99: { value: s.p99Ms, detail, cpu: s.cpu, failures: s.failures },
        max: { value: s.maxMs, detail, cpu: s.cpu, failures: s.failures },
      };
      if (!s.passed) await recover(subs, urls, token);
    }
    if (options.search) {
      const search = createRateSearch({ start: options.startRate, factor: 2, refine: 2, patience: 2, maxSteps: settings.quick ? 6 : 9, max: options.maxRate });
      const steps: StepResult[] = [];
      for (let rate = search.next(); rate !== undefined; rate = search.next()) {
        const s = await publishStep(hubs, subs, publisher, target.apiKey, options.subscribers, rate, settings.stepMs, seq, settings.payloadBytes, 100);
        steps.push(s);
        log(
          `  ${target.name}: ${rate}/s × ${options.subscribers}: ${s.passed ? 'pass' : 'FAIL'} ${Math.round(s.deliveriesPerSec)} deliveries/s, p99 ${s.p99Ms.toFixed(1)} ms, hub ${(s.cpu.hubUser + s.cpu.hubSystem).toFixed(2)} cores (${s.cpu.hubSystem.toFixed(2)} sys), load ${s.cpu.load.toFixed(2)} ${s.failures.join(', ')}`,
        );
        search.record(s.passed);
        if (!s.passed) await recover(subs, urls, token);
      }
      const best = steps.filter((s) => s.passed).sort((a, b) => b.deliveriesPerSec - a.deliveriesPerSec)[0];
      const firstFail = steps.find((s) => !s.passed && s.rate > (best?.rate ?? 0));
      result.fanout = {
        value: best?.deliveriesPerSec ?? 0,
        detail: {
          subscribers: options.subscribers,
          nodes: options.nodes ?? 1,
          bestRate: best?.rate,
          p99Ms: best?.p99Ms,
          limitedBy: firstFail ? (firstFail.failures.length ? firstFail.failures.join(', ') : `p99 ${firstFail.p99Ms.toFixed(1)} ms`) : 'search ceiling',
          steps,
        },
        cpu: best?.cpu,
        failures: best ? [] : ['no publish rate passed'],
      };
    }
    return result;
  } finally {
    await subs.stop();
    await publisher.stop();
    await Promise.all(hubs.map((h) => h.stop()));
  }
}

async function settleRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(300);
    samples.push(sampleProcess(pid).rssBytes);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

/** Results of {@link memory}. */
export interface MemoryResult {
  perConnection: Measurement;
  perConnectionAtMax?: Measurement;
  maxConnections?: Measurement;
}

/**
 * Idle memory: RSS growth per open stream connection at N connections and at
 * the most one process can hold (its open-files limit, minus a margin).
 *
 * @param target - the target
 * @param settings - run settings
 * @returns the figures
 * @example
 * ```ts
 * await memory(baseline, settings);
 * ```
 */
export async function memory(target: TargetSpec, settings: RunSettings): Promise<MemoryResult> {
  const hub = await target.start();
  const subs = new Subscribers(3);
  const publisher = new Worker(distPath('load/request-worker.js'));
  try {
    const token = await issueToken(hub.url, target.apiKey);
    // Warm up: a few connections and events, so lazy initialisation is not counted per connection.
    await subs.connect([hub.url], token, 30);
    await subs.disconnect();
    const rss0 = await settleRss(hub.pid);
    const n = settings.memoryConnections;
    const replies = await subs.connect([hub.url], token, n);
    const failures = connectFailures(replies, n);
    const rssN = await settleRss(hub.pid);
    const ok = replies.reduce((a, r) => a + r.ok, 0);
    const per = (rssN - rss0) / Math.max(1, ok);
    log(`  ${target.name}: ${ok} idle connections, RSS ${(rss0 / 2 ** 20).toFixed(1)} → ${(rssN / 2 ** 20).toFixed(1)} MiB, ${(per / 1024).toFixed(1)} KiB per connection`);
    const result: MemoryResult = {
      perConnection: { value: per / 1024, detail: { connections: ok, rssBeforeBytes: rss0, rssAfterBytes: rssN }, failures },
    };
    if (settings.memoryMax) {
      const files = openFiles(hub.pid);
      const more = Math.max(0, files.limit - files.open - 64);
      const moreReplies = await subs.connect([hub.url], token, more);
      const total = ok + moreReplies.reduce((a, r) => a + r.ok, 0);
      const rssMax = await settleRss(hub.pid);
      // Prove they are live: one event must reach every one of them.
      await subs.window(0, 1);
      const pub = await publisher.call<RequestReply>({
        type: 'publish', url: hub.url, apiKey: target.apiKey, channel: CHANNEL, event: EVENT, base: 0, count: 1, rate: 1,
        payloadBytes: settings.payloadBytes, connections: 1, addressIndex: Math.floor(Math.random() * 1e6), deadlineMs: 10_000,
      });
      await subs.drain(total, 3000, 20_000);
      const report = await subs.close(pub.sent);
      const maxFailures = [...connectFailures(moreReplies, more), ...failuresOf(report.counts, report.dropped, report.malformed)];
      if (pub.failed) maxFailures.push(`publish failed (${pub.sampleError ?? ''})`);
      const perMax = (rssMax - rss0) / Math.max(1, total);
      log(`  ${target.name}: ${total} connections (open-files limit ${files.limit}), RSS ${(rssMax / 2 ** 20).toFixed(1)} MiB, ${(perMax / 1024).toFixed(1)} KiB per connection; one event reached ${report.counts.received}`);
      result.perConnectionAtMax = { value: perMax / 1024, detail: { connections: total, fileLimit: files.limit, rssAfterBytes: rssMax }, failures: maxFailures };
      result.maxConnections = { value: total, detail: { fileLimit: files.limit, attempted: ok + more }, failures: maxFailures };
    }
    return result;
  } finally {
    await subs.stop();
    await publisher.stop();
    await hub.stop();
  }
}

/**
 * HTTP throughput of one route, closed loop over keep-alive connections. For
 * publishing, one subscriber must receive every accepted event.
 *
 * @param target - the target
 * @param settings - run settings
 * @param kind - which route
 * @returns requests per second
 * @example
 * ```ts
 * await throughput(cast, settings, 'publish');
 * ```
 */
export async function throughput(target: TargetSpec, settings: RunSettings, kind: 'publish' | 'token'): Promise<Measurement> {
  const hub = await target.start();
  const subs = new Subscribers(1);
  const loader = new Worker(distPath('load/request-worker.js'));
  try {
    const token = await issueToken(hub.url, target.apiKey);
    const capacity = 5_000_000;
    if (kind === 'publish') {
      const replies = await subs.connect([hub.url], token, 1);
      const f = connectFailures(replies, 1);
      if (f.length) throw new Error(f.join('; '));
      await subs.window(0, capacity);
    }
    const before = sampleProcess(hub.pid);
    const r = await loader.call<RequestReply>(
      {
        type: 'throughput', url: hub.url, apiKey: target.apiKey, kind, channel: CHANNEL, event: EVENT, base: 0,
        payloadBytes: settings.payloadBytes, connections: settings.throughputConnections,
        addressIndex: Math.floor(Math.random() * 1e6), durationMs: settings.throughputMs,
      },
      settings.throughputMs + 60_000,
    );
    const after = sampleProcess(hub.pid);
    const cpu = cpuBetween(before, after);
    const failures: string[] = [];
    if (r.failed) failures.push(`${r.failed} requests failed (${JSON.stringify(r.statuses)} ${r.sampleError ?? ''})`);
    let loadMs = (r.cpu.user + r.cpu.system) / 1000;
    if (kind === 'publish') {
      await subs.drain(r.sent, 2000, 15_000);
      const report = await subs.close(r.sent);
      failures.push(...failuresOf(report.counts, report.dropped, report.malformed));
      loadMs += report.loadCpuMs;
    }
    const value = r.ok / (r.elapsedMs / 1000);
    const lat = LatencyHistogram.fromJSON(r.latency);
    log(`  ${target.name}: ${kind} ${Math.round(value)} req/s (p99 ${(lat.percentile(99) / 1000).toFixed(2)} ms), hub ${cpu.total.toFixed(2)} cores, load ${(loadMs / (after.at - before.at)).toFixed(2)} ${failures.join(', ')}`);
    return {
      value,
      detail: { requests: r.ok, connections: settings.throughputConnections, durationMs: r.elapsedMs, p50Ms: lat.percentile(50) / 1000, p99Ms: lat.percentile(99) / 1000 },
      cpu: { hubUser: cpu.user, hubSystem: cpu.system, load: loadMs / Math.max(1, after.at - before.at) },
      failures,
    };
  } finally {
    await subs.stop();
    await loader.stop();
    await hub.stop();
  }
}

/**
 * Replay: a client 10k events behind reconnects with `Last-Event-ID`; the
 * time from its request to its last missed event (median of three).
 *
 * @param target - the target
 * @param settings - run settings
 * @returns milliseconds
 * @example
 * ```ts
 * await replay(cast, settings);
 * ```
 */
export async function replay(target: TargetSpec, settings: RunSettings): Promise<Measurement> {
  const hub = await target.start();
  const subs = new Subscribers(1);
  const publisher = new Worker(distPath('load/request-worker.js'));
  const n = settings.replayEvents;
  try {
    const token = await issueToken(hub.url, target.apiKey);
    await subs.connect([hub.url], token, 1);
    await subs.window(0, 1);
    const pub = (base: number, count: number): Promise<RequestReply> =>
      publisher.call<RequestReply>({
        type: 'publish', url: hub.url, apiKey: target.apiKey, channel: CHANNEL, event: EVENT, base, count,
        rate: Number.POSITIVE_INFINITY, payloadBytes: settings.payloadBytes, connections: 16,
        addressIndex: Math.floor(Math.random() * 1e6), deadlineMs: 120_000,
      }, 180_000);
    await pub(0, 1);
    await subs.drain(1, 2000, 5000);
    const first = await subs.close(1);
    const lastId = first.reports[0]?.lastId;
    await subs.disconnect();
    if (!lastId) throw new Error('the first event never arrived');
    const behind = await pub(1, n);
    if (behind.failed) throw new Error(`publishing the backlog failed: ${behind.sampleError ?? ''}`);
    const times: number[] = [];
    const failures: string[] = [];
    let recoveredFalse = 0;
    const before = sampleProcess(hub.pid);
    for (let rep = 0; rep < 3; rep++) {
      const [c] = await subs.connect([hub.url], token, 1, { base: 1, capacity: n, expectTotal: n }, { 'Last-Event-ID': lastId });
      await subs.drain(n, 3000, 60_000);
      const report = await subs.close(n);
      failures.push(...failuresOf(report.counts, report.dropped, report.malformed));
      const done = report.reports[0]!.completedAt;
      times.push(done > 0 ? done - c!.startedAt : Number.NaN);
      recoveredFalse += c!.recoveredFalse;
      await subs.disconnect();
    }
    const after = sampleProcess(hub.pid);
    if (recoveredFalse) failures.push(`recovered:false on ${recoveredFalse} resumes`);
    const sorted = [...times].sort((a, b) => a - b);
    const cpu = cpuBetween(before, after);
    log(`  ${target.name}: replay of ${n} events: ${sorted.map((t) => t.toFixed(0)).join(', ')} ms ${failures.join(', ')}`);
    return { value: sorted[1]!, detail: { events: n, runsMs: times }, cpu: { hubUser: cpu.user, hubSystem: cpu.system, load: Number.NaN }, failures: [...new Set(failures)] };
  } finally {
    await subs.stop();
    await publisher.stop();
    await hub.stop();
  }
}

/** A Redis server started for the scale-out scenario. */
export interface RedisServer {
  url: string;
  stop(): void;
}

/**
 * Starts a throwaway redis-server on a free loopback port (no persistence).
 *
 * @returns the server, or undefined when redis-server is not installed
 * @example
 * ```ts
 * const redis = await startRedis();
 * ```
 */
export async function startRedis(): Promise<RedisServer | undefined> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const ok = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    const deadline = performance.now() + 5000;
    const probe = (): void => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => {
        if (performance.now() > deadline) resolve(false);
        else setTimeout(probe, 100);
      });
    };
    setTimeout(probe, 100);
  });
  if (!ok) {
    child.kill('SIGKILL');
    return undefined;
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

/**
 * Prints a progress line to stderr.
 *
 * @param line - the text
 * @example
 * ```ts
 * log('fan-out 1k: baseline');
 * ```
 */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}
