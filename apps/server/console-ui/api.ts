import { CastError, errorFromResponse, isCastError } from '@cast/protocol';
import type { DisconnectResponse, PublishResponse, SessionInfo, SessionsResponse, TokenResponse } from '@cast/protocol';

/** The calls the console makes, all to the server that served it, with the signed-in key. */
export interface ConsoleApi {
  /** A stream token; with `presence`, its stream also carries the channels' `presence.*` events. */
  issueToken(channels: readonly string[], userId?: string, presence?: boolean): Promise<TokenResponse>;
  publish(body: { channel: string; event: string; data: unknown }): Promise<PublishResponse>;
  /** The sessions on any of `channels`, or undefined when this server has no sessions listing. */
  listSessions(channels: readonly string[]): Promise<SessionInfo[] | undefined>;
  /** Closes one stream (`POST /push/disconnect`); `reconnect` tells its client whether to come back. */
  disconnect(sessionId: string, reconnect: boolean): Promise<DisconnectResponse>;
}

/**
 * Creates the console's API over relative URLs: the key is sent only to the
 * origin the page came from (the page's CSP `connect-src 'self'` enforces it).
 *
 * @param apiKey - the secret key the user signed in with
 * @returns the calls
 * @example
 * ```ts
 * const { token } = await createConsoleApi(key).issueToken(['orders'])
 * ```
 */
export function createConsoleApi(apiKey: string): ConsoleApi {
  const call = async <T>(path: string, init: { method: 'GET' | 'POST'; body?: unknown }): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(path, {
        method: init.method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        cache: 'no-store',
      });
    } catch (cause) {
      throw new CastError('NETWORK_ERROR', 'The server cannot be reached.', { cause });
    }
    const body: unknown = await res.json().catch(() => undefined);
    if (!res.ok) {
      const retryAfter = Number(res.headers.get('retry-after'));
      throw errorFromResponse(res.status, body, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
    }
    return body as T;
  };

  return {
    issueToken: (channels, userId, presence) =>
      call<TokenResponse>('/push/tokens', {
        method: 'POST',
        body: { channels, ...(userId ? { userId } : {}), ...(presence ? { presence: true } : {}) },
      }),
    disconnect: (sessionId, reconnect) =>
      call<DisconnectResponse>('/push/disconnect', { method: 'POST', body: { sessionId, reconnect } }),
    publish: (body) => call<PublishResponse>('/push/publish', { method: 'POST', body }),
    async listSessions(channels) {
      const byId = new Map<string, SessionInfo>();
      try {
        for (const channel of channels) {
          const res = await call<SessionsResponse>(`/push/sessions?channel=${encodeURIComponent(channel)}`, {
            method: 'GET',
          });
          for (const s of res.sessions) byId.set(s.id, s);
        }
      } catch (err) {
        if (isCastError(err) && (err.status === 404 || err.status === 405)) return undefined;
        throw err;
      }
      return [...byId.values()].sort((a, b) => a.connectedAt.localeCompare(b.connectedAt));
    },
  };
}

/**
 * A message a person can act on, for any error the console meets.
 *
 * @param err - what was caught or reported
 * @returns one or two sentences
 * @example
 * ```ts
 * show(describeError(new CastError('INVALID_API_KEY', '…'))) // "This server does not know that API key. …"
 * ```
 */
export function describeError(err: unknown): string {
  if (!isCastError(err)) return err instanceof Error ? err.message : String(err);
  switch (err.code) {
    case 'INVALID_API_KEY':
    case 'UNAUTHORIZED':
      return 'This server does not know that API key. Use a secret key from CAST_API_KEYS, or the development key the server printed when it started.';
    case 'FORBIDDEN':
      return 'This key is read-only. The console needs a secret key: it issues tokens and publishes.';
    case 'NETWORK_ERROR':
      return 'The server cannot be reached. Is it running?';
    case 'RATE_LIMITED':
      return `Rate limited: ${err.message}${err.retryAfter ? ` Try again in ${err.retryAfter} s.` : ''}`;
    default:
      return err.message;
  }
}

/** Whether an error means the key itself is wrong (so the console signs out). */
export function isKeyError(err: unknown): boolean {
  return (
    isCastError(err) && (err.code === 'INVALID_API_KEY' || err.code === 'UNAUTHORIZED' || err.code === 'FORBIDDEN')
  );
}
