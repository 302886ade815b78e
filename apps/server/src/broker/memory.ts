import { randomUUID } from 'node:crypto';
import { CastError, comparePositions, type EventPosition, type SessionInfo } from '@cast/protocol';
import { MAX_REVOCATIONS_PER_TENANT, NO_REVOCATIONS, RevocationList, revocationTime } from '../revocation/list.js';
import type {
  Broker,
  LocalDelivery,
  PublishInput,
  PublishOutcome,
  ReplayPage,
  ReplayResult,
  SessionRecord,
  StoredEvent,
} from './types.js';
import { type IdempotencyAnswer, fingerprint, reusedKey } from './idempotency.js';
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
  /** How long a revocation is kept after its time: the longest token lifetime, seconds. @defaultValue 86_400 */
  revocationTtlSeconds?: number;
  /** Most revocations held per tenant at once. @defaultValue MAX_REVOCATIONS_PER_TENANT (100 000) */
  maxRevocations?: number;
  /** Most idempotency keys remembered at once (oldest forgotten first). @defaultValue 1_000_000 */
  maxIdempotencyKeys?: number;
  /** Most bytes the remembered idempotency answers take (oldest forgotten first). @defaultValue 64 MiB */
  maxIdempotencyBytes?: number;
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number;
}

interface Held {
  event: StoredEvent;
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
    this.floor = gone.event.position;
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
      if (comparePositions((this.items[mid] as Held).event.position, p) <= 0) lo = mid + 1;
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
  const maxKeyBytes = options.maxIdempotencyBytes ?? 64 * 1024 * 1024;
  const maxAgeMs = options.historyMaxAgeSeconds * 1000;
  const windowMs = options.idempotencyWindowSeconds * 1000;
  const logs = new Map<string, TenantLog>();
  // Only the answer, never the payload: a key costs its own length and ~200 bytes.
  const idempotency = new Map<string, IdempotencyAnswer & { expires: number; bytes: number }>();
  let idempotencyBytes = 0;
  const sessions = new Map<string, Map<string, SessionRecord>>();
  const revocationTtlMs = (options.revocationTtlSeconds ?? 86_400) * 1000;
  const revoked = new Map<string, RevocationList>();
  const maxRevocations = options.maxRevocations ?? MAX_REVOCATIONS_PER_TENANT;
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
    while (log.size > 0 && (log.items[log.head] as Held).event.position.ms < oldest) log.evictOne();
  }

  function forgetExpiredKeys(t: number): void {
    // Insertion order is expiry order (one window for all keys).
    for (const [key, entry] of idempotency) {
      if (entry.expires > t && idempotency.size <= maxKeys && idempotencyBytes <= maxKeyBytes) break;
      idempotency.delete(key);
      idempotencyBytes -= entry.bytes;
    }
  }

  function remembered(idemKey: string, t: number) {
    const seen = idempotency.get(idemKey);
    return seen && seen.expires > t ? seen : undefined;
  }

  function publishOne(tenant: string, input: PublishInput, print: string | undefined, t: number): PublishOutcome {
    const idemKey = input.idempotencyKey === undefined ? undefined : `${tenant}\u0000${input.idempotencyKey}`;
    if (idemKey !== undefined) {
      const seen = remembered(idemKey, t);
      if (seen) {
        // The answer only: the retry's own data stands in for the payload (it is the same request).
        const event: StoredEvent = {
          position: seen.position,
          channel: seen.channel,
          event: seen.event,
          data: input.data,
          messageId: seen.messageId,
        };
        return { event, delivered: seen.delivered, duplicate: true };
      }
    }
    const log = logOf(tenant);
    const position = positionAfter(log.last, t);
    log.last = position;
    const event: StoredEvent = {
      position,
      channel: input.channel,
      event: input.event,
      data: input.data,
      messageId: randomUUID(),
    };
    // Counted at two bytes a character, what a string with any character beyond Latin-1 takes, plus the objects around it.
    const bytes = 2 * (input.data.length + input.event.length + input.channel.length) + 128;
    if (options.historySize > 0 && bytes <= options.historyMaxBytes) {
      log.items.push({ event, bytes });
      log.bytes += bytes;
      while (log.size > options.historySize || log.bytes > options.historyMaxBytes) log.evictOne();
    } else {
      // Not retained: resuming from before it cannot recover it.
      log.floor = position;
    }
    const delivered = local ? local.deliver(tenant, event) : 0;
    const outcome: PublishOutcome = { event, delivered, duplicate: false };
    if (idemKey !== undefined && print !== undefined) {
      const answer = {
        position: event.position,
        messageId: event.messageId,
        channel: event.channel,
        event: event.event,
        delivered,
        fingerprint: print,
      };
      const bytes = 2 * (idemKey.length + answer.channel.length + answer.event.length) + 200;
      // A key used again after its window: its old entry goes, bytes and place in the expiry order with it.
      const old = idempotency.get(idemKey);
      if (old) {
        idempotency.delete(idemKey);
        idempotencyBytes -= old.bytes;
      }
      idempotency.set(idemKey, { ...answer, expires: t + windowMs, bytes });
      idempotencyBytes += bytes;
      if (idempotency.size > maxKeys || idempotencyBytes > maxKeyBytes) forgetExpiredKeys(t);
    }
    return outcome;
  }

  function page(tenant: string, channels: readonly string[], from: EventPosition, maxBytes: number): ReplayPage {
    const log = logs.get(tenant);
    const end = log && log.last.seq >= 0 ? log.last : undefined;
    if (!log) {
      // Nothing published since start: all is known only for ids of this run.
      const recovered = comparePositions(from, { ms: startMs, seq: -1 }) >= 0 && from.ms <= now();
      return { events: [], recovered, next: undefined, end };
    }
    trimByAge(log, now());
    const wanted = new Set(channels);
    const events: StoredEvent[] = [];
    let bytes = 0;
    let next: EventPosition | undefined;
    for (let i = log.firstAfter(from); i < log.items.length; i++) {
      const held = log.items[i] as Held;
      if (!wanted.has(held.event.channel)) continue;
      if (events.length > 0 && bytes + held.bytes > maxBytes) {
        next = (events[events.length - 1] as StoredEvent).position;
        break;
      }
      events.push(held.event);
      bytes += held.bytes;
    }
    const recovered = comparePositions(from, log.floor) >= 0 && comparePositions(from, log.last) <= 0;
    return { events, recovered, next, end };
  }
  const presence = createMemoryPresence({
    append(tenant, input) {
      const t = now();
      trimByAge(logOf(tenant), t);
      publishOne(tenant, input, undefined, t);
    },
    position(tenant) {
      const last = logs.get(tenant)?.last;
      return last && last.seq >= 0 ? last : undefined;
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
        for (const [tenant, list] of revoked) {
          list.prune(t);
          if (list.size === 0) revoked.delete(tenant);
        }
      }, 10_000);
      sweepTimer.unref?.();
    },
    async publish(tenant, inputs) {
      const t = now();
      const prints = inputs.map((input) => (input.idempotencyKey === undefined ? undefined : fingerprint(input)));
      // A key reused for another request refuses the whole batch before anything is published.
      const batch = new Map<string, string>();
      inputs.forEach((input, i) => {
        const key = input.idempotencyKey;
        if (key === undefined) return;
        const print = prints[i] as string;
        const first = remembered(`${tenant}\u0000${key}`, t)?.fingerprint ?? batch.get(key);
        if (first !== undefined && first !== print) throw reusedKey(key);
        batch.set(key, print);
      });
      const log = logOf(tenant);
      trimByAge(log, t);
      return inputs.map((input, i) => publishOne(tenant, input, prints[i], t));
    },
    async replay(tenant, channels, after): Promise<ReplayResult> {
      const { events, recovered } = page(tenant, channels, after, Number.POSITIVE_INFINITY);
      return { events, recovered };
    },
    async replayPage(tenant, channels, after, maxBytes) {
      return page(tenant, channels, after, maxBytes);
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
    async broadcast(tenant, message) {
      return local?.control?.(tenant, message) ?? 0;
    },
    async revoke(tenant, revocation) {
      const t = now();
      let list = revoked.get(tenant);
      if (!list) {
        list = new RevocationList(revocationTtlMs);
        revoked.set(tenant, list);
      }
      // One that no token still valid can match is not kept at all.
      if (revocationTime(revocation) >= t - revocationTtlMs) {
        // The sweep prunes every 10 s; at the limit, prune now before refusing.
        if (!list.has(revocation) && list.size >= maxRevocations) list.prune(t);
        if (!list.has(revocation) && list.size >= maxRevocations) {
          throw new CastError(
            'RATE_LIMITED',
            `The tenant holds ${maxRevocations} revocations, the most kept at once; revoke by user or by issue time instead of token by token.`,
            { retryAfter: 60 },
          );
        }
        list.add(revocation);
      }
      return local?.control?.(tenant, { type: 'revoke', revocation }) ?? 0;
    },
    async revocations(tenant) {
      return revoked.get(tenant) ?? NO_REVOCATIONS;
    },
    async ready() {
      return true;
    },
    async close() {
      if (sweepTimer) clearInterval(sweepTimer);
    },
  };
}
