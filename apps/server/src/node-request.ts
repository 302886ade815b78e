import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';

/**
 * The Node request under a context, when `@hono/node-server` serves it;
 * `undefined` under `app.request()` and other runtimes, which only have the
 * web `Request`.
 *
 * Reading headers or the body from it directly spares the adapter building a
 * web `Request` (its `Headers`, a `ReadableStream` over the body and an
 * `AbortSignal`), which cost a publish a fifth of its time (issue 8).
 *
 * @param c - the request context
 * @returns the `IncomingMessage`, or undefined
 * @example
 * ```ts
 * const incoming = nodeRequest(c)
 * if (incoming) incoming.on('data', onChunk)
 * ```
 */
export function nodeRequest(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/**
 * The Node response under a context, when `@hono/node-server` serves it (see
 * {@link nodeRequest}); a stream writes to it directly.
 *
 * @param c - the request context
 * @returns the `ServerResponse`, or undefined
 * @example
 * ```ts
 * const outgoing = outgoingOf(c)
 * if (outgoing) outgoing.writeHead(200, headers)
 * ```
 */
export function outgoingOf(c: Context): ServerResponse | undefined {
  return (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
}

/**
 * One request header, from the Node request when there is one, else from the
 * web `Request`. Either way a repeated header reads as its values joined with
 * ", ", as the Fetch `Headers` do (Node's own `headers` object would keep only
 * the first `Authorization` or `Content-Type`).
 *
 * @param c - the request context
 * @param name - the header name, in lower case
 * @returns the value, or undefined when the request has no such header
 * @example
 * ```ts
 * const key = requestHeader(c, 'idempotency-key')
 * ```
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = nodeRequest(c);
  return incoming ? joinedHeader(incoming.rawHeaders, name) : c.req.header(name);
}

/**
 * One header of a Node request's `rawHeaders`, its repeats joined with ", "
 * (see {@link requestHeader}).
 *
 * @param raw - the request's `rawHeaders`
 * @param name - the header name, in lower case
 * @returns the value, or undefined when there is no such header
 * @example
 * ```ts
 * joinedHeader(['Accept', 'a', 'accept', 'b'], 'accept') // 'a, b'
 * ```
 */
export function joinedHeader(raw: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i] as string;
    if (key.length === name.length && key.toLowerCase() === name) {
      const v = raw[i + 1] as string;
      value = value === undefined ? v : `${value}, ${v}`;
    }
  }
  return value;
}
