import type { EventMap } from '@cast/protocol';

/**
 * A `fetch`-compatible function. Pass your own to add tracing, a proxy or a
 * mock; the global `fetch` of the runtime is used otherwise.
 *
 * @example
 * ```ts
 * const cast = new CastServer({ apiKey, baseUrl, fetch: (url, init) => fetch(url, init) })
 * ```
 */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * The optional last argument of every call that goes over the network.
 *
 * @example
 * ```ts
 * await cast.publish(event, { signal: AbortSignal.timeout(2000) })
 * ```
 */
export interface RequestOptions {
  /** Ends the call at once with an `ABORTED` error when it aborts. */
  signal?: AbortSignal;
  /**
   * Deadline of the whole call (every attempt and the waits between them),
   * milliseconds; past it the call fails with `TIMEOUT`.
   * @defaultValue the client's `timeoutMs`
   */
  timeoutMs?: number;
}

/**
 * Options of {@link CastServer}. Each one left out is read from the
 * environment when the runtime has one (`process.env`).
 *
 * @example
 * ```ts
 * new CastServer({ apiKey: 'sk_…', baseUrl: 'http://localhost:8080' })
 * ```
 */
export interface CastServerOptions {
  /** Secret API key. @defaultValue `CAST_API_KEY` from the environment */
  apiKey?: string;
  /** The Cast server's base URL, e.g. `http://localhost:8080`. @defaultValue `CAST_URL` from the environment */
  baseUrl?: string;
  /**
   * The server's token signing secret; enables {@link Tokens.sign} (tokens
   * minted locally, no round trip). @defaultValue `CAST_SIGNING_SECRET` from the environment
   */
  signingSecret?: string;
  /** The tenant your API key belongs to; needed by {@link Tokens.sign}. @defaultValue `CAST_TENANT` from the environment */
  tenant?: string;
  /** The fetch to use. @defaultValue the global `fetch` */
  fetch?: FetchLike;
  /** Deadline of each call, milliseconds (see {@link RequestOptions.timeoutMs}). @defaultValue 10000 */
  timeoutMs?: number;
  /** Retries after the first attempt, on network errors, 408, 429 and 5xx. @defaultValue 2 */
  retries?: number;
}

/**
 * One event to publish, checked against the client's event map: `event` must
 * be one of its names and `data` that name's type.
 *
 * @example
 * ```ts
 * type Events = { 'order.created': { id: string } }
 * const input: PublishInput<Events, 'order.created'> = { channel: 'orders', event: 'order.created', data: { id: 'a1' } }
 * ```
 */
export interface PublishInput<Events extends EventMap, E extends keyof Events & string> {
  /** The channel to publish to. */
  channel: string;
  /** The event name. */
  event: E;
  /** The payload: any JSON value, of the type the event map gives the name. */
  data: Events[E];
  /**
   * Deduplicates retries: the server delivers one event per key within its
   * idempotency window (24 h by default). Generated when left out.
   */
  idempotencyKey?: string;
}

/**
 * Any one event of an event map, as a union so that a batch checks each
 * element's `data` against its own `event`.
 *
 * @example
 * ```ts
 * const events: PublishEvent<Events>[] = [{ channel: 'orders', event: 'order.created', data: { id: 'a1' } }]
 * ```
 */
export type PublishEvent<Events extends EventMap> = {
  [E in keyof Events & string]: PublishInput<Events, E>;
}[keyof Events & string];

/**
 * Which sessions to list: those receiving a channel, or those of a user.
 *
 * @example
 * ```ts
 * await cast.sessions.list({ userId: 'user_123' })
 * ```
 */
export type SessionsQuery =
  | {
      /** The channel whose sessions to list. */
      channel: string;
      /** Not with `channel`: one or the other. */
      userId?: undefined;
    }
  | {
      /** The user whose sessions to list. */
      userId: string;
      /** Not with `userId`: one or the other. */
      channel?: undefined;
    };

/**
 * Which tokens to revoke (`POST /push/revoke`): all of a user's, one token by
 * its id, or every token issued before a time (optionally only a user's).
 * Tokens issued after the revocation are not affected.
 *
 * @example
 * ```ts
 * await cast.tokens.revoke({ userId: 'user_123' })
 * await cast.tokens.revoke({ tokenId })
 * await cast.tokens.revoke({ issuedBefore: new Date(), userId: 'user_123' })
 * ```
 */
export type RevokeRequest =
  | {
      /** Revokes every token of this user issued up to now. */
      userId: string;
      /** Not with `userId` alone: one selector. */
      tokenId?: undefined;
      /** Not with `userId` alone: one selector. */
      issuedBefore?: undefined;
    }
  | {
      /** Revokes one token: the `tokenId` of `tokens.create` / `tokens.sign` (its `jti`). */
      tokenId: string;
      /** Not with `tokenId`: one selector. */
      userId?: undefined;
      /** Not with `tokenId`: one selector. */
      issuedBefore?: undefined;
    }
  | {
      /** Revokes the tokens issued before this time (a `Date` or an ISO 8601 string). */
      issuedBefore: Date | string;
      /** Only this user's tokens. */
      userId?: string;
      /** Not with `issuedBefore`: one selector. */
      tokenId?: undefined;
    };

/**
 * Which streams to close (`POST /push/disconnect`): a user's or one session,
 * optionally only on one channel, telling the client whether to reconnect.
 *
 * @example
 * ```ts
 * await cast.connections.disconnect({ userId: 'user_123', reconnect: false })
 * await cast.connections.disconnect({ sessionId: 'sess_1', channel: 'orders' })
 * ```
 */
export type DisconnectRequest = (
  | {
      /** Closes every stream of this user. */
      userId: string;
      /** Not with `userId`: one or the other. */
      sessionId?: undefined;
    }
  | {
      /** Closes one stream (an `id` from `sessions.list`). */
      sessionId: string;
      /** Not with `sessionId`: one or the other. */
      userId?: undefined;
    }
) & {
  /** Only the streams that receive this channel. */
  channel?: string;
  /**
   * Whether the client reconnects (to pick up new grants, say) or stops for good.
   * @defaultValue `false` (the server's default): the client stops
   */
  reconnect?: boolean;
};

/**
 * Which occupied channels to list (`GET /push/channels`).
 *
 * @example
 * ```ts
 * const page = await cast.channels.list({ prefix: 'order:' })
 * const next = page.cursor ? await cast.channels.list({ prefix: 'order:', cursor: page.cursor }) : undefined
 * ```
 */
export interface ChannelsQuery {
  /** Only the channels whose name starts with this. */
  prefix?: string;
  /** The `cursor` of the previous page. */
  cursor?: string;
}
