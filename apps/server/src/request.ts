import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { getQueryParam } from 'hono/utils/url';
import { joinedHeader, nodeRequest } from './node-request.js';

/**
 * What a route reads of a request, whichever handler serves it: the plain
 * `node:http` handler of the hot routes (see `dispatch.ts`) or Hono (every
 * route, and `app.request()` in tests). The validation, auth and body code
 * take this, so both paths run the same checks with the same messages.
 *
 * @example
 * ```ts
 * const { tenant } = authenticate(config.keys, requestOf(c), 'secret')
 * ```
 */
export interface HttpRequest {
  /** The method, upper case. */
  readonly method: string;
  /**
   * One header by its lower-case name; a repeated header reads as its values
   * joined with ", ", as the Fetch `Headers` do.
   */
  header(name: string): string | undefined;
  /** One query parameter, decoded (the first when repeated), as Hono reads it. */
  query(name: string): string | undefined;
  /** The Node request, when Node serves this one; its body is read from here. */
  readonly incoming: IncomingMessage | undefined;
  /** The web body, when there is no Node request (`app.request()`, other runtimes). */
  readonly webBody: ReadableStream<Uint8Array> | null;
  /** Adds a header to the answer, whatever the answer turns out to be (e.g. `Connection: close`). */
  setAnswerHeader(name: string, value: string): void;
}

/**
 * The request of a Hono context.
 *
 * @param c - the request context
 * @returns a view reading the Node request when there is one, else the web `Request`
 * @example
 * ```ts
 * app.post('/publish', async (c) => c.json(await publishOne(deps, requestOf(c))))
 * ```
 */
export function requestOf(c: Context): HttpRequest {
  const incoming = nodeRequest(c);
  return {
    method: c.req.method,
    header: incoming ? (name) => joinedHeader(incoming.rawHeaders, name) : (name) => c.req.header(name),
    query: (name) => c.req.query(name),
    incoming,
    get webBody() {
      return c.req.raw.body;
    },
    setAnswerHeader: (name, value) => c.header(name, value),
  };
}

/**
 * A request served by the plain `node:http` handler. Headers set with
 * `setAnswerHeader` are collected in `answerHeaders` for the answer.
 *
 * @example
 * ```ts
 * const req = new NodeHttpRequest(incoming)
 * const { tenant } = authenticate(config.keys, req, 'secret')
 * ```
 */
export class NodeHttpRequest implements HttpRequest {
  /** Headers the answer must carry, set while the request was handled. */
  answerHeaders: Record<string, string> | undefined;
  private url: string | undefined;

  constructor(readonly incoming: IncomingMessage) {}

  get method(): string {
    return this.incoming.method ?? 'GET';
  }

  get webBody(): null {
    return null;
  }

  header(name: string): string | undefined {
    return joinedHeader(this.incoming.rawHeaders, name);
  }

  query(name: string): string | undefined {
    // Hono's reader, so both paths decode a query the same way; it expects an absolute URL.
    this.url ??= `http://h${this.incoming.url ?? '/'}`;
    return getQueryParam(this.url, name) as string | undefined;
  }

  setAnswerHeader(name: string, value: string): void {
    (this.answerHeaders ??= {})[name] = value;
  }
}
