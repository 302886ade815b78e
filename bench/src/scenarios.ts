/**
 * The scenarios of a run. Each one measures one target (the baseline hub or
 * the Cast server) and returns figures; the runner pairs them up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { Redis } from 'ioredis';
import type { TargetName } from './report.js';
import { LatencyHistogram, percentile } from './stats/histogram.js';
import { type HubRuntime, describeRuntime, parseRuntime, runtimeBetween } from './stats/hub-runtime.js';
import { type DeliveryCounts, addCounts, emptyCounts } from './stats/ledger.js';
import { type PerfUs, describePerfUs, perRequestUs } from './stats/perf-split.js';
import {
  bestStep,
  createFixedRates,
  createRateSearch,
  passedBySearch,
  ratesToRepeat,
  retryReason,
} from './stats/rate-search.js';
import {
  type Hub,
  type PerfRecording,
  type ProcSample,
  Worker,
  costPerRequest,
  cpuBetween,
  distPath,
  freePort,
  hubCore,
  machineBusy,
  openFiles,
  sampleMachine,
  sampleProcess,
  sleep,
  startPerf,
  PERF_HZ,
} from './harness.js';
import type { ConnectReply, PollReply, RequestReply, SharedCounts, WindowReply } from './load/messages.js';

export const CHANNEL = 'bench';
export const EVENT = 'bench.tick';
export const TENANT = 'bench';

/** What starts a target's hub(s). */
export interface TargetSpec {
  name: TargetName;
  /** Starts one hub node; `extraEnv` adds e.g. CAST_REDIS_URL. */
  start(extraEnv?: Record<string, string>): Promise<Hub>;
  apiKey: string;
  /** Its hubs report their event loop and GC in `/metrics` (Cast): fan-out steps read them. */
  reportsRuntime?: boolean;
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
  /** Keep-alive connections of the paced publisher (its most requests in flight). */
  publishConnections: number;
  payloadBytes: number;
  redisSubscribers: number;
  /**
   * Sample the hubs' core with `perf` over the windows of {@link sharedCost}
   * and split each hub's CPU per request by where it went (the hubs must run
   * with `PERF_NODE_ARGS`).
   */
  perf: boolean;
}

/** CPU use of the hub and of the load generators during a measurement, in cores. */
export interface CpuFigures {
  hubUser: number;
  hubSystem: number;
  load: number;
  /** The whole machine (every process, ours and others'), in cores. */
  machine?: number;
  /** The redis-server the hub uses, in cores (measurements over Redis only). */
  redis?: number;
}

const CORES = os.cpus().length;

/** One measured figure of one target. */
export interface Measurement {
  value: number;
  /** Details (percentiles, counts, steps). */
  detail: Record<string, unknown>;
  cpu?: CpuFigures;
  /** Reasons this measurement fails the benchmark (loss, duplicates, errors). */
  failures: string[];
}

/**
 * Why a measurement fails. `late` says the wait for its deliveries ended at
 * its deadline while they were still arriving: those missing then were late
 * (a hub far behind), not known to be lost.
 */
