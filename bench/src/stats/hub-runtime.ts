/**
 * What a Cast hub says of its own process in `/metrics` during a
 * measurement: how long its event loop was held and what its garbage
 * collector paused. The baseline and the peers expose nothing of the kind,
 * so these figures explain Cast's own steps; they compare no targets.
 */

/**
 * A hub's event loop and GC. From one scrape ({@link parseRuntime}): the loop's
 * delay since the previous scrape, and GC pauses since start. Over one
 * measurement ({@link runtimeBetween}): the loop's delay in its window, and
 * the GC pauses during it.
 */
export interface HubRuntime {
  /** The event loop's delay, p99 and max, ms. */
  loopP99Ms: number;
  loopMaxMs: number;
  /** Garbage-collection pauses: count, total ms, and how many took over 10 ms. */
  gcCount: number;
  gcMs: number;
  gcOver10Ms: number;
}

/** The samples of `name` (with any labels) in a Prometheus text, as [labels, value]. */
function samples(text: string, name: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    const labels = rest.startsWith('{') ? rest.slice(1, rest.indexOf('}')) : '';
    if (!rest.startsWith(' ') && !rest.startsWith('{')) continue;
    out.push([labels, Number(rest.slice(rest.lastIndexOf(' ') + 1))]);
  }
  return out;
}

const sum = (xs: Array<[string, number]>): number => xs.reduce((a, [, v]) => a + v, 0);

/**
 * Reads the runtime figures of a `/metrics` text; undefined when it has none
 * (a hub other than Cast, or a Cast too old to report them).
 *
 * @param text - the exposition text
 * @returns the figures, or undefined
 * @example
 * ```ts
 * parseRuntime(await (await fetch(`${url}/metrics`)).text())
 * ```
 */
export function parseRuntime(text: string): HubRuntime | undefined {
  const max = samples(text, 'cast_event_loop_delay_max_seconds');
  const p99 = samples(text, 'cast_event_loop_delay_seconds').find(([l]) => l === 'quantile="0.99"');
  if (max.length === 0 || p99 === undefined) return undefined;
  const counts = samples(text, 'nodejs_gc_duration_seconds_count');
  const within10 = samples(text, 'nodejs_gc_duration_seconds_bucket').filter(([l]) => l.endsWith('le="0.01"'));
  return {
    loopP99Ms: p99[1] * 1000,
    loopMaxMs: max[0]![1] * 1000,
    gcCount: sum(counts),
    gcMs: sum(samples(text, 'nodejs_gc_duration_seconds_sum')) * 1000,
    gcOver10Ms: sum(counts) - sum(within10),
  };
}

/**
 * The runtime of a measurement from the scrapes taken before and after it.
 *
 * @param before - the scrape that opened the measurement's window
 * @param after - the scrape that closed it
 * @returns the figures of the measurement
 */
export function runtimeBetween(before: HubRuntime, after: HubRuntime): HubRuntime {
  return {
    loopP99Ms: after.loopP99Ms,
    loopMaxMs: after.loopMaxMs,
    gcCount: after.gcCount - before.gcCount,
    gcMs: after.gcMs - before.gcMs,
    gcOver10Ms: after.gcOver10Ms - before.gcOver10Ms,
  };
}

/**
 * The step line's words for a hub's runtime.
 *
 * @param r - the runtime of the step
 * @returns e.g. `loop p99 12.0 / max 48.0 ms, gc 35 ms in 12 pauses (1 over 10 ms)`
 */
export function describeRuntime(r: HubRuntime): string {
  return `loop p99 ${r.loopP99Ms.toFixed(1)} / max ${r.loopMaxMs.toFixed(1)} ms, gc ${r.gcMs.toFixed(0)} ms in ${r.gcCount} pauses (${r.gcOver10Ms} over 10 ms)`;
}
