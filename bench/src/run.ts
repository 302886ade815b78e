/**
 * `pnpm bench`: runs the scenarios against the baseline hub, the same hub over
 * the peer libraries (better-sse, sse-channel) and the Cast server, every hub
 * pinned to core 0 and the load to the other cores when the machine allows;
 * prints a table (absolute figures, ratios to the baseline and to the best
 * peer) and writes `bench/results/latest.json`.
 *
 *   node dist/run.js [--quick] [--only=a,b] [--skip=a,b] [--targets=baseline,better-sse,sse-channel,cast]
 *                    [--out=path] [--cpu-prof] [--perf] [--cast-main=path] [--p99-limit=ms] [--list]
 *                    [--cast-b-main=path] [--cast-node-args=a,b] [--cast-b-node-args=a,b] [--rates=r1,r2,...]
 *
 * A/B of two builds: `--cast-b-main` adds a target `cast-b` (that build's
 * `main.js`) measured beside `cast`, step by step in the same run, and
 * `--rates` measures the fan-out scenarios at exactly those rates (events/s,
 * in order; repeat a rate to measure it again) instead of searching.
 * `--cast-node-args` / `--cast-b-node-args` start that Cast target's node with
 * those flags (comma-separated, e.g. `--cast-b-node-args=--single-threaded-gc`
 * with `--cast-b-main` the same build: an A/B of one runtime flag).
 * `--perf` samples the hubs' core with Linux `perf` during the `http-cost`
 * windows and splits each hub's CPU per request into JavaScript (its own and
 * Node.js's), the parts without JavaScript, and GC (needs `perf` and the right
 * to sample a whole core: root, or `kernel.perf_event_paranoid` ≤ 0).
 *
 * Scenarios: fanout-1k, fanout-10k, latency, memory, publish, tokens, http-cost, replay, redis,
 * redis-publish (`--list` prints them).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { startRedisCluster } from '../../apps/server/src/broker/redis-cluster-test-support.js';
import { slotOf } from '../../apps/server/src/broker/redis/slot.js';
import { PERF_NODE_ARGS, distPath, perfUnavailable, pinCores, startHub } from './harness.js';
import {
  type Figure,
  PEERS,
  type Peer,
  TARGETS,
  type TargetName,
  bestPeer,
  limitOf,
  meetsGoal,
  peerRatioOf,
  ratioOf,
  renderTable,
} from './report.js';
import {
  type Measurement,
  type RunSettings,
  COST_DELIVERIES_PER_SEC,
  TENANT,
  type TargetSpec,
  fanout,
  log,
  memory,
  replay,
  sharedCost,
  startRedis,
  throughput,
} from './scenarios.js';
import { type MeasuredStep, furthestBehind, medianP99ByRate } from './stats/rate-search.js';

const SCENARIOS = [
  'fanout-1k',
  'fanout-10k',
  'latency',
  'memory',
  'publish',
  'tokens',
  'http-cost',
  'replay',
  'redis',
  'redis-publish',
] as const;
type Scenario = (typeof SCENARIOS)[number];

const args = new Map<string, string>();
for (const a of process.argv.slice(2)) {
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
  if (!m) {
    console.error(`unknown argument ${a}`);
    process.exit(2);
  }
  args.set(m[1]!, m[2] ?? 'true');
}
if (args.has('list') || args.has('help')) {
  console.log(
    `scenarios: ${SCENARIOS.join(', ')}\nflags: --quick --only=a,b --skip=a,b --targets=baseline,better-sse,sse-channel,cast --out=path --cpu-prof --perf --cast-main=path/to/main.js --cast-b-main=path/to/main.js --cast-node-args=a,b --cast-b-node-args=a,b --rates=100,400 --p99-limit=ms`,
  );
  process.exit(0);
}
const list = (name: string): string[] | undefined =>
  args
    .get(name)
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
for (const s of [...(list('only') ?? []), ...(list('skip') ?? [])]) {
  if (!(SCENARIOS as readonly string[]).includes(s)) {
    console.error(`unknown scenario ${s}; known: ${SCENARIOS.join(', ')}`);
    process.exit(2);
  }
}
const selected = new Set<Scenario>(
  SCENARIOS.filter((s) => (list('only') ? list('only')!.includes(s) : true) && !(list('skip') ?? []).includes(s)),
);
const quick = args.has('quick');
const castBMain = args.get('cast-b-main');
/** Node flags of each Cast target (`--cast-node-args`, `--cast-b-node-args`). */
const nodeArgs = {
  cast: list('cast-node-args') ?? [],
  'cast-b': list('cast-b-node-args') ?? [],
};
for (const flag of [...nodeArgs.cast, ...nodeArgs['cast-b']]) {
  if (!flag.startsWith('-')) {
    console.error(`--cast-node-args and --cast-b-node-args take node flags, comma-separated: ${flag}`);
    process.exit(2);
  }
}
if (nodeArgs['cast-b'].length > 0 && !castBMain) {
  console.error('--cast-b-node-args needs --cast-b-main=path/to/main.js');
  process.exit(2);
}
const targetsWanted = new Set(list('targets') ?? TARGETS);
if (castBMain) targetsWanted.add('cast-b');
else if (list('targets')?.includes('cast-b')) {
  console.error('target cast-b needs --cast-b-main=path/to/main.js');
  process.exit(2);
}
const fixedRates = list('rates')?.map(Number);
if (fixedRates && !fixedRates.every((r) => Number.isFinite(r) && r > 0)) {
  console.error(`--rates takes positive events/s, comma-separated: ${args.get('rates')}`);
  process.exit(2);
}
for (const t of targetsWanted) {
  if (!(TARGETS as readonly string[]).includes(t)) {
    console.error(`unknown target ${t}; known: ${TARGETS.join(', ')}`);
    process.exit(2);
  }
}