function failuresOf(counts: DeliveryCounts, dropped: number, malformed: number, late = false): string[] {
  const f: string[] = [];
  if (counts.lost)
    f.push(late ? `${counts.lost} not received by the drain deadline, still arriving` : `${counts.lost} lost`);
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
          {
            type: 'heal',
            url: urls[i % urls.length]!,
            path: `/push/stream?token=${encodeURIComponent(token)}`,
            concurrency: 64,
            timeoutMs: 30_000,
          },
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

  /**
   * Waits for `expected` deliveries: `all` when they came, `stalled` when none
   * came for `quietMs`, `deadline` when `maxMs` passed with deliveries still coming.
   */
  async drain(expected: number, quietMs: number, maxMs: number): Promise<'all' | 'stalled' | 'deadline'> {
    const end = performance.now() + maxMs;
    let last = -1;
    let lastChange = performance.now();
    while (performance.now() < end) {
      const { distinct } = await this.poll();
      if (distinct >= expected) return 'all';
      if (distinct !== last) {
        last = distinct;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > quietMs) return 'stalled';
      await sleep(20);
    }
    return 'deadline';
  }

  async close(expected: number): Promise<{
    counts: DeliveryCounts;
    latency: LatencyHistogram;
    dropped: number;
    malformed: number;
    loadCpuMs: number;
    reports: WindowReply[];
  }> {
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

/** Issues a token and opens one subscriber on a hub; throws when it does not connect. */
async function connectOne(subs: Subscribers, url: string, apiKey: string): Promise<void> {
  const token = await issueToken(url, apiKey);
  const f = connectFailures(await subs.connect([url], token, 1), 1);
  if (f.length) throw new Error(f.join('; '));
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
  latency: LatencyHistogram;
  /** Each hub's event loop and GC during the step (targets that report them). */
  runtime?: HubRuntime[];
  /** Set on the second measurement of a search's best rate: the rate it confirms. */
  confirms?: number;
  /** Set on a later measurement of a passed rate for the step comparison: the rate it measures again. */
  repeats?: number;
}

/** One paced publishing step over connected subscribers, measured end to end. */
async function publishStep(
  hubs: Hub[],
  subs: Subscribers,
  publishers: Array<{ worker: Worker; apiKey: string }>,
  subscriberCount: number,
  rate: number,
  durationMs: number,
  seq: { next: number },
  payloadBytes: number,
  p99LimitMs: number,
  publishConnections: number,
  reportsRuntime: boolean,
): Promise<StepResult> {
  const count = Math.max(1, Math.round((rate * durationMs) / 1000));
  const base = seq.next;
  seq.next += count;
  await subs.window(base, count);
  // Opens each hub's event-loop window for this step.
  const runtime0 = reportsRuntime ? await Promise.all(hubs.map((h) => scrapeRuntime(h.url))) : [];
  const before = hubs.map((h) => sampleProcess(h.pid));
  const machine0 = sampleMachine();
  const pubs = await Promise.all(
    publishers.map(({ worker, apiKey }) =>
      worker.call<RequestReply>(
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
          connections: publishConnections,
          addressIndex: Math.floor(Math.random() * 1e6),
          deadlineMs: durationMs * 2 + 5000,
        },
        durationMs * 3 + 60_000,
      ),
    ),
  );
  // Each subscriber sees one tenant's events: the fewest any tenant's publisher sent.
  const pub = pubs.reduce((a, b) => ({
    ...a,
    sent: Math.min(a.sent, b.sent),
    ok: a.ok + b.ok,
    failed: a.failed + b.failed,
    maxLagMs: Math.max(a.maxLagMs, b.maxLagMs),
    sampleError: a.sampleError ?? b.sampleError,
    cpu: { user: a.cpu.user + b.cpu.user, system: a.cpu.system + b.cpu.system },
  }));
  const drained = await subs.drain(pub.sent * subscriberCount, 1500, 5000);
  const after = hubs.map((h) => sampleProcess(h.pid));
  const machine = machineBusy(machine0, sampleMachine(), CORES);
  const runtime1 = reportsRuntime ? await Promise.all(hubs.map((h) => scrapeRuntime(h.url))) : [];
  const report = await subs.close(pub.sent);
  const cpus = before.map((b, i) => cpuBetween(b, after[i]!));
  const wallMs = Math.max(1, after[0]!.at - before[0]!.at);
  const cpu: CpuFigures = {
    hubUser: cpus.reduce((a, c) => a + c.user, 0),
    hubSystem: cpus.reduce((a, c) => a + c.system, 0),
    load: (report.loadCpuMs + (pub.cpu.user + pub.cpu.system) / 1000) / wallMs,
    machine,
  };
  const failures = failuresOf(report.counts, report.dropped, report.malformed, drained === 'deadline');
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
    latency: report.latency,
    ...runtimeOf(runtime0, runtime1),
  };
}

/** A hub's runtime figures now, from its `/metrics`; undefined when it has none or does not answer. */
async function scrapeRuntime(url: string): Promise<HubRuntime | undefined> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? parseRuntime(await res.text()) : undefined;
  } catch {
    return undefined;
  }
}

/** The step's `runtime` field: every hub's figures, or none when any scrape came back empty. */
function runtimeOf(
  before: ReadonlyArray<HubRuntime | undefined>,
  after: ReadonlyArray<HubRuntime | undefined>,
): { runtime?: HubRuntime[] } {
  if (before.length === 0 || before.length !== after.length) return {};
  const figures: HubRuntime[] = [];
  for (const [i, b] of before.entries()) {
    const a = after[i];
    if (!b || !a) return {};
    figures.push(runtimeBetween(b, a));
  }
  return { runtime: figures };
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
  /** Measure latency at a fixed rate first, on the same connections. */
  latency?: { rate: number; durationMs: number };
  search: boolean;
  /** A step fails when its p99 latency passes this, ms. */
  p99LimitMs: number;
  /**
   * Measure exactly these rates, in order, instead of searching (no retries, no
   * confirmation): for comparing builds step by step. @defaultValue a search
   */
  rates?: readonly number[];
  /**
   * After the searches, measure again `times` times, the targets alternating,
   * every rate that `reference`'s search and another of `compared`'s passed,
   * on those targets only: the step comparison then reads each rate's median
   * p99, not one short step's. Not with `rates`. @defaultValue no repeats
   */
  repeat?: { reference: string; compared: readonly string[]; times: number };
  /** Hub nodes per target (Redis scale-out): subscribers are split over them, publishes go to the first. */
  nodes?: number;
  hubEnv?: Record<string, string>;
  /**
   * API keys of several tenants (in `hubEnv`'s CAST_API_KEYS): subscribers are split evenly over
   * them and every event is published to each tenant, so each subscriber still sees every
   * sequence number once. @defaultValue the target's one key
   */
  apiKeys?: string[];
}

/** Results of {@link fanout} for one target. */
export interface FanoutResult {
  /** Why the target could not be measured. */
  error?: string;
  fanout?: Measurement;
  /** The hub's CPU per delivery, µs, at the step of {@link COST_DELIVERIES_PER_SEC}. */
  cost?: Measurement;
  latency?: { p50: Measurement; p99: Measurement; max: Measurement };
}

/**
 * The step at which a search measures what one delivery costs the hub: 100/s
 * to 1k subscribers, 10/s to 10k. Every target runs it (a search starts low
 * and doubles), and the cost does not depend on where the p99 bound falls.
 */
export const COST_DELIVERIES_PER_SEC = 100_000;

