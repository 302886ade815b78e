import type { Config } from '../config.js';
import type { WebhookEngine, WebhookEngineOptions } from './engine.js';
import { createMemoryWebhookEngine } from './memory-engine.js';

export type { WebhookEngine, WebhookEngineOptions } from './engine.js';
export { toWebhookEvent } from './engine.js';
export { createMemoryWebhookEngine } from './memory-engine.js';
export { signWebhook } from './sign.js';
export { WebhookMetrics } from './metrics.js';
export { MAX_EVENTS_PER_REQUEST, MAX_RETRY_DELAY_MS, RETRY_FOR_MS } from './runner.js';

/**
 * Creates the webhook engine the configuration asks for: on Redis when
 * `CAST_REDIS_URL` is set (delivered once per cluster), else in memory.
 * `startServer` imports this module only when `CAST_WEBHOOKS` is set.
 *
 * @param config - the server configuration (with `webhooks` set)
 * @param overrides - timings and fetch, for tests
 * @returns the engine, already delivering
 * @example
 * ```ts
 * const webhooks = config.webhooks ? await createWebhooks(config) : undefined
 * ```
 */
export async function createWebhooks(
  config: Config,
  overrides: Partial<WebhookEngineOptions> & { leaseMs?: number; pollMs?: number } = {},
): Promise<WebhookEngine | undefined> {
  if (!config.webhooks) return undefined;
  const options: WebhookEngineOptions = {
    endpoints: config.webhooks.endpoints,
    maxPending: config.webhookMaxPending,
    retryBaseMs: config.webhookRetryBaseMs,
    ...overrides,
  };
  if (config.redisUrl) {
    const { createRedisWebhookEngine } = await import('./redis-engine.js');
    return createRedisWebhookEngine({ ...options, ...overrides, url: config.redisUrl, prefix: config.redisPrefix });
  }
  return createMemoryWebhookEngine(options);
}
