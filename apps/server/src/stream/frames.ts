import {
  type ConnectedData,
  type DisconnectedData,
  type ExpiredData,
  encodeComment,
  encodeFrame,
  type EventPosition,
  formatPosition,
  formatWireId,
  type PresenceMember,
  type PresenceSyncData,
  type RevokedData,
} from '@cast/protocol';
import type { StoredEvent } from '../broker/types.js';

/**
 * Every frame a stream sends, in one place. The SSE framing itself is
 * `@cast/protocol`'s `encodeFrame`; here are the frames' contents, encoded
 * to bytes once where they can be (the constant frames at load, an event's
 * frame once per event object).
 */

/** The heartbeat comment idle streams get, so proxies keep them open. */
export const HEARTBEAT = Buffer.from(encodeComment('hb'));

/**
 * The first frame of every stream: `retry:` and `event: connected` with the
 * granted channels and, after a resume, whether it recovered.
 *
 * @param retryMs - the reconnect delay the client is told
 * @param data - the `connected` event's data
 * @returns the frame
 * @example
 * ```ts
 * conn.send(connectedFrame(1000, { channels: ['orders'] }))
 * ```
 */
export function connectedFrame(retryMs: number, data: ConnectedData): Buffer {
  return Buffer.from(encodeFrame({ retry: retryMs, event: 'connected', data: JSON.stringify(data) }));
}

/**
 * The SSE frame of an event: `id: <position>/<channel>`, `event:`, one
 * `data:` line. Kept as text, not bytes: a string per event is cheap for the
 * garbage collector where a `Buffer` per event (a view on a pooled slab, held
 * as long as the event is queued) cost a publish about a sixth of its time;
 * a flush encodes the text once for every stream that queued it (see
 * `StreamConnection.flush`). A replay builds the text again, which costs
 * less than keeping it for every event of the log.
 *
 * @param event - the event as the broker holds it
 * @returns the frame's text
 * @example
 * ```ts
 * eventFrame(event) // 'id: 5-2/orders\nevent: order.created\ndata: {"id":1}\n\n'
 * ```
 */
export function eventFrame(event: StoredEvent): string {
  return encodeFrame({
    id: formatWireId(formatPosition(event.position), event.channel),
    event: event.event,
    data: event.data,
  });
}

/**
 * The `presence.sync` frame of a channel at a log position: its `id` is that
 * position, so a client resuming from it continues right after.
 *
 * @param position - the log position the snapshot was taken at, if known
 * @param channel - the channel
 * @param members - who is present
 * @returns the frame
 * @example
 * ```ts
 * syncFrame({ ms: 1732400000000, seq: 3 }, 'room:1', [])
 * ```
 */
export function syncFrame(position: EventPosition | undefined, channel: string, members: PresenceMember[]): Buffer {
  const data: PresenceSyncData = { channel, members };
  const id = position === undefined ? undefined : formatWireId(formatPosition(position), channel);
  return Buffer.from(
    encodeFrame({ ...(id === undefined ? {} : { id }), event: 'presence.sync', data: JSON.stringify(data) }),
  );
}

/**
 * The `expired` frame sent before a stream whose token expired is closed.
 *
 * @param expiresAt - when the token expired, ms since the epoch
 * @returns the frame
 * @example
 * ```ts
 * conn.send(expiredFrame(conn.expiresAt))
 * ```
 */
export function expiredFrame(expiresAt: number): Buffer {
  const data: ExpiredData = { reason: 'token_expired', expiredAt: new Date(expiresAt).toISOString() };
  return Buffer.from(encodeFrame({ event: 'expired', data: JSON.stringify(data) }));
}

const frameOf = (event: string, data: RevokedData | DisconnectedData): Buffer =>
  Buffer.from(encodeFrame({ event, data: JSON.stringify(data) }));

/** The final frame of a stream whose token was revoked. */
export const REVOKED_FRAME = frameOf('revoked', { reason: 'token_revoked' });
/** The final frames of a stream closed by `POST /push/disconnect`, telling the client to reconnect or not. */
export const DISCONNECTED_FRAMES = {
  reconnect: frameOf('disconnected', { reason: 'disconnected_by_server', reconnect: true }),
  stop: frameOf('disconnected', { reason: 'disconnected_by_server', reconnect: false }),
} as const;