interface Session {
  target: TargetSpec;
  hubs: Hub[];
  urls: string[];
  subs: Subscribers;
  /** One publisher per tenant. */
  publishers: Array<{ worker: Worker; apiKey: string }>;
  token: string;
  seq: { next: number };
  result: FanoutResult;
  error?: unknown;
}

async function openSession(target: TargetSpec, settings: RunSettings, options: FanoutOptions): Promise<Session> {
  const hubs: Hub[] = [];
  const subs = new Subscribers(Math.max(settings.subscriberWorkers, options.nodes ?? 1));
  const apiKeys = options.apiKeys ?? [target.apiKey];
  const publishers = apiKeys.map((apiKey) => ({ worker: new Worker(distPath('load/request-worker.js')), apiKey }));
  const session: Session = { target, hubs, urls: [], subs, publishers, token: '', seq: { next: 0 }, result: {} };
  try {
    await connectSession(session, options);
  } catch (e) {
    // What was started goes with the failure: a hub that did not start must not leave the run's workers alive.
    await closeSession(session);
    throw e;
  }
  return session;
}

async function connectSession(session: Session, options: FanoutOptions): Promise<void> {
  const { target, hubs, subs, publishers } = session;
  for (let i = 0; i < (options.nodes ?? 1); i++) hubs.push(await target.start(options.hubEnv));
  session.urls = hubs.map((h) => h.url);
  // Every tenant gets the same sequence numbers, so a healed connection of any tenant fits the window.
  const tokens = await Promise.all(publishers.map((p) => issueToken(session.urls[0]!, p.apiKey)));
  session.token = tokens[0]!;
  const t0 = performance.now();
  const replies: ConnectReply[] = [];
  for (const [k, token] of tokens.entries()) {
    const share = Math.floor(options.subscribers / tokens.length) + (k < options.subscribers % tokens.length ? 1 : 0);
    replies.push(...(await subs.connect(session.urls, token, share)));
  }
  const connectFail = connectFailures(replies, options.subscribers);
  log(
    `  ${target.name}: ${options.subscribers} subscribers connected in ${((performance.now() - t0) / 1000).toFixed(1)} s${hubs.length > 1 ? ` over ${hubs.length} nodes` : ''}`,
  );
  if (connectFail.length) throw new Error(connectFail.join('; '));
}

async function closeSession(s: Session): Promise<void> {
  await s.subs.stop();
  await Promise.all(s.publishers.map((p) => p.worker.stop()));
  await Promise.all(s.hubs.map((h) => h.stop()));
}

function step(
  s: Session,
  settings: RunSettings,
  options: FanoutOptions,
  rate: number,
  durationMs: number,
  p99LimitMs: number,
): Promise<StepResult> {
  return publishStep(
    s.hubs,
    s.subs,
    s.publishers,
    options.subscribers,
    rate,
    durationMs,
    s.seq,
    settings.payloadBytes,
    p99LimitMs,
    settings.publishConnections,
    s.target.reportsRuntime ?? false,
  );
}

function describeStep(name: string, subscribers: number, st: StepResult): string {
  return `  ${name}: ${st.rate}/s × ${subscribers}: ${st.passed ? 'pass' : 'FAIL'} ${Math.round(st.deliveriesPerSec)} deliveries/s, p99 ${st.p99Ms.toFixed(1)} ms, hub ${(st.cpu.hubUser + st.cpu.hubSystem).toFixed(2)} cores (${st.cpu.hubSystem.toFixed(2)} kernel), load ${st.cpu.load.toFixed(2)}${st.runtime ? `, ${st.runtime.map(describeRuntime).join(' | ')}` : ''} ${st.failures.join(', ')}`;
}

/**
 * Fan-out: N subscribers on one channel; raise the publish rate until p99
 * latency passes 100 ms or any event is lost. Optionally measures latency at a
 * fixed rate first. The targets run side by side and their steps alternate,
 * so a neighbour's CPU burst on a shared machine hits both alike. A step that
 * misses the p99 bound narrowly at the knee is measured once more, and each
 * search's best rate is measured again after every search is done: the figure
 * is the highest rate that passed twice (see `retryReason`, `bestStep`).
 *
 * @param targets - the targets, all measured in the same run
 * @param settings - run settings
 * @param options - sizes
 * @returns the figures of each target, by name
 * @example
 * ```ts
 * await fanout([baseline, cast], settings, { subscribers: 1000, startRate: 100, maxRate: 20000, search: true });
 * ```
 */
