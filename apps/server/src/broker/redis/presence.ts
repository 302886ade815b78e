import { randomUUID } from 'node:crypto';
import type { CastError, ChannelInfo, EventPosition, PresenceMember } from '@cast/protocol';
import { parseRedisPosition } from './codec.js';
import type { RedisKeys } from './keys.js';
import { type ScriptClient, tenantKeys } from './scripts.js';
import { presenceChangeData } from '../../presence/events.js';
import type { ChannelPage, PresenceChange, PresenceSnapshot, PresenceStore } from '../types.js';
import type { SentCall } from './errors.js';

/** What the Redis presence store uses of its broker. */
export interface RedisPresenceHost {
  cmd: ScriptClient;
  keys: RedisKeys;
  node: string;
  /** The scripts' `now` argument ('' for Redis's clock). */
  scriptNow(): string;
  /** Redis's clock as this node estimates it, ms. */
  redisNow(): number;
  maxAgeMs: number;
  historySize: number;
  /** Bytes of log kept per tenant (CAST_HISTORY_MAX_BYTES); -1: no cap. Presence events count like any. */
  historyMaxBytes: number;
  nodeTtlMs: number;
  /** This node's open streams of a tenant on a channel. */
  localConnections(tenant: string, channel: string): number;
  /** Notes a call of the tenant's as it is sent (for {@link unavailable}). */
  sending(tenant: string, write: boolean): SentCall;
  /** The 503 of a failed call; `sent` says what was known as it was sent. */
  unavailable(err: unknown, what: string, sent?: SentCall): CastError;
  /** Resolves true once this node's feed of the tenant has delivered up to `position`. */
  caughtUp(tenant: string, position: EventPosition): Promise<boolean>;
  /** True once after the connection came back (Redis may have lost this node's part). */
  lost(): boolean;
  /**
   * Whether the node list's heartbeats can be believed: false for a node TTL
   * after this node's heartbeat could not write it (the list's Redis, or
   * shard, was down, so the other nodes' heartbeats failed too).
   */
  nodeListCurrent(): boolean;
}

type ChangeType = PresenceChange['type'];

function changes(tenant: string, flat: unknown): PresenceChange[] {
  const out: PresenceChange[] = [];
  const list = Array.isArray(flat) ? (flat as string[]) : [];
  for (let i = 0; i + 2 < list.length; i += 3) {
    const userId = list[i + 2] as string;
    out.push({
      type: list[i] as ChangeType,
      tenant,
      channel: list[i + 1] as string,
      ...(userId === '' ? {} : { userId }),
    });
  }
  return out;
}

function pairs(flat: unknown): Array<[string, string]> {
  const list = Array.isArray(flat) ? (flat as string[]) : [];
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < list.length; i += 2) out.push([list[i] as string, list[i + 1] as string]);
  return out;
}

