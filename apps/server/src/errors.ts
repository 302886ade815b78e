import { CastError, type CastErrorCode, type ErrorBody } from '@cast/protocol';
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

/** What an error is answered with, by whichever handler served the request. */
export interface ErrorAnswer {
  status: number;
  body: ErrorBody;
  /** `Retry-After`, when the error says when to try again. */
  retryAfter?: string;
}

/**
 * The one place that decides how an error is answered: `CastError`s keep
 * their code and status; a client that went away mid-request is answered (to
 * no one) without a log line; anything else is logged and answered as a bare
 * 500 with no detail (never a stack trace).
 *
 * @param err - what was thrown
 * @returns the status, JSON body and `Retry-After` of the answer
 * @example
 * ```ts
 * const { status, body } = errorAnswer(new CastError('NOT_FOUND', 'No such route.')) // 404
 * ```
 */
export function errorAnswer(err: unknown): ErrorAnswer {
  if (err instanceof CastError) {
    const answer: ErrorAnswer = { status: err.status >= 400 ? err.status : 500, body: err.toJSON() };
    if (err.retryAfter !== undefined) answer.retryAfter = String(Math.ceil(err.retryAfter));
    return answer;
  }
  // An aborted upload is the client's choice, not a server error: no log line, no stack trace.
  if (err instanceof ClientGoneError)
    return { status: 400, body: { error: { code: 'BAD_REQUEST', message: err.message } } };
  console.error('cast: unexpected error', err);
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'The server failed; try again.' } } };
}

/**
 * Answers an error under Hono, as {@link errorAnswer} decides.
 *
 * @param c - the request context
 * @param err - what was thrown
 * @returns the JSON error response
 * @example
 * ```ts
 * app.onError((err, c) => errorResponse(c, err))
 * ```
 */
export function errorResponse(c: Context, err: unknown): Response {
  const { status, body, retryAfter } = errorAnswer(err);
  if (retryAfter !== undefined) c.header('Retry-After', retryAfter);
  return c.json(body, status as ContentfulStatusCode);
}