export async function fanout(
  targets: TargetSpec[],
  settings: RunSettings,
  options: FanoutOptions,
): Promise<Map<string, FanoutResult>> {
  const sessions: Session[] = [];
  const out = new Map<string, FanoutResult>();
  try {
    for (const t of targets) {
      try {
        sessions.push(await openSession(t, settings, options));
      } catch (e) {
        const message = (e as Error).message.split('\n')[0]!;
        out.set(t.name, { error: message });
        log(`  ${t.name}: ERROR ${message}`);
      }
    }
    await sleep(300);
    // Warm-up (not measured): JIT, buffers and socket paths of both sides.
    for (const s of sessions) {
      const warm = await step(s, settings, options, options.startRate, 1000, Number.POSITIVE_INFINITY);
      if (!warm.passed) await recover(s.subs, s.urls, s.token);
    }
    if (options.latency) {
      const segments = settings.quick ? 2 : 4;
      const merged = new Map<Session, { hist: LatencyHistogram; failures: string[]; cpu: CpuFigures[] }>();
      for (let seg = 0; seg < segments; seg++) {
        for (const s of sessions) {
          const st = await step(
            s,
            settings,
            options,
            options.latency.rate,
            options.latency.durationMs / segments,
            Number.POSITIVE_INFINITY,
          );
          const m = merged.get(s) ?? { hist: new LatencyHistogram(), failures: [], cpu: [] };
          m.hist.merge(st.latency);
          m.failures.push(...st.failures);
          m.cpu.push(st.cpu);
          merged.set(s, m);
          if (!st.passed) await recover(s.subs, s.urls, s.token);
        }
      }
      for (const s of sessions) {
        const m = merged.get(s)!;
        const cpu = averageCpu(m.cpu);
        const p50 = m.hist.percentile(50) / 1000;
        const p99 = m.hist.percentile(99) / 1000;
        const max = m.hist.max / 1000;
        log(
          `  ${s.target.name}: latency at ${options.latency.rate}/s × ${options.subscribers}: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(2)} ms, hub ${(cpu.hubUser + cpu.hubSystem).toFixed(2)} cores ${m.failures.join(', ')}`,
        );
        const detail = {
          subscribers: options.subscribers,
          rate: options.latency.rate,
          durationMs: options.latency.durationMs,
          segments,
          deliveries: m.hist.count,
          p50Ms: p50,
          p99Ms: p99,
          maxMs: max,
        };
        const failures = [...new Set(m.failures)];
        s.result.latency = {
          p50: { value: p50, detail, cpu, failures },
          p99: { value: p99, detail, cpu, failures },
          max: { value: max, detail, cpu, failures },
        };
      }
    }
    if (options.search) {
      const searches = new Map<Session, { search: ReturnType<typeof createRateSearch>; steps: StepResult[] }>();
      for (const s of sessions) {
        searches.set(s, {
          search: options.rates
            ? createFixedRates(options.rates)
            : createRateSearch({
                start: options.startRate,
                factor: 2,
                refine: 2,
                patience: 2,
                maxSteps: settings.quick ? 6 : 10,
                max: options.maxRate,
              }),
          steps: [],
        });
      }
      for (let active = true; active;) {
        active = false;
        for (const s of sessions) {
          const state = searches.get(s)!;
          const rate = state.search.next();
          if (rate === undefined) continue;
          active = true;
          let st: StepResult = await step(s, settings, options, rate, settings.stepMs, options.p99LimitMs);
          // With fixed rates, a rate listed again is a repeat of the first measurement there, as in a search's repeats.
          if (options.rates && state.steps.some((x) => x.rate === rate)) st = { ...st, repeats: rate };
          state.steps.push(st);
          log(describeStep(s.target.name, options.subscribers, st));
          const retry =
            !options.rates &&
            retryReason(st, state.search.best(), options.p99LimitMs, othersBusy(st.cpu), OTHERS_BUSY_CORES);
          if (retry) {
            await recover(s.subs, s.urls, s.token);
            st = await step(s, settings, options, rate, settings.stepMs, options.p99LimitMs);
            state.steps.push(st);
            log(`${describeStep(s.target.name, options.subscribers, st)} (retried: ${retry})`);
          }
          state.search.record(st.passed);
          if (!st.passed) await recover(s.subs, s.urls, s.token);
        }
      }
      // The best rate of each search is measured once more, the targets alternating:
      // a rate counts when it passes twice, so one lucky step does not make the figure.
      for (const s of options.rates ? [] : sessions) {
        const state = searches.get(s)!;
        const top = bestStep(state.steps);
        if (!top) continue;
        const st = {
          ...(await step(s, settings, options, top.rate, settings.stepMs, options.p99LimitMs)),
          confirms: top.rate,
        };
        state.steps.push(st);
        log(`${describeStep(s.target.name, options.subscribers, st)} (confirming the best rate)`);
        if (!st.passed) await recover(s.subs, s.urls, s.token);
      }
      const repeated = options.rates ? undefined : options.repeat;
      const reference = sessions.find((s) => s.target.name === repeated?.reference);
      if (repeated && reference) {
        const compared = sessions.filter((s) => s !== reference && repeated.compared.includes(s.target.name));
        const rates = ratesToRepeat(
          searches.get(reference)!.steps,
          compared.map((s) => searches.get(s)!.steps),
        );
        for (let round = 0; round < repeated.times; round++) {
          for (const rate of rates) {
            for (const s of [reference, ...compared]) {
              const state = searches.get(s)!;
              if (!state.steps.some((x) => x.rate === rate && passedBySearch(x))) continue;
              const st = {
                ...(await step(s, settings, options, rate, settings.stepMs, options.p99LimitMs)),
                repeats: rate,
              };
              state.steps.push(st);
              log(`${describeStep(s.target.name, options.subscribers, st)} (repeated for the step comparison)`);
              if (!st.passed) await recover(s.subs, s.urls, s.token);
            }
          }
        }
      }
      for (const s of sessions) {
        const { steps } = searches.get(s)!;
        const best = bestStep(steps);
        const firstFail = steps
          .filter((x) => !x.passed && x.rate > (best?.rate ?? 0))
          .sort((a, b) => a.rate - b.rate)[0];
        s.result.fanout = {
          value: best?.deliveriesPerSec ?? 0,
          detail: {
            subscribers: options.subscribers,
            nodes: options.nodes ?? 1,
            bestRate: best?.rate,
            p99Ms: best?.p99Ms,
            p99LimitMs: options.p99LimitMs,
            limitedBy: firstFail
              ? firstFail.failures.length
                ? firstFail.failures.join(', ')
                : `p99 ${firstFail.p99Ms.toFixed(1)} ms at ${firstFail.rate}/s`
              : 'search ceiling',
            failCpu: firstFail?.cpu,
            steps: steps.map(({ latency: _, ...rest }) => rest),
          },
          cpu: best?.cpu,
          failures: [
            ...(best ? [] : ['no publish rate passed']),
            // A rate the search passed that loses or duplicates an event when measured again is a fault, not noise.
            ...steps
              .filter((x) => x.repeats !== undefined && x.failures.length > 0)
              .map((x) => `${x.rate}/s measured again: ${x.failures.join(', ')}`),
          ],
        };
        // The last measurement at that rate (a retried step, or the confirmation of the best rate, measured it again).
        const at = [...steps].reverse().find((x) => x.rate * options.subscribers === COST_DELIVERIES_PER_SEC);
        if (at && at.deliveriesPerSec > 0) {
          s.result.cost = {
            value: ((at.cpu.hubUser + at.cpu.hubSystem) / at.deliveriesPerSec) * 1e6,
            detail: { subscribers: options.subscribers, rate: at.rate, passed: at.passed, p99Ms: at.p99Ms },
            cpu: at.cpu,
            failures: [],
          };
        }
      }
    }
    for (const s of sessions) out.set(s.target.name, s.result);
    return out;
  } catch (e) {
    const message = (e as Error).message.split('\n')[0]!;
    for (const s of sessions) out.set(s.target.name, { error: message });
    return out;
  } finally {
    for (const s of sessions) await closeSession(s);
  }
}

