/**
 * The figures of a run, their ratios to the baseline hub and to the best
 * peer library, and the table printed at the end.
 */
import type { CpuFigures, Measurement } from './scenarios.js';

/** The SSE libraries a user would pick instead of Cast, measured in the same run. */
export const PEERS = ['better-sse', 'sse-channel'] as const;

/** One of {@link PEERS}. */
export type Peer = (typeof PEERS)[number];

/**
 * Every target of a run: the baseline hub, the peers and Cast; `cast-b` is a
 * second Cast build (`--cast-b-main`) measured beside the first, for A/B runs.
 */
export type TargetName = 'baseline' | Peer | 'cast' | 'cast-b';

/** Every target, in the order of the table's columns. */
export const TARGETS: readonly TargetName[] = ['baseline', ...PEERS, 'cast', 'cast-b'];

/** One figure, measured on every target of the run. */
export interface Figure {
  id: string;
  label: string;
  unit: string;
  /** Whether a higher value is better. */
  higherIsBetter: boolean;
  /** Ratio to the baseline the product aims for (≥ when higher is better, ≤ otherwise). */
  goal?: number;
  /** Ratio to the best peer library the product aims for (same direction as {@link goal}). */
  peerGoal?: number;
  baseline?: Measurement;
  'better-sse'?: Measurement;
  'sse-channel'?: Measurement;
  cast?: Measurement;
  'cast-b'?: Measurement;
}

/** Whether a measurement has a usable value (measured, no failures). */
function usable(m: Measurement | undefined): m is Measurement {
  return m !== undefined && Number.isFinite(m.value) && m.failures.length === 0;
}

/**
 * The best peer of a figure: the highest value when higher is better, the
 * lowest otherwise, among peers measured without failures. A peer that failed
 * (lost events, or never met the bound) is not "best".
 *
 * @param f - the figure
 * @returns the peer's name and measurement, or undefined when no peer was measured
 * @example
 * ```ts
 * bestPeer(figure)?.name // 'better-sse'
 * ```
 */
export function bestPeer(f: Figure): { name: Peer; value: number } | undefined {
  let best: { name: Peer; value: number } | undefined;
  for (const name of PEERS) {
    const m = f[name];
    if (!usable(m) || !(m.value > 0)) continue;
    if (!best || (f.higherIsBetter ? m.value > best.value : m.value < best.value)) best = { name, value: m.value };
  }
  return best;
}

/**
 * The ratio of the Cast figure to the best peer's.
 *
 * @param f - the figure
 * @returns cast / best peer, or NaN when either is missing
 * @example
 * ```ts
 * peerRatioOf(figure) // 1.62
 * ```
 */
export function peerRatioOf(f: Figure): number {
  const best = bestPeer(f);
  if (!best || !f.cast) return Number.NaN;
  return f.cast.value / best.value;
}

/**
 * The ratio of the Cast figure to the baseline's.
 *
 * @param f - the figure
 * @returns cast / baseline, or NaN when either is missing
 * @example
 * ```ts
 * ratioOf(figure) // 0.93
 * ```
 */
export function ratioOf(f: Figure): number {
  if (!f.baseline || !f.cast || !(f.baseline.value > 0)) return Number.NaN;
  return f.cast.value / f.baseline.value;
}

/**
 * Whether a figure meets its goals: every goal it has (to the baseline, to
 * the best peer) whose ratio was measured.
 *
 * @param f - the figure
 * @returns true, false, or undefined when it has no goal or no ratio for one
 * @example
 * ```ts
 * meetsGoal({ ...figure, goal: 0.8, peerGoal: 1.5 })
 * ```
 */
export function meetsGoal(f: Figure): boolean | undefined {
  const checks: Array<[number | undefined, number]> = [
    [f.goal, ratioOf(f)],
    [f.peerGoal, peerRatioOf(f)],
  ];
  let met: boolean | undefined;
  for (const [goal, r] of checks) {
    if (goal === undefined || Number.isNaN(r)) continue;
    const ok = f.higherIsBetter ? r >= goal : r <= goal;
    met = (met ?? true) && ok;
  }
  return met;
}

/**
 * A figure's goals as text, e.g. `≥ 0.8× baseline, ≥ 1.5× peer`.
 *
 * @param f - the figure
 * @returns the text, empty without goals
 * @example
 * ```ts
 * goalText({ ...figure, higherIsBetter: false, peerGoal: 1 }) // '≤ 1× peer'
 * ```
 */
