import {
  CastError,
  type EventMap,
  type PublishBatchResponse,
  type PublishRequest,
  type PublishResponse,
  type SessionInfo,
  type SessionsResponse,
  type TokenRequest,
  type TokenResponse,
} from '@cast/protocol';
import { send, type TransportConfig } from './http.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { signToken } from './sign.js';
import type { CastServerOptions, PublishEvent, PublishInput, RequestOptions, SessionsQuery } from './types.js';
import { checkPublishRequest, checkTokenRequest } from './validate.js';

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
   * @param request - channels, optional user id and lifetime (default 3600 s)
   * @param options - signal and deadline
   * @returns `{ token, expiresAt, channels }`
   * @example
   * ```ts
   * const { token, expiresAt } = await cast.tokens.create({ channels: ['orders'], ttlSeconds: 600 })
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
 * The Cast server SDK: issue tokens, publish events, list sessions. Runs
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
        return send<TokenResponse>(this.#transport, { method: 'POST', path: '/push/tokens', body }, callOptions);
      },
      sign: (request) =>
        signToken(request, {
          signingSecret: this.#options.signingSecret ?? '',
          tenant: this.#options.tenant ?? '',
        }),
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