/** Cores of other processes above which a failed step is measured again. */
const OTHERS_BUSY_CORES = 0.5;

function othersBusy(cpu: CpuFigures): number {
  if (cpu.machine === undefined || Number.isNaN(cpu.machine)) return 0;
  return Math.max(0, cpu.machine - cpu.hubUser - cpu.hubSystem - (Number.isNaN(cpu.load) ? 0 : cpu.load));
}

function averageCpu(list: CpuFigures[]): CpuFigures {
  const n = Math.max(1, list.length);
  return {
    hubUser: list.reduce((a, c) => a + c.hubUser, 0) / n,
    hubSystem: list.reduce((a, c) => a + c.hubSystem, 0) / n,
    load: list.reduce((a, c) => a + c.load, 0) / n,
    machine: list.reduce((a, c) => a + (c.machine ?? Number.NaN), 0) / n,
    ...(list.some((c) => c.redis !== undefined) ? { redis: list.reduce((a, c) => a + (c.redis ?? 0), 0) / n } : {}),
  };
}

async function settleRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(300);
    samples.push(sampleProcess(pid).rssBytes);
  }
  return percentile(samples, 50);
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
    log(
      `  ${target.name}: ${ok} idle connections, RSS ${(rss0 / 2 ** 20).toFixed(1)} → ${(rssN / 2 ** 20).toFixed(1)} MiB, ${(per / 1024).toFixed(1)} KiB per connection`,
    );
    const result: MemoryResult = {
      perConnection: {
        value: per / 1024,
        detail: { connections: ok, rssBeforeBytes: rss0, rssAfterBytes: rssN },
        failures,
      },
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
        type: 'publish',
        url: hub.url,
        apiKey: target.apiKey,
        channel: CHANNEL,
        event: EVENT,
        base: 0,
        count: 1,
        rate: 1,
        payloadBytes: settings.payloadBytes,
        connections: 1,
        addressIndex: Math.floor(Math.random() * 1e6),
        deadlineMs: 10_000,
      });
      await subs.drain(total, 3000, 20_000);
      const report = await subs.close(pub.sent);
      const maxFailures = [
        ...connectFailures(moreReplies, more),
        ...failuresOf(report.counts, report.dropped, report.malformed),
      ];
      if (pub.failed) maxFailures.push(`publish failed (${pub.sampleError ?? ''})`);
      const perMax = (rssMax - rss0) / Math.max(1, total);
      log(
        `  ${target.name}: ${total} connections (open-files limit ${files.limit}), RSS ${(rssMax / 2 ** 20).toFixed(1)} MiB, ${(perMax / 1024).toFixed(1)} KiB per connection; one event reached ${report.counts.received}`,
      );
      result.perConnectionAtMax = {
        value: perMax / 1024,
        detail: { connections: total, fileLimit: files.limit, rssAfterBytes: rssMax },
        failures: maxFailures,
      };
      result.maxConnections = {
        value: total,
        detail: { fileLimit: files.limit, attempted: ok + more },
        failures: maxFailures,
      };
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
 * publishing, one subscriber must receive every accepted event. The targets
 * run side by side and take turns, in rounds; the figure is the median round.
 *
 * @param targets - the targets
 * @param settings - run settings
 * @param kind - which route
 * @returns requests per second of each target, by name
 * @example
 * ```ts
 * await throughput([baseline, cast], settings, 'publish');
 * ```
 */
