import { createHash, randomUUID } from 'node:crypto';
import type { WebhookEvent } from '@cast/protocol';
import { type CommandClient, createCommandClient } from '../broker/redis/connection.js';
import { parseRedisUrl } from '../broker/redis/url.js';
import type { WebhookEndpoint } from '../config.js';
import type { LifecycleEvent } from '../lifecycle.js';
import { type WebhookEngine, type WebhookEngineOptions, endpointsByTenant, toWebhookEvent } from './engine.js';
import { WebhookMetrics } from './metrics.js';
import { MAX_EVENTS_PER_REQUEST, type Backlog, type PendingEvent, pause, runDelivery } from './runner.js';

/** Options of {@link createRedisWebhookEngine}. */
export interface RedisWebhookEngineOptions extends WebhookEngineOptions {
  /** CAST_REDIS_URL. */
  url: string;
  /** CAST_REDIS_PREFIX. */
  prefix: string;
  /** This node's consumer name. @defaultValue a random UUID */
  nodeId?: string;
  /** How long a receiver stays with a node that stopped renewing its claim, ms. @defaultValue 10_000 */
  leaseMs?: number;
  /** How often a delivering node looks for events other nodes added, ms. @defaultValue 500 */
  pollMs?: number;
}

/** A Redis-backed engine, with a way to stop it the way a crash would (tests). */
export interface RedisWebhookEngine extends WebhookEngine {
  /** Stops every loop and connection at once: no acknowledgement, no lease released. For tests. */
  halt(): void;
}

const GROUP = 'cast';

/**
 * Appends events to every stream of a tenant (KEYS, in configuration order), then trims the
 * streams so that together they hold at most ARGV[1] entries, the oldest first across them:
 * the rule of `overflowDrops` (engine.ts), step for step. Returns how many entries were trimmed.
 */
const ADD_SCRIPT = `
local max = tonumber(ARGV[1])
local lengths, total, top = {}, 0, 0
for i = 1, #KEYS do
  for j = 2, #ARGV do
    redis.call('XADD', KEYS[i], '*', 'e', ARGV[j])
  end
  lengths[i] = redis.call('XLEN', KEYS[i])
  total = total + lengths[i]
  if lengths[i] > top then top = lengths[i] end
end
local excess = total - max
if excess <= 0 then return 0 end
local function above(level)
  local n = 0
  for i = 1, #KEYS do
    if lengths[i] > level then n = n + lengths[i] - level end
  end
  return n
end
local lo, hi = 0, top
while lo < hi do
  local mid = math.ceil((lo + hi) / 2)
  if above(mid) >= excess then lo = mid else hi = mid - 1 end
end
local spare = above(lo) - excess
for i = 1, #KEYS do
  if lengths[i] > lo then
    local keep = lo
    if spare > 0 then
      spare = spare - 1
      keep = lo + 1
    end
    redis.call('XTRIM', KEYS[i], 'MAXLEN', keep)
  end
end
return excess`;

/** Extends the lease when this node holds it (1), else 0. */
const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** Deletes the lease when this node holds it. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

type StreamReply = Array<[string, Array<[string, string[] | null]>]> | null;

type ScriptClient = CommandClient & {
  castWebhookAdd(numKeys: number, ...args: Array<string | number>): Promise<number>;
  castWebhookRenew(key: string, node: string, ms: number): Promise<number>;
  castWebhookRelease(key: string, node: string): Promise<number>;
};

/**
 * The stream of one receiver URL: under the tenant's hash tag, so a tenant's
 * streams sit on one Redis Cluster shard and one script appends to all of them.
 *
 * @example
 * ```ts
 * webhookStreamKey('cast', 'acme', 'https://api.acme.com/hooks') // 'cast:{acme}:webhooks:3b1f…'
 * ```
 */
