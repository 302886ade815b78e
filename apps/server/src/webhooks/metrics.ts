import { Histogram, renderSample } from '../metrics.js';

/** Latency buckets of webhook deliveries (event happened → receiver acknowledged), seconds. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21_600, 86_400];

/** Why webhook events were dropped. */
export type WebhookDropReason = 'overflow' | 'expired';

/**
 * The webhook counters of this node, rendered after the server's own in
 * `/metrics`.
 *
 * @example
 * ```ts
 * const metrics = new WebhookMetrics(() => new Map([['acme', 0]]))
 * metrics.render() // '# HELP cast_webhook_attempts_total …'
 * ```
 */
export class WebhookMetrics {
  /** Requests sent to receivers (first tries and retries). */
  attempts = 0;
  /** Requests a receiver acknowledged with a 2xx. */
  deliveries = 0;
  /** Events in acknowledged requests. */
  eventsDelivered = 0;
  /** Requests that failed: not 2xx, timed out, or could not connect. */
  failures = 0;
  /** Requests that repeated a batch after a failure. */
  retries = 0;
  readonly dropped: Record<WebhookDropReason, number> = { overflow: 0, expired: 0 };
  private readonly latency = new Histogram(
    'cast_webhook_delivery_latency_seconds',
    'Time from a webhook event to its acknowledgement.',
    LATENCY_BUCKETS,
  );

  /**
   * @param pending - events waiting per tenant, read at scrape time
   */
  constructor(private readonly pending: () => ReadonlyMap<string, number>) {}

  /** Records the time from an event to its acknowledgement. */
  observeLatency(seconds: number): void {
    this.latency.observe(seconds);
  }

  /** The Prometheus text of the webhook metrics. */
  render(): string {
    const lines: string[] = [];
    const counter = (name: string, help: string, value: number) => renderSample(lines, 'counter', name, help, value);
    counter(
      'cast_webhook_attempts_total',
      'Webhook requests sent by this node (first tries and retries).',
      this.attempts,
    );
    counter('cast_webhook_deliveries_total', 'Webhook requests acknowledged with a 2xx.', this.deliveries);
    counter('cast_webhook_events_delivered_total', 'Webhook events in acknowledged requests.', this.eventsDelivered);
    counter(
      'cast_webhook_failures_total',
      'Webhook requests that failed (not 2xx, timeout, connection refused).',
      this.failures,
    );
    counter('cast_webhook_retries_total', 'Webhook requests that repeated a batch after a failure.', this.retries);
    lines.push(
      '# HELP cast_webhook_dropped_total Webhook events dropped: the pending bound was passed (overflow) or retries ran out (expired).',
    );
    lines.push('# TYPE cast_webhook_dropped_total counter');
    for (const reason of ['overflow', 'expired'] as const)
      lines.push(`cast_webhook_dropped_total{reason="${reason}"} ${this.dropped[reason]}`);
    lines.push(
      "# HELP cast_webhook_pending Webhook events waiting for delivery, per tenant (with Redis: the whole cluster's).",
    );
    lines.push('# TYPE cast_webhook_pending gauge');
    for (const [tenant, n] of this.pending()) lines.push(`cast_webhook_pending{tenant="${tenant}"} ${n}`);
    this.latency.render(lines);
    return `${lines.join('\n')}\n`;
  }
}
