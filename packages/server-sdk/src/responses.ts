/**
 * JSON answers of the fetch-style handlers (tokens, webhooks): one shape for
 * success and the protocol's `{"error":{"code","message"}}` for failures.
 */
import type { CastError } from '@cast/protocol';

/**
 * A JSON response that no cache keeps.
 *
 * @param status - the HTTP status
 * @param body - serialized as JSON
 * @param headers - extra headers
 * @returns the response
 * @example
 * ```ts
 * return json(200, { ok: true })
 * ```
 */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

/**
 * The error answer of a `CastError`: its status, its JSON body, and
 * `Retry-After` when it carries one.
 *
 * @param error - the error
 * @returns the response
 * @example
 * ```ts
 * return errorResponse(new CastError('UNAUTHORIZED', 'Sign in.'))
 * ```
 */
export function errorResponse(error: CastError): Response {
  const headers: Record<string, string> = {};
  if (error.retryAfter !== undefined) headers['retry-after'] = String(Math.ceil(error.retryAfter));
  return json(error.status, error.toJSON(), headers);
}
