import { CastError, type CastErrorCode } from '@cast/protocol';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * Throws the one error type the server maps to a response.
 *
 * @param code - a code from the protocol's table
 * @param message - what went wrong and how to fix it
 */
export function fail(code: CastErrorCode, message: string, retryAfter?: number): never {
  throw new CastError(code, message, retryAfter === undefined ? {} : { retryAfter });
}

/**
 * The one place that turns an error into a response: `CastError`s keep their
 * code and status; anything else is logged and answered as a bare 500 with no
 * detail (never a stack trace).
 */
export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof CastError) {
    const status = (err.status >= 400 ? err.status : 500) as ContentfulStatusCode;
    if (err.retryAfter !== undefined) c.header('Retry-After', String(Math.ceil(err.retryAfter)));
    return c.json(err.toJSON(), status);
  }
  console.error('cast: unexpected error', err);
  return c.json({ error: { code: 'INTERNAL', message: 'The server failed; try again.' } }, 500);
}
