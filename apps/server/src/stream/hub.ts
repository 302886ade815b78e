import type { Broker, ControlMessage, LocalDelivery, StoredEvent } from '../broker/types.js';
import type { LifecycleListener } from '../lifecycle.js';
import type { Metrics } from '../metrics.js';
import { covers } from '../revocation/list.js';
import { ExpiryQueue } from './expiry.js';
import { DISCONNECTED_FRAMES, eventFrame, expiredFrame, HEARTBEAT, REVOKED_FRAME } from './frames.js';
import { type CloseReason, frameBytes, type StreamConnection, type StreamOwner } from './connection.js';

/** Timers cap at 2^31-1 ms (about 24.8 days); longer delays fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Told when a stream opens on this node and when it closes (presence hangs off
 * this), and when a channel of a tenant gains its first or loses its last
 * stream on this node (change feeds start and stop their watches on it). Every
 * method is optional; none may throw.
 */
export interface StreamObserver {
  /** A stream was added (before it sends anything). */
  opened?(conn: StreamConnection): void;
  /** An added stream closed, whatever the reason. */
  closed?(conn: StreamConnection): void;
  /** A tenant's channel gained its first stream on this node. */
  channelOpened?(tenant: string, channel: string): void;
  /** A tenant's channel lost its last stream on this node. */
  channelClosed?(tenant: string, channel: string): void;
}

/**
 * This node's open streams, indexed by tenant and channel. The broker hands
 * it each event once; the hub encodes the frame once and offers the same
 * bytes to every matching connection.
 */
export class Hub implements LocalDelivery, StreamOwner {
  private readonly tenants = new Map<string, Map<string, Set<StreamConnection>>>();
  private readonly all = new Set<StreamConnection>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Streams with an expiring token, soonest first, served by one timer. */
  private readonly expiries = new ExpiryQueue<StreamConnection>();
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the expiry timer fires (Infinity: not armed). */
  private expiryTimerAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  private readonly observers: StreamObserver[] = [];

  constructor(
    private readonly broker: Broker,
    private readonly metrics: Metrics,
    heartbeatMs: number,
    /** Told of the `connection.revoked` events of the streams this node ends. */
    private readonly lifecycle?: LifecycleListener | undefined,
  ) {
    this.heartbeat = setInterval(() => {
      for (const conn of this.all) conn.send(HEARTBEAT);
    }, heartbeatMs);
    this.heartbeat.unref?.();
  }

  /** Tells `observer` of every stream and channel opened or closed from now on. */
  observe(observer: StreamObserver): void {
    this.observers.push(observer);
  }

  /** Open connections on this node. */
  get size(): number {
    return this.all.size;
  }

  /**
   * Starts delivering a tenant's events on the connection's channels to it.
   * A promise when the broker's registration takes a round trip (Redis):
   * `connected` waits for it.
   */
  add(conn: StreamConnection): void | Promise<void> {
    let channels = this.tenants.get(conn.tenant);
    if (!channels) {
      channels = new Map();
      this.tenants.set(conn.tenant, channels);
    }
    for (const channel of conn.channels) {
      let set = channels.get(channel);
      if (!set) {
        set = new Set();
        channels.set(channel, set);
        this.broker.listen(conn.tenant, channel);
        for (const o of this.observers) o.channelOpened?.(conn.tenant, channel);
      }
      set.add(conn);
    }
    this.all.add(conn);
    this.metrics.connectionsOpened++;
    // The connection is its own session record: no copy per stream.
    const registered = this.broker.addSession(conn);
    for (const o of this.observers) o.opened?.(conn);
    return registered;
  }

  /**
   * Ends an added stream with an `expired` frame when its token expires (at
   * once when it already has). Called once the stream has sent `connected`,
   * so the frame comes after it. One timer serves every stream.
   */
  watchExpiry(conn: StreamConnection): void {
    if (conn.isClosed || conn.expiresAt === Number.POSITIVE_INFINITY) return;
    this.expiries.add(conn);
    if (conn.expiresAt < this.expiryTimerAt) this.armExpiry();
  }

  /** Forgets a closed connection. */
  remove(conn: StreamConnection, reason: CloseReason): void {
    if (!this.all.delete(conn)) return;
    const channels = this.tenants.get(conn.tenant);
    for (const channel of conn.channels) {
      const set = channels?.get(channel);
      if (!set) continue;
      set.delete(conn);
      if (set.size === 0) {
        channels?.delete(channel);
        this.broker.unlisten(conn.tenant, channel);
        for (const o of this.observers) o.channelClosed?.(conn.tenant, channel);
      }
    }
    if (channels && channels.size === 0) this.tenants.delete(conn.tenant);
    // The timer stays armed for a removed head: it fires, finds nothing due and re-arms.
    this.expiries.remove(conn);
    this.broker.removeSession(conn.tenant, conn.id);
    for (const o of this.observers) o.closed?.(conn);
    if (reason === 'slow') this.metrics.slowConsumerDrops++;
  }

