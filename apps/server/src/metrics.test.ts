import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { Histogram, Metrics, renderSample } from './metrics.js';
import { RuntimeMetrics } from './runtime-metrics.js';

/** Every sample line of the exposition format: `name{labels} value`, or a HELP/TYPE comment. */
const LINE =
  /^(# (HELP|TYPE) [a-z_][a-z0-9_]* .+|[a-z_][a-z0-9_]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+)$/;

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no ${series} in\n${text}`);
  return Number(line.slice(series.length + 1));
}

describe('Histogram', () => {
  it('renders cumulative buckets, the sum and the count', () => {
    const h = new Histogram('x_seconds', 'X.', [0.1, 1]);
    h.observe(0.05);
    h.observe(0.1);
    h.observe(0.5);
    h.observe(3);
    const lines: string[] = [];
    h.render(lines);
    expect(lines).toEqual([
      '# HELP x_seconds X.',
      '# TYPE x_seconds histogram',
      'x_seconds_bucket{le="0.1"} 2',
      'x_seconds_bucket{le="1"} 3',
      'x_seconds_bucket{le="+Inf"} 4',
      'x_seconds_sum 3.65',
      'x_seconds_count 4',
    ]);
  });

  it('renders an unlabelled histogram as zeros before any observation', () => {
    const lines: string[] = [];
    new Histogram('x_seconds', 'X.', [1]).render(lines);
    expect(lines.slice(2)).toEqual([
      'x_seconds_bucket{le="1"} 0',
      'x_seconds_bucket{le="+Inf"} 0',
      'x_seconds_sum 0',
      'x_seconds_count 0',
    ]);
  });

  it('keeps one series per label value, and none before the first', () => {
    const h = new Histogram('gc_seconds', 'GC.', [0.01], 'kind');
    const empty: string[] = [];
    h.render(empty);
    expect(empty).toEqual(['# HELP gc_seconds GC.', '# TYPE gc_seconds histogram']);
    h.observe(0.002, 'minor');
    h.observe(0.02, 'major');
    h.observe(0.004, 'minor');
    const lines: string[] = [];
    h.render(lines);
    expect(lines).toContain('gc_seconds_bucket{kind="minor",le="0.01"} 2');
    expect(lines).toContain('gc_seconds_count{kind="minor"} 2');
    expect(lines).toContain('gc_seconds_bucket{kind="major",le="0.01"} 0');
    expect(lines).toContain('gc_seconds_bucket{kind="major",le="+Inf"} 1');
    expect(lines).toContain('gc_seconds_sum{kind="major"} 0.02');
    for (const line of lines) expect(line).toMatch(LINE);
  });
});

describe('Metrics', () => {
  it('renders its counters and the publish histogram, then its sections', () => {
    const m = new Metrics();
    m.eventsPublished = 2;
    m.observePublish(0.002);
    m.sections.push({ render: () => '# HELP extra_total E.\n# TYPE extra_total counter\nextra_total 1\n' });
    const text = m.render({ connections: 3, broker: 'memory' });
    expect(text).toContain('cast_connections{broker="memory"} 3\n');
    expect(sample(text, 'cast_events_published_total')).toBe(2);
    expect(text).toContain('cast_publish_duration_seconds_bucket{le="0.001"} 0\n');
    expect(text).toContain('cast_publish_duration_seconds_bucket{le="0.0025"} 1\n');
    expect(sample(text, 'cast_publish_duration_seconds_count')).toBe(1);
    expect(text.endsWith('extra_total 1\n')).toBe(true);
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(LINE);
  });

  it('renders a sample with its HELP and TYPE', () => {
    const lines: string[] = [];
    renderSample(lines, 'gauge', 'g_bytes', 'G.', 5);
    expect(lines).toEqual(['# HELP g_bytes G.', '# TYPE g_bytes gauge', 'g_bytes 5']);
  });
});

describe('RuntimeMetrics', () => {
  let runtime: RuntimeMetrics | undefined;
  afterEach(() => {
    runtime?.stop();
    runtime = undefined;
  });

  const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('renders CPU, memory and process start in the usual exporters’ names', () => {
    runtime = new RuntimeMetrics();
    const text = runtime.render();
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(LINE);
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'process_cpu_seconds_total')).toBeCloseTo(
      sample(text, 'process_cpu_user_seconds_total') + sample(text, 'process_cpu_system_seconds_total'),
      6,
    );
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(1 << 20);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_heap_size_total_bytes')).toBeGreaterThanOrEqual(
      sample(text, 'nodejs_heap_size_used_bytes'),
    );
    const started = sample(text, 'process_start_time_seconds');
    expect(Math.abs(started - (Date.now() / 1000 - process.uptime()))).toBeLessThan(2);
    expect(text).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE cast_event_loop_delay_seconds summary$/m);
  });

  it('reports a blocked event loop in the window it happened, then starts a new window', async () => {
    runtime = new RuntimeMetrics();
    runtime.render();
    await tick(50);
    const until = performance.now() + 200;
    while (performance.now() < until) {
      // Blocks the loop.
    }
    await tick(40);
    const blocked = runtime.render();
    expect(sample(blocked, 'cast_event_loop_delay_max_seconds')).toBeGreaterThan(0.15);
    expect(sample(blocked, 'cast_event_loop_delay_max_seconds')).toBeLessThan(1);
    expect(sample(blocked, 'cast_event_loop_delay_seconds_count')).toBeGreaterThan(0);
    expect(sample(blocked, 'cast_event_loop_delay_seconds_sum')).toBeGreaterThan(0.15);
    // The quantiles are of this window's samples: mostly timer runs on time, one late.
    expect(sample(blocked, 'cast_event_loop_delay_seconds{quantile="0.5"}')).toBeLessThan(0.15);

    await tick(100);
    const calm = runtime.render();
    expect(sample(calm, 'cast_event_loop_delay_max_seconds')).toBeLessThan(0.15);
    // A timer run on time is no delay: the sampling interval is not counted.
    expect(sample(calm, 'cast_event_loop_delay_seconds{quantile="0.5"}')).toBeLessThan(0.005);
    // The sum and count run on from the start.
    expect(sample(calm, 'cast_event_loop_delay_seconds_count')).toBeGreaterThan(
      sample(blocked, 'cast_event_loop_delay_seconds_count'),
    );
    expect(sample(calm, 'cast_event_loop_delay_seconds_sum')).toBeGreaterThanOrEqual(
      sample(blocked, 'cast_event_loop_delay_seconds_sum'),
    );
  });

  it('counts garbage-collection pauses by kind', async () => {
    runtime = new RuntimeMetrics();
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    // The observer hears of the pause on a later turn.
    await tick(20);
    const text = runtime.render();
    expect(sample(text, 'nodejs_gc_duration_seconds_count{kind="major"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'nodejs_gc_duration_seconds_sum{kind="major"}')).toBeGreaterThan(0);
  });

  it('stops sampling', async () => {
    runtime = new RuntimeMetrics();
    runtime.stop();
    await tick(50);
    expect(sample(runtime.render(), 'cast_event_loop_delay_seconds_count')).toBe(0);
  });
});
