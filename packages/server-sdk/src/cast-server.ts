import {
  CastError,
  checkChannel,
  type ChannelInfo,
  type ChannelsResponse,
  type DisconnectResponse,
  type EventMap,
  type PresenceResponse,
  type PublishBatchResponse,
  type PublishRequest,
  type PublishResponse,
  type RevokeResponse,
  type SessionInfo,
  type SessionsResponse,
  type TokenRequest,
  type TokenResponse,
} from '@cast/protocol';
import { send, type TransportConfig } from './http.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { signToken } from './sign.js';
import type {
  CastServerOptions,
  ChannelsQuery,
  DisconnectRequest,
  PublishEvent,
  PublishInput,
  RequestOptions,
  RevokeRequest,
  SessionsQuery,
} from './types.js';
import { checkDisconnectRequest, checkPublishRequest, checkRevokeRequest, checkTokenRequest } from './validate.js';

/**
 * Stream tokens: issued by the server (`create`) or minted locally (`sign`).
 *
 * @example
 * ```ts
 * const { token } = await cast.tokens.create({ channels: ['user:42'], userId: '42' })
 * ```
 */
export interface Tokens {
  /**
   * Asks the server for a token (`POST /push/tokens`).
   *
   * @param request - channels, optional user id, lifetime (default 3600 s), `presence` (the stream
   *   receives `presence.*` events) and `userInfo` (what other members see, a JSON object of at most 1 KiB)
   * @param options - signal and deadline
   * @returns `{ token, expiresAt, channels, tokenId }`
   * @example
   * ```ts
   * const { token, expiresAt } = await cast.tokens.create({ channels: ['orders'], ttlSeconds: 600 })
   * const chat = await cast.tokens.create({ channels: ['room:1'], userId: 'u1', presence: true, userInfo: { name: 'Ada' } })
   * ```
   */
  create(request: TokenRequest, options?: RequestOptions): Promise<TokenResponse>;
  /**
   * Mints a token locally with the signing secret and tenant (no round trip);
   * the server accepts it like one of its own.
   *
   * @param request - channels, optional user id and lifetime (default 3600 s, at most 86400)
   * @returns `{ token, expiresAt, channels }`
   * @throws CastError `INVALID_OPTIONS` when the client has no signing secret or tenant
   * @example
   * ```ts
   * const { token } = await cast.tokens.sign({ channels: ['orders'] })
   * ```
   */
  sign(request: TokenRequest): Promise<TokenResponse>;
  /**
   * Revokes tokens (`POST /push/revoke`): every matching open stream, on every
   * node, gets a final `revoked` event and closes; later stream requests with a
   * matching token answer 401 `TOKEN_REVOKED`. Tokens issued afterwards work.
   *
   * @param request - exactly one of `{ userId }`, `{ tokenId }` or `{ issuedBefore, userId? }`
   * @param options - signal and deadline
   * @returns the server's answer: `{ revoked }`, the streams it ended across all nodes
   * @throws CastError `BAD_REQUEST` for no selector or two at once (without a request)
   * @example
   * ```ts
   * await cast.tokens.revoke({ userId: 'user_123' }) // "log out everywhere"
   * ```
   */
  revoke(request: RevokeRequest, options?: RequestOptions): Promise<RevokeResponse>;
}

/**
 * Who is present on a channel, across all nodes.
 *
 * @example
 * ```ts
 * const { members } = await cast.presence.get('room:1')
 * ```
 */
export interface Presence {
  /**
   * The members of a channel (`GET /push/presence?channel=C`): every user with
   * an open stream on it, with their `userInfo` and connection count.
   *
   * @param channel - the channel
   * @param options - signal and deadline
   * @returns `{ channel, members, connections }`
   * @example
   * ```ts
   * const { members, connections } = await cast.presence.get('room:1')
   * console.log(members.map((m) => m.userId), connections)
   * ```
   */
  get(channel: string, options?: RequestOptions): Promise<PresenceResponse>;
}

