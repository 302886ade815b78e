import { CastError, errorFromResponse } from '@cast/protocol';
import type { StreamResponse } from '../types.js';

/**
 * The error an answer to `GET /push/stream` stands for, or undefined when it
 * is a usable event stream. Non-2xx answers become the server's own
 * `CastError` (read from its JSON body, `Retry-After` included); a 2xx answer
 * that is not `text/event-stream` or has no body is a fatal `BAD_RESPONSE`
 * (a captive portal or a misrouted proxy will not heal by retrying).
 *
 * @param res - the response
 * @returns the error, or undefined
 * @example
 * ```ts
 * const err = await responseError(await fetch(url))
 * if (err) report(err)
 * ```
 */
export async function responseError(res: StreamResponse): Promise<CastError | undefined> {
  if (res.status < 200 || res.status > 299) {
    let body: unknown;
    try {
      body = JSON.parse(await res.text());
    } catch {
      // A proxy's HTML error page: the status alone decides.
    }
    const retryAfter = Number(res.headers.get('retry-after') ?? NaN);
    return errorFromResponse(res.status, body, Number.isFinite(retryAfter) ? retryAfter : undefined);
  }
  const type = res.headers.get('content-type') ?? '';
  if (!/^text\/event-stream\b/i.test(type) || !res.body) {
    return new CastError('BAD_RESPONSE', `Expected text/event-stream, got ${type || 'no content type'}.`, {
      status: res.status,
    });
  }
  return undefined;
}

/** The reader of a response body. */
export type BodyReader = ReturnType<NonNullable<StreamResponse['body']>['getReader']>;

/**
 * Reads a body to its end, handing each chunk as text to `onText`. Bytes are
 * decoded as UTF-8 across chunk boundaries; string chunks (an XHR transport)
 * pass through. A UTF-8 byte order mark at the start is dropped (the SSE spec
 * allows one). Stops quietly, without another callback, once `isCurrent()`
 * turns false.
 *
 * @param reader - the body's reader
 * @param onText - receives each decoded chunk
 * @param isCurrent - false once the caller has moved on (aborted, destroyed)
 * @returns resolves when the body ends; rejects when reading fails
 * @example
 * ```ts
 * await pump(res.body.getReader(), (text) => parser.feed(text), () => !closed)
 * ```
 */
export async function pump(
  reader: BodyReader,
  onText: (text: string) => void,
  isCurrent: () => boolean,
): Promise<void> {
  let decoder: TextDecoder | undefined;
  let first = true;
  for (;;) {
    const result = await reader.read();
    if (!isCurrent() || result.done) return;
    let text =
      typeof result.value === 'string'
        ? result.value
        : (decoder ??= new TextDecoder()).decode(result.value, { stream: true });
    // TextDecoder already drops a leading BOM from bytes; strings arrive with it kept.
    if (first && text.length > 0) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    onText(text);
  }
}
