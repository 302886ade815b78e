/**
 * A minimal SSE frame scanner for the load generator. It reads the stream's
 * bytes where the socket put them and reports frames as index ranges into
 * those bytes, so the hot path creates no strings and copies nothing but the
 * unfinished frame at the end of a read. Lines end with LF, as every hub under
 * test writes them; one `data:` line per frame, as the wire contract says (a
 * frame with more is flagged).
 */

import { latin1 } from './bytes.js';

/** One scanned frame: field ranges into `bytes` (start = -1 when absent). Reused between calls. */
export interface ScannedFrame {
  /** The bytes the ranges point into; valid during the callback only. */
  bytes: Uint8Array;
  /** `id:` value range. */
  idStart: number;
  idEnd: number;
  /** `event:` value range. */
  eventStart: number;
  eventEnd: number;
  /** `data:` value range (the first data line). */
  dataStart: number;
  dataEnd: number;
  /** Number of `data:` lines (1 expected when data is present). */
  dataLines: number;
  /** True when the frame holds only comments (a heartbeat) or nothing. */
  empty: boolean;
}

/** A scanner fed with the bytes of one stream. */
export interface SseScanner {
  /** Feeds `bytes[start, end)`, the next bytes of the stream (read synchronously, not kept). */
  feed(bytes: Uint8Array, start?: number, end?: number): void;
  /** Bytes held while waiting for the end of a frame. */
  pending(): number;
}

const LF = 10;
const SPACE = 32;
const COLON = 58;

/**
 * Creates a scanner that calls `onFrame` for every complete frame.
 *
 * @param onFrame - called with a reused frame object; copy what you keep
 * @returns the scanner
 * @example
 * ```ts
 * const scanner = createSseScanner((f) => console.log(frameField(f, 'event')));
 * scanner.feed(Buffer.from('event: hello\ndata: {}\n\n'));
 * ```
 */
export function createSseScanner(onFrame: (frame: ScannedFrame) => void): SseScanner {
  let carry = new Uint8Array(0);
  let carried = 0;
  const frame: ScannedFrame = {
    bytes: carry,
    idStart: -1,
    idEnd: -1,
    eventStart: -1,
    eventEnd: -1,
    dataStart: -1,
    dataEnd: -1,
    dataLines: 0,
    empty: true,
  };

  function feed(bytes: Uint8Array, start = 0, end = bytes.length): void {
    if (carried === 0) {
      const done = scan(bytes, start, end, frame, onFrame);
      if (done < end) keep(bytes, done, end);
      return;
    }
    // An unfinished frame waits in `carry`: append and scan from its start.
    if (carry.length < carried + end - start) {
      const grown = new Uint8Array(Math.max(carried + end - start, carry.length * 2, 1024));
      grown.set(carry.subarray(0, carried));
      carry = grown;
    }
    carry.set(bytes.subarray(start, end), carried);
    const total = carried + end - start;
    const done = scan(carry, 0, total, frame, onFrame);
    carry.copyWithin(0, done, total);
    carried = total - done;
  }

  function keep(bytes: Uint8Array, from: number, to: number): void {
    if (carry.length < to - from) carry = new Uint8Array(Math.max(to - from, 1024));
    carry.set(bytes.subarray(from, to));
    carried = to - from;
  }

  return { feed, pending: () => carried };
}

/** Scans whole frames in `b[pos, end)`; returns where the first unfinished frame starts. */
function scan(
  b: Uint8Array,
  pos: number,
  end: number,
  f: ScannedFrame,
  onFrame: (frame: ScannedFrame) => void,
): number {
  let frameStart = pos;
  reset(f, b);
  while (pos < end) {
    const c = b[pos]!;
    if (c === LF) {
      // An empty line ends the frame.
      if (!f.empty) onFrame(f);
      pos += 1;
      frameStart = pos;
      reset(f, b);
      continue;
    }
    // The typed array's own search (native) beats a loop over a 200-byte data line.
    const eol = b.indexOf(LF, pos + 1);
    if (eol === -1 || eol >= end) break;
    if (c !== COLON) field(b, pos, eol, f);
    pos = eol + 1;
  }
  return frameStart;
}

