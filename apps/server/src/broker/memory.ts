import { randomUUID } from 'node:crypto';
import { comparePositions, type EventPosition, parsePosition, type SessionInfo } from '@cast/protocol';
import type {
  Broker,
  LocalDelivery,
  PublishInput,
  PublishOutcome,
  ReplayResult,
  SessionRecord,
  StoredEvent,
} from './types.js';
import { createMemoryPresence } from './memory-presence.js';
import { positionAfter } from './position.js';

/** Limits of the memory broker's replay history and idempotency memory. */
export interface MemoryBrokerOptions {
  /** Events kept per tenant. */
  historySize: number;
  /** Oldest event kept, seconds. */
  historyMaxAgeSeconds: number;
  /** Payload bytes kept per tenant. */
  historyMaxBytes: number;
  /** How long an idempotency key is remembered, seconds. */
  idempotencyWindowSeconds: number;
  /** Most idempotency keys remembered at once (oldest forgotten first). @defaultValue 1_000_000 */
  maxIdempotencyKeys?: number;
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number;
}

interface Held {
  event: StoredEvent;
  at: EventPosition;
  bytes: number;
}

/** One tenant's log: a queue of held events and the floor below which events are unknown. */
class TenantLog {
  items: Held[] = [];
  head = 0;
  bytes = 0;
  last: EventPosition;
  /** Every event after this position is held (or was never published). */
  floor: EventPosition;

  constructor(startMs: number) {
    this.floor = { ms: startMs, seq: -1 };
    this.last = { ms: startMs, seq: -1 };
  }

  get size(): number {
    return this.items.length - this.head;
  }

