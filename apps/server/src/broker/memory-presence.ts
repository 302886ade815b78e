import type { EventPosition, PresenceMember } from '@cast/protocol';
import { presenceChangeData } from '../presence/events.js';
import type { ChannelPage, PresenceSnapshot, PresenceStore, PublishInput } from './types.js';

/** What the memory presence store needs from its broker. */
export interface MemoryPresenceHost {
  /** Appends an event to the tenant's log and delivers it (the broker's publish path). */
  append(tenant: string, input: PublishInput): void;
  /** The newest position of the tenant's log, or undefined when it has none. */
  position(tenant: string): EventPosition | undefined;
  /** Open streams of the tenant on a channel. */
  connections(tenant: string, channel: string): number;
  now(): number;
}

interface Member {
  count: number;
  userInfo: string | null;
  /** When the count last dropped to 0 (ms). */
  zeroAt: number;
}

interface Occupancy {
  open: boolean;
  /** When the last stream closed (ms). */
  closedAt: number;
}

interface TenantPresence {
  occupied: Map<string, Occupancy>;
  members: Map<string, Map<string, Member>>;
}

function memberOf(userId: string, m: Member): PresenceMember {
  return {
    userId,
    userInfo: m.userInfo === null ? null : (JSON.parse(m.userInfo) as Record<string, unknown>),
    connections: m.count,
  };
}

/**
 * Presence for the memory broker: one process, so this node's part is the
 * whole, and every step is synchronous, so a snapshot and the log position
 * it is at agree trivially.
 *
 * @example
 * ```ts
 * const presence = createMemoryPresence({ append, position, connections, now: Date.now })
 * await presence.join('acme', 'room:1', 'ada', null) // true: presence.join appended
 * ```
 */
export function createMemoryPresence(host: MemoryPresenceHost): PresenceStore {
  const tenants = new Map<string, TenantPresence>();

  function of(tenant: string): TenantPresence {
    let t = tenants.get(tenant);
    if (!t) {
      t = { occupied: new Map(), members: new Map() };
      tenants.set(tenant, t);
    }
    return t;
  }

  function gc(tenant: string): void {
    const t = tenants.get(tenant);
    if (t && t.occupied.size === 0 && t.members.size === 0) tenants.delete(tenant);
  }

  return {
    async occupy(tenant, channel) {
      const t = of(tenant);
      const o = t.occupied.get(channel);
      if (o) {
        o.open = true;
        return false;
      }
      t.occupied.set(channel, { open: true, closedAt: 0 });
      return true;
    },
    async release(tenant, channel) {
      const o = tenants.get(tenant)?.occupied.get(channel);
      if (!o) return;
      o.open = false;
      o.closedAt = host.now();
    },
    async settleChannel(tenant, channel, graceMs) {
      const t = tenants.get(tenant);
      const o = t?.occupied.get(channel);
      if (!t || !o || o.open || host.now() - o.closedAt < graceMs) return false;
      t.occupied.delete(channel);
      gc(tenant);
      return true;
    },
    async join(tenant, channel, userId, userInfo) {
      const t = of(tenant);
      let byUser = t.members.get(channel);
      if (!byUser) {
        byUser = new Map();
        t.members.set(channel, byUser);
      }
      const m = byUser.get(userId);
      if (m) {
        m.count++;
        m.userInfo = userInfo;
        return false;
      }
      byUser.set(userId, { count: 1, userInfo, zeroAt: 0 });
      host.append(tenant, { channel, event: 'presence.join', data: presenceChangeData(channel, userId, userInfo) });
      return true;
    },
    async part(tenant, channel, userId) {
      const m = tenants.get(tenant)?.members.get(channel)?.get(userId);
      if (!m || m.count === 0) return;
      m.count--;
      if (m.count === 0) m.zeroAt = host.now();
    },
    async settleMember(tenant, channel, userId, graceMs) {
      const t = tenants.get(tenant);
      const byUser = t?.members.get(channel);
      const m = byUser?.get(userId);
      if (!t || !byUser || !m || m.count > 0 || host.now() - m.zeroAt < graceMs) return false;
      byUser.delete(userId);
      if (byUser.size === 0) t.members.delete(channel);
      gc(tenant);
      host.append(tenant, { channel, event: 'presence.leave', data: presenceChangeData(channel, userId, m.userInfo) });
      return true;
    },
    async snapshot(tenant, channels): Promise<PresenceSnapshot> {
      const t = tenants.get(tenant);
      return {
        position: host.position(tenant),
        channels: channels.map((channel) => ({
          channel,
          members: [...(t?.members.get(channel) ?? [])].map(([userId, m]) => memberOf(userId, m)),
          connections: host.connections(tenant, channel),
        })),
      };
    },
    async channels(tenant, { prefix, after, limit }): Promise<ChannelPage> {
      const t = tenants.get(tenant);
      if (!t) return { channels: [], next: undefined };
      const names = [...t.occupied.keys()]
        .filter((c) => c.startsWith(prefix) && (after === undefined || c > after))
        .sort();
      const page = names.slice(0, limit);
      const channels = page
        .map((channel) => ({
          channel,
          connections: host.connections(tenant, channel),
          users: [...(t.members.get(channel)?.values() ?? [])].filter((m) => m.count > 0).length,
        }))
        .filter((c) => c.connections > 0);
      return { channels, next: names.length > limit ? page[page.length - 1] : undefined };
    },
    async caughtUp() {
      // Delivery is synchronous: every event in the log has been handed over.
      return true;
    },
    async rewrite() {
      // One process: no step is ever lost, so there is nothing to rewrite.
      return [];
    },
    async reap() {
      // One process: no other node can die.
      return [];
    },
  };
}
