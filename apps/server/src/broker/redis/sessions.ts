import { type CastError, type EventPosition, matchesPattern, type SessionInfo } from '@cast/protocol';
import { parseRedisPosition } from './codec.js';
import type { RedisKeys } from './keys.js';
import type { SessionRecord } from '../types.js';
import type { Fanout } from './fanout.js';
import type { ScriptClient } from './scripts.js';
import type { SentCall } from './errors.js';

/** What the sessions room uses of its broker. */
export interface SessionsHost {
  cmd: ScriptClient;
  keys: RedisKeys;
  node: string;
  fanout: Fanout;
  nodeTtlMs: number;
  /** Redis's clock as this node estimates it, ms. */
  redisNow(): number;
  /** Notes a call of the tenant's as it is sent (for {@link unavailable}). */
  sending(tenant: string, write: boolean): SentCall;
  /** The 503 of a failed call; `sent` says what was known as it was sent. */
  unavailable(err: unknown, what: string, sent?: SentCall): CastError;
}

/**
 * This node's streams, registered in Redis per tenant: `sess:<node>` (session
 * id → JSON, for the sessions listing) and `subs:<node>` (channel → streams,
 * for `delivered` and presence; and, so that `delivered` leaves out streams
 * whose `types` filter refuses an event, how many of them filter by type and
 * have each pattern: see {@link subsFields}), both expiring a node TTL after the
 * last heartbeat, and the node's entry in the tenant's list of live nodes.
 * Every write is of one tenant's keys (one slot on a Redis Cluster).
 *
 * @example
 * ```ts
 * const sessions = new RedisSessions(host)
 * await sessions.add(record)
 * ```
 */
export class RedisSessions {
  private readonly sessions = new Map<string, Map<string, SessionRecord>>();
  /** Per tenant, the `subs` hash as this node writes it: field (a channel, or see {@link subsFields}) → streams. */
  private readonly counts = new Map<string, Map<string, number>>();
  /** Tenants whose session hashes must be rewritten whole (a write failed, or Redis came back). */
  private readonly dirty = new Set<string>();

  constructor(private readonly host: SessionsHost) {}

  /** This node's open streams of a tenant on a channel. */
  localConnections(tenant: string, channel: string): number {
    return this.counts.get(tenant)?.get(channel) ?? 0;
  }

  /**
   * Registers a stream. The registration (the subscriber counts that publish
   * scripts read for `delivered`) is written together with a read of the
   * tenant's newest position, which becomes the stream's floor: an event
   * counted for the stream is after it, one not counted is at or before it.
   * This node's feed parks the tenant's events until the floor is set.
   */
  add(session: SessionRecord): Promise<void> {
    const { tenant } = session;
    let byId = this.sessions.get(tenant);
    if (!byId) {
      byId = new Map();
      this.sessions.set(tenant, byId);
    }
    byId.set(session.id, session);
    const counts = this.fieldCounts(tenant);
    const fields = subsFields(session);
    for (const field of fields) counts.set(field, (counts.get(field) ?? 0) + 1);
    const feed = this.host.fanout.feed(tenant);
    if (feed) feed.registering++;
    return this.write(tenant, session, fields, true).then((last) => {
      session.startAfter?.(last);
      if (feed) this.host.fanout.registered(feed);
    });
  }

  remove(tenant: string, id: string): void {
    const byId = this.sessions.get(tenant);
    const session = byId?.get(id);
    if (!byId || !session) return;
    byId.delete(id);
    const counts = this.fieldCounts(tenant);
    const fields = subsFields(session);
    for (const field of fields) {
      const n = (counts.get(field) ?? 1) - 1;
      if (n > 0) counts.set(field, n);
      else counts.delete(field);
    }
    if (byId.size === 0) {
      this.sessions.delete(tenant);
      this.counts.delete(tenant);
    }
    void this.write(tenant, session, fields, false);
  }

  private fieldCounts(tenant: string): Map<string, number> {
    let counts = this.counts.get(tenant);
    if (!counts) {
      counts = new Map();
      this.counts.set(tenant, counts);
    }
    return counts;
  }