  evictOne(): void {
    const gone = this.items[this.head];
    if (!gone) return;
    this.items[this.head] = undefined as unknown as Held;
    this.head++;
    this.bytes -= gone.bytes;
    this.floor = gone.at;
    // Compact once the dead prefix dominates, so eviction stays O(1) amortized.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Index of the first held event after `p`, by binary search. */
  firstAfter(p: EventPosition): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (comparePositions((this.items[mid] as Held).at, p) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The embedded broker: one process, per-tenant replay history in memory,
 * bounded by count, age and bytes. Delivery is synchronous, so `delivered` is
 * exact and publish order is delivery order.
 *
 * @example
 * ```ts
 * const broker = createMemoryBroker({ historySize: 10_000, historyMaxAgeSeconds: 3600,
 *   historyMaxBytes: 64 << 20, idempotencyWindowSeconds: 86_400 })
 * ```
 */
export function createMemoryBroker(options: MemoryBrokerOptions): Broker {
  const now = options.now ?? Date.now;
  const startMs = now();
  const maxKeys = options.maxIdempotencyKeys ?? 1_000_000;
  const maxAgeMs = options.historyMaxAgeSeconds * 1000;
  const windowMs = options.idempotencyWindowSeconds * 1000;
  const logs = new Map<string, TenantLog>();
  const idempotency = new Map<string, { outcome: PublishOutcome; expires: number }>();
  const sessions = new Map<string, Map<string, SessionRecord>>();
  /** Open streams per tenant and channel. */
  const channelCounts = new Map<string, Map<string, number>>();
  let local: LocalDelivery | undefined;
  let sweepTimer: ReturnType<typeof setInterval> | undefined;

  function logOf(tenant: string): TenantLog {
    let log = logs.get(tenant);
    if (!log) {
      log = new TenantLog(startMs);
      logs.set(tenant, log);
    }
    return log;
  }

  function trimByAge(log: TenantLog, t: number): void {
    const oldest = t - maxAgeMs;
    while (log.size > 0 && (log.items[log.head] as Held).at.ms < oldest) log.evictOne();
  }

  function forgetExpiredKeys(t: number): void {
    // Insertion order is expiry order (one window for all keys).
    for (const [key, entry] of idempotency) {
      if (entry.expires > t && idempotency.size <= maxKeys) break;
      idempotency.delete(key);
    }
  }

  function publishOne(tenant: string, input: PublishInput, t: number): PublishOutcome {
    const idemKey = input.idempotencyKey === undefined ? undefined : `${tenant}\u0000${input.idempotencyKey}`;
    if (idemKey !== undefined) {
      const seen = idempotency.get(idemKey);
      if (seen && seen.expires > t) return { ...seen.outcome, duplicate: true };
    }
    const log = logOf(tenant);
    const at = positionAfter(log.last, t);
    log.last = at;
    const event: StoredEvent = {
      position: `${at.ms}-${at.seq}`,
      channel: input.channel,
      event: input.event,
      data: input.data,
      messageId: randomUUID(),
    };
    // The payload is held twice: as JSON text and as the encoded SSE frame the hub keeps beside it.
    const bytes = 2 * (input.data.length + input.event.length + input.channel.length) + 128;
    if (options.historySize > 0 && bytes <= options.historyMaxBytes) {
      log.items.push({ event, at, bytes });
      log.bytes += bytes;
      while (log.size > options.historySize || log.bytes > options.historyMaxBytes) log.evictOne();
    } else {
      // Not retained: resuming from before it cannot recover it.
      log.floor = at;
    }
    const delivered = local ? local.deliver(tenant, event) : 0;
    const outcome: PublishOutcome = { event, delivered, duplicate: false };
    if (idemKey !== undefined) {
      idempotency.set(idemKey, { outcome, expires: t + windowMs });
      if (idempotency.size > maxKeys) forgetExpiredKeys(t);
    }
    return outcome;
  }

  const presence = createMemoryPresence({
    append(tenant, input) {
      const t = now();
      trimByAge(logOf(tenant), t);
      publishOne(tenant, input, t);
    },
    position(tenant) {
      const last = logs.get(tenant)?.last;
      return last && last.seq >= 0 ? `${last.ms}-${last.seq}` : undefined;
    },
    connections: (tenant, channel) => channelCounts.get(tenant)?.get(channel) ?? 0,
    now,
  });

  return {
    kind: 'memory',
    presence,
    async start(delivery) {
      local = delivery;
      sweepTimer = setInterval(() => {
        const t = now();
        for (const log of logs.values()) trimByAge(log, t);
        forgetExpiredKeys(t);
      }, 10_000);
      sweepTimer.unref?.();
    },
    async publish(tenant, inputs) {
      const t = now();
      const log = logOf(tenant);
      trimByAge(log, t);
      return inputs.map((input) => publishOne(tenant, input, t));
    },
    async replay(tenant, channels, after): Promise<ReplayResult> {
      const from = parsePosition(after);
      const log = logs.get(tenant);
      if (!from) return { events: [], recovered: false };
      if (!log) {
        // Nothing published since start: all is known only for ids of this run.
        return { events: [], recovered: comparePositions(from, { ms: startMs, seq: -1 }) >= 0 && from.ms <= now() };
      }
      trimByAge(log, now());
      const wanted = new Set(channels);
      const events: StoredEvent[] = [];
      for (let i = log.firstAfter(from); i < log.items.length; i++) {
        const held = log.items[i] as Held;
        if (wanted.has(held.event.channel)) events.push(held.event);
      }
      const recovered = comparePositions(from, log.floor) >= 0 && comparePositions(from, log.last) <= 0;
      return { events, recovered };
    },
    listen() {
      // One process: every publish is delivered locally already.
    },
    unlisten() {},
    addSession(session) {
      let byId = sessions.get(session.tenant);
      if (!byId) {
        byId = new Map();
        sessions.set(session.tenant, byId);
      }
      byId.set(session.id, session);
      let counts = channelCounts.get(session.tenant);
      if (!counts) {
        counts = new Map();
        channelCounts.set(session.tenant, counts);
      }
      for (const ch of session.channels) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    },
    removeSession(tenant, id) {
      const byId = sessions.get(tenant);
      const session = byId?.get(id);
      if (!byId || !session) return;
      byId.delete(id);
      if (byId.size === 0) sessions.delete(tenant);
      const counts = channelCounts.get(tenant);
      for (const ch of session.channels) {
        const n = (counts?.get(ch) ?? 1) - 1;
        if (n > 0) counts?.set(ch, n);
        else counts?.delete(ch);
      }
      if (counts && counts.size === 0) channelCounts.delete(tenant);
    },
    async listSessions(tenant, filter): Promise<SessionInfo[]> {
      const out: SessionInfo[] = [];
      for (const s of sessions.get(tenant)?.values() ?? []) {
        if (filter.channel !== undefined && !s.channels.includes(filter.channel)) continue;
        if (filter.userId !== undefined && s.userId !== filter.userId) continue;
        out.push({ id: s.id, userId: s.userId, channels: s.channels, connectedAt: s.connectedAt });
      }
      return out;
    },
    async ready() {
      return true;
    },
    async close() {
      if (sweepTimer) clearInterval(sweepTimer);
    },
  };
}
