/**
 * Decodes the response of a streaming HTTP/1.1 GET read from a raw socket:
 * the status line and headers, then the body, de-chunked when the server uses
 * chunked transfer encoding. Text is latin1 (one char per byte). The
 * subscriber load generator uses it instead of `node:http`'s client, whose
 * per-chunk stream machinery costs more than the hubs being measured.
 */

/** Callbacks of {@link createHttpStreamDecoder}. */
export interface HttpStreamHandlers {
  /** The status and lower-cased headers, once. */
  onHead(status: number, headers: Record<string, string>): void;
  /** A piece of the body, in order. */
  onBody(text: string): void;
  /** A protocol error; nothing more is decoded. */
  onError(error: Error): void;
}

/** A decoder fed with the socket's text. */
export interface HttpStreamDecoder {
  feed(chunk: string): void;
}

/**
 * Creates a decoder.
 *
 * @param handlers - where the head and body go
 * @returns the decoder
 * @example
 * ```ts
 * const d = createHttpStreamDecoder({ onHead: () => {}, onBody: scanner.feed, onError: console.error });
 * socket.setEncoding('latin1');
 * socket.on('data', d.feed);
 * ```
 */
export function createHttpStreamDecoder(handlers: HttpStreamHandlers): HttpStreamDecoder {
  let head = true;
  let chunked = false;
  let buf = '';
  let remaining = 0; // body bytes left in the current chunk
  let trailer = 0; // CRLF bytes still to skip after a chunk
  let failed = false;

  function fail(e: Error): void {
    failed = true;
    handlers.onError(e);
  }

  function feed(chunk: string): void {
    if (failed) return;
    let text = buf.length ? buf + chunk : chunk;
    buf = '';
    if (head) {
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) {
        buf = text;
        return;
      }
      const lines = text.slice(0, end).split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      if (!m) return fail(new Error(`Bad status line: ${JSON.stringify(lines[0])}`));
      const headers: Record<string, string> = {};
      for (let i = 1; i < lines.length; i++) {
        const colon = lines[i]!.indexOf(':');
        if (colon > 0) headers[lines[i]!.slice(0, colon).trim().toLowerCase()] = lines[i]!.slice(colon + 1).trim();
      }
      head = false;
      chunked = (headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked');
      handlers.onHead(Number(m[1]), headers);
      text = text.slice(end + 4);
    }
    if (!chunked) {
      if (text.length) handlers.onBody(text);
      return;
    }
    let pos = 0;
    while (pos < text.length) {
      if (trailer > 0) {
        const skip = Math.min(trailer, text.length - pos);
        pos += skip;
        trailer -= skip;
        continue;
      }
      if (remaining > 0) {
        const take = Math.min(remaining, text.length - pos);
        handlers.onBody(pos === 0 && take === text.length ? text : text.slice(pos, pos + take));
        pos += take;
        remaining -= take;
        if (remaining === 0) trailer = 2;
        continue;
      }
      const eol = text.indexOf('\r\n', pos);
      if (eol === -1) {
        buf = text.slice(pos);
        if (buf.length > 64) fail(new Error('Chunk size line too long.'));
        return;
      }
      const size = Number.parseInt(text.slice(pos, eol), 16);
      if (!Number.isFinite(size) || size < 0) return fail(new Error('Bad chunk size.'));
      pos = eol + 2;
      if (size === 0) {
        // The last chunk: the stream is over; the socket close follows.
        return;
      }
      remaining = size;
    }
  }

  return { feed };
}