  /**
   * Writes one session change (its `subs` fields: see {@link subsFields});
   * a failure marks the tenant for a full rewrite at the next heartbeat. Resolves (never rejects) with the tenant's newest
   * log position read in the same transaction when adding (undefined when
   * unknown: no log, or the write did not happen).
   */
  private write(
    tenant: string,
    session: SessionRecord,
    fields: readonly string[],
    added: boolean,
  ): Promise<EventPosition | undefined> {
    const { cmd, keys, node, nodeTtlMs } = this.host;
    if (cmd.status !== 'ready' || this.dirty.has(tenant)) {
      this.dirty.add(tenant);
      return Promise.resolve(undefined);
    }
    const sessKey = keys.sessions(tenant, node);
    const subsKey = keys.subscribers(tenant, node);
    const counts = this.counts.get(tenant);
    const m = cmd.multi();
    if (added) m.hset(sessKey, session.id, sessionJson(session));
    else m.hdel(sessKey, session.id);
    for (const field of fields) {
      const n = counts?.get(field) ?? 0;
      // Absolute counts, so a repeated write cannot drift.
      if (n > 0) m.hset(subsKey, field, n);
      else m.hdel(subsKey, field);
    }
    m.pexpire(sessKey, nodeTtlMs).pexpire(subsKey, nodeTtlMs);
    if (keys.liveNodes(tenant) !== keys.nodes) this.markLive(m, tenant, this.host.redisNow());
    if (added) m.hget(keys.meta(tenant), 'last');
    return m
      .exec()
      .then((results) => {
        if (!results || results.some(([err]) => err)) {
          this.dirty.add(tenant);
          return undefined;
        }
        const last = added ? results[results.length - 1]?.[1] : undefined;
        return typeof last === 'string' ? parseRedisPosition(last) : undefined;
      })
      .catch(() => {
        this.dirty.add(tenant);
        return undefined;
      });
  }

  /**
   * On a Redis Cluster the live nodes are listed per tenant (the publish
   * script may read only the tenant's slot); on one Redis that list is the
   * node list the heartbeat writes.
   */
  private markLive(m: ReturnType<ScriptClient['multi']>, tenant: string, redisMs: number): void {
    const key = this.host.keys.liveNodes(tenant);
    m.zadd(key, redisMs, this.host.node);
    m.zremrangebyscore(key, '-inf', redisMs - 10 * this.host.nodeTtlMs);
    m.pexpire(key, 10 * this.host.nodeTtlMs);
  }

  async list(tenant: string, filter: { channel?: string; userId?: string }): Promise<SessionInfo[]> {
    const { cmd, keys, node, nodeTtlMs } = this.host;
    const found: SessionInfo[] = [];
    for (const s of this.sessions.get(tenant)?.values() ?? []) found.push(toInfo(s));
    const sent = this.host.sending(tenant, false);
    try {
      const nodes = await cmd.zrangebyscore(keys.liveNodes(tenant), this.host.redisNow() - nodeTtlMs, '+inf');
      const others = nodes.filter((n) => n !== node);
      if (others.length > 0) {
        const p = cmd.pipeline();
        for (const other of others) p.hvals(keys.sessions(tenant, other));
        for (const [err, values] of (await p.exec()) ?? []) {
          if (err) throw err;
          for (const raw of values as string[]) {
            const s = parseSession(raw);
            if (s) found.push(s);
          }
        }
      }
    } catch (err) {
      throw this.host.unavailable(err, 'the sessions listing', sent);
    }
    return found.filter(
      (s) =>
        (filter.channel === undefined || s.channels.includes(filter.channel)) &&
        (filter.userId === undefined || s.userId === filter.userId),
    );
  }

  /** Redis may have restarted (and lost the session hashes): write them all again at the next heartbeat. */
  rewriteAll(): void {
    for (const tenant of this.sessions.keys()) this.dirty.add(tenant);
  }

  /**
   * The heartbeat's part: rewrites the dirty tenants' hashes and refreshes
   * every tenant's expiries, one transaction per tenant (one slot each). A
   * tenant whose refresh fails is marked dirty: on a Redis Cluster its shard
   * may be down past the hashes' expiry and come back without them, which
   * nothing else reports (the cluster connection stays up). A tenant whose
   * session hash is found gone is rewritten at once.
   */
  async refresh(redisMs: number): Promise<void> {
    const tenants = new Set([...this.sessions.keys(), ...this.dirty]);
    await Promise.all(
      [...tenants].map(async (tenant) => {
        if (await this.refreshTenant(tenant, redisMs)) await this.refreshTenant(tenant, redisMs);
      }),
    );
  }

