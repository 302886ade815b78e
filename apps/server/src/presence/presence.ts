import type { PresenceChange, PresenceStore } from '../broker/types.js';
import type { LifecycleListener } from '../lifecycle.js';

/** What presence needs to know about a stream. */
export interface PresenceStream {
  readonly tenant: string;
  readonly channels: readonly string[];
  readonly userId: string | null;
  /** The token's `userInfo` as JSON text, or null. */
  readonly userInfo: string | null;
}

/** Options of {@link Presence}. */
export interface PresenceOptions {
  /** How long a user (or channel) whose last stream closed stays before leaving (vacating), ms. */
  graceMs: number;
  /** How often dead nodes are looked for and lost steps are repaired, ms. @defaultValue 5000 */
  repairMs?: number;
  /** Told of occupancy and presence changes, once for the cluster. */
  lifecycle?: LifecycleListener | undefined;
  /** Where failures are reported. @defaultValue console.error */
  log?: (line: string) => void;
  /** Called after a tenant's part was rewritten, to send its streams a fresh `presence.sync`. */
  resync?: ((tenant: string) => Promise<boolean>) | undefined;
}

/** Timers fire late, never early; this margin keeps a settle after the store's own grace check on any clock. */
const SETTLE_MARGIN_MS = 25;

interface LocalTenant {
  /** This node's streams per channel. */
  channels: Map<string, number>;
  /** This node's streams per channel and user (`channel\0userId`), with the newest userInfo. */
  users: Map<string, { count: number; userInfo: string | null }>;
  /** Pending settles by key (`c\0channel` or `u\0channel\0userId`). */
  timers: Map<string, ReturnType<typeof setTimeout>>;
  /** Resolves when every step of the tenant sent so far has answered (steps are sent in the order streams open and close). */
  chain: Promise<void>;
  /** A step failed: the store's view of this node may be wrong until {@link Presence.repair} rewrites it. */
  dirty: boolean;
  /** Keys to settle once the tenant is rewritten. */
  unsettled: Set<string>;
  /** The streams still need a fresh `presence.sync` after a rewrite. */
  resync: boolean;
}

/** Channels of the server's own feeds (`$bus`, `$db:…`) have no presence or occupancy. */
function tracked(channel: string): boolean {
  return !channel.startsWith('$');
}

/**
 * This node's side of presence and occupancy: counts the node's streams per
 * channel and user, tells the store on each change, settles leaves and
 * vacancies after the grace period (a reconnect within it changes nothing),
 * and reports each decided change to the lifecycle listener. The store
 * decides joins, leaves, occupancy and vacancy once for the cluster.
 *
 * When a step fails (Redis unreachable), the tenant is marked and its whole
 * part rewritten when the store answers again, so membership converges and
 * the corrections reach the streams through the log.
 *
 * @example
 * ```ts
 * const presence = new Presence(broker.presence, { graceMs: 5000, lifecycle })
 * hub.observe(presence)
 * ```
 */
export class Presence {
  private readonly tenants = new Map<string, LocalTenant>();
  private readonly graceMs: number;
  private readonly lifecycle: LifecycleListener | undefined;
  private readonly log: (line: string) => void;
  private readonly resync: ((tenant: string) => Promise<boolean>) | undefined;
  private readonly repairTimer: ReturnType<typeof setInterval>;
  private failing = false;
  private stopped = false;
  private repairing = false;

  constructor(
    private readonly store: PresenceStore,
    options: PresenceOptions,
  ) {
    this.graceMs = options.graceMs;
    this.lifecycle = options.lifecycle;
    this.log = options.log ?? ((line) => console.error(line));
    this.resync = options.resync;
    this.repairTimer = setInterval(() => void this.repair(), options.repairMs ?? 5000);
    this.repairTimer.unref?.();
  }

