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
 * The client closed its connection before the request was read (it aborted
 * its upload, or the server timed the request out and closed it). Nobody is
 * left to answer, and nothing failed on the server: it is not logged.
 */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';

  constructor(options?: { cause?: unknown }) {
    super('The client went away before sending the whole body.', options);
  }
}

/**
 * The one place that turns an error into a response: `CastError`s keep their
 * code and status; a client that went away mid-request is answered (to no
 * one) without a log line; anything else is logged and answered as a bare 500
 * with no detail (never a stack trace).
 */
export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof CastError) {
    const status = (err.status >= 400 ? err.status : 500) as ContentfulStatusCode;
    if (err.retryAfter !== undefined) c.header('Retry-After', String(Math.ceil(err.retryAfter)));
    return c.json(err.toJSON(), status);
  }
  // An aborted upload is the client's choice, not a server error: no log line, no stack trace.
  if (err instanceof ClientGoneError) return c.json({ error: { code: 'BAD_REQUEST', message: err.message } }, 400);
  console.error('cast: unexpected error', err);
  return c.json({ error: { code: 'INTERNAL', message: 'The server failed; try again.' } }, 500);
}
