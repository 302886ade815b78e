import { CastError, isCastError, type EventMap, type TokenRequest } from '@cast/protocol';
import type { CastServer } from './cast-server.js';
import { errorResponse, json } from './responses.js';

/**
 * What `authorize` decides for a request: the token to issue, `null` (or
 * `undefined`) when the caller is not signed in (401), `false` when it is
 * signed in but may not have a token (403).
 *
 * @example
 * ```ts
 * const decide = (user?: { id: string; banned: boolean }): AuthorizeResult =>
 *   !user ? null : user.banned ? false : { channels: [`user:${user.id}`], userId: user.id }
 * ```
 */
export type AuthorizeResult = TokenRequest | null | undefined | false;

/**
 * Options of {@link createTokenHandler}.
 *
 * @example
 * ```ts
 * const options: TokenHandlerOptions = { cast, authorize: async (req) => ({ channels: ['announcements'] }) }
 * ```
 */
export interface TokenHandlerOptions<Events extends EventMap = EventMap> {
  /** The client that issues the tokens: locally signed when it can, else by the server. */
  cast: CastServer<Events>;
  /**
   * Your own user check, run for every request: return the channels (and user
   * id, lifetime) this caller may receive, `null` for 401, `false` for 403. A
   * thrown `CastError` with a 4xx status is answered with its code and status.
   */
  authorize: (request: Request) => AuthorizeResult | Promise<AuthorizeResult>;
  /**
   * Told about every failure to issue a token (the caller only sees a generic
   * 500/503), so you can log it.
   */
  onError?: (error: unknown) => void;
}

/**
 * Builds a Fetch-API handler for the "my browser asks my backend for a token"
 * flow: it runs your `authorize(request)` and answers the token as JSON
 * (`{ token, expiresAt, channels }`), or a JSON error. It uses only `Request`
 * and `Response`, so it plugs into Hono, Next.js route handlers, Cloudflare
 * Workers, Deno and Bun as is. Answers carry `Cache-Control: no-store`.
 *
 * Errors while issuing (a wrong API key, the server down) are the backend's
 * problem, not the browser's: they are answered as 500 `INTERNAL` (503
 * `UNAVAILABLE` when retryable) without details, and passed to `onError`.
 *
 * @param options - the client and your user check
 * @returns the request handler
 * @example
 * ```ts
 * // Next.js: app/api/cast-token/route.ts
 * export const POST = createTokenHandler({
 *   cast,
 *   authorize: async (req) => {
 *     const user = await userFromSession(req)
 *     return user ? { channels: [`user:${user.id}`, 'announcements'], userId: user.id } : null
 *   },
 * })
 * ```
 */
export function createTokenHandler<Events extends EventMap = EventMap>(
  options: TokenHandlerOptions<Events>,
): (request: Request) => Promise<Response> {
  const { cast, authorize, onError } = options ?? ({} as TokenHandlerOptions<Events>);
  if (typeof cast !== 'object' || cast === null || typeof cast.tokens?.create !== 'function') {
    throw new CastError('INVALID_OPTIONS', 'createTokenHandler needs { cast }, a CastServer.');
  }
  if (typeof authorize !== 'function') {
    throw new CastError('INVALID_OPTIONS', 'createTokenHandler needs { authorize }, a function of the request.');
  }

  return async function castTokenHandler(request: Request): Promise<Response> {
    let grant: AuthorizeResult;
    try {
      grant = await authorize(request);
    } catch (error) {
      if (isCastError(error) && error.status >= 400 && error.status < 500) return errorResponse(error);
      onError?.(error);
      return errorResponse(new CastError('INTERNAL', 'Could not authorize the request.'));
    }
    if (grant === null || grant === undefined) {
      return errorResponse(new CastError('UNAUTHORIZED', 'Sign in to receive realtime updates.'));
    }
    if (grant === false) {
      return errorResponse(new CastError('FORBIDDEN', 'Not allowed to receive realtime updates.'));
    }
    try {
      const issued = cast.canSignLocally
        ? await cast.tokens.sign(grant)
        : await cast.tokens.create(grant, { signal: request.signal });
      return json(200, issued);
    } catch (error) {
      onError?.(error);
      if (isCastError(error) && error.retryable) {
        const unavailable = new CastError('UNAVAILABLE', 'Could not issue a token; try again shortly.', {
          ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
        });
        return errorResponse(unavailable);
      }
      return errorResponse(new CastError('INTERNAL', 'Could not issue a token.'));
    }
  };
}
