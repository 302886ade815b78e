/** Publish-latency histogram bucket bounds, seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Appends one unlabelled sample with its HELP and TYPE lines.
 *
 * @param lines - the exposition lines so far
 * @param type - `counter` or `gauge`
 * @param name - the metric name
 * @param help - its HELP text
 * @param value - its value
 * @example
 * ```ts
 * renderSample(lines, 'counter', 'cast_replays_total', 'Streams resumed.', 3)
 * ```
 */
export function renderSample(
  lines: string[],
  type: 'counter' | 'gauge',
  name: string,
  help: string,
  value: number,
): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
}

/** One label set's counts of a {@link Histogram}. */
interface Series {
  /** Observations per bucket (not cumulative); the last is above every bound. */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram: observations counted in buckets, with their sum and
 * count, optionally per value of one label. Every histogram of `/metrics` is
 * one of these.
 *
 * @example
 * ```ts
 * const gc = new Histogram('nodejs_gc_duration_seconds', 'GC pauses.', [0.001, 0.01, 0.1], 'kind')
 * gc.observe(0.004, 'minor')
 * const lines: string[] = []
 * gc.render(lines) // '# HELP nodejs_gc_duration_seconds GC pauses.', …, 'nodejs_gc_duration_seconds_count{kind="minor"} 1'
 * ```
 */
export class Histogram {
  private readonly series = new Map<string, Series>();

  /**
   * @param name - the metric name (the `_bucket`, `_sum` and `_count` series are derived)
   * @param help - its HELP text
   * @param buckets - the buckets' upper bounds, ascending
   * @param label - the name of the one label observations carry; without it the
   *   histogram is one series, rendered (as zeros) before any observation
   */
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: readonly number[],
    private readonly label?: string,
  ) {
    if (label === undefined) this.seriesOf('');
  }

  private seriesOf(labelValue: string): Series {
    let s = this.series.get(labelValue);
    if (!s) {
      s = { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(labelValue, s);
    }
    return s;
  }

  /** Records one observation (of the label value `labelValue` when the histogram has a label). */
  observe(value: number, labelValue = ''): void {
    const s = this.seriesOf(labelValue);
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i++;
    s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count++;
  }

  /** Appends the histogram's exposition lines. */
  render(lines: string[]): void {
    const { name } = this;
    lines.push(`# HELP ${name} ${this.help}`, `# TYPE ${name} histogram`);
    for (const [labelValue, s] of this.series) {
      const own = this.label === undefined ? '' : `${this.label}="${labelValue}"`;
      const labels = own === '' ? '' : `{${own}}`;
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += s.counts[i] as number;
        const le = i < this.buckets.length ? String(this.buckets[i]) : '+Inf';
        lines.push(`${name}_bucket{${own === '' ? '' : `${own},`}le="${le}"} ${cumulative}`);
      }
      lines.push(`${name}_sum${labels} ${s.sum}`, `${name}_count${labels} ${s.count}`);
    }
  }
}

/**
 * The server's counters, rendered in the Prometheus text format by
 * {@link renderMetrics}.
 */
export class Metrics {
  connectionsOpened = 0;
  eventsPublished = 0;
  deliveries = 0;
  replays = 0;
  replayedEvents = 0;
  replaysUnrecovered = 0;
  slowConsumerDrops = 0;
  tokensIssued = 0;
  duplicatePublishes = 0;
  streamsRevoked = 0;
  streamsDisconnected = 0;
  private readonly publishDuration = new Histogram(
    'cast_publish_duration_seconds',
    'Publish request duration.',
    LATENCY_BUCKETS,
  );
  /** More metrics rendered after these (the webhook engine's, when it runs). */
  readonly sections: Array<{ render(): string }> = [];

  /** Records one publish request's duration. */
  observePublish(seconds: number): void {
    this.publishDuration.observe(seconds);
  }

  /**
   * The Prometheus exposition text.
   *
   * @param gauges - values read at scrape time (open connections, broker kind)
   */
  render(gauges: { connections: number; broker: string }): string {
    const lines: string[] = [];
    const counter = (name: string, help: string, value: number) => renderSample(lines, 'counter', name, help, value);
    lines.push('# HELP cast_connections Open SSE stream connections on this node.', '# TYPE cast_connections gauge');
    lines.push(`cast_connections{broker="${gauges.broker}"} ${gauges.connections}`);
    counter('cast_connections_opened_total', 'SSE stream connections opened.', this.connectionsOpened);
    counter('cast_events_published_total', 'Events published (duplicates excluded).', this.eventsPublished);
    counter(
      'cast_publish_duplicates_total',
      'Publishes answered from the idempotency memory.',
      this.duplicatePublishes,
    );
    counter('cast_deliveries_total', 'Event frames handed to stream connections on this node.', this.deliveries);
    counter('cast_replays_total', 'Streams resumed with a Last-Event-ID.', this.replays);
    counter('cast_replayed_events_total', 'Events sent by replays.', this.replayedEvents);
    counter(
      'cast_replays_unrecovered_total',
      'Resumes that could not replay everything (recovered: false).',
      this.replaysUnrecovered,
    );
    counter(
      'cast_slow_consumer_drops_total',
      'Streams closed because their unsent bytes passed the limit.',
      this.slowConsumerDrops,
    );
    counter('cast_tokens_issued_total', 'Stream tokens issued.', this.tokensIssued);
    counter(
      'cast_streams_revoked_total',
      'Streams on this node ended by a revocation (POST /push/revoke).',
      this.streamsRevoked,
    );
    counter(
      'cast_streams_disconnected_total',
      'Streams on this node ended by POST /push/disconnect.',
      this.streamsDisconnected,
    );
    this.publishDuration.render(lines);
    return `${lines.join('\n')}\n${this.sections.map((s) => s.render()).join('')}`;
  }
}
