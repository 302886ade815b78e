/**
 * A minimal SSE frame scanner for the load generator. It reads latin1 text
 * (the payloads are ASCII) and reports frames as index ranges into that text,
 * so the hot path creates no substrings. One `data:` line per frame, as the
 * wire contract says; a frame with more is flagged.
 */

/** One scanned frame: field ranges into `text` (start = -1 when absent). Reused between calls. */
export interface ScannedFrame {
  /** The text the ranges point into. */
  text: string;
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

/** A scanner fed with chunks of one stream. */
export interface SseScanner {
  /** Feeds the next chunk of text. */
  feed(chunk: string): void;
  /** Bytes held while waiting for the end of a frame. */
  pending(): number;
}

const COLON = 58;
const SPACE = 32;

/**
 * Creates a scanner that calls `onFrame` for every complete frame.
 *
 * @param onFrame - called with a reused frame object; copy what you keep
 * @returns the scanner
 * @example
 * ```ts
 * const scanner = createSseScanner((f) => console.log(frameField(f, 'event')));
 * scanner.feed('event: hello\ndata: {}\n\n');
 * ```
 */
export function createSseScanner(onFrame: (frame: ScannedFrame) => void): SseScanner {
  let rest = '';
  const frame: ScannedFrame = {
    text: '',
    idStart: -1,
    idEnd: -1,
    eventStart: -1,
    eventEnd: -1,
    dataStart: -1,
    dataEnd: -1,
    dataLines: 0,
    empty: true,
  };

  function feed(chunk: string): void {
    const text = rest.length === 0 ? chunk : rest + chunk;
    let pos = 0;
    for (;;) {
      const end = text.indexOf('\n\n', pos);
      if (end === -1) break;
      scanFrame(text, pos, end, frame);
      if (!frame.empty) onFrame(frame);
      pos = end + 2;
    }
    rest = pos === 0 ? text : pos < text.length ? text.slice(pos) : '';
  }

  return { feed, pending: () => rest.length };
}

function scanFrame(text: string, start: number, end: number, f: ScannedFrame): void {
  f.text = text;
  f.idStart = f.idEnd = f.eventStart = f.eventEnd = f.dataStart = f.dataEnd = -1;
  f.dataLines = 0;
  f.empty = true;
  let line = start;
  // A frame may start with stray LFs (e.g. after a heartbeat); they are empty lines.
  while (line <= end) {
    let eol = text.indexOf('\n', line);
    if (eol === -1 || eol > end) eol = end;
    if (eol > line && text.charCodeAt(line) !== COLON) {
      const colon = text.indexOf(':', line);
      const nameEnd = colon === -1 || colon > eol ? eol : colon;
      let valueStart = nameEnd === eol ? eol : nameEnd + 1;
      if (valueStart < eol && text.charCodeAt(valueStart) === SPACE) valueStart += 1;
      const len = nameEnd - line;
      const c0 = text.charCodeAt(line);
      if (len === 4 && c0 === 100 /* d */ && text.startsWith('data', line)) {
        f.dataLines += 1;
        if (f.dataLines === 1) {
          f.dataStart = valueStart;
          f.dataEnd = eol;
        }
        f.empty = false;
      } else if (len === 2 && c0 === 105 /* i */ && text.charCodeAt(line + 1) === 100) {
        f.idStart = valueStart;
        f.idEnd = eol;
        f.empty = false;
      } else if (len === 5 && c0 === 101 /* e */ && text.startsWith('event', line)) {
        f.eventStart = valueStart;
        f.eventEnd = eol;
        f.empty = false;
      }
    }
    if (eol >= end) break;
    line = eol + 1;
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
  return s === -1 ? undefined : f.text.slice(s, e);
}

/**
 * True when the frame's event name equals `name` (no substring created).
 *
 * @param f - the frame
 * @param name - the event name
 * @returns whether it matches
 * @example
 * ```ts
 * frameEventIs(frame, 'connected')
 * ```
 */
export function frameEventIs(f: ScannedFrame, name: string): boolean {
  return f.eventStart !== -1 && f.eventEnd - f.eventStart === name.length && f.text.startsWith(name, f.eventStart);
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
 * @param text - the text holding the id
 * @param start - where the id starts
 * @param end - where it ends
 * @param out - receives the position
 * @returns false when the id does not start with a position
 * @example
 * ```ts
 * const p = { ms: 0, seq: 0 };
 * readPosition('5-2/orders', 0, 10, p) // true, p = { ms: 5, seq: 2 }
 * ```
 */
export function readPosition(text: string, start: number, end: number, out: ParsedPosition): boolean {
  let i = start;
  let ms = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    ms = ms * 10 + c;
    digits++;
  }
  if (digits === 0 || i >= end || text.charCodeAt(i) !== 45 /* - */) return false;
  i++;
  let seq = 0;
  digits = 0;
  for (; i < end; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    seq = seq * 10 + c;
    digits++;
  }
  if (digits === 0 || (i < end && text.charCodeAt(i) !== 47) /* / */) return false;
  out.ms = ms;
  out.seq = seq;
  return true;
}