export function webhookStreamKey(prefix: string, tenant: string, url: string): string {
  return `${prefix}:{${tenant}}:webhooks:${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
}

function parseEntries(reply: StreamReply): { events: PendingEvent[]; gone: string[] } {
  const events: PendingEvent[] = [];
  const gone: string[] = [];
  for (const [, entries] of reply ?? []) {
    for (const [id, fields] of entries) {
      // A pending entry trimmed away by the bound comes back without fields (already counted as dropped).
      const raw = fields?.[1];
      if (!raw) {
        gone.push(id);
        continue;
      }
      let event: WebhookEvent;
      try {
        event = JSON.parse(raw) as WebhookEvent;
      } catch {
        // Not written by Cast: skip it rather than block the stream behind it.
        gone.push(id);
        continue;
      }
      events.push({ event, atMs: Date.parse(event.at), ref: id });
    }
  }
  return { events, gone };
}

interface Receiver {
  endpoint: WebhookEndpoint;
  key: string;
  lease: string;
  holding: AbortController | undefined;
  loop: Promise<void> | undefined;
  wake: (() => void) | undefined;
}

/**
 * The webhook engine of a cluster on Redis. Every receiver URL has a Redis
 * stream under its tenant's hash tag; a tenant's streams hold at most
 * `maxPending` entries together, trimmed in the script that appends (the
 * oldest first across them, the rule of `overflowDrops`); the node that
 * decides an event appends it once (XADD). One node at a time holds a
 * receiver's lease and delivers its stream through the consumer group `cast`
 * (XREADGROUP), one request at a time, so the receiver sees each channel's
 * events in order; a 2xx acknowledges and deletes the batch (XACK, XDEL). A
 * node that dies stops renewing its lease; the next holder claims the dead
 * consumer's pending entries (XAUTOCLAIM) and sends them again, first.
 *
 * @example
 * ```ts
 * const engine = createRedisWebhookEngine({ url, prefix: 'cast', endpoints, maxPending: 100_000, retryBaseMs: 1000 })
 * ```
 */
export function createRedisWebhookEngine(options: RedisWebhookEngineOptions): RedisWebhookEngine {
  const node = options.nodeId ?? randomUUID();
  const leaseMs = options.leaseMs ?? 10_000;
  const pollMs = options.pollMs ?? 500;
  const batchWindowMs = options.batchWindowMs ?? 100;
  const log = options.log ?? ((line: string) => console.error(line));
  const stop = new AbortController();
  // One Redis or a Redis Cluster (CAST_REDIS_URL): a receiver's stream and lease carry the tenant's hash tag.
  const redis = createCommandClient(parseRedisUrl(options.url), {
    timeoutMs: 2000,
    name: `cast:${node}:webhooks`,
  }) as ScriptClient;
  redis.connect().catch(() => {});
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log(`cast: webhooks: Redis unreachable (${err.message}); events wait in memory`);
    down = true;
  });
  redis.on('ready', () => {
    down = false;
  });
  redis.defineCommand('castWebhookAdd', { lua: ADD_SCRIPT });
  redis.defineCommand('castWebhookRenew', { numberOfKeys: 1, lua: RENEW_SCRIPT });
  redis.defineCommand('castWebhookRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });

  const byTenant = endpointsByTenant(options.endpoints);
  const receivers: Receiver[] = options.endpoints.map((endpoint) => {
    const key = webhookStreamKey(options.prefix, endpoint.tenant, endpoint.url);
    return { endpoint, key, lease: `${key}:owner`, holding: undefined, loop: undefined, wake: undefined };
  });
  const pendingByTenant = new Map<string, number>();
  const metrics = new WebhookMetrics(() => {
    const out = new Map<string, number>();
    for (const tenant of byTenant.keys())
      out.set(
        tenant,
        (pendingByTenant.get(tenant) ?? 0) + (outboxes.get(tenant)?.length ?? 0) * (byTenant.get(tenant)?.length ?? 0),
      );
    return out;
  });

  // ---- appending: events wait in a bounded outbox until Redis has them ----
  const outboxes = new Map<string, WebhookEvent[]>();
  const flushing = new Set<string>();

  async function flush(tenant: string): Promise<void> {
    if (flushing.has(tenant)) return;
    flushing.add(tenant);
    const streams = receivers.filter((r) => r.endpoint.tenant === tenant);
    const outbox = outboxes.get(tenant) as WebhookEvent[];
    try {
      while (outbox.length > 0 && !stop.signal.aborted) {
        const chunk = outbox.slice(0, MAX_EVENTS_PER_REQUEST);
        try {
          const dropped = await redis.castWebhookAdd(
            streams.length,
            ...streams.map((r) => r.key),
            options.maxPending,
            ...chunk.map((e) => JSON.stringify(e)),
          );
          metrics.dropped.overflow += Number(dropped) || 0;
          // Overflow may have shifted the outbox meanwhile: remove exactly what was written.
          const written = new Set(chunk);
          let n = 0;
          while (n < outbox.length && written.has(outbox[n] as WebhookEvent)) n++;
          outbox.splice(0, n);
          for (const r of streams) r.wake?.();
        } catch {
          await pause(1000, stop.signal);
        }
      }
    } finally {
      flushing.delete(tenant);
    }
  }

  // ---- delivering: one node per receiver, by lease ----
  function backlogOf(r: Receiver, signal: AbortSignal): Backlog {
    let claimed = false;
    let lastClaim = 0;
    const read = async (id: '0' | '>') =>
      parseEntries(
        (await redis.xreadgroup(
          'GROUP',
          GROUP,
          node,
          'COUNT',
          MAX_EVENTS_PER_REQUEST,
          'STREAMS',
          r.key,
          id,
        )) as StreamReply,
      );
    const remove = async (ids: string[]) => {
      if (ids.length === 0) return;
      await redis
        .multi()
        .xack(r.key, GROUP, ...ids)
        .xdel(r.key, ...ids)
        .exec();
    };
    const backlog: Backlog = {
      async next() {
        try {
          return await nextBatch();
        } catch (err) {
          // The stream and its group are gone (a Redis that lost its data): make them again.
          if (/NOGROUP/.test((err as Error).message)) claimed = false;
          throw err;
        }
      },
      ack: async (batch) => remove(batch.map((p) => p.ref as string)),
      drop: async (events) => remove(events.map((p) => p.ref as string)),
    };

    return backlog;

    async function nextBatch(): Promise<PendingEvent[] | undefined> {
      while (!signal.aborted) {
        const now = Date.now();
        if (!claimed || now - lastClaim >= leaseMs) {
          if (!claimed) {
            await redis.xgroup('CREATE', r.key, GROUP, '0', 'MKSTREAM').catch((err: Error) => {
              if (!/BUSYGROUP/.test(err.message)) throw err;
            });
          }
          // The previous holder's unacknowledged entries become ours, and go first. Later, now and
          // then, entries a former holder read after we took over (it had not yet seen that it
          // lost the lease) and then left idle.
          let cursor = '0-0';
          for (let round = 0; round < 10_000; round++) {
            const reply = (await redis.xautoclaim(
              r.key,
              GROUP,
              node,
              claimed ? leaseMs : 0,
              cursor,
              'COUNT',
              1000,
              'JUSTID',
            )) as [string, ...unknown[]];
            cursor = reply[0];
            if (cursor === '0-0') break;
          }
          claimed = true;
          lastClaim = now;
        }
        const mine = await read('0');
        await remove(mine.gone);
        if (mine.events.length > 0) return mine.events;
        const fresh = await read('>');
        await remove(fresh.gone);
        if (fresh.events.length > 0) return fresh.events;
        const woken = await new Promise<boolean>((resolve) => {
          const done = (byWake: boolean) => {
            clearTimeout(timer);
            r.wake = undefined;
            signal.removeEventListener('abort', onAbort);
            resolve(byWake);
          };
          const onAbort = () => done(false);
          const timer = setTimeout(() => done(false), pollMs);
          r.wake = () => done(true);
          signal.addEventListener('abort', onAbort, { once: true });
        });
        if (woken) await pause(batchWindowMs, signal);
      }
      return undefined;
    }
  }

  function startHolding(r: Receiver): void {
    const controller = new AbortController();
    const onStop = () => controller.abort();
    stop.signal.addEventListener('abort', onStop, { once: true });
    r.holding = controller;
    r.loop = runDelivery({
      url: r.endpoint.url,
      secret: r.endpoint.secret,
      backlog: backlogOf(r, controller.signal),
      metrics,
      fetch: options.fetch ?? ((url, init) => fetch(url, init)),
      now: options.now ?? Date.now,
      random: options.random ?? Math.random,
      retryBaseMs: options.retryBaseMs,
      timeoutMs: options.timeoutMs,
      retryForMs: options.retryForMs,
      signal: controller.signal,
      log,
    }).finally(() => stop.signal.removeEventListener('abort', onStop));
  }

  function stopHolding(r: Receiver): void {
    r.holding?.abort();
    r.holding = undefined;
  }

  async function tick(): Promise<void> {
    for (const r of receivers) {
      if (stop.signal.aborted) return;
      try {
        if (r.holding) {
          if ((await redis.castWebhookRenew(r.lease, node, leaseMs)) !== 1) stopHolding(r);
        } else if ((await redis.set(r.lease, node, 'PX', leaseMs, 'NX')) === 'OK') {
          startHolding(r);
        }
      } catch {
        // Redis unreachable: keep delivering what we hold; the lease decides again when it returns.
      }
    }
    try {
      const lengths = await Promise.all(receivers.map((r) => redis.xlen(r.key)));
      pendingByTenant.clear();
      receivers.forEach((r, i) => {
        pendingByTenant.set(r.endpoint.tenant, (pendingByTenant.get(r.endpoint.tenant) ?? 0) + (lengths[i] ?? 0));
      });
    } catch {
      // The gauge keeps its last value while Redis is away.
    }
  }

  let ticking = false;
  const runTick = () => {
    if (ticking) return;
    ticking = true;
    void tick().finally(() => {
      ticking = false;
    });
  };
  const timer = setInterval(runTick, Math.max(50, Math.floor(leaseMs / 3)));
  timer.unref?.();
  runTick();

  return {
    metrics,
    lifecycle(event: LifecycleEvent) {
      if (stop.signal.aborted || !byTenant.has(event.tenant)) return;
      try {
        let outbox = outboxes.get(event.tenant);
        if (!outbox) outboxes.set(event.tenant, (outbox = []));
        outbox.push(toWebhookEvent(event));
        // An event not yet in Redis waits for each of the tenant's URLs: the outbox holds at most
        // the bound in those terms (the script trims what is in Redis to it when it appends).
        const urls = (byTenant.get(event.tenant) as WebhookEndpoint[]).length;
        const over = outbox.length - Math.max(1, Math.floor(options.maxPending / urls));
        if (over > 0) {
          outbox.splice(0, over);
          metrics.dropped.overflow += over * urls;
        }
        // After the current task, so that events decided together go to Redis in one call.
        queueMicrotask(() => void flush(event.tenant));
      } catch (err) {
        log(`cast: webhooks: cannot queue a ${event.type} event (${(err as Error).message})`);
      }
    },
    async close() {
      // Events not yet in Redis get one short chance to get there.
      const deadline = Date.now() + 2000;
      while ([...outboxes.values()].some((o) => o.length > 0) && Date.now() < deadline && !down)
        await new Promise((r) => setTimeout(r, 20));
      clearInterval(timer);
      stop.abort();
      await Promise.all(receivers.map((r) => r.loop));
      // Hand the receivers over at once rather than after the lease runs out.
      await Promise.all(receivers.map((r) => redis.castWebhookRelease(r.lease, node).catch(() => 0)));
      redis.disconnect();
    },
    halt() {
      clearInterval(timer);
      stop.abort();
      redis.disconnect();
    },
  };
}
