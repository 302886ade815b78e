import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { ServerDeps } from './context.js';
import { corsHeaders } from './cors.js';
import { errorAnswer } from './errors.js';
import { NodeHttpRequest } from './request.js';
import { publishOne } from './routes/publish.js';
import { issueToken } from './routes/tokens.js';
import { serveStream } from './routes/stream.js';

/**
 * A hot route served without Hono: its JSON answer, `undefined` when it wrote
 * its own answer (a stream), or a throw that {@link errorAnswer} answers.
 */
type HotRoute = (req: NodeHttpRequest, res: ServerResponse) => Promise<unknown>;

/**
 * The one place that decides which handler serves a request. The hot routes
 * (publish, token issue, the stream) are served by plain `node:http` handlers
 * calling the same validation, auth and broker code as their Hono routes;
 * every other request, and any request these do not match exactly (another
 * method, a trailing slash, an encoded path), goes to Hono. Hono's request
 * and response wrappers and the promises around them cost a publish about
 * half of its time.
 *
 * Both paths answer errors through {@link errorAnswer} and add the same CORS
 * headers; preflights (`OPTIONS`) are Hono's.
 *
 * @param deps - the server's services
 * @param app - the Hono application for everything else
 * @returns the request listener for `http.createServer`
 * @example
 * ```ts
 * const server = http.createServer(httpServerOptions(config), createRequestListener(deps, createApp(deps)))
 * ```
 */
export function createRequestListener(deps: ServerDeps, app: Hono): RequestListener {
  const viaHono = getRequestListener(app.fetch, { hostname: deps.config.host });
  const allowed = deps.config.corsOrigins;
  const stream: HotRoute = (req, res) => serveStream(deps, req, res);
  /** Method → path → handler. */
  const routes = new Map<string, Map<string, HotRoute>>([
    [
      'POST',
      new Map<string, HotRoute>([
        ['/push/publish', (req) => publishOne(deps, req)],
        ['/push/tokens', (req) => issueToken(deps, req)],
      ]),
    ],
    ['GET', new Map([['/push/stream', stream]])],
    ['HEAD', new Map([['/push/stream', stream]])],
  ]);

  const answer = (
    req: NodeHttpRequest,
    res: ServerResponse,
    status: number,
    body: unknown,
    retryAfter?: string,
  ): void => {
    if (res.destroyed) return;
    // A stream that failed after its headers went out cannot be answered: end it; the client reconnects.
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
    };
    const origin = req.header('origin');
    if (origin !== undefined) Object.assign(headers, corsHeaders(allowed, origin));
    if (retryAfter !== undefined) headers['Retry-After'] = retryAfter;
    if (req.answerHeaders) Object.assign(headers, req.answerHeaders);
    res.writeHead(status, headers);
    res.end(text);
  };

  return function serveRequest(incoming: IncomingMessage, outgoing: ServerResponse): void {
    const route = routes.get(incoming.method ?? '')?.get(pathOf(incoming.url));
    if (!route) {
      void viaHono(incoming, outgoing);
      return;
    }
    const req = new NodeHttpRequest(incoming);
    route(req, outgoing).then(
      (body) => {
        if (body !== undefined) answer(req, outgoing, 200, body);
      },
      (err: unknown) => {
        const { status, body, retryAfter } = errorAnswer(err);
        answer(req, outgoing, status, body, retryAfter);
      },
    );
  };
}

/** The path of a request target, without its query. */
function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
