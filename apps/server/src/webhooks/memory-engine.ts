import type { LifecycleEvent } from '../lifecycle.js';
import { type WebhookEngine, type WebhookEngineOptions, overflowDrops, toWebhookEvent } from './engine.js';
import { MemoryBacklog } from './memory.js';
import { WebhookMetrics } from './metrics.js';
import { runDelivery } from './runner.js';

/**
 * The webhook engine of a single node (no Redis): each receiver URL has a
 * queue in memory and one delivery loop; a tenant's queues hold at most
 * `maxPending` events together, the oldest dropped first (see
 * {@link overflowDrops}). Pending events survive nothing but the process.
 *
 * @example
 * ```ts
 * const engine = createMemoryWebhookEngine({ endpoints, maxPending: 100_000, retryBaseMs: 1000 })
 * engine.lifecycle({ type: 'channel.occupied', tenant: 'acme', channel: 'order:1', at: Date.now() })
 * ```
 */
export function createMemoryWebhookEngine(options: WebhookEngineOptions): WebhookEngine {
  const stop = new AbortController();
  const backlogs = new Map<string, MemoryBacklog[]>();
  const metrics = new WebhookMetrics(() => {
    const pending = new Map<string, number>();
    for (const [tenant, list] of backlogs)
      pending.set(
        tenant,
        list.reduce((n, b) => n + b.size, 0),
      );
    return pending;
  });
  const log = options.log ?? ((line: string) => console.error(line));
  const loops: Array<Promise<void>> = [];
  for (const endpoint of options.endpoints) {
    const backlog = new MemoryBacklog({ batchWindowMs: options.batchWindowMs ?? 100 });
    const list = backlogs.get(endpoint.tenant) ?? [];
    list.push(backlog);
    backlogs.set(endpoint.tenant, list);
    loops.push(
      runDelivery({
        url: endpoint.url,
        secret: endpoint.secret,
        backlog,
        metrics,
        fetch: options.fetch ?? ((url, init) => fetch(url, init)),
        now: options.now ?? Date.now,
        random: options.random ?? Math.random,
        retryBaseMs: options.retryBaseMs,
        timeoutMs: options.timeoutMs,
        retryForMs: options.retryForMs,
        signal: stop.signal,
        log,
      }),
    );
  }
  return {
    metrics,
    lifecycle(event: LifecycleEvent) {
      const list = backlogs.get(event.tenant);
      if (!list) return;
      try {
        const pending = { event: toWebhookEvent(event), atMs: event.at };
        for (const backlog of list) backlog.push(pending);
        overflowDrops(
          list.map((b) => b.size),
          options.maxPending,
        ).forEach((n, i) => {
          if (n === 0) return;
          (list[i] as MemoryBacklog).dropOldest(n);
          metrics.dropped.overflow += n;
        });
      } catch (err) {
        log(`cast: webhooks: cannot queue a ${event.type} event (${(err as Error).message})`);
      }
    },
    async close() {
      stop.abort();
      await Promise.all(loops);
    },
  };
}