  /** A stream opened on this node. */
  opened(stream: PresenceStream): void {
    if (this.stopped) return;
    const t = this.tenant(stream.tenant);
    for (const channel of stream.channels) {
      if (!tracked(channel)) continue;
      const n = (t.channels.get(channel) ?? 0) + 1;
      t.channels.set(channel, n);
      if (n === 1)
        this.step(stream.tenant, t, async () => {
          if (await this.store.occupy(stream.tenant, channel))
            this.report({ type: 'channel.occupied', tenant: stream.tenant, channel });
        });
      const { userId, userInfo } = stream;
      if (userId === null) continue;
      const key = `${channel}\u0000${userId}`;
      const u = t.users.get(key);
      if (u) {
        u.count++;
        u.userInfo = userInfo;
      } else t.users.set(key, { count: 1, userInfo });
      this.step(stream.tenant, t, async () => {
        if (await this.store.join(stream.tenant, channel, userId, userInfo)) {
          this.report({ type: 'presence.join', tenant: stream.tenant, channel, userId });
        }
      });
    }
  }

  /** A stream on this node closed: its users and channels settle after the grace period. */
  closed(stream: PresenceStream): void {
    if (this.stopped) return;
    const t = this.tenants.get(stream.tenant);
    if (!t) return;
    const tenant = stream.tenant;
    for (const channel of stream.channels) {
      if (!tracked(channel)) continue;
      const { userId } = stream;
      if (userId !== null) {
        const key = `${channel}\u0000${userId}`;
        const u = t.users.get(key);
        if (u) {
          u.count--;
          if (u.count <= 0) t.users.delete(key);
          // The grace period runs from when the store took the close, so a slow queue cannot shorten it.
          const last = u.count <= 0;
          this.step(
            tenant,
            t,
            () => this.store.part(tenant, channel, userId),
            () => {
              if (last) this.schedule(tenant, t, `u\u0000${key}`);
            },
          );
        }
      }
      const n = (t.channels.get(channel) ?? 1) - 1;
      if (n > 0) {
        t.channels.set(channel, n);
        continue;
      }
      t.channels.delete(channel);
      this.step(
        tenant,
        t,
        () => this.store.release(tenant, channel),
        () => this.schedule(tenant, t, `c\u0000${channel}`),
      );
    }
  }

  /**
   * Resolves once every step of the tenant asked for so far has run (a new
   * stream waits for its own join before taking its `presence.sync`).
   */
  settled(tenant: string): Promise<void> {
    return this.tenants.get(tenant)?.chain ?? Promise.resolve();
  }

  /** Stops the timers; the store's view of this node is left to expire with the node. */
  close(): void {
    this.stopped = true;
    clearInterval(this.repairTimer);
    for (const t of this.tenants.values()) for (const timer of t.timers.values()) clearTimeout(timer);
    this.tenants.clear();
  }

  /** Rewrites tenants whose steps failed, and removes the part of dead nodes. Runs on a timer. */
  async repair(): Promise<void> {
    if (this.stopped || this.repairing) return;
    this.repairing = true;
    try {
      await this.repairNow();
    } finally {
      this.repairing = false;
    }
  }

  private async repairNow(): Promise<void> {
    if (this.store.lost?.()) for (const t of this.tenants.values()) t.dirty = true;
    for (const [tenant, t] of this.tenants) {
      if (!t.dirty) continue;
      await this.enqueue(t, async () => {
        if (!t.dirty) return;
        const channels = [...t.channels.keys()];
        const members = [...t.users].map(([key, u]) => {
          const cut = key.indexOf('\u0000');
          return { channel: key.slice(0, cut), userId: key.slice(cut + 1), userInfo: u.userInfo, count: u.count };
        });
        const sent = this.store.rewrite(tenant, { channels, members });
        // Steps from now on are sent after the rewrite, so they apply on top of it.
        t.dirty = false;
        let changes: PresenceChange[];
        try {
          changes = await sent;
        } catch (err) {
          t.dirty = true;
          throw err;
        }
        for (const change of changes) this.report(change);
        const keys = [...t.unsettled];
        t.unsettled.clear();
        for (const key of keys) this.schedule(tenant, t, key);
        this.recovered();
        t.resync = true;
      }).catch((err: unknown) => this.failed(err));
    }
    for (const [tenant, t] of this.tenants) {
      if (!t.resync || t.dirty || !this.resync) continue;
      const resync = this.resync;
      await this.enqueue(t, async () => {
        t.resync = !(await resync(tenant));
      }).catch((err: unknown) => this.failed(err));
    }
    try {
      for (const change of await this.store.reap(this.graceMs)) this.report(change);
    } catch (err) {
      this.failed(err);
    }
    for (const [tenant, t] of this.tenants) {
      if (t.channels.size === 0 && t.users.size === 0 && t.timers.size === 0 && !t.dirty && !t.resync)
        this.tenants.delete(tenant);
    }
  }

