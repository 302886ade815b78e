/**
 * An HTTP/1.1 response parser for the keep-alive request loaders: status line,
 * headers, and a body delimited by Content-Length or chunked encoding. Bodies
 * are read as latin1 (the loaders only send and receive ASCII JSON).
 */

/** One parsed response. */
export interface ParsedResponse {
  /** The status code. */
  status: number;
  /** Header names (lower-cased) to values. */
  headers: Record<string, string>;
  /** The body. */
  body: string;
}

/** A parser fed with the bytes of one connection. */
export interface ResponseParser {
  /** Feeds the next chunk (latin1 text). */
  feed(chunk: string): void;
}

/**
 * Creates a parser calling `onResponse` for every complete response.
 *
 * @param onResponse - receives each response in order
 * @param onError - receives a protocol error (the connection is then unusable)
 * @returns the parser
 * @example
 * ```ts
 * const parser = createResponseParser((r) => console.log(r.status));
 * socket.setEncoding('latin1');
 * socket.on('data', parser.feed);
 * ```
 */
export function createResponseParser(
  onResponse: (response: ParsedResponse) => void,
  onError: (error: Error) => void = (e) => {
    throw e;
  },
): ResponseParser {
  let buf = '';
  let failed = false;

  function feed(chunk: string): void {
    if (failed) return;
    buf = buf.length === 0 ? chunk : buf + chunk;
    for (;;) {
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const head = buf.slice(0, headEnd);
      const lines = head.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      if (!m) return fail(new Error(`Bad status line: ${JSON.stringify(lines[0])}`));
      const headers: Record<string, string> = {};
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number(m[1]);
      let bodyStart = headEnd + 4;
      let body: string;
      let next: number;
      if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
        const parts: string[] = [];
        let pos = bodyStart;
        let complete = false;
        for (;;) {
          const lineEnd = buf.indexOf('\r\n', pos);
          if (lineEnd === -1) break;
          const size = Number.parseInt(buf.slice(pos, lineEnd), 16);
          if (!Number.isFinite(size)) return fail(new Error('Bad chunk size.'));
          if (size === 0) {
            // Trailers (none expected) end with an empty line.
            const end = buf.indexOf('\r\n\r\n', lineEnd);
            const simpleEnd = buf.startsWith('\r\n', lineEnd + 2) ? lineEnd + 4 : -1;
            if (simpleEnd !== -1) next = simpleEnd;
            else if (end !== -1) next = end + 4;
            else break;
            complete = true;
            break;
          }
          const dataStart = lineEnd + 2;
          if (buf.length < dataStart + size + 2) break;
          parts.push(buf.slice(dataStart, dataStart + size));
          pos = dataStart + size + 2;
        }
        if (!complete) return;
        body = parts.join('');
        next = next!;
      } else {
        const length = headers['content-length'] === undefined ? 0 : Number(headers['content-length']);
        if (!Number.isInteger(length) || length < 0) return fail(new Error('Bad Content-Length.'));
        if (buf.length < bodyStart + length) return;
        body = buf.slice(bodyStart, bodyStart + length);
        next = bodyStart + length;
      }
      bodyStart = next;
      buf = bodyStart >= buf.length ? '' : buf.slice(bodyStart);
      onResponse({ status, headers, body });
    }
  }

  function fail(error: Error): void {
    failed = true;
    onError(error);
  }

  return { feed };
}
