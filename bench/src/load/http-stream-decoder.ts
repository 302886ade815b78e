/**
 * Decodes the response of a streaming HTTP/1.1 GET read from a raw socket:
 * the status line and headers, then the body, de-chunked when the server uses
 * chunked transfer encoding. It works on the bytes where the socket put them
 * and hands the body on as ranges of those bytes, so nothing is decoded or
 * copied on the hot path. The subscriber load generator uses it instead of
 * `node:http`'s client, whose per-chunk stream machinery costs more than the
 * hubs being measured.
 */

import { latin1 } from './bytes.js';

/** Callbacks of {@link createHttpStreamDecoder}. */
export interface HttpStreamHandlers {
  /** The status and lower-cased headers, once. */
  onHead(status: number, headers: Record<string, string>): void;
  /** A piece of the body, `bytes[start, end)`, in order; valid during the call only. */
  onBody(bytes: Uint8Array, start: number, end: number): void;
  /** A protocol error; nothing more is decoded. */
  onError(error: Error): void;
}

/** A decoder fed with the socket's bytes. */
export interface HttpStreamDecoder {
  /** Feeds `bytes[start, end)` (read synchronously, not kept). */
  feed(bytes: Uint8Array, start?: number, end?: number): void;
}

const CR = 13;
const LF = 10;
/** Longest head accepted, bytes. */
const MAX_HEAD = 16 * 1024;
/** Longest chunk-size line accepted (size and extensions), bytes. */
const MAX_SIZE_LINE = 64;

const enum State {
  Head,
  Raw,
  Size,
  SizeLine,
  Data,
  DataEnd,
  Done,
  Failed,
}

/**
 * Creates a decoder.
 *
 * @param handlers - where the head and body go
 * @returns the decoder
 * @example
 * ```ts
 * const d = createHttpStreamDecoder({ onHead: () => {}, onBody: scanner.feed, onError: console.error });
 * d.feed(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'));
 * ```
 */
export function createHttpStreamDecoder(handlers: HttpStreamHandlers): HttpStreamDecoder {
  let state = State.Head;
  let head = '';
  let size = 0; // the chunk size being read, then the data bytes left in the chunk
  let sizeDigits = 0;
  let sizeLine = 0;

  function fail(e: Error): void {
    state = State.Failed;
    handlers.onError(e);
  }

  function readHead(bytes: Uint8Array, start: number, end: number): number {
    const before = head.length;
    head += latin1(bytes, start, end);
    const at = head.indexOf('\r\n\r\n');
    if (at === -1) {
      if (head.length > MAX_HEAD) fail(new Error('Response head too long.'));
      return end;
    }
    const lines = head.slice(0, at).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) {
      fail(new Error(`Bad status line: ${JSON.stringify(lines[0])}`));
      return end;
    }
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i]!.indexOf(':');
      if (colon > 0) headers[lines[i]!.slice(0, colon).trim().toLowerCase()] = lines[i]!.slice(colon + 1).trim();
    }
    head = '';
    state = (headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked') ? State.Size : State.Raw;
    handlers.onHead(Number(m[1]), headers);
    return start + (at + 4 - before);
  }

  function feed(bytes: Uint8Array, start = 0, end = bytes.length): void {
    let pos = start;
    while (pos < end) {
      switch (state) {
        case State.Head:
          pos = readHead(bytes, pos, end);
          break;
        case State.Raw:
          handlers.onBody(bytes, pos, end);
          pos = end;
          break;
        case State.Size: {
          const c = bytes[pos]!;
          const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (digit >= 0 && sizeDigits < 12) {
            size = size * 16 + digit;
            sizeDigits++;
            sizeLine++;
            pos++;
          } else if (sizeDigits > 0 && (c === CR || c === LF || c === 59) /* ; */) {
            state = State.SizeLine;
          } else {
            return fail(new Error('Bad chunk size.'));
          }
          break;
        }
        case State.SizeLine: {
          // Skip chunk extensions up to the line's LF.
          const c = bytes[pos++]!;
          if (++sizeLine > MAX_SIZE_LINE) return fail(new Error('Chunk size line too long.'));
          if (c !== LF) break;
          sizeDigits = 0;
          sizeLine = 0;
          if (size === 0) {
            // The last chunk: the stream is over; the socket close follows.
            state = State.Done;
            return;
          }
          state = State.Data;
          break;
        }
        case State.Data: {
          const take = Math.min(size, end - pos);
          handlers.onBody(bytes, pos, pos + take);
          pos += take;
          size -= take;
          if (size === 0) state = State.DataEnd;
          break;
        }
        case State.DataEnd: {
          // The CRLF after a chunk's data.
          const c = bytes[pos++]!;
          if (c === LF) state = State.Size;
          else if (c !== CR) return fail(new Error('Missing CRLF after chunk data.'));
          break;
        }
        case State.Done:
        case State.Failed:
          return;
      }
    }
  }

  return { feed };
}