export async function throughput(
  targets: TargetSpec[],
  settings: RunSettings,
  kind: 'publish' | 'token',
  options: ThroughputOptions = {},
): Promise<Map<string, Measurement>> {
  const rounds = settings.quick ? 1 : 5;
  const roundMs = settings.throughputMs / rounds;
  interface Side {
    target: TargetSpec;
    hub: Hub;
    subs: Subscribers;
    loader: Worker;
    base: number;
    rates: number[];
    latency: LatencyHistogram;
    cpu: CpuFigures[];
    failures: string[];
    requests: number;
    /** Redis's time in scripts per request, µs, each round (hubs over Redis only). */
    scriptUs: number[];
  }
  const sides: Side[] = [];
  const redis = options.redis
    ? new Redis(options.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    : undefined;
  await redis?.connect();
  const out = new Map<string, Measurement>();
  try {
    for (const target of targets) {
      const hub = await target.start();
      const side: Side = {
        target,
        hub,
        subs: new Subscribers(1),
        loader: new Worker(distPath('load/request-worker.js')),
        base: 0,
        rates: [],
        latency: new LatencyHistogram(),
        cpu: [],
        failures: [],
        requests: 0,
        scriptUs: [],
      };
      sides.push(side);
      if (kind === 'publish') await connectOne(side.subs, hub.url, target.apiKey);
    }
    for (let round = -1; round < rounds; round++) {
      for (const side of sides) {
        // Round -1 warms up (JIT) and is not counted.
        const ms = round < 0 ? Math.min(1000, roundMs) : roundMs;
        if (kind === 'publish') await side.subs.window(side.base, 5_000_000);
        // The baseline hub keeps its events in memory: only the Cast targets are watched over Redis.
        const watched =
          options.redis && redis && side.target.name !== 'baseline' ? { ...options.redis, redis } : undefined;
        const redis0 = watched ? await redisWork(watched.redis, watched.pid) : undefined;
        const before = sampleProcess(side.hub.pid);
        const machine0 = sampleMachine();
        const r = await side.loader.call<RequestReply>(
          {
            type: 'throughput',
            url: side.hub.url,
            apiKey: side.target.apiKey,
            kind,
            channel: CHANNEL,
            event: EVENT,
            base: side.base,
            payloadBytes: settings.payloadBytes,
            connections: settings.throughputConnections,
            addressIndex: Math.floor(Math.random() * 1e6),
            durationMs: ms,
            idempotencyKeys: options.idempotencyKeys,
          },
          ms + 60_000,
        );
        const after = sampleProcess(side.hub.pid);
        const machine = machineBusy(machine0, sampleMachine(), CORES);
        const redis1 = watched ? await redisWork(watched.redis, watched.pid) : undefined;
        side.base += r.sent;
        const failures: string[] = [];
        if (r.failed)
          failures.push(`${r.failed} requests failed (${JSON.stringify(r.statuses)} ${r.sampleError ?? ''})`);
        let loadMs = (r.cpu.user + r.cpu.system) / 1000;
        if (kind === 'publish') {
          await side.subs.drain(r.sent, 2000, 15_000);
          const report = await side.subs.close(r.sent);
          failures.push(...failuresOf(report.counts, report.dropped, report.malformed));
          loadMs += report.loadCpuMs;
        }
        side.failures.push(...failures);
        if (round < 0) continue;
        const cpu = cpuBetween(before, after);
        const rate = r.ok / (r.elapsedMs / 1000);
        side.rates.push(rate);
        side.requests += r.ok;
        side.latency.merge(r.latency);
        const redisCpu = redis0 && redis1 ? cpuBetween(redis0.proc, redis1.proc).total : undefined;
        if (redis0 && redis1) side.scriptUs.push((redis1.scriptUs - redis0.scriptUs) / Math.max(1, r.sent));
        side.cpu.push({
          hubUser: cpu.user,
          hubSystem: cpu.system,
          load: loadMs / Math.max(1, after.at - before.at),
          machine,
          ...(redisCpu === undefined ? {} : { redis: redisCpu }),
        });
        const overRedisText =
          redisCpu === undefined
            ? ''
            : `, redis ${redisCpu.toFixed(2)} cores, ${(side.scriptUs.at(-1) ?? Number.NaN).toFixed(1)} µs in scripts per request`;
        log(
          `  ${side.target.name}: ${kind} ${Math.round(rate)} req/s, hub ${cpu.total.toFixed(2)} cores${overRedisText} ${failures.join(', ')}`,
        );
      }
    }
    for (const side of sides) {
      out.set(side.target.name, {
        value: percentile(side.rates, 50),
        detail: {
          rounds: side.rates,
          requests: side.requests,
          connections: settings.throughputConnections,
          roundMs,
          p50Ms: side.latency.percentile(50) / 1000,
          p99Ms: side.latency.percentile(99) / 1000,
          ...(side.scriptUs.length ? { redisScriptUsPerRequest: percentile(side.scriptUs, 50) } : {}),
        },
        cpu: averageCpu(side.cpu),
        failures: [...new Set(side.failures)],
      });
    }
    return out;
  } finally {
    for (const side of sides) {
      await side.subs.stop();
      await side.loader.stop();
      await side.hub.stop();
    }
    redis?.disconnect();
  }
}

/** What else a {@link throughput} measurement sends or watches. */
export interface ThroughputOptions {
  /** Sends a fresh `Idempotency-Key` with every publish (to every target, so the requests are the same bytes). */
  idempotencyKeys?: boolean;
  /** The redis-server the Cast targets use: its CPU and its time in scripts per request are recorded. */
  redis?: RedisServer;
}

/**
 * CPU per request of one route with every target's hub on the same core at
 * once, each under its own closed loop of keep-alive connections from one
 * load generator. The hubs share whatever the core gives in each moment, so a
 * busy host slows them alike and the ratios between them hold where the rates
 * of {@link throughput}, measured one hub after another, swing with the host.
 * The figure is each hub's median over the windows of its CPU time (user and
 * kernel) divided by the requests it answered; for publishing, one subscriber
 * per hub must receive every accepted event. With `settings.perf` the core is
 * sampled over the windows, and each hub's CPU per request is split into
 * JavaScript (its own and Node.js's), the parts without JavaScript, and GC
 * (see `stats/perf-split.ts`), each as a ratio to the baseline's.
 *
 * @param targets - the targets, all started at once
 * @param settings - run settings
 * @param kind - which route
 * @returns µs of CPU per request of each target, by name
 * @example
 * ```ts
 * await sharedCost([baseline, cast], settings, 'publish');
 * ```
 */
export async function sharedCost(
  targets: TargetSpec[],
  settings: RunSettings,
  kind: 'publish' | 'token',
): Promise<Map<string, Measurement>> {
  const windows = settings.quick ? 3 : 8;
  const windowMs = settings.quick ? 1000 : 3000;
  // The warm-up, not counted: the JIT (3 s at a quarter of a core), and for publishing the history
  // filled to its cap (100k events at some 12k publishes/s per hub), so that no hub's heap is still
  // growing in the windows.
  const warmUpMs = kind === 'publish' && !settings.quick ? 10_000 : 3000;
  interface Side {
    target: TargetSpec;
    hub: Hub;
    subs?: Subscribers;
    costs: number[];
    shares: number[];
  }
  const sides: Side[] = [];
  const loader = new Worker(distPath('load/request-worker.js'));
  const out = new Map<string, Measurement>();
  let perf: PerfRecording | undefined;
  try {
    for (const target of targets) {
      const side: Side = { target, hub: await target.start(), costs: [], shares: [] };
      sides.push(side);
      if (kind === 'publish') {
        side.subs = new Subscribers(1);
        await connectOne(side.subs, side.hub.url, target.apiKey);
        await side.subs.window(0, 50_000_000);
      }
    }
    await loader.call<SharedCounts>({
      type: 'shared-start',
      hubs: sides.map((s) => ({ url: s.hub.url, apiKey: s.target.apiKey })),
      kind,
      channel: CHANNEL,
      event: EVENT,
      payloadBytes: settings.payloadBytes,
      connections: settings.throughputConnections,
      addressIndex: Math.floor(Math.random() * 1e6),
      maxMs: warmUpMs + windows * windowMs + 60_000,
    });
    await sleep(warmUpMs);
    const core = settings.perf ? hubCore() : undefined;
    if (settings.perf && core === undefined)
      log('  perf: the hubs are not pinned to one core, so their core is not sampled');
    if (core !== undefined) perf = await startPerf(core);
    const perfFrom = perf ? await loader.call<SharedCounts>({ type: 'shared-count' }) : undefined;
    for (let w = 0; w < windows; w++) {
      const before = sides.map((s) => sampleProcess(s.hub.pid));
      const c0 = await loader.call<SharedCounts>({ type: 'shared-count' });
      await sleep(windowMs);
      const c1 = await loader.call<SharedCounts>({ type: 'shared-count' });
      const after = sides.map((s) => sampleProcess(s.hub.pid));
      const cells = sides.map((side, i) => {
        const answered = c1.ok[i]! - c0.ok[i]!;
        const cost = costPerRequest(before[i]!, after[i]!, answered);
        side.costs.push(cost.us);
        side.shares.push(cost.share);
        return `${side.target.name} ${cost.us.toFixed(1)} µs (${answered.toLocaleString('en-US')} requests, ${cost.share.toFixed(2)} of the core)`;
      });
      log(`  window ${w + 1}: ${cells.join(', ')}`);
    }
    const split = new Map<string, PerfUs>();
    if (perf && perfFrom) {
      const perfTo = await loader.call<SharedCounts>({ type: 'shared-count' });
      const samples = await perf.stop(sides.map((s) => s.hub.pid));
      perf = undefined;
      for (const [i, side] of sides.entries()) {
        const hubSamples = samples.get(side.hub.pid);
        if (hubSamples) split.set(side.target.name, perRequestUs(hubSamples, PERF_HZ, perfTo.ok[i]! - perfFrom.ok[i]!));
      }
      log(`  perf over the windows (${PERF_HZ} samples/s of core ${core}), µs of CPU per request by where it went:`);
      for (const side of sides) {
        const us = split.get(side.target.name);
        if (!us) log(`    ${side.target.name}: no samples`);
        else
          log(
            `    ${side.target.name}: ${describePerfUs(us, side.target.name === 'baseline' ? undefined : split.get('baseline'))}`,
          );
      }
    }
    // Each window measured every hub over the same moments: the median of the windows' ratios to
    // the baseline cancels the host's swings better than the ratio of the medians.
    const base = sides.find((s) => s.target.name === 'baseline');
    const paired = new Map<string, number>();
    if (base) {
      for (const side of sides) {
        if (side === base) continue;
        paired.set(
          side.target.name,
          percentile(
            side.costs.map((us, w) => us / base.costs[w]!),
            50,
          ),
        );
      }
      const text = [...paired].map(([name, r]) => `${name} ${r.toFixed(2)}×`).join(', ');
      log(`  median of the windows' ratios to the baseline: ${text}`);
    }
    const end = await loader.call<SharedCounts>({ type: 'shared-stop' }, 60_000);
    for (const [i, side] of sides.entries()) {
      const failures: string[] = [];
      if (end.failed[i]) failures.push(`${end.failed[i]} requests failed (${end.sampleErrors[i] ?? ''})`);
      if (side.subs) {
        const sent = end.sent[i]!;
        await side.subs.drain(sent, 2000, 15_000);
        const report = await side.subs.close(sent);
        failures.push(...failuresOf(report.counts, report.dropped, report.malformed));
      }
      out.set(side.target.name, {
        value: percentile(side.costs, 50),
        detail: {
          windowsUs: side.costs,
          ...(paired.has(side.target.name) ? { pairedRatio: paired.get(side.target.name) } : {}),
          coreShare: percentile(side.shares, 50),
          ...(split.has(side.target.name) ? { perfUs: split.get(side.target.name) } : {}),
          requests: end.ok[i],
          hubs: sides.length,
          windowMs,
          connections: settings.throughputConnections,
        },
        failures,
      });
    }
    return out;
  } finally {
    // A recording left running by a failure: stopped, its files removed.
    await perf?.stop(sides.map((s) => s.hub.pid)).catch(() => undefined);
    await loader.stop();
    for (const side of sides) {
      await side.subs?.stop();
      await side.hub.stop();
    }
  }
}

/**
 * Work a redis-server has done so far: its process's CPU and the time it
 * spent running scripts (`INFO commandstats`: EVAL, EVALSHA and FCALL, the
 * commands a script runs included).
 */
async function redisWork(redis: Redis, pid: number): Promise<{ proc: ProcSample; scriptUs: number }> {
  const info = await redis.info('commandstats');
  let scriptUs = 0;
  for (const m of info.matchAll(/^cmdstat_(?:eval|evalsha|evalsha_ro|eval_ro|fcall|fcall_ro):calls=\d+,usec=(\d+)/gm)) {
    scriptUs += Number(m[1]);
  }
  return { proc: sampleProcess(pid), scriptUs };
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
    const refused = connectFailures(await subs.connect([hub.url], token, 1), 1);
    if (refused.length) throw new Error(refused.join('; '));
    await subs.window(0, 1);
    const pub = (base: number, count: number): Promise<RequestReply> =>
      publisher.call<RequestReply>(
        {
          type: 'publish',
          url: hub.url,
          apiKey: target.apiKey,
          channel: CHANNEL,
          event: EVENT,
          base,
          count,
          rate: Number.POSITIVE_INFINITY,
          payloadBytes: settings.payloadBytes,
          connections: 16,
          addressIndex: Math.floor(Math.random() * 1e6),
          deadlineMs: 120_000,
        },
        180_000,
      );
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
      const replies = await subs.connect(
        [hub.url],
        token,
        1,
        { base: 1, capacity: n, expectTotal: n },
        { 'Last-Event-ID': lastId },
      );
      const c = replies[0];
      const notConnected = connectFailures(replies, 1);
      if (!c || notConnected.length) {
        // A resume that could not connect has no time: the figure is the median of those that finished.
        failures.push(...notConnected);
        times.push(Number.NaN);
        await subs.disconnect();
        continue;
      }
      await subs.drain(n, 3000, 60_000);
      const report = await subs.close(n);
      failures.push(...failuresOf(report.counts, report.dropped, report.malformed));
      const done = report.reports[0]!.completedAt;
      times.push(done > 0 ? done - c.startedAt : Number.NaN);
      recoveredFalse += c.recoveredFalse;
      await subs.disconnect();
    }
    const after = sampleProcess(hub.pid);
    if (recoveredFalse) failures.push(`recovered:false on ${recoveredFalse} resumes`);
    const sorted = [...times].sort((a, b) => a - b);
    const cpu = cpuBetween(before, after);
    log(
      `  ${target.name}: replay of ${n} events: ${sorted.map((t) => t.toFixed(0)).join(', ')} ms ${failures.join(', ')}`,
    );
    return {
      value: percentile(times.filter(Number.isFinite), 50),
      detail: { events: n, runsMs: times },
      cpu: { hubUser: cpu.user, hubSystem: cpu.system, load: Number.NaN },
      failures: [...new Set(failures)],
    };
  } finally {
    await subs.stop();
    await publisher.stop();
    await hub.stop();
  }
}

/** A Redis server started for the scale-out scenario. */
export interface RedisServer {
  url: string;
  /** The redis-server process, for its CPU figures. */
  pid: number;
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
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
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
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid!, stop: () => child.kill('SIGTERM') };
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
