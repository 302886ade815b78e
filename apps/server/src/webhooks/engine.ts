import { randomUUID } from 'node:crypto';
import type { WebhookEvent } from '@cast/protocol';
import type { WebhookEndpoint } from '../config.js';
import type { LifecycleEvent, LifecycleListener } from '../lifecycle.js';
import type { WebhookFetch } from './deliver.js';
import { WebhookMetrics } from './metrics.js';

/** Options of the webhook engines. */
export interface WebhookEngineOptions {
  endpoints: readonly WebhookEndpoint[];
  /** Events kept per receiver URL before the oldest are dropped (CAST_WEBHOOK_MAX_PENDING). */
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
