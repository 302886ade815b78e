/**
 * The benchmark payload: `{"s":<sequence>,"t":<send time, ms>,"p":"xx…"}`,
 * padded to a chosen size. The receiver reads `s` and `t` back without
 * JSON.parse (too slow at hundreds of thousands of events per second).
 */

/**
 * Builds a payload of about `bytes` bytes of JSON (never shorter than its two numbers need).
 *
 * @param seq - the sequence number
 * @param sentAt - the send time in ms since the epoch (fractional)
 * @param bytes - the target size
 * @returns the JSON text
 * @example
 * ```ts
 * makePayload(1, 1732400000000.5, 200).length // 200
 * ```
 */
export function makePayload(seq: number, sentAt: number, bytes: number): string {
  const head = `{"s":${seq},"t":${sentAt.toFixed(3)},"p":"`;
  const pad = Math.max(0, bytes - head.length - 2);
  return `${head}${'x'.repeat(pad)}"}`;
}

/** The fields read back from a payload. */
export interface PayloadFields {
  /** Sequence number. */
  seq: number;
  /** Send time, ms since the epoch. */
  sentAt: number;
}

/** `{"s":` as bytes. */
const HEAD = [123, 34, 115, 34, 58];
/** `,"t":` as bytes. */
const TIME = [44, 34, 116, 34, 58];

/**
 * Reads `s` and `t` from a payload built by {@link makePayload}, as re-serialised
 * by a server (`JSON.stringify` keeps the key order and may drop trailing zeros).
 *
 * @param b - the bytes holding the payload
 * @param start - where the JSON starts
 * @param end - where it ends
 * @param out - receives the fields
 * @returns false when the payload is not one of ours
 * @example
 * ```ts
 * const out = { seq: 0, sentAt: 0 };
 * readPayload(Buffer.from('{"s":7,"t":12.5,"p":""}'), 0, 23, out) // true, out.seq === 7
 * ```
 */
export function readPayload(b: Uint8Array, start: number, end: number, out: PayloadFields): boolean {
  if (!bytesAt(b, start, end, HEAD)) return false;
  let i = start + 5;
  let seq = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) break;
    seq = seq * 10 + c;
    digits++;
  }
  if (digits === 0 || !bytesAt(b, i, end, TIME)) return false;
  i += 5;
  let whole = 0;
  digits = 0;
  for (; i < end; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) break;
    whole = whole * 10 + c;
    digits++;
  }
  if (digits === 0) return false;
  // The fraction as an integer over a power of ten: exact to the digits written.
  let frac = 0;
  let scale = 1;
  if (i < end && b[i] === 46 /* . */) {
    for (i++; i < end && scale < 1e9; i++) {
      const c = b[i]! - 48;
      if (c < 0 || c > 9) break;
      frac = frac * 10 + c;
      scale *= 10;
    }
  }
  out.seq = seq;
  out.sentAt = whole + frac / scale;
  return true;
}

function bytesAt(b: Uint8Array, at: number, end: number, want: readonly number[]): boolean {
  if (at + want.length > end) return false;
  for (let k = 0; k < want.length; k++) if (b[at + k] !== want[k]) return false;
  return true;
}

/**
 * The current time in ms since the epoch with sub-millisecond resolution,
 * comparable between processes on one machine.
 *
 * @returns the time
 * @example
 * ```ts
 * const latencyMs = preciseNow() - sentAt;
 * ```
 */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}