/**
 * The channels of your tenant that have at least one open stream (occupancy).
 *
 * @example
 * ```ts
 * for await (const c of cast.channels.all({ prefix: 'order:' })) console.log(c.channel, c.users)
 * ```
 */
export interface Channels {
  /**
   * One page of occupied channels (`GET /push/channels`), in name order, with
   * their connection and user counts.
   *
   * @param query - `prefix` to filter on, `cursor` of the previous page
   * @param options - signal and deadline
   * @returns `{ channels, cursor }`; `cursor` is null on the last page
   * @example
   * ```ts
   * const { channels, cursor } = await cast.channels.list({ prefix: 'order:' })
   * ```
   */
  list(query?: ChannelsQuery, options?: RequestOptions): Promise<ChannelsResponse>;
  /**
   * Every occupied channel, page after page (one request per page, made as
   * the loop reaches it).
   *
   * @param query - `prefix` to filter on
   * @param options - signal and deadline of each page's request
   * @returns the channels, one at a time
   * @example
   * ```ts
   * for await (const { channel, connections } of cast.channels.all()) console.log(channel, connections)
   * ```
   */
  all(query?: Omit<ChannelsQuery, 'cursor'>, options?: RequestOptions): AsyncIterable<ChannelInfo>;
}

/**
 * Open stream connections, closed from the backend.
 *
 * @example
 * ```ts
 * await cast.connections.disconnect({ userId: 'user_123', reconnect: false })
 * ```
 */
export interface Connections {
  /**
   * Closes streams (`POST /push/disconnect`) with a final `disconnected`
   * event: with `reconnect: true` the client reconnects (picking up new
   * grants), with `false` (the server's default) it stops.
   *
   * @param request - `{ userId }` or `{ sessionId }`, optional `channel` and `reconnect`
   * @param options - signal and deadline
   * @returns `{ disconnected }`, the streams closed across all nodes
   * @throws CastError `BAD_REQUEST` for no selector or two at once (without a request)
   * @example
   * ```ts
   * const { disconnected } = await cast.connections.disconnect({ sessionId: 'sess_1' })
   * ```
   */
  disconnect(request: DisconnectRequest, options?: RequestOptions): Promise<DisconnectResponse>;
}

function checkCount(answer: object, field: 'revoked' | 'disconnected', path: string): void {
  if (typeof (answer as Record<string, unknown>)[field] !== 'number') {
    throw new CastError('BAD_RESPONSE', `The server answered ${path} without a "${field}" count.`);
  }
}

/**
 * Active stream connections of your tenant.
 *
 * @example
 * ```ts
 * const sessions = await cast.sessions.list({ channel: 'orders' })
 * ```
 */
export interface Sessions {
  /**
   * Lists the active stream connections that receive a channel, or that
   * belong to a user (`GET /push/sessions`).
   *
   * @param query - `{ channel }` or `{ userId }`
   * @param options - signal and deadline
   * @returns the sessions (the `sessions` array of the server's answer)
   * @example
   * ```ts
   * for (const s of await cast.sessions.list({ userId: 'user_123' })) console.log(s.id, s.connectedAt)
   * ```
   */
  list(query: SessionsQuery, options?: RequestOptions): Promise<SessionInfo[]>;
}

function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

/**
 * The Cast server SDK: issue and revoke tokens, publish events, see sessions,
 * presence and occupied channels, close streams. Runs
 * wherever `fetch` does (Node, Deno, Bun, Workers, browsers for testing).
 *
 * Give `Events` (a map of event names to payload types) to have `publish`
 * check names and payloads at compile time.
 *
 * @typeParam Events - event name → `data` type
 * @example
 * ```ts
 * type Events = { 'order.created': { id: string; total: number } }
 * const cast = new CastServer<Events>({ apiKey: process.env.CAST_API_KEY, baseUrl: 'http://localhost:8080' })
 * const { token } = await cast.tokens.create({ channels: ['orders'] })
 * await cast.publish({ channel: 'orders', event: 'order.created', data: { id: 'a1', total: 4999 } })
 * ```
 */