  /** Refreshes (or rewrites) one tenant's hashes; true when they were found gone and the tenant is now dirty. */
  private async refreshTenant(tenant: string, redisMs: number): Promise<boolean> {
    const { cmd, keys, node, nodeTtlMs } = this.host;
    const sessKey = keys.sessions(tenant, node);
    const subsKey = keys.subscribers(tenant, node);
    const m = cmd.multi();
    const rewrite = this.dirty.has(tenant);
    if (rewrite) {
      m.del(sessKey, subsKey);
      for (const s of this.sessions.get(tenant)?.values() ?? []) m.hset(sessKey, s.id, sessionJson(s));
      for (const [field, n] of this.counts.get(tenant) ?? []) m.hset(subsKey, field, n);
    }
    const held = this.sessions.has(tenant);
    if (held) {
      m.pexpire(sessKey, nodeTtlMs).pexpire(subsKey, nodeTtlMs);
      if (keys.liveNodes(tenant) !== keys.nodes) this.markLive(m, tenant, redisMs);
    }
    try {
      const results = await m.exec();
      if (!results || results.some(([err]) => err)) {
        this.dirty.add(tenant);
        return false;
      }
      if (rewrite) {
        this.dirty.delete(tenant);
        return false;
      }
      // PEXPIRE answers 0 for a missing key: the hash of sessions this node holds is gone, so the
      // tenant's Redis lost it (it restarted empty, or from disk after the hash's expiry had passed).
      if (held && this.sessions.has(tenant) && results[0]?.[1] === 0) {
        this.dirty.add(tenant);
        return true;
      }
    } catch {
      // The tenant's Redis did not answer: rewrite the hashes once it does (they may expire meanwhile).
      this.dirty.add(tenant);
    }
    return false;
  }

  /** Removes this node's sessions (a clean stop), one transaction per tenant. */
  async removeAll(redisMs: number): Promise<void> {
    const { cmd, keys, node, nodeTtlMs } = this.host;
    await Promise.all(
      [...this.sessions.keys()].map((tenant) => {
        const m = cmd.multi().del(keys.sessions(tenant, node), keys.subscribers(tenant, node));
        // Listed as seen one TTL ago, like the node list (see the broker's close).
        if (keys.liveNodes(tenant) !== keys.nodes) m.zadd(keys.liveNodes(tenant), redisMs - nodeTtlMs - 1, node);
        return m.exec().catch(() => {});
      }),
    );
  }
}

/**
 * The fields of the `subs` hash a stream counts in: each of its channels and,
 * for a stream that filters by type, per channel `<channel> #` (its streams
 * that filter by type) and `<channel> <pattern>` for each pattern of its
 * filter (no channel name has a space). The patterns are first reduced to
 * those no other pattern of the filter covers (`order.created` and `order.*`
 * keep `order.*`), so an event name matches at most one of them and the
 * publish script can add up the counts of the patterns that match it.
 */
function subsFields(s: SessionRecord): string[] {
  const types = s.types;
  if (!types || types.length === 0 || types.includes('*')) return s.channels;
  const unique = [...new Set(types)];
  const kept = unique.filter((q) => !unique.some((p) => covers(p, q)));
  const fields: string[] = [];
  for (const ch of s.channels) {
    fields.push(ch, `${ch} #`);
    for (const pattern of kept) fields.push(`${ch} ${pattern}`);
  }
  return fields;
}

/** Whether pattern `p` (another than `q`) matches every event name that `q` matches. */
function covers(p: string, q: string): boolean {
  if (p === q || !p.endsWith('.*')) return false;
  // `a.b.*` matches names that start with `a.b.`, all of which `a.*` matches too.
  return q.endsWith('.*') ? q.startsWith(p.slice(0, -1)) : matchesPattern(p, q);
}

function sessionJson(s: SessionRecord): string {
  return JSON.stringify(toInfo(s));
}

function toInfo(s: SessionInfo): SessionInfo {
  return { id: s.id, userId: s.userId, channels: s.channels, connectedAt: s.connectedAt };
}

function parseSession(raw: string): SessionInfo | undefined {
  try {
    const s = JSON.parse(raw) as SessionInfo;
    return typeof s.id === 'string' && Array.isArray(s.channels) ? toInfo(s) : undefined;
  } catch {
    return undefined;
  }
}
