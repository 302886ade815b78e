import type { EventPosition } from '@cast/protocol';
import type { Broker } from '../broker/types.js';
import type { Hub } from '../stream/hub.js';
import { syncFrame } from '../stream/frames.js';

/**
 * Sends a fresh `presence.sync` to this node's presence streams of a tenant,
 * mid-stream (after Redis came back and the node's part was rewritten). Each
 * stream holds its live frames, the snapshot is taken at one log position,
 * and once this node has delivered every event up to that position each
 * stream gets the held events before it (but the presence ones, which the
 * sync replaces), the sync, then the held events after it. Nothing is lost
 * or sent twice; on any failure the held frames are released as they are.
 *
 * @returns false when no sync could be sent (to try again later)
 * @example
 * ```ts
 * await resyncPresence(hub, broker, 'acme')
 * ```
 */
export async function resyncPresence(hub: Hub, broker: Broker, tenant: string): Promise<boolean> {
  const conns = hub.connectionsOf(tenant).filter((c) => c.presence && !c.holding && !c.isClosed);
  if (conns.length === 0) return true;
  for (const conn of conns) conn.holdLive();
  let at: EventPosition | undefined;
  const frames = new Map<string, Buffer>();
  try {
    const channels = [...new Set(conns.flatMap((c) => c.channels))];
    const snapshot = await broker.presence.snapshot(tenant, channels);
    at = snapshot.position;
    if (at && (await broker.presence.caughtUp(tenant, at))) {
      for (const { channel, members } of snapshot.channels) frames.set(channel, syncFrame(at, channel, members));
    } else at = undefined;
  } catch (err) {
    console.error('cast: presence resync failed', err);
    at = undefined;
  }
  for (const conn of conns) {
    if (!at) {
      // Held frames dropped over the limit are in the log: the client resumes from what it got.
      if (conn.takeDropped()) conn.close('shutdown');
      else conn.goLive(undefined);
      continue;
    }
    const mine = conn.wants('presence.sync')
      ? conn.channels.map((ch) => frames.get(ch)).filter((f): f is Buffer => f !== undefined)
      : [];
    conn.resync(at, mine);
  }
  return at !== undefined;
}
