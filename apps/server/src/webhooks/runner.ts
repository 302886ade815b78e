import { backoffDelay, type WebhookEvent } from '@cast/protocol';
import { postWebhook, type WebhookFetch } from './deliver.js';
import type { WebhookMetrics } from './metrics.js';

/** Most events in one webhook request. */
export const MAX_EVENTS_PER_REQUEST = 100;
/** Longest wait between two tries of a batch, ms. */
export const MAX_RETRY_DELAY_MS = 5 * 60_000;
/** How long an event is retried before it is dropped, ms (from when it happened). */
export const RETRY_FOR_MS = 24 * 3_600_000;

/** One event waiting for delivery. */
export interface PendingEvent {
  event: WebhookEvent;
  /** When it happened, ms since the epoch (for expiry and latency). */
  atMs: number;
  /** Where it sits in its backlog (a Redis stream id), if the backlog needs it. */
  ref?: string;
}

/**
 * The events waiting for one receiver URL, oldest first. A batch handed out by
 * `next()` and not acknowledged comes back from the next `next()` (the same
 * events, minus any dropped meanwhile), so a retry repeats the same ids.
 */
export interface Backlog {
  /** Resolves with the next batch (≤ {@link MAX_EVENTS_PER_REQUEST} events), or undefined once stopped. */
  next(signal: AbortSignal): Promise<PendingEvent[] | undefined>;
  /** The batch reached the receiver. */
  ack(batch: readonly PendingEvent[]): Promise<void>;
  /** These events of the current batch ran out of retries. */
  drop(events: readonly PendingEvent[]): Promise<void>;
}

/** Options of {@link runDelivery}. */
export interface RunDeliveryOptions {
  url: string;
  secret: string;
  backlog: Backlog;
  metrics: WebhookMetrics;
  fetch: WebhookFetch;
  now: () => number;
  random: () => number;
  /** First retry delay, ms. */
  retryBaseMs: number;
  /** Request timeout, ms. @defaultValue 5000 */
  timeoutMs?: number;
  /** Retry period, ms. @defaultValue {@link RETRY_FOR_MS} */
  retryForMs?: number;
  /** Ends the loop (and the request in flight). */
  signal: AbortSignal;
  log: (line: string) => void;
}

/**
 * Waits `ms`, or less when the signal aborts.
 *
 * @example
 * ```ts
 * await pause(1000, controller.signal)
 * ```
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Delivers one receiver's backlog, one request at a time (so events reach it in
 * the order they happened): a 2xx acknowledges the batch; anything else is
 * retried with exponential backoff and jitter from `retryBaseMs` up to five
 * minutes, and events older than the retry period are dropped at their next
 * failure. Returns when the signal aborts.
 *
 * @example
 * ```ts
 * void runDelivery({ url, secret, backlog, metrics, fetch, now: Date.now, random: Math.random, retryBaseMs: 1000, signal, log })
 * ```
 */
export async function runDelivery(o: RunDeliveryOptions): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const retryForMs = o.retryForMs ?? RETRY_FOR_MS;
  let failures = 0;
  while (!o.signal.aborted) {
    let batch: PendingEvent[] | undefined;
    try {
      batch = await o.backlog.next(o.signal);
    } catch (err) {
      // The backlog's store is unreachable (Redis down): try again shortly.
      o.log(`cast: webhooks for ${o.url}: cannot read pending events (${(err as Error).message}); retrying`);
      await pause(1000, o.signal);
      continue;
    }
    if (!batch || o.signal.aborted) return;
    if (batch.length === 0) continue;
    o.metrics.attempts++;
    if (failures > 0) o.metrics.retries++;
    const outcome = await postWebhook({
      url: o.url,
      secret: o.secret,
      events: batch.map((p) => p.event),
      timeoutMs,
      fetch: o.fetch,
      now: o.now,
      signal: o.signal,
    });
    if (o.signal.aborted) return;
    if (outcome.ok) {
      o.metrics.deliveries++;
      o.metrics.eventsDelivered += batch.length;
      const now = o.now();
      for (const p of batch) o.metrics.observeLatency(Math.max(0, now - p.atMs) / 1000);
      if (failures > 0) o.log(`cast: webhooks for ${o.url}: delivered again after ${failures} failed attempts`);
      failures = 0;
      await o.backlog.ack(batch).catch((err: Error) => {
        // Not acknowledged in the store: the batch is sent again later (at least once).
        o.log(`cast: webhooks for ${o.url}: cannot record a delivery (${err.message}); it may be repeated`);
      });
      continue;
    }
    o.metrics.failures++;
    if (failures === 0)
      o.log(`cast: webhooks for ${o.url}: delivery failed (${outcome.reason}); retrying with backoff`);
    const cutoff = o.now() - retryForMs;
    const expired = batch.filter((p) => p.atMs <= cutoff);
    if (expired.length > 0) {
      o.metrics.dropped.expired += expired.length;
      o.log(
        `cast: webhooks for ${o.url}: dropped ${expired.length} events undelivered for ${Math.round(retryForMs / 3_600_000)} h`,
      );
      await o.backlog.drop(expired).catch(() => {});
    }
    await pause(
      backoffDelay(failures, { floorMs: o.retryBaseMs, capMs: MAX_RETRY_DELAY_MS, jitter: 'equal' }, o.random),
      o.signal,
    );
    failures++;
  }
}
