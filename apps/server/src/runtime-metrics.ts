import {
  type IntervalHistogram,
  type PerformanceEntry,
  PerformanceObserver,
  constants,
  monitorEventLoopDelay,
} from 'node:perf_hooks';
import { Histogram, renderSample } from './metrics.js';

/** How often the event loop is sampled for its delay, ms. */
const LOOP_RESOLUTION_MS = 10;

/** Garbage-collection pause buckets, seconds (the usual Node.js exporters' bounds). */
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];

/** `PerformanceEntry.detail.kind` of a GC entry → the `kind` label. */
const GC_KINDS = new Map<number, string>([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

/** The event-loop delay quantiles rendered, each with its label text. */
const LOOP_QUANTILES = [0.5, 0.9, 0.99] as const;

/**
 * The process's own figures for `/metrics`: CPU, memory, garbage-collection
 * pauses and event-loop delay. Where a figure has a name the usual Node.js
 * exporters share (`process_cpu_seconds_total`, `nodejs_gc_duration_seconds`,
 * …) it has that name and meaning, so existing dashboards read it.
 *
 * The event-loop delay is how late the loop ran a timer due every
 * {@link LOOP_RESOLUTION_MS} ms: the time the process spent on other work
 * (a flush, a GC pause, a burst of requests) before it could. Its quantiles
 * and maximum cover the time since the previous scrape; its sum and count
 * run from the start.
 *
 * @example
 * ```ts
 * const runtime = new RuntimeMetrics();
 * metrics.sections.push(runtime);
 * // at shutdown
 * runtime.stop();
 * ```
 */
export class RuntimeMetrics {
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private readonly gc = new Histogram(
    'nodejs_gc_duration_seconds',
    'Garbage collection pauses by kind (minor, major, incremental, weakcb).',
    GC_BUCKETS,
    'kind',
  );
  private readonly observer: PerformanceObserver;
  /** Event-loop delay sum and count of the windows already rendered, seconds. */
  private loopSum = 0;
  private loopCount = 0;

  constructor() {
    this.loop.enable();
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } | null };
        const kind = GC_KINDS.get(detail?.kind ?? -1) ?? 'other';
        this.gc.observe(entry.duration / 1000, kind);
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  /** Stops sampling (at shutdown). */
  stop(): void {
    this.loop.disable();
    this.observer.disconnect();
  }

  /** The exposition text; starts a new event-loop delay window. */
  render(): string {
    const lines: string[] = [];
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    renderSample(lines, 'counter', 'process_cpu_user_seconds_total', 'User CPU time spent, seconds.', cpu.user / 1e6);
    renderSample(
      lines,
      'counter',
      'process_cpu_system_seconds_total',
      'System CPU time spent, seconds.',
      cpu.system / 1e6,
    );
    renderSample(
      lines,
      'counter',
      'process_cpu_seconds_total',
      'User and system CPU time spent, seconds.',
      (cpu.user + cpu.system) / 1e6,
    );
    renderSample(
      lines,
      'gauge',
      'process_start_time_seconds',
      'When the process started, seconds since the Unix epoch.',
      PROCESS_START_SECONDS,
    );
    renderSample(lines, 'gauge', 'process_resident_memory_bytes', 'Resident memory size, bytes.', memory.rss);
    renderSample(lines, 'gauge', 'nodejs_heap_size_total_bytes', 'V8 heap size, bytes.', memory.heapTotal);
    renderSample(lines, 'gauge', 'nodejs_heap_size_used_bytes', 'V8 heap in use, bytes.', memory.heapUsed);
    renderSample(
      lines,
      'gauge',
      'nodejs_external_memory_bytes',
      'Memory of C++ objects bound to JavaScript (buffers among them), bytes.',
      memory.external,
    );
    this.gc.render(lines);
    this.renderLoop(lines);
    return `${lines.join('\n')}\n`;
  }

  private renderLoop(lines: string[]): void {
    const h = this.loop;
    // A sample is the interval between two timer runs: the resolution itself is no delay.
    const delay = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) / 1000;
    const n = h.count;
    if (n > 0) {
      this.loopSum += delay(h.mean) * n;
      this.loopCount += n;
    }
    const name = 'cast_event_loop_delay_seconds';
    lines.push(
      `# HELP ${name} How late the event loop ran a timer, seconds; quantiles since the previous scrape.`,
      `# TYPE ${name} summary`,
    );
    for (const q of LOOP_QUANTILES) lines.push(`${name}{quantile="${q}"} ${n > 0 ? delay(h.percentile(q * 100)) : 0}`);
    lines.push(`${name}_sum ${this.loopSum}`, `${name}_count ${this.loopCount}`);
    renderSample(
      lines,
      'gauge',
      'cast_event_loop_delay_max_seconds',
      'The longest the event loop ran a timer late since the previous scrape, seconds.',
      n > 0 ? delay(h.max) : 0,
    );
    h.reset();
  }
}

const PROCESS_START_SECONDS = Math.round(Date.now() / 1000 - process.uptime());
