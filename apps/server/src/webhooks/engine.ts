import { randomUUID } from 'node:crypto';
import type { WebhookEvent } from '@cast/protocol';
import type { WebhookEndpoint } from '../config.js';
import type { LifecycleEvent, LifecycleListener } from '../lifecycle.js';
import type { WebhookFetch } from './deliver.js';
import { WebhookMetrics } from './metrics.js';

/** Options of the webhook engines. */
export interface WebhookEngineOptions {
  endpoints: readonly WebhookEndpoint[];
  /**
   * Events a tenant's receiver URLs hold waiting, all together, before the oldest are dropped
   * (CAST_WEBHOOK_MAX_PENDING; an event waiting for two URLs counts twice; see {@link overflowDrops}).
   */
  maxPending: number;
  /** First retry delay, ms (CAST_WEBHOOK_RETRY_BASE_MS). */
  retryBaseMs: number;
  /** How long the first event of a batch waits for others, ms. @defaultValue 100 */
  batchWindowMs?: number;
  /** Request timeout, ms. @defaultValue 5000 */
  timeoutMs?: number;
  /** How long an event is retried, ms. @defaultValue 24 h */
  retryForMs?: number;
  /** @defaultValue globalThis.fetch */
  fetch?: WebhookFetch;
  /** @defaultValue Date.now */
  now?: () => number;
  /** @defaultValue Math.random */
  random?: () => number;
  /** @defaultValue console.error */
  log?: (line: string) => void;
}

/** The webhook engine: told of lifecycle events, it delivers them to the tenants' receivers. */
export interface WebhookEngine extends LifecycleListener {
  readonly metrics: WebhookMetrics;
  /** Stops delivering; with Redis, what is pending stays there for the other nodes. */
  close(): Promise<void>;
}

/**
 * The wire form of a lifecycle event, with its delivery id (the same on every retry).
 *
 * @example
 * ```ts
 * toWebhookEvent({ type: 'channel.occupied', tenant: 'acme', channel: 'order:1', at: Date.now() })
 * ```
 */
export function toWebhookEvent(event: LifecycleEvent): WebhookEvent {
  const out: WebhookEvent = {
    id: `wh_${randomUUID().replaceAll('-', '')}`,
    type: event.type,
    tenant: event.tenant,
    channel: event.channel,
    at: new Date(event.at).toISOString(),
  };
  if (event.userId !== undefined) out.userId = event.userId;
  return out;
}

/**
 * Groups endpoints by tenant.
 *
 * @example
 * ```ts
 * endpointsByTenant(config.webhooks.endpoints).get('acme') // [{ tenant: 'acme', url, secret }]
 * ```
 */
export function endpointsByTenant(endpoints: readonly WebhookEndpoint[]): Map<string, WebhookEndpoint[]> {
  const byTenant = new Map<string, WebhookEndpoint[]>();
  for (const e of endpoints) {
    const list = byTenant.get(e.tenant) ?? [];
    list.push(e);
    byTenant.set(e.tenant, list);
  }
  return byTenant;
}

/**
 * How many of each receiver's oldest pending events to drop so that a tenant's
 * receivers hold at most `max` events in all. The oldest pending event of the
 * tenant goes first: every receiver gets every event, so that is the receiver
 * furthest behind, cut down to the next one's length, then both, and so on. A
 * receiver holding at most `max / receivers` events (one that keeps up) loses
 * nothing, whatever a dead receiver beside it holds; dropping from it is
 * unavoidable only when every receiver of the tenant is that far behind.
 * Receivers cut to the same length keep one more each in the order given
 * until the drops are exact.
 *
 * @param lengths - events each receiver of one tenant holds
 * @param max - CAST_WEBHOOK_MAX_PENDING
 * @returns how many to drop from the front of each, in the order given
 * @example
 * ```ts
 * overflowDrops([99, 2], 100) // [1, 0]: the dead receiver loses its oldest, the healthy one nothing
 * overflowDrops([60, 60], 100) // [10, 10]
 * ```
 */
export function overflowDrops(lengths: readonly number[], max: number): number[] {
  const total = lengths.reduce((n, l) => n + l, 0);
  const excess = total - max;
  if (excess <= 0) return lengths.map(() => 0);
  const above = (level: number) => lengths.reduce((n, l) => n + Math.max(0, l - level), 0);
  // The highest level whose cut removes at least the excess (above(level) falls as level rises).
  let lo = 0;
  let hi = Math.max(...lengths);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (above(mid) >= excess) lo = mid;
    else hi = mid - 1;
  }
  let spare = above(lo) - excess;
  return lengths.map((l) => {
    if (l <= lo) return 0;
    if (spare > 0) {
      spare--;
      return l - lo - 1;
    }
    return l - lo;
  });
}