  /** This node's open streams of a tenant. */
  connectionsOf(tenant: string): StreamConnection[] {
    const conns = new Set<StreamConnection>();
    for (const set of this.tenants.get(tenant)?.values() ?? []) for (const conn of set) conns.add(conn);
    return [...conns];
  }

  /** Local subscribers to one channel of a tenant (ignoring type filters). */
  subscribers(tenant: string, channel: string): number {
    return this.tenants.get(tenant)?.get(channel)?.size ?? 0;
  }

  deliver(tenant: string, event: StoredEvent): number {
    const set = this.tenants.get(tenant)?.get(event.channel);
    if (!set || set.size === 0) return 0;
    const frame = eventFrame(event);
    const bytes = frameBytes(frame);
    const name = event.event;
    let delivered = 0;
    // The position as a value, parsed once where the event entered the broker.
    const { position } = event;
    for (const conn of set) if (conn.offer(name, position, frame, bytes)) delivered++;
    this.metrics.deliveries += delivered;
    return delivered;
  }

  /**
   * Ends the local streams of one tenant's channel (each client resumes with
   * its Last-Event-ID). Returns how many were ended.
   */
  closeChannel(tenant: string, channel: string, reason: CloseReason = 'shutdown'): number {
    const set = this.tenants.get(tenant)?.get(channel);
    if (!set) return 0;
    const conns = [...set];
    for (const conn of conns) conn.close(reason);
    return conns.length;
  }

  /**
   * Acts on a control message (from any node, through the broker): ends the
   * matching streams of the tenant on this node with a final `revoked` or
   * `disconnected` event, and reports `connection.revoked` once per ended
   * stream and channel. Returns how many streams it ended.
   */
  control(tenant: string, message: ControlMessage): number {
    const channels = this.tenants.get(tenant);
    if (!channels) return 0;
    const conns = new Set<StreamConnection>();
    for (const set of channels.values()) for (const conn of set) conns.add(conn);
    let ended = 0;
    for (const conn of conns) {
      if (message.type === 'revoke') {
        if (!covers(message.revocation, conn)) continue;
        this.end(conn, REVOKED_FRAME, 'revoked');
        this.metrics.streamsRevoked++;
      } else {
        if (message.sessionId !== undefined && conn.id !== message.sessionId) continue;
        if (message.userId !== undefined && conn.userId !== message.userId) continue;
        if (message.sessionId === undefined && message.userId === undefined) continue;
        if (message.channel !== undefined && !conn.channels.includes(message.channel)) continue;
        this.end(conn, message.reconnect ? DISCONNECTED_FRAMES.reconnect : DISCONNECTED_FRAMES.stop, 'disconnected');
        this.metrics.streamsDisconnected++;
      }
      ended++;
    }
    return ended;
  }

  /** Sends a stream its final frame, ends it and reports `connection.revoked` for each of its channels. */
  private end(conn: StreamConnection, frame: Buffer, reason: CloseReason): void {
    conn.send(frame);
    conn.close(reason);
    if (!this.lifecycle) return;
    const at = Date.now();
    const userId = conn.userId ?? undefined;
    for (const channel of conn.channels) {
      try {
        this.lifecycle.lifecycle({ type: 'connection.revoked', tenant: conn.tenant, channel, userId, at });
      } catch (err) {
        console.error('cast: a lifecycle listener threw', err);
      }
    }
  }

  /** Ends a tenant's streams on this node; their clients reconnect and resume by replay. */
  reset(tenant: string): void {
    const channels = this.tenants.get(tenant);
    if (!channels) return;
    const conns = new Set<StreamConnection>();
    for (const set of channels.values()) for (const conn of set) conns.add(conn);
    for (const conn of conns) conn.close('shutdown');
  }

  /** Ends every stream (server shutdown): each client sees its stream end and reconnects. */
  closeAll(reason: CloseReason = 'shutdown'): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.stopped = true;
    for (const conn of [...this.all]) conn.close(reason);
  }

  /** Arms the one expiry timer for the soonest expiry (or disarms it when none is queued). */
  private armExpiry(): void {
    if (this.stopped) return;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryTimerAt = Number.POSITIVE_INFINITY;
    const next = this.expiries.peek();
    if (!next) return;
    const delay = Math.min(Math.max(0, next.expiresAt - Date.now()), MAX_TIMER_MS);
    this.expiryTimerAt = Date.now() + delay;
    this.expiryTimer = setTimeout(this.expireDue, delay);
    this.expiryTimer.unref?.();
  }

  /** Ends every stream whose token has expired: an `expired` frame, then the end of the stream. */
  private readonly expireDue = (): void => {
    this.expiryTimer = undefined;
    this.expiryTimerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (let conn = this.expiries.peek(); conn && conn.expiresAt <= now; conn = this.expiries.peek()) {
      this.expiries.pop();
      conn.send(expiredFrame(conn.expiresAt));
      conn.close('expired');
    }
    this.armExpiry();
  };
}