function reset(f: ScannedFrame, b: Uint8Array): void {
  f.bytes = b;
  f.idStart = f.idEnd = f.eventStart = f.eventEnd = f.dataStart = f.dataEnd = -1;
  f.dataLines = 0;
  f.empty = true;
}

/** Reads the field line `b[line, eol)` into the frame. */
function field(b: Uint8Array, line: number, eol: number, f: ScannedFrame): void {
  let nameEnd = line;
  while (nameEnd < eol && b[nameEnd] !== COLON) nameEnd++;
  let valueStart = nameEnd === eol ? eol : nameEnd + 1;
  if (valueStart < eol && b[valueStart] === SPACE) valueStart += 1;
  const len = nameEnd - line;
  const c0 = b[line];
  if (len === 4 && c0 === 100 /* d */ && b[line + 1] === 97 && b[line + 2] === 116 && b[line + 3] === 97) {
    f.dataLines += 1;
    if (f.dataLines === 1) {
      f.dataStart = valueStart;
      f.dataEnd = eol;
    }
    f.empty = false;
  } else if (len === 2 && c0 === 105 /* i */ && b[line + 1] === 100) {
    f.idStart = valueStart;
    f.idEnd = eol;
    f.empty = false;
  } else if (
    len === 5 &&
    c0 === 101 /* e */ &&
    b[line + 1] === 118 &&
    b[line + 2] === 101 &&
    b[line + 3] === 110 &&
    b[line + 4] === 116
  ) {
    f.eventStart = valueStart;
    f.eventEnd = eol;
    f.empty = false;
  }
}

/**
 * A field of a scanned frame as a string.
 *
 * @param f - the frame
 * @param field - which field
 * @returns its value, or undefined when absent
 * @example
 * ```ts
 * frameField(frame, 'data') // '{"channels":["bench"]}'
 * ```
 */
export function frameField(f: ScannedFrame, field: 'id' | 'event' | 'data'): string | undefined {
  const [s, e] =
    field === 'id' ? [f.idStart, f.idEnd] : field === 'event' ? [f.eventStart, f.eventEnd] : [f.dataStart, f.dataEnd];
  return s === -1 ? undefined : latin1(f.bytes, s, e);
}

/**
 * True when the frame's event name equals `name` (no string created).
 *
 * @param f - the frame
 * @param name - the event name (ASCII)
 * @returns whether it matches
 * @example
 * ```ts
 * frameEventIs(frame, 'connected')
 * ```
 */
export function frameEventIs(f: ScannedFrame, name: string): boolean {
  if (f.eventStart === -1 || f.eventEnd - f.eventStart !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (f.bytes[f.eventStart + i] !== name.charCodeAt(i)) return false;
  return true;
}

/** A log position read from an SSE id. */
export interface ParsedPosition {
  /** Milliseconds part. */
  ms: number;
  /** Counter part. */
  seq: number;
}

/**
 * Reads the position `<ms>-<seq>` at the start of an SSE id (`<ms>-<seq>/<channel>`).
 *
 * @param b - the bytes holding the id
 * @param start - where the id starts
 * @param end - where it ends
 * @param out - receives the position
 * @returns false when the id does not start with a position
 * @example
 * ```ts
 * const p = { ms: 0, seq: 0 };
 * readPosition(Buffer.from('5-2/orders'), 0, 10, p) // true, p = { ms: 5, seq: 2 }
 * ```
 */
export function readPosition(b: Uint8Array, start: number, end: number, out: ParsedPosition): boolean {
  let i = start;
  let ms = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) break;
    ms = ms * 10 + c;
    digits++;
  }
  if (digits === 0 || i >= end || b[i] !== 45 /* - */) return false;
  i++;
  let seq = 0;
  digits = 0;
  for (; i < end; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) break;
    seq = seq * 10 + c;
    digits++;
  }
  if (digits === 0 || (i < end && b[i] !== 47) /* / */) return false;
  out.ms = ms;
  out.seq = seq;
  return true;
}