function userInfoOf(joinData: string | undefined): Record<string, unknown> | null {
  if (joinData === undefined) return null;
  try {
    const info = (JSON.parse(joinData) as { userInfo?: unknown }).userInfo;
    return typeof info === 'object' && info !== null && !Array.isArray(info) ? (info as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Presence on Redis: every step is one script on the tenant's keys (see
 * `PRESENCE_SCRIPT`), so joins, leaves, occupancy and vacancy are decided
 * once for the cluster however many nodes race, and the presence events are
 * appended to the log and published like any other event. Each node's part
 * is kept apart, so the part of a node that stopped heartbeating is removed
 * (and its users leave) once, by whichever live node reaps it first. The node
 * list is one key: a missing or old entry read while it may have been lost or
 * restored from disk (on a cluster, its shard restarted) is not taken for a
 * death until the node has had a TTL to heartbeat again.
 *
 * @example
 * ```ts
 * const presence = createRedisPresence(host)
 * await presence.join('acme', 'room:1', 'ada', null)
 * ```
 */
/** The Redis presence store, and what closing the broker waits for. */
export interface RedisPresenceStore extends PresenceStore {
  /** Resolves when this node's registrations for the reaper in flight have landed (or failed). */
  settleRegistrations(): Promise<void>;
}

export function createRedisPresence(host: RedisPresenceHost): RedisPresenceStore {
  const { cmd, keys, node } = host;
  /** Tenants this node is registered as holding a part of (cleared when Redis may have lost them). */
  const registered = new Set<string>();
  const partTenants = (n: string) => `${keys.prefix}:ptenants:${n}`;
  const partNodes = `${keys.prefix}:pnodes`;
  /**
   * This node's part must be written again: another node reaped it (it was cut off past its TTL), or
   * its registration for the reaper was lost (on a Redis Cluster, the shard holding it restarted empty).
   */
  let reaped = false;
  /** Registrations for the reaper still in flight (see `run`): a closing node waits for them, so no part of its is left unlisted. */
  const registering = new Set<Promise<unknown>>();
  /** Nodes holding a part whose heartbeat entry was missing, and when the reaper first saw it missing (Redis ms). */
  const missingSince = new Map<string, number>();
  /**
   * The first command of a tenant still in flight on this node, which later
   * ones wait for; then tenants whose first command has run. Until a script is
   * in the server's cache (a new shard, a restarted Redis), EVALSHA fails with
   * NOSCRIPT and ioredis sends it again as EVAL: of several steps sent without
   * waiting, a later one could then run before an earlier one's retry. Once one
   * command of the tenant has run, the scripts are loaded on its shard and
   * the rest go out at once, in the order they were called.
   */
  const firsts = new Map<string, Promise<void>>();
  const warm = new Set<string>();
  cmd.on('close', () => warm.clear());

  /** Sends a tenant's presence command in call order (see {@link firsts}). */
  function inOrder<T>(tenant: string, send: () => Promise<T>): Promise<T> {
    if (warm.has(tenant)) return send();
    const first = firsts.get(tenant);
    // Reactions run in the order they were added, so the waiting commands go out in call order.
    if (first) return first.then(send, send);
    const sent = send();
    const settled = sent.then(
      () => undefined,
      () => undefined,
    );
    firsts.set(tenant, settled);
    void settled.then(() => {
      if (firsts.get(tenant) === settled) firsts.delete(tenant);
      warm.add(tenant);
    });
    return sent;
  }

  /**
   * Sends one step. Commands go out in the order steps are called (see
   * {@link inOrder}), on this node's one connection to the tenant's shard, so
   * steps run in Redis in that order.
   */
  async function run(tenant: string, op: string, ...args: Array<string | number>): Promise<unknown> {
    const sent = host.sending(tenant, false);
    try {
      if (!registered.has(tenant)) {
        // Where the reaper finds a dead node's parts (outside the tenant's hash tag, like the node list).
        registered.add(tenant);
        // Two commands, not one transaction: on a Redis Cluster the two sets may live on two shards. The
        // tenant goes first: a reaper that finds this node among the holders finds its tenants too (the
        // other way round, one that came in between would drop the node with no tenant to reap, for good).
        const registration = cmd
          .sadd(partTenants(node), tenant)
          .then(() => cmd.sadd(partNodes, node))
          .catch(() => registered.delete(tenant));
        registering.add(registration);
        void registration.finally(() => registering.delete(registration));
      }
      return await inOrder(tenant, () => presenceScript(tenant, op, ...args));
    } catch (err) {
      throw host.unavailable(err, 'the presence update', sent);
    }
  }

  /** One step of the presence script on a tenant's keys, as this node. */
  function presenceScript(tenant: string, op: string, ...args: Array<string | number>): Promise<unknown> {
    return cmd.castPresence(
      ...tenantKeys(keys, tenant),
      keys.prefix,
      tenant,
      node,
      host.scriptNow(),
      host.maxAgeMs,
      host.historySize,
      host.maxAgeMs + 60_000,
      host.historyMaxBytes,
      randomUUID(),
      op,
      ...args,
    );
  }

  return {
    async settleRegistrations() {
      await Promise.all(registering);
    },
    async occupy(tenant, channel) {
      return (await run(tenant, 'occupy', channel)) === 1;
    },
    async release(tenant, channel) {
      await run(tenant, 'release', channel);
    },
    async settleChannel(tenant, channel, graceMs) {
      return (await run(tenant, 'settleChannel', channel, graceMs)) === 1;
    },
    async join(tenant, channel, userId, userInfo) {
      return (await run(tenant, 'join', channel, userId, presenceChangeData(channel, userId, userInfo))) === 1;
    },
    async part(tenant, channel, userId) {
      await run(tenant, 'part', channel, userId);
    },
    async settleMember(tenant, channel, userId, graceMs) {
      return (await run(tenant, 'settleMember', channel, userId, graceMs)) === 1;
    },
    async snapshot(tenant, channels): Promise<PresenceSnapshot> {
      let reply: unknown[];
      const sent = host.sending(tenant, false);
      try {
        reply = (await inOrder(tenant, () =>
          cmd.castSnapshot(
            ...tenantKeys(keys, tenant),
            keys.prefix,
            tenant,
            node,
            host.scriptNow(),
            host.nodeTtlMs,
            channels.length,
            ...channels,
          ),
        )) as unknown[];
      } catch (err) {
        throw host.unavailable(err, 'the presence read', sent);
      }
      const last = reply[0] as string;
      return {
        position: last === '' ? undefined : parseRedisPosition(last),
        channels: channels.map((channel, i) => {
          const counts = pairs(reply[1 + i * 3]);
          const infos = new Map(pairs(reply[2 + i * 3]));
          const members: PresenceMember[] = counts.map(([userId, n]) => ({
            userId,
            userInfo: userInfoOf(infos.get(userId)),
            connections: Math.max(0, Number(n) || 0),
          }));
          const connections = Number(reply[3 + i * 3] ?? 0) + host.localConnections(tenant, channel);
          return { channel, members, connections };
        }),
      };
    },
    async channels(tenant, { prefix, after, limit }): Promise<ChannelPage> {
      const min = after !== undefined && after >= prefix ? `(${after}` : prefix === '' ? '-' : `[${prefix}`;
      // Channel names are ASCII, so every name with the prefix sorts before prefix + U+00FF.
      const max = prefix === '' ? '+' : `[${prefix}\u00ff`;
      const sent = host.sending(tenant, false);
      try {
        const names = await cmd.zrangebylex(keys.tenant(tenant) + 'chs', min, max, 'LIMIT', 0, limit + 1);
        const page = names.slice(0, limit);
        const live = (await cmd.zrangebyscore(keys.liveNodes(tenant), host.redisNow() - host.nodeTtlMs, '+inf')).filter(
          (n) => n !== node,
        );
        const p = cmd.pipeline();
        for (const other of live) p.hmget(keys.subscribers(tenant, other), ...(page.length > 0 ? page : ['']));
        for (const channel of page) p.hvals(`${keys.tenant(tenant)}pu:${channel}`);
        const results = (await p.exec()) ?? [];
        for (const [err] of results) if (err) throw err;
        const channels: ChannelInfo[] = page.map((channel, i) => {
          let connections = host.localConnections(tenant, channel);
          for (let n = 0; n < live.length; n++)
            connections += Number((results[n]?.[1] as Array<string | null>)[i] ?? 0);
          const users = ((results[live.length + i]?.[1] as string[]) ?? []).filter((v) => Number(v) > 0).length;
          return { channel, connections, users };
        });
        return {
          channels: channels.filter((c) => c.connections > 0),
          next: names.length > limit ? page[page.length - 1] : undefined,
        };
      } catch (err) {
        throw host.unavailable(err, 'the channels listing', sent);
      }
    },
    async rewrite(tenant, part) {
      registered.delete(tenant);
      const args: Array<string | number> = [part.channels.length, ...part.channels, part.members.length];
      for (const m of part.members)
        args.push(m.channel, m.userId, m.count, presenceChangeData(m.channel, m.userId, m.userInfo));
      return changes(tenant, await run(tenant, 'rewrite', ...args));
    },
    caughtUp: (tenant, position) => host.caughtUp(tenant, position),
    lost: () => {
      const lost = host.lost() || reaped;
      reaped = false;
      return lost;
    },
    async reap(graceMs) {
      const out: PresenceChange[] = [];
      try {
        if (registered.size > 0) {
          // Two keys, maybe on two shards: either one lost means a reaper could not find this node's parts.
          // The tenant list's shard being down holds up no reaping: it is checked again at the next repair.
          const [listed, tenants] = await Promise.all([
            cmd.sismember(partNodes, node),
            cmd.exists(partTenants(node)).catch(() => 1),
          ]);
          if (listed === 0 || tenants === 0) {
            registered.clear();
            reaped = true;
          }
        }
        const now = host.redisNow();
        const deadline = now - host.nodeTtlMs - graceMs;
        const current = host.nodeListCurrent();
        const holders = await cmd.smembers(partNodes);
        for (const gone of missingSince.keys()) if (!holders.includes(gone)) missingSince.delete(gone);
        for (const other of holders) {
          if (other === node) continue;
          const seen = await cmd.zscore(keys.nodes, other);
          if (seen === null) {
            // No entry is no proof of death: the list's Redis (on a cluster, the one shard holding it) may have
            // restarted empty, and a live node writes its entry again within a third of its TTL. Dead once the
            // entry has stayed missing for the TTL and the grace period.
            const since = missingSince.get(other) ?? now;
            missingSince.set(other, since);
            if (since > deadline) continue;
          } else {
            missingSince.delete(other);
            if (Number(seen) > deadline) continue;
            // An old entry read just after the list's Redis came back (from disk) may only say the node's
            // heartbeats failed while it was away: wait until they have had a TTL to land again.
            if (!current) continue;
          }
          missingSince.delete(other);
          const tenants = await cmd.smembers(partTenants(other));
          for (const tenant of tenants) {
            const flat = await presenceScript(tenant, 'reap', other);
            out.push(...changes(tenant, flat));
          }
          await cmd.del(partTenants(other));
          await cmd.srem(partNodes, other);
        }
      } catch (err) {
        throw host.unavailable(err, 'the presence reap');
      }
      return out;
    },
  };
}