export class CastServer<Events extends EventMap = EventMap> {
  /** Stream tokens. */
  readonly tokens: Tokens;
  /** Active stream connections. */
  readonly sessions: Sessions;
  /** Who is present on a channel. */
  readonly presence: Presence;
  /** Occupied channels. */
  readonly channels: Channels;
  /** Closing streams from the backend. */
  readonly connections: Connections;
  readonly #options: ResolvedOptions;
  readonly #transport: TransportConfig;

  /**
   * @param options - API key, base URL and the rest; missing ones are read from
   *   `CAST_API_KEY`, `CAST_URL`, `CAST_SIGNING_SECRET` and `CAST_TENANT`
   * @throws CastError `INVALID_OPTIONS` without an API key or base URL, or with malformed options
   */
  constructor(options: CastServerOptions = {}) {
    this.#options = resolveOptions(options);
    const { baseUrl, apiKey, fetch, timeoutMs, retries } = this.#options;
    this.#transport = { baseUrl, apiKey, fetch, timeoutMs, retries };

    this.tokens = {
      create: async (request, callOptions) => {
        checkTokenRequest(request, false);
        const body: TokenRequest = { channels: request.channels };
        if (request.userId !== undefined) body.userId = request.userId;
        if (request.ttlSeconds !== undefined) body.ttlSeconds = request.ttlSeconds;
        if (request.presence !== undefined) body.presence = request.presence;
        if (request.userInfo !== undefined) body.userInfo = request.userInfo;
        return send<TokenResponse>(this.#transport, { method: 'POST', path: '/push/tokens', body }, callOptions);
      },
      sign: (request) =>
        signToken(request, {
          signingSecret: this.#options.signingSecret ?? '',
          tenant: this.#options.tenant ?? '',
        }),
      revoke: async (request, callOptions) => {
        const body = checkRevokeRequest(request);
        const answer = await send<RevokeResponse>(
          this.#transport,
          { method: 'POST', path: '/push/revoke', body },
          callOptions,
        );
        checkCount(answer, 'revoked', '/push/revoke');
        return answer;
      },
    };

    this.presence = {
      get: async (channel, callOptions) => {
        checkChannel(channel);
        const answer = await send<PresenceResponse>(
          this.#transport,
          { method: 'GET', path: '/push/presence', query: { channel } },
          callOptions,
        );
        if (!Array.isArray(answer.members)) {
          throw new CastError('BAD_RESPONSE', 'The server answered /push/presence without a members array.');
        }
        return answer;
      },
    };

    const listChannels = async (query: ChannelsQuery = {}, callOptions?: RequestOptions): Promise<ChannelsResponse> => {
      const { prefix, cursor } = query ?? {};
      if (prefix !== undefined && typeof prefix !== 'string')
        throw new CastError('BAD_REQUEST', 'prefix must be a string.');
      if (cursor !== undefined && typeof cursor !== 'string')
        throw new CastError('BAD_REQUEST', 'cursor must be a string.');
      const answer = await send<ChannelsResponse>(
        this.#transport,
        { method: 'GET', path: '/push/channels', query: { prefix, cursor } },
        callOptions,
      );
      if (!Array.isArray(answer.channels) || (answer.cursor !== null && typeof answer.cursor !== 'string')) {
        throw new CastError(
          'BAD_RESPONSE',
          'The server answered /push/channels without a channels array and a cursor.',
        );
      }
      return answer;
    };
    this.channels = {
      list: listChannels,
      all: async function* all(query = {}, callOptions) {
        const seen = new Set<string>();
        let cursor: string | undefined;
        do {
          const page = await listChannels({ ...query, ...(cursor === undefined ? {} : { cursor }) }, callOptions);
          yield* page.channels;
          cursor = page.cursor ?? undefined;
          // A server that hands out a cursor twice would loop forever.
          if (cursor !== undefined) {
            if (seen.has(cursor))
              throw new CastError('BAD_RESPONSE', 'The server answered /push/channels with a cursor it gave before.');
            seen.add(cursor);
          }
        } while (cursor !== undefined);
      },
    };

    this.connections = {
      disconnect: async (request, callOptions) => {
        const body = checkDisconnectRequest(request);
        const answer = await send<DisconnectResponse>(
          this.#transport,
          { method: 'POST', path: '/push/disconnect', body },
          callOptions,
        );
        checkCount(answer, 'disconnected', '/push/disconnect');
        return answer;
      },
    };

    this.sessions = {
      list: async (query, callOptions) => {
        const channel = query?.channel;
        const userId = query?.userId;
        if (channel === undefined && userId === undefined) {
          throw new CastError('INVALID_OPTIONS', 'sessions.list needs { channel } or { userId }.');
        }
        const answer = await send<SessionsResponse>(
          this.#transport,
          { method: 'GET', path: '/push/sessions', query: { channel, userId } },
          callOptions,
        );
        if (!Array.isArray(answer.sessions)) {
          throw new CastError('BAD_RESPONSE', 'The server answered /push/sessions without a sessions array.');
        }
        return answer.sessions;
      },
    };
  }

  /**
   * Whether {@link Tokens.sign} can mint tokens: a signing secret and a tenant are configured.
   *
   * @example
   * ```ts
   * const issued = cast.canSignLocally ? await cast.tokens.sign(req) : await cast.tokens.create(req)
   * ```
   */
  get canSignLocally(): boolean {
    return this.#options.signingSecret !== undefined && this.#options.tenant !== undefined;
  }

  /**
   * Publishes one event to a channel (`POST /push/publish`). Every publish
   * carries an idempotency key (yours, or a generated UUID) in the body and the
   * `Idempotency-Key` header, identical on every retry, so the server delivers
   * the event once however often the call is retried.
   *
   * @param event - `{ channel, event, data, idempotencyKey? }`
   * @param options - signal and deadline
   * @returns `{ messageId, eventId, delivered, creditsUsed, duplicate? }`
   * @example
   * ```ts
   * const { delivered } = await cast.publish({ channel: 'order:abc123', event: 'status.changed', data: { status: 'shipped' } })
   * ```
   */
  async publish<E extends keyof Events & string>(
    event: PublishInput<Events, E>,
    options?: RequestOptions,
  ): Promise<PublishResponse> {
    const body = this.#prepare(event);
    return send<PublishResponse>(
      this.#transport,
      {
        method: 'POST',
        path: '/push/publish',
        body,
        headers: { 'idempotency-key': body.idempotencyKey },
      },
      options,
    );
  }

  /**
   * Publishes many events in one request (`POST /push/publish/batch`, at most
   * 100 by default). The server checks the whole batch first: one bad event
   * fails the call and publishes nothing. Each event gets its own idempotency
   * key, so a retried batch is delivered once.
   *
   * @param events - the events, published in order
   * @param options - signal and deadline
   * @returns one result per event, in order
   * @example
   * ```ts
   * const results = await cast.publishBatch([
   *   { channel: 'orders', event: 'order.created', data: { id: 'a1' } },
   *   { channel: 'orders', event: 'order.created', data: { id: 'a2' } },
   * ])
   * ```
   */
  async publishBatch(events: PublishEvent<Events>[], options?: RequestOptions): Promise<PublishResponse[]> {
    if (!Array.isArray(events) || events.length === 0) {
      throw new CastError('BAD_REQUEST', 'publishBatch needs a non-empty array of events.');
    }
    const body = { events: events.map((event) => this.#prepare(event)) };
    const answer = await send<PublishBatchResponse>(
      this.#transport,
      { method: 'POST', path: '/push/publish/batch', body },
      options,
    );
    if (!Array.isArray(answer.results)) {
      throw new CastError('BAD_RESPONSE', 'The server answered /push/publish/batch without a results array.');
    }
    return answer.results;
  }

  #prepare(event: PublishRequest): PublishRequest & { idempotencyKey: string } {
    checkPublishRequest(event);
    return {
      channel: event.channel,
      event: event.event,
      data: event.data,
      idempotencyKey: event.idempotencyKey ?? newIdempotencyKey(),
    };
  }
}