export function goalText(f: Figure): string {
  const sign = f.higherIsBetter ? '≥' : '≤';
  const parts: string[] = [];
  // Two decimals at most: a goal derived from another (1 / 1.5) reads 0.67×.
  const times = (goal: number): string => `${Number(goal.toFixed(2))}×`;
  if (f.goal !== undefined) parts.push(`${sign} ${times(f.goal)} baseline`);
  if (f.peerGoal !== undefined) parts.push(`${sign} ${times(f.peerGoal)} peer`);
  return parts.join(', ');
}

/**
 * What limits a measurement, from where the CPU went.
 *
 * @param cpu - hub and load-generator CPU use, in cores
 * @param cores - cores of the machine
 * @returns a short label
 * @example
 * ```ts
 * limitOf({ hubUser: 0.7, hubSystem: 0.3, load: 0.6 }, 2) // 'hub CPU (0.70 user + 0.30 kernel)'
 * ```
 */
export function limitOf(cpu: CpuFigures | undefined, cores: number): string {
  if (!cpu || Number.isNaN(cpu.hubUser)) return '';
  const hub = cpu.hubUser + cpu.hubSystem;
  const detail = `${cpu.hubUser.toFixed(2)} user + ${cpu.hubSystem.toFixed(2)} kernel`;
  if (hub >= 0.85) return `hub CPU (${detail})`;
  if (cpu.redis !== undefined && cpu.redis >= 0.85) return `Redis CPU (${cpu.redis.toFixed(2)}; hub ${hub.toFixed(2)})`;
  const ours = hub + (Number.isNaN(cpu.load) ? 0 : cpu.load);
  if (cpu.machine !== undefined && !Number.isNaN(cpu.machine) && cpu.machine >= cores * 0.85) {
    const others = Math.max(0, cpu.machine - ours);
    return `machine CPU (hub ${hub.toFixed(2)}, load ${cpu.load.toFixed(2)}, other processes ${others.toFixed(2)} of ${cores})`;
  }
  if (!Number.isNaN(cpu.load) && ours >= cores * 0.85)
    return `machine CPU (hub ${hub.toFixed(2)}, load ${cpu.load.toFixed(2)})`;
  if (!Number.isNaN(cpu.load) && cpu.load >= 0.85) return `load generator CPU (${cpu.load.toFixed(2)})`;
  return `not CPU-bound (hub ${hub.toFixed(2)})`;
}

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  if (unit === 'ms') return v < 10 ? v.toFixed(2) : v.toFixed(1);
  if (unit === 'KiB' || unit === 'µs') return v.toFixed(1);
  return Math.round(v).toLocaleString('en-US');
}

/**
 * Renders the figures as a plain-text table.
 *
 * @param figures - the figures
 * @param cores - cores of the machine (for the limit labels)
 * @returns the table
 * @example
 * ```ts
 * console.log(renderTable(figures, 2));
 * ```
 */
export function renderTable(figures: Figure[], cores: number): string {
  const shown = TARGETS.filter((t) => figures.some((f) => f[t] !== undefined));
  const header = ['figure', 'unit', ...shown, '× baseline', '× best peer', 'goal', 'status', 'cast limited by'];
  const numeric = new Set(Array.from({ length: shown.length + 2 }, (_, i) => i + 2));
  const rows: string[][] = [header];
  for (const f of figures) {
    const r = ratioOf(f);
    const p = peerRatioOf(f);
    const best = bestPeer(f);
    // A peer's failure (e.g. it never met the latency bound) is a finding, not a failed run.
    const failures = (['baseline', 'cast'] as const).flatMap((t) => (f[t]?.failures ?? []).map((x) => `${t}: ${x}`));
    const notes = PEERS.flatMap((t) => (f[t]?.failures ?? []).map((x) => `${t}: ${x}`));
    const goal = meetsGoal(f);
    const status = failures.length ? 'FAIL' : goal === undefined ? '' : goal ? 'ok' : 'below goal';
    const limitCpu = (f.cast?.detail.failCpu as CpuFigures | undefined) ?? f.cast?.cpu;
    rows.push([
      f.label,
      f.unit,
      ...shown.map((t) => fmt(f[t]?.value, f.unit)),
      Number.isNaN(r) ? '—' : `${r.toFixed(2)}×`,
      Number.isNaN(p) || !best ? '—' : `${p.toFixed(2)}× ${best.name}`,
      goalText(f),
      status,
      limitOf(limitCpu, cores),
    ]);
    for (const x of failures) rows.push([`  ! ${x}`]);
    for (const x of notes) rows.push([`  · ${x}`]);
  }
  const isNote = (r: string[]) => r[0]!.startsWith('  !') || r[0]!.startsWith('  ·');
  const widths = header.map((_, i) => Math.max(...rows.filter((r) => !isNote(r)).map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      isNote(r)
        ? r[0]!
        : r
            .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
            .join('  ')
            .trimEnd(),
    )
    .join('\n');
}
