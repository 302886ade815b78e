import type { EventPosition } from '@cast/protocol';
import type { StoredEvent } from '../types.js';

/**
 * The largest sequence number of a Redis stream id (2^64 - 1). A position
 * `<ms - 1>-MAX_SEQ` stands for "just before `<ms>-0`".
 */
export const MAX_SEQ = '18446744073709551615';

/** {@link MAX_SEQ} as a parsed position holds it: a number rounds it to 2^64. */
const MAX_SEQ_VALUE = Number(MAX_SEQ);

/**
 * Parses a stream id `<ms>-<seq>` into the protocol's position: the Redis
 * broker's storage edge. `seq` may exceed 2^53 only as {@link MAX_SEQ}, which
 * still compares right.
 *
 * @param position - a stream id
 * @returns its parts, or undefined when it is not a position
 * @example
 * ```ts
 * parseRedisPosition('1700000000000-3') // { ms: 1700000000000, seq: 3 }
 * ```
 */
export function parseRedisPosition(position: string): EventPosition | undefined {
  const m = /^(\d{1,20})-(\d{1,20})$/.exec(position);
  if (!m) return undefined;
  return { ms: Number(m[1]), seq: Number(m[2]) };
}

/**
 * Formats a position as a stream id, for a Redis command argument: the
 * inverse of {@link parseRedisPosition}, {@link MAX_SEQ} included, so an id
 * read from Redis goes back byte for byte.
 *
 * @param position - a position
 * @returns its stream id
 * @example
 * ```ts
 * formatRedisPosition(positionBefore(1000)) // '999-18446744073709551615'
 * ```
 */
export function formatRedisPosition(position: EventPosition): string {
  return `${position.ms}-${position.seq >= MAX_SEQ_VALUE ? MAX_SEQ : position.seq}`;
}

/** Orders two positions (the protocol's order; re-exported for the Redis broker's callers). */
export { comparePositions } from '@cast/protocol';

/**
 * The position just before `<ms>-0`: every id from `ms` on is after it.
 *
 * @example
 * ```ts
 * formatRedisPosition(positionBefore(1000)) // '999-18446744073709551615'
 * ```
 */
export function positionBefore(ms: number): EventPosition {
  return { ms: Math.max(0, ms - 1), seq: MAX_SEQ_VALUE };
}

const SPACE = 0x20;
const NEWLINE = 0x0a;

/**
 * Decodes one message of a tenant's `live` pub/sub channel, as the publish
 * script writes it: `<position> <channel bytes> <event bytes> <messageId>\n`
 * then the channel, the event name and the data, back to back. Lengths are
 * in bytes, so any UTF-8 text survives.
 *
 * @param message - the raw message
 * @returns the event, or undefined for a malformed message
 * @example
 * ```ts
 * decodeLiveMessage(Buffer.from('1-0 2 1 m\nabxdata'))
 * // { position: { ms: 1, seq: 0 }, channel: 'ab', event: 'x', messageId: 'm', data: 'data' }
 * ```
 */
export function decodeLiveMessage(message: Buffer): StoredEvent | undefined {
  const nl = message.indexOf(NEWLINE);
  if (nl < 0) return undefined;
  const head = message.toString('latin1', 0, nl).split(String.fromCharCode(SPACE));
  if (head.length !== 4) return undefined;
  const [id, chLen, evLen, messageId] = head as [string, string, string, string];
  const c = Number(chLen);
  const e = Number(evLen);
  const position = parseRedisPosition(id);
  if (!position || !Number.isInteger(c) || !Number.isInteger(e) || nl + 1 + c + e > message.length) {
    return undefined;
  }
  const start = nl + 1;
  return {
    position,
    channel: message.toString('utf8', start, start + c),
    event: message.toString('utf8', start + c, start + c + e),
    messageId,
    data: message.toString('utf8', start + c + e),
  };
}

/**
 * Encodes a live message the way the publish script does (for tests and
 * tools; the script builds the same bytes in Lua).
 *
 * @example
 * ```ts
 * decodeLiveMessage(encodeLiveMessage(event)) // equals event
 * ```
 */
export function encodeLiveMessage(event: StoredEvent): Buffer {
  const ch = Buffer.from(event.channel, 'utf8');
  const ev = Buffer.from(event.event, 'utf8');
  return Buffer.concat([
    Buffer.from(`${formatRedisPosition(event.position)} ${ch.length} ${ev.length} ${event.messageId}\n`, 'latin1'),
    ch,
    ev,
    Buffer.from(event.data, 'utf8'),
  ]);
}
