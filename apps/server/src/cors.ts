import type { Context, MiddlewareHandler, Next } from 'hono';
import { requestHeader } from './node-request.js';

const ALLOW_HEADERS = 'Authorization, Content-Type, Last-Event-ID, Idempotency-Key, apikey';
const EXPOSE_HEADERS = 'Retry-After';

/**
 * The CORS headers for a request's `Origin`, or none when it is not allowed.
 * Browsers then open the stream from another origin with `Authorization` and
 * `Last-Event-ID` headers (no cookies are used, so no credentials mode).
 */
export function corsHeaders(allowed: readonly string[], origin: string | undefined): Record<string, string> {
  if (!origin) return {};
  if (allowed.includes('*'))
    return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': EXPOSE_HEADERS };
  if (!allowed.includes(origin)) return {};
  return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': EXPOSE_HEADERS, Vary: 'Origin' };
}

/**
 * Answers preflights and adds CORS headers to every answer.
 *
 * @param allowed - the allowed origins, or `*`
 * @returns the middleware
 * @example
 * ```ts
 * app.use('*', cors(config.corsOrigins))
 * ```
 */
export function cors(allowed: readonly string[]): MiddlewareHandler {
  const withOrigin = async (c: Context, next: Next, origin: string | undefined): Promise<Response | void> => {
    const headers = corsHeaders(allowed, origin);
    if (c.req.method === 'OPTIONS' && requestHeader(c, 'access-control-request-method')) {
      if (!headers['Access-Control-Allow-Origin']) return c.body(null, 403);
      return c.body(null, 204, {
        ...headers,
        'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
        'Access-Control-Allow-Headers': ALLOW_HEADERS,
        'Access-Control-Max-Age': '600',
      });
    }
    await next();
    // A stream answered on the Node response itself (RESPONSE_ALREADY_SENT, one shared object)
    // already carries its CORS headers; never write into that shared response.
    if (c.res.headers.has('x-hono-already-sent')) return;
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  };
  return function corsMiddleware(c, next) {
    const origin = requestHeader(c, 'origin');
    // Most requests (backends publishing, same-origin streams) carry no Origin and get no CORS
    // headers: hand them straight on, without another promise around the rest of the chain.
    if (origin === undefined && c.req.method !== 'OPTIONS') return next();
    return withOrigin(c, next, origin);
  };
}
