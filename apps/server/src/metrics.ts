/** Publish-latency histogram bucket bounds, seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

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
  private readonly latencyCounts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  private latencySum = 0;
  private latencyCount = 0;
  /** More metrics rendered after these (the webhook engine's, when it runs). */
  readonly sections: Array<{ render(): string }> = [];

  /** Records one publish request's duration. */
  observePublish(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] as number)) i++;
    this.latencyCounts[i] = (this.latencyCounts[i] as number) + 1;
    this.latencySum += seconds;
    this.latencyCount++;
  }

  /**
   * The Prometheus exposition text.
   *
   * @param gauges - values read at scrape time (open connections, broker kind)
   */
  render(gauges: { connections: number; broker: string }): string {
    const lines: string[] = [];
    const counter = (name: string, help: string, value: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    };
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
    lines.push(
      '# HELP cast_publish_duration_seconds Publish request duration.',
      '# TYPE cast_publish_duration_seconds histogram',
    );
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((le, i) => {
      cumulative += this.latencyCounts[i] as number;
      lines.push(`cast_publish_duration_seconds_bucket{le="${le}"} ${cumulative}`);
    });
    cumulative += this.latencyCounts[LATENCY_BUCKETS.length] as number;
    lines.push(`cast_publish_duration_seconds_bucket{le="+Inf"} ${cumulative}`);
    lines.push(`cast_publish_duration_seconds_sum ${this.latencySum}`);
    lines.push(`cast_publish_duration_seconds_count ${this.latencyCount}`);
    return `${lines.join('\n')}\n${this.sections.map((s) => s.render()).join('')}`;
  }
}
