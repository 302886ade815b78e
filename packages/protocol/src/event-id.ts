/**
 * Event ids. Every event of a tenant gets a position `<ms>-<seq>` in that
 * tenant's log (the same shape as a Redis stream id): milliseconds since the
 * epoch and a counter within that millisecond. Positions only increase within
 * a tenant, across restarts and across nodes.
 *
 * On the wire (the SSE `id:` field) the position is followed by `/` and the
 * event's channel (`1732400000000-0/orders`), so a client learns the channel
 * of every event while the payload stays the bare `data` the publisher sent.
 * The server reads only the position back from `Last-Event-ID`.
 *
 * @example
 * ```ts
 * const position: EventPosition = { ms: 1732400000000, seq: 0 }
 * formatWireId(formatPosition(position), 'orders') // '1732400000000-0/orders'
 * ```
 */
export interface EventPosition {
  /** Milliseconds since the epoch when the event was logged. */
  readonly ms: number;
  /** Counter within that millisecond, from 0. */
  readonly seq: number;
}

const POSITION = /^(\d{1,15})-(\d{1,15})$/;
const WIRE_ID = /^(\d{1,15})-(\d{1,15})(?:\/(.*))?$/s;

/**
 * Parses a position `<ms>-<seq>`.
 *
 * @param value - the position string
 * @returns the position, or undefined when malformed
 * @example
 * ```ts
 * parsePosition('1732400000000-3') // { ms: 1732400000000, seq: 3 }
 * ```
 */
export function parsePosition(value: string): EventPosition | undefined {
  const m = POSITION.exec(value);
  if (!m) return undefined;
  return { ms: Number(m[1]), seq: Number(m[2]) };
}

/**
 * Formats a position as `<ms>-<seq>`.
 *
 * @param position - the position
 * @returns its string form
 * @example
 * ```ts
 * formatPosition({ ms: 5, seq: 0 }) // '5-0'
 * ```
 */
export function formatPosition(position: EventPosition): string {
  return `${position.ms}-${position.seq}`;
}

/**
 * Orders two positions.
 *
 * @param a - a position
 * @param b - another position
 * @returns a negative number when a comes first, 0 when equal, positive otherwise
 * @example
 * ```ts
 * comparePositions({ ms: 1, seq: 9 }, { ms: 2, seq: 0 }) < 0 // true
 * ```
 */
export function comparePositions(a: EventPosition, b: EventPosition): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.seq - b.seq;
}

/**
 * Builds the SSE `id:` value of an event: its position, `/`, its channel.
 *
 * @param position - the position string `<ms>-<seq>`
 * @param channel - the event's channel
 * @returns the wire id
 * @example
 * ```ts
 * formatWireId('5-0', 'orders') // '5-0/orders'
 * ```
 */
export function formatWireId(position: string, channel: string): string {
  return `${position}/${channel}`;
}

/**
 * Parses an SSE id (or a `Last-Event-ID`) into its position and channel. A
 * bare position without a channel is accepted too.
 *
 * @param value - the id as received
 * @returns the position string, the parsed position and the channel, or undefined when malformed
 * @example
 * ```ts
 * parseWireId('5-0/orders') // { position: '5-0', ms: 5, seq: 0, channel: 'orders' }
 * ```
 */
export function parseWireId(value: string):
  | {
      /** The position `<ms>-<seq>`. */
      position: string;
      /** Its milliseconds part. */
      ms: number;
      /** Its counter part. */
      seq: number;
      /** The channel after the `/`, or undefined for a bare position. */
      channel: string | undefined;
    }
  | undefined {
  const m = WIRE_ID.exec(value.trim());
  if (!m) return undefined;
  return {
    position: `${m[1]}-${m[2]}`,
    ms: Number(m[1]),
    seq: Number(m[2]),
    channel: m[3] === undefined || m[3] === '' ? undefined : m[3],
  };
}
