import { encodeComment, encodeFrame, formatWireId } from '@cast/protocol';
import type { Broker, LocalDelivery, StoredEvent } from '../broker/types.js';
import type { Metrics } from '../metrics.js';
import type { CloseReason, StreamConnection } from './writer.js';

const HEARTBEAT = Buffer.from(encodeComment('hb'));

/** Frames already encoded, by event object: a held event is encoded once for live delivery and every replay. */
const frames = new WeakMap<StoredEvent, Buffer>();

/**
 * The SSE frame of an event: `id: <position>/<channel>`, `event:`, one
 * `data:` line. Encoded once per event object; live delivery and every replay
 * of a held event share the same bytes.
 */
export function eventFrame(event: StoredEvent): Buffer {
  let frame = frames.get(event);
  if (!frame) {
    frame = Buffer.from(
      encodeFrame({ id: formatWireId(event.position, event.channel), event: event.event, data: event.data }),
    );
    frames.set(event, frame);
  }
  return frame;
}

/**
 * This node's open streams, indexed by tenant and channel. The broker hands
 * it each event once; the hub encodes the frame once and offers the same
 * bytes to every matching connection.
 */
export class Hub implements LocalDelivery {
  private readonly tenants = new Map<string, Map<string, Set<StreamConnection>>>();
  private readonly all = new Set<StreamConnection>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly metrics: Metrics,
    heartbeatMs: number,
  ) {
    this.heartbeat = setInterval(() => {
      for (const conn of this.all) conn.send(HEARTBEAT);
    }, heartbeatMs);
    this.heartbeat.unref?.();
  }

  /** Open connections on this node. */
  get size(): number {
    return this.all.size;
  }

  /** Starts delivering a tenant's events on the connection's channels to it. */
  add(conn: StreamConnection): void {
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
      }
      set.add(conn);
    }
    this.all.add(conn);
    this.broker.addSession({
      tenant: conn.tenant,
      id: conn.id,
      userId: conn.userId ?? null,
      channels: conn.channels,
      connectedAt: conn.connectedAt.toISOString(),
    });
    this.metrics.connectionsOpened++;
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
      }
    }
    if (channels && channels.size === 0) this.tenants.delete(conn.tenant);
    this.broker.removeSession(conn.tenant, conn.id);
    if (reason === 'slow') this.metrics.slowConsumerDrops++;
  }

  /** Local subscribers to one channel of a tenant (ignoring type filters). */
  subscribers(tenant: string, channel: string): number {
    return this.tenants.get(tenant)?.get(channel)?.size ?? 0;
  }

  deliver(tenant: string, event: StoredEvent): number {
    const set = this.tenants.get(tenant)?.get(event.channel);
    if (!set || set.size === 0) return 0;
    let frame: Buffer | undefined;
    let delivered = 0;
    const dash = event.position.indexOf('-');
    const ms = Number(event.position.slice(0, dash));
    const seq = Number(event.position.slice(dash + 1));
    for (const conn of set) {
      if (!conn.wants(event.event)) continue;
      frame ??= eventFrame(event);
      if (conn.offer(event.event, ms, seq, frame)) delivered++;
    }
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
    for (const conn of [...this.all]) conn.close(reason);
  }
}