const benchDir = fileURLToPath(new URL('../', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const castMain = args.get('cast-main') ?? `${repoRoot}apps/server/dist/main.js`;
const outPath = args.get('out') ?? `${benchDir}results/latest.json`;

const settings: RunSettings = {
  quick,
  fanoutSmall: quick ? 200 : 1000,
  fanoutLarge: quick ? 1000 : 10_000,
  stepMs: quick ? 1000 : 3000,
  latencyMs: quick ? 2000 : 12_000,
  memoryConnections: quick ? 2000 : 10_000,
  memoryMax: !quick,
  throughputMs: quick ? 1500 : 10_000,
  throughputConnections: 50,
  replayEvents: quick ? 2000 : 10_000,
  subscriberWorkers: 2,
  publishConnections: 64,
  payloadBytes: 200,
  redisSubscribers: quick ? 200 : 1000,
  perf: args.has('perf'),
};
if (settings.perf) {
  // Every hub started with --perf writes a symbol map of its code; only http-cost reads and removes them.
  if (selected.size !== 1 || !selected.has('http-cost')) {
    console.error('--perf samples the http-cost scenario only: run it with --only=http-cost');
    process.exit(2);
  }
  const why = perfUnavailable();
  if (why) {
    console.error(`--perf: ${why}`);
    process.exit(2);
  }
}

/**
 * The p99 latency a fan-out step may reach: 100 ms up to 1,000 subscribers
 * (the issue's bound), then 100 ms per 1,000 subscribers, because writing one
 * event to every socket costs about 10 µs of kernel time per socket (about
 * 100 ms at 10k) before anything else happens. `--p99-limit=ms` overrides it.
 */
function p99Limit(subscribers: number): number {
  if (args.has('p99-limit')) return Number(args.get('p99-limit'));
  return 100 * Math.max(1, subscribers / 1000);
}

const apiKey = randomBytes(24).toString('hex');
const signingSecret = randomBytes(32).toString('hex');
const commonEnv = {
  PORT: '0',
  HOST: '127.0.0.1',
  CAST_API_KEYS: `${TENANT}=${apiKey}`,
  CAST_SIGNING_SECRET: signingSecret,
};
const history = String(Math.max(100_000, settings.replayEvents * 2));
const profileDir = `${benchDir}results/profiles`;
let profiles = 0;
/**
 * The Node.js flags every hub runs with for a profile: with `--cpu-prof`, a CPU
 * profile named after its target; with `--perf`, the names of its JavaScript
 * functions for `perf`.
 */
function profileArgs(target: string): string[] {
  const flags = settings.perf ? [...PERF_NODE_ARGS] : [];
  if (!args.has('cpu-prof')) return flags;
  profiles += 1;
  const name = `${target}.${String(profiles).padStart(3, '0')}.cpuprofile`;
  return [...flags, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}`];
}

/** The baseline hub, or the same hub over a peer library's fan-out (see baseline/main.ts). */
function hubTarget(name: 'baseline' | Peer): TargetSpec {
  return {
    name,
    apiKey,
    start: () =>
      startHub(process.execPath, [...profileArgs(name), distPath('baseline/main.js')], {
        ...commonEnv,
        BASELINE_HISTORY: history,
        BENCH_FANOUT: name,
      }),
  };
}
const baseline = hubTarget('baseline');
const peers = PEERS.map(hubTarget);
/** A Cast server build: the repository's, or another (`--cast-b-main`) for an A/B run. */
function castTarget(name: 'cast' | 'cast-b', main: string): TargetSpec {
  return {
    name,
    apiKey,
    reportsRuntime: true,
    start: (extraEnv = {}) => {
      return startHub(process.execPath, [...nodeArgs[name], ...profileArgs(name), main], {
        ...commonEnv,
        CAST_HISTORY_SIZE: history,
        NODE_ENV: 'production',
        ...extraEnv,
      });
    },
  };
}
const cast = castTarget('cast', castMain);
const castAvailable = existsSync(castMain);
if (!castAvailable)
  log(`note: ${castMain} is not built; measuring the baseline only (run \`pnpm bench\` from the root to build it).`);
if (castBMain && !existsSync(castBMain)) {
  console.error(`--cast-b-main: ${castBMain} does not exist`);
  process.exit(2);
}
const castB = castBMain ? [castTarget('cast-b', castBMain)] : [];
for (const [name, flags] of Object.entries(nodeArgs)) if (flags.length > 0) log(`${name}: node ${flags.join(' ')}`);
const targets = [baseline, ...peers, cast, ...castB].filter(
  (t) => targetsWanted.has(t.name) && (t.name !== 'cast' || castAvailable),
);

const figures = new Map<string, Figure>();
/** The goals of issue 16: a ratio to the baseline and one to the best peer library. */
interface Goals {
  goal?: number;
  peerGoal?: number;
}
function figure(id: string, label: string, unit: string, higherIsBetter: boolean, goals: Goals = {}): Figure {
  let f = figures.get(id);
  if (!f) {
    f = { id, label, unit, higherIsBetter, ...goals };
    figures.set(id, f);
  }
  return f;
}
function put(f: Figure, target: TargetSpec, m: Measurement | undefined): void {
  if (m) f[target.name] = m;
}
function failed(f: Figure, target: TargetSpec, e: unknown): void {
  const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  log(`  ${target.name}: ERROR ${message}`);
  f[target.name] = { value: Number.NaN, detail: {}, failures: [message] };
}

/**
 * For `--rates`: each target's median p99 at each rate (see medianP99ByRate, the
 * figure the step row compares), with its ratio to the baseline's. A rate
 * listed more than once is measured again, as the search's repeats are; a
 * rate whose first measurement failed is not compared.
 */
function logMedianP99(
  subscribers: number,
  rates: readonly number[],
  stepsByTarget: ReadonlyArray<readonly [TargetName, readonly MeasuredStep[]]>,
): void {
  const medians = stepsByTarget.map(([name, steps]) => [name, medianP99ByRate(steps)] as const);
  const base = medians.find(([name]) => name === 'baseline')?.[1];
  log(`  median p99 by rate (${subscribers} subscribers):`);
  for (const rate of [...new Set(rates)]) {
    const cells = medians.map(([name, byRate]) => {
      const mid = byRate.get(rate);
      if (mid === undefined) return `${name} — (its first measurement failed)`;
      const ref = name !== 'baseline' ? base?.get(rate) : undefined;
      return `${name} ${mid.toFixed(1)} ms${ref ? ` (${(mid / ref).toFixed(2)}×)` : ''}`;
    });
    log(`    ${rate}/s: ${cells.join(', ')}`);
  }
}

async function main(): Promise<void> {
  const started = new Date();
  log(
    `Cast benchmarks${quick ? ' (quick)' : ''}: ${[...selected].join(', ')} on ${targets.map((t) => t.name).join(', ')}`,
  );
  const pinning = pinCores();
  log(pinning);
  if (args.has('cpu-prof')) mkdirSync(profileDir, { recursive: true });

  for (const [scenario, subs, start, max] of [
    ['fanout-1k', settings.fanoutSmall, 25, 50_000],
    ['fanout-10k', settings.fanoutLarge, 5, 5000],
  ] as const) {
    const search = selected.has(scenario);
    const withLatency = scenario === 'fanout-10k' && selected.has('latency');
    if (!search && !withLatency) continue;
    const label = subs >= 1000 ? `${subs / 1000}k` : String(subs);
    log(
      `\n${search ? `fan-out, ${label} subscribers` : ''}${search && withLatency ? ' + ' : ''}${withLatency ? `latency at ${label} subscribers` : ''}`,
    );
    const fo = figure(scenario, `fan-out, ${label} subscribers (p99 ≤ ${p99Limit(subs)} ms)`, 'deliveries/s', true, {
      goal: 1,
    });
    const cost = figure(
      `${scenario}-cost`,
      `fan-out CPU per delivery, ${label} subs at ${COST_DELIVERIES_PER_SEC / 1000}k deliveries/s`,
      'µs',
      false,
    );
    const stepP99 = figure(
      `${scenario}-step-p99`,
      `fan-out, ${label} subs: p99 at the step furthest behind the baseline`,
      'ms',
      false,
      { goal: 1.25 },
    );
    const p50 = figure('latency-p50', `latency p50, ${label} subs, 10/s`, 'ms', false);
    const p99 = figure('latency-p99', `latency p99, ${label} subs, 10/s`, 'ms', false, { goal: 1.25 });
    const pmax = figure('latency-max', `latency max, ${label} subs, 10/s`, 'ms', false);
    const results = await fanout(targets, settings, {
      subscribers: subs,
      startRate: quick ? start * 2 : start,
      maxRate: max,
      p99LimitMs: p99Limit(subs),
      search,
      rates: fixedRates,
      // Two more measurements of every rate the baseline and Cast both passed: the step rows read medians.
      repeat: { reference: baseline.name, compared: [cast, ...castB].map((t) => t.name), times: quick ? 0 : 2 },
      latency: withLatency ? { rate: 10, durationMs: settings.latencyMs } : undefined,
    });
    for (const t of targets) {
      const r = results.get(t.name);
      if (!r || r.error) {
        const e = new Error(r?.error ?? 'not measured');
        if (search) failed(fo, t, e);
        if (withLatency) failed(p99, t, e);
        continue;
      }
      if (search) {
        put(fo, t, r.fanout);
        put(cost, t, r.cost);
      }
      if (r.latency) {
        put(p50, t, r.latency.p50);
        put(p99, t, r.latency.p99);
        put(pmax, t, r.latency.max);
      }
    }
    // Every rate both searches passed: the one where Cast's p99 is the largest multiple of the baseline's.
    const stepsOf = (t: TargetSpec): MeasuredStep[] =>
      (results.get(t.name)?.fanout?.detail.steps as MeasuredStep[] | undefined) ?? [];
    const worst = search && targets.includes(cast) ? furthestBehind(stepsOf(baseline), stepsOf(cast)) : undefined;
    if (fixedRates && search)
      logMedianP99(
        subs,
        fixedRates,
        targets.map((t) => [t.name, stepsOf(t)] as const),
      );
    if (worst) {
      put(stepP99, baseline, { value: worst.referenceP99Ms, detail: { rate: worst.rate }, failures: [] });
      put(stepP99, cast, { value: worst.p99Ms, detail: { rate: worst.rate }, failures: [] });
    } else figures.delete(`${scenario}-step-p99`);
    if (!search) {
      figures.delete(scenario);
      figures.delete(`${scenario}-cost`);
    }
    if (!withLatency) for (const id of ['latency-p50', 'latency-p99', 'latency-max']) figures.delete(id);
  }

  if (selected.has('memory')) {
    log('\nidle memory per connection');
    const n = settings.memoryConnections;
    // No more than the leanest library's.
    const a = figure('memory', `idle RSS per connection, ${n / 1000}k`, 'KiB', false, { peerGoal: 1 });
    const b = figure('memory-max', 'idle RSS per connection, most one process holds', 'KiB', false, { peerGoal: 1 });
    const c = figure('connections-max', 'connections one process holds', 'connections', true);
    for (const t of targets) {
      try {
        const r = await memory(t, settings);
        put(a, t, r.perConnection);
        put(b, t, r.perConnectionAtMax);
        put(c, t, r.maxConnections);
      } catch (e) {
        failed(a, t, e);
      }
    }
    if (!settings.memoryMax) {
      figures.delete('memory-max');
      figures.delete('connections-max');
    }
  }

  for (const [scenario, kind, label] of [
    ['publish', 'publish', 'HTTP publish, keep-alive, 1 subscriber'],
    ['tokens', 'token', 'token issue'],
  ] as const) {
    if (!selected.has(scenario)) continue;
    log(`\n${label}`);
    const f = figure(scenario, label, 'requests/s', true, { goal: 0.8, peerGoal: 1.5 });
    // Request latency of the same closed-loop run, from the load generator's side.
    const p50 = figure(`${scenario}-p50`, `${label}: request p50`, 'ms', false);
    const p99 = figure(`${scenario}-p99`, `${label}: request p99`, 'ms', false);
    try {
      const results = await throughput(targets, settings, kind);
      for (const t of targets) {
        const r = results.get(t.name);
        put(f, t, r);
        if (!r) continue;
        put(p50, t, { value: r.detail.p50Ms as number, detail: {}, failures: [] });
        put(p99, t, { value: r.detail.p99Ms as number, detail: {}, failures: [] });
      }
    } catch (e) {
      for (const t of targets) failed(f, t, e);
    }
  }

  if (selected.has('http-cost')) {
    for (const [kind, label] of [
      ['publish', 'HTTP publish'],
      ['token', 'token issue'],
    ] as const) {
      log(`\n${label}: CPU per request, every hub on core 0 at once`);
      // ≤ 1.25× the baseline's cost is the issue's ≥ 0.8× its rate; ≤ 1/1.5 the better library's is ≥ 1.5× its rate.
      const f = figure(`${kind}-cost`, `${label}: CPU per request, hubs sharing one core`, 'µs', false, {
        goal: 1.25,
        peerGoal: 1 / 1.5,
      });
      try {
        const results = await sharedCost(targets, settings, kind);
        for (const t of targets) put(f, t, results.get(t.name));
      } catch (e) {
        for (const t of targets) failed(f, t, e);
      }
    }
  }

  if (selected.has('replay')) {
    log(`\nreplay: resume ${settings.replayEvents} events behind`);
    const f = figure('replay', `resume ${settings.replayEvents / 1000}k events behind`, 'ms', false);
    for (const t of targets) {
      try {
        put(f, t, await replay(t, settings));
      } catch (e) {
        failed(f, t, e);
      }
    }
  }

  if (selected.has('redis') && targets.includes(cast)) await redisScenario();
  if (selected.has('redis-publish') && targets.includes(cast)) await redisPublishScenario();

  const list = [...figures.values()];
  const cores = os.cpus().length;
  const table = renderTable(list, cores);
  console.log(`\n${table}\n`);
  const failures = list.flatMap((f) =>
    (['baseline', 'cast'] as const).flatMap((t) => (f[t]?.failures ?? []).map((x) => `${f.id} ${t}: ${x}`)),
  );
  // A peer that loses events or fails a bound is reported, but does not fail the run.
  const peerFailures = list.flatMap((f) =>
    PEERS.flatMap((t) => (f[t]?.failures ?? []).map((x) => `${f.id} ${t}: ${x}`)),
  );
  const result = {
    version: 1,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
    quick,
    machine: machine(),
    pinning,
    commit: git(['rev-parse', '--short', 'HEAD']),
    settings,
    figures: list.map((f) => ({
      id: f.id,
      label: f.label,
      unit: f.unit,
      higherIsBetter: f.higherIsBetter,
      goal: f.goal,
      peerGoal: f.peerGoal,
      ratio: ratioOf(f),
      bestPeer: bestPeer(f)?.name,
      peerRatio: peerRatioOf(f),
      meetsGoal: meetsGoal(f),
      castLimitedBy: limitOf((f.cast?.detail.failCpu as Measurement['cpu']) ?? f.cast?.cpu, cores),
      baseline: f.baseline,
      'better-sse': f['better-sse'],
      'sse-channel': f['sse-channel'],
      cast: f.cast,
      'cast-b': f['cast-b'],
    })),
    failures,
    peerFailures,
  };
  mkdirSync(fileURLToPath(new URL('.', `file://${outPath}`)), { recursive: true });
  writeFileSync(
    outPath,
    `${JSON.stringify(result, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
  // Named by its path in the repository: a run's output is kept there, and says nothing of the machine's folders.
  log(`wrote ${outPath.startsWith(repoRoot) ? outPath.slice(repoRoot.length) : outPath} (${result.durationSeconds} s)`);
  if (failures.length) {
    log(`\nFAILED: ${failures.length} measurement(s) lost, duplicated or reordered events, or had errors.`);
    process.exitCode = 1;
  }
}

async function redisScenario(): Promise<void> {
  const n = settings.redisSubscribers;
  const label = n >= 1000 ? `${n / 1000}k` : String(n);
  log(`\nfan-out with the Redis broker, ${label} subscribers`);
  const redis = await startRedis();
  const one = figure('redis-1', `fan-out via Redis, 1 node, ${label} subs`, 'deliveries/s', true);
  const two = figure('redis-2', `fan-out via Redis, 2 nodes, ${label} subs`, 'deliveries/s', true);
  if (!redis) {
    failed(one, cast, new Error('redis-server is not installed'));
    return;
  }
  try {
    // The baseline column of both rows is the in-memory baseline hub at the same size.
    const measured = n === settings.fanoutSmall ? figures.get('fanout-1k')?.baseline : undefined;
    const options = {
      subscribers: n,
      startRate: 25,
      maxRate: 50_000,
      search: true,
      p99LimitMs: p99Limit(n),
      rates: fixedRates,
    };
    const hubEnv = (): Record<string, string> => ({
      CAST_REDIS_URL: redis.url,
      CAST_REDIS_PREFIX: `bench${Date.now()}:`,
    });
    const b = measured ?? (await fanout([baseline], settings, options)).get('baseline')?.fanout;
    if (b) {
      put(one, baseline, b);
      put(two, baseline, b);
    } else failed(one, baseline, new Error('baseline fan-out failed'));
    for (const [f, nodes] of [
      [one, 1],
      [two, 2],
    ] as const) {
      const r = (await fanout([cast], settings, { ...options, nodes, hubEnv: hubEnv() })).get('cast');
      if (r?.fanout) put(f, cast, r.fanout);
      else failed(f, cast, new Error(r?.error ?? 'not measured'));
    }
    await tenantsScenario(redis.url, n, label, options, b);
  } finally {
    redis.stop();
  }
}

/**
 * HTTP publish through one node over Redis, each row beside the in-memory baseline hub in
 * alternating rounds: with the log below its caps, with the log at its cap (every publish trims
 * it), and with an idempotency key on every publish (the keys pile up to their 100k bound and
 * the oldest go). Records Redis's CPU and its time in the publish script per request, so that a
 * row says whether the node or Redis limits it.
 */
async function redisPublishScenario(): Promise<void> {
  log('\nHTTP publish with the Redis broker, 1 node');
  const uncapped = { CAST_HISTORY_SIZE: '10000000', CAST_HISTORY_MAX_BYTES: String(2 ** 40) };
  const rows = [
    { id: 'redis-publish', label: 'HTTP publish via Redis, log below its caps', env: uncapped, keys: false },
    {
      id: 'redis-publish-trim',
      label: 'HTTP publish via Redis, log at its cap (1,000)',
      env: { CAST_HISTORY_SIZE: '1000' },
      keys: false,
    },
    { id: 'redis-publish-keys', label: 'HTTP publish via Redis, an idempotency key each', env: uncapped, keys: true },
  ];
  const redis = await startRedis();
  try {
    for (const row of rows) {
      log(row.label);
      const f = figure(row.id, row.label, 'requests/s', true);
      if (!redis) {
        failed(f, cast, new Error('redis-server is not installed'));
        continue;
      }
      // Every Cast build of the run (two in an A/B run) over the same Redis, each with its own prefix.
      const overRedis = targets
        .filter((t) => t.name === 'cast' || t.name === 'cast-b')
        .map((t): TargetSpec => ({
          ...t,
          start: (extra = {}) =>
            t.start({
              CAST_REDIS_URL: redis.url,
              CAST_REDIS_PREFIX: `bench${t.name}${Date.now()}:`,
              ...row.env,
              ...extra,
            }),
        }));
      const sides = targets.includes(baseline) ? [baseline, ...overRedis] : overRedis;
      try {
        const results = await throughput(sides, settings, 'publish', { redis, idempotencyKeys: row.keys });
        for (const t of sides) put(f, t, results.get(t.name));
      } catch (e) {
        failed(f, cast, e);
      }
    }
  } finally {
    redis?.stop();
  }
}

/**
 * Fan-out with three tenants, every event published to each, on two nodes: over one Redis, then
 * over a three-shard Redis Cluster with one tenant on each shard.
 */
async function tenantsScenario(
  redisUrl: string,
  n: number,
  label: string,
  options: { subscribers: number; startRate: number; maxRate: number; search: boolean; p99LimitMs: number },
  baselineFanout: Measurement | undefined,
): Promise<void> {
  const one = figure(
    'redis-tenants-1',
    `fan-out via one Redis, 2 nodes, 3 tenants, ${label} subs`,
    'deliveries/s',
    true,
  );
  const sharded = figure(
    'redis-tenants-cluster',
    `fan-out via a 3-shard Redis Cluster, 2 nodes, 3 tenants, ${label} subs`,
    'deliveries/s',
    true,
  );
  if (baselineFanout) {
    put(one, baseline, baselineFanout);
    put(sharded, baseline, baselineFanout);
  }
  let shards: Awaited<ReturnType<typeof startRedisCluster>> | undefined;
  try {
    shards = await startRedisCluster();
  } catch (e) {
    failed(sharded, cast, e);
  }
  try {
    const prefix = `bench${Date.now()}:`;
    // One tenant per shard of the cluster (on one Redis the same names).
    const tenants = new Map<number, string>();
    for (let i = 0; tenants.size < 3 && i < 500; i++) {
      const port = shards ? await shards.portOfSlot(slotOf(`${prefix}:{t${i}}:log`)) : i;
      if (!tenants.has(port)) tenants.set(port, `t${i}`);
    }
    const keys = [...tenants.values()].map((tenant) => ({ tenant, key: randomBytes(24).toString('hex') }));
    const env = (url: string): Record<string, string> => ({
      CAST_REDIS_URL: url,
      CAST_REDIS_PREFIX: prefix,
      CAST_API_KEYS: keys.map((k) => `${k.tenant}=${k.key}`).join(','),
    });
    for (const [f, url] of [
      [one, redisUrl],
      [sharded, shards?.url],
    ] as const) {
      if (!url) continue;
      const r = (
        await fanout([cast], settings, { ...options, nodes: 2, hubEnv: env(url), apiKeys: keys.map((k) => k.key) })
      ).get('cast');
      if (r?.fanout) put(f, cast, r.fanout);
      else failed(f, cast, new Error(r?.error ?? 'not measured'));
    }
  } finally {
    await shards?.stop();
  }
}

function git(a: string[]): string | undefined {
  try {
    return execFileSync('git', a, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

function machine(): Record<string, unknown> {
  let fileLimit: string | undefined;
  try {
    fileLimit = execFileSync('sh', ['-c', 'ulimit -n'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    fileLimit = undefined;
  }
  return {
    cpuModel: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    openFilesLimit: fileLimit,
  };
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