  private tenant(tenant: string): LocalTenant {
    let t = this.tenants.get(tenant);
    if (!t) {
      t = {
        channels: new Map(),
        users: new Map(),
        timers: new Map(),
        chain: Promise.resolve(),
        dirty: false,
        unsettled: new Set(),
        resync: false,
      };
      this.tenants.set(tenant, t);
    }
    return t;
  }

  private enqueue(t: LocalTenant, run: () => Promise<void>): Promise<void> {
    const next = t.chain.then(run);
    t.chain = next.catch(() => {});
    return next;
  }

  /**
   * Sends one step to the store at once, then runs `after` once it answered
   * (or was skipped, or failed); a failure marks the tenant for a rewrite.
   * Steps are not awaited one by one: the store applies them in the order
   * they are sent (one process, or one Redis connection whose commands run
   * in order), so a burst of streams costs one round trip, not one each.
   */
  private step(tenant: string, t: LocalTenant, run: () => Promise<unknown>, after?: () => void): void {
    let sent: Promise<unknown>;
    try {
      // A rewrite will set the whole part: single steps until then would only be lost again.
      sent = t.dirty ? Promise.resolve() : run();
    } catch (err) {
      sent = Promise.reject(err);
    }
    const done = sent
      .then(
        () => undefined,
        (err: unknown) => {
          if (!t.dirty)
            this.log(
              `cast: presence of tenant ${tenant} could not be updated; it is rewritten when the broker answers again.`,
            );
          t.dirty = true;
          this.failed(err);
        },
      )
      .finally(() => after?.());
    t.chain = t.chain.then(() => done);
  }

  /** Settles a user or channel after the grace period, unless it is back on this node by then. */
  private schedule(tenant: string, t: LocalTenant, key: string): void {
    const old = t.timers.get(key);
    if (old) clearTimeout(old);
    const timer = setTimeout(() => {
      t.timers.delete(key);
      const isUser = key.startsWith('u');
      const rest = key.slice(2);
      if (isUser ? t.users.has(rest) : t.channels.has(rest)) return;
      void this.enqueue(t, async () => {
        if (t.dirty) {
          t.unsettled.add(key);
          return;
        }
        if (isUser) {
          const cut = rest.indexOf('\u0000');
          const channel = rest.slice(0, cut);
          const userId = rest.slice(cut + 1);
          if (await this.store.settleMember(tenant, channel, userId, this.graceMs)) {
            this.report({ type: 'presence.leave', tenant, channel, userId });
          }
        } else if (await this.store.settleChannel(tenant, rest, this.graceMs)) {
          this.report({ type: 'channel.vacated', tenant, channel: rest });
        }
      }).catch((err: unknown) => {
        t.dirty = true;
        t.unsettled.add(key);
        this.failed(err);
      });
    }, this.graceMs + SETTLE_MARGIN_MS);
    timer.unref?.();
    t.timers.set(key, timer);
  }

  private report(change: PresenceChange): void {
    if (!this.lifecycle) return;
    try {
      this.lifecycle.lifecycle({ ...change, at: Date.now() });
    } catch (err) {
      this.log(`cast: lifecycle listener failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private failed(_err: unknown): void {
    this.failing = true;
  }

  private recovered(): void {
    if (this.failing) this.log('cast: presence is written again.');
    this.failing = false;
  }
}
