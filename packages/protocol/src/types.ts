/**
 * Body of `POST /push/tokens`.
 *
 * @example
 * ```ts
 * const request: TokenRequest = { channels: ['user:user_123'], userId: 'user_123', ttlSeconds: 900 }
 * ```
 */
export interface TokenRequest {
  /** Channels the token may read. */
  channels: string[];
  /** Tags the token (and its stream sessions) with a user id. */
  userId?: string;
  /** Lifetime in seconds. @defaultValue 3600 */
  ttlSeconds?: number;
  /** Whether the stream receives the presence events (`presence.*`) of its channels. @defaultValue false */
  presence?: boolean;
  /** What other members see about this user: a JSON object, at most 1 KiB serialized. */
  userInfo?: Record<string, unknown>;
}

/**
 * Answer of `POST /push/tokens`.
 *
 * @example
 * ```ts
 * const { token }: TokenResponse = await res.json()
 * new EventSource(`${url}/push/stream?token=${encodeURIComponent(token)}`)
 * ```
 */
export interface TokenResponse {
  /** The signed token (a JWT) to pass to `GET /push/stream`. */
  token: string;
  /** When it stops being accepted, as an ISO 8601 timestamp. */
  expiresAt: string;
  /** The channels it grants, as requested. */
  channels: string[];
  /** The token's id (its `jti`), for `POST /push/revoke` with `tokenId`. */
  tokenId?: string;
}

/**
 * One event to publish: body of `POST /push/publish`.
 *
 * @example
 * ```ts
 * const event: PublishRequest = {
 *   channel: 'user:user_123',
 *   event: 'order.created',
 *   data: { id: 'ord_1', total: 42 },
 *   idempotencyKey: 'order-ord_1-created',
 * }
 * ```
 */
export interface PublishRequest<E extends string = string, D = unknown> {
  /** The channel to publish to. */
  channel: string;
  /** The event name, e.g. `order.created`. */
  event: E;
  /** Any JSON value; subscribers receive it as the `data:` line. */
  data: D;
  /** Deduplicates retries: the same key within the window is delivered once. */
  idempotencyKey?: string;
}

/**
 * Answer of `POST /push/publish`.
 *
 * @example
 * ```ts
 * const answer: PublishResponse = await res.json()
 * if (answer.duplicate) console.log('already published as', answer.eventId)
 * ```
 */
export interface PublishResponse {
  /** The message's id (a UUID); the same for every retry with one idempotency key. */
  messageId: string;
  /** The event's SSE id on the stream (`<position>/<channel>`). */
  eventId: string;
  /** How many stream connections received it at publish time, across all nodes. */
  delivered: number;
  /** Always 0: Cast does not meter events. */
  creditsUsed: 0;
  /** True when this answer repeats an earlier publish with the same idempotency key. */
  duplicate?: boolean;
}

/**
 * Body of `POST /push/publish/batch`.
 *
 * @example
 * ```ts
 * const batch: PublishBatchRequest = {
 *   events: [
 *     { channel: 'orders', event: 'order.created', data: { id: 'ord_1' } },
 *     { channel: 'orders', event: 'order.paid', data: { id: 'ord_1' } },
 *   ],
 * }
 * ```
 */
export interface PublishBatchRequest {
  /** The events, published in order. */
  events: PublishRequest[];
}

/**
 * Answer of `POST /push/publish/batch`.
 *
 * @example
 * ```ts
 * const { results }: PublishBatchResponse = await res.json()
 * const ids = results.map((r) => r.eventId) // in request order
 * ```
 */
export interface PublishBatchResponse {
  /** One result per event, in request order. */
  results: PublishResponse[];
}

/**
 * Data of the `connected` event, the first event of every stream.
 *
 * @example
 * ```ts
 * source.addEventListener('connected', (e) => {
 *   const data: ConnectedData = JSON.parse(e.data)
 *   if (data.recovered === false) refetchState()
 * })
 * ```
 */
export interface ConnectedData {
  /** The channels this stream receives. */
  channels: string[];
  /**
   * Present when the client resumed with a `Last-Event-ID`: true when every
   * event after it was replayed, false when some could not be (too old, or
   * unknown to this server) and the app should refetch its state.
   */
  recovered?: boolean;
}

/**
 * Data of the `expired` event, sent just before the server closes a stream whose token expired.
 *
 * @example
 * ```ts
 * source.addEventListener('expired', (e) => {
 *   const data: ExpiredData = JSON.parse(e.data) // { reason: 'token_expired', expiredAt: '…' }
 *   reconnectWithFreshToken()
 * })
 * ```
 */
export interface ExpiredData {
  /** Why the stream ends. */
  reason: 'token_expired';
  /** When the token expired, ISO 8601. */
  expiredAt: string;
}

/**
 * One active stream connection, as listed by `GET /push/sessions`.
 *
 * @example
 * ```ts
 * const online = (sessions: SessionInfo[]) => new Set(sessions.map((s) => s.userId))
 * ```
 */
export interface SessionInfo {
  /** The connection's id. */
  id: string;
  /** The token's `userId`, or null. */
  userId: string | null;
  /** The channels it receives. */
  channels: string[];
  /** When it connected, ISO 8601. */
  connectedAt: string;
}

/**
 * Answer of `GET /push/sessions`.
 *
 * @example
 * ```ts
 * const { sessions }: SessionsResponse = await res.json()
 * console.log(`${sessions.length} open streams`)
 * ```
 */
export interface SessionsResponse {
  /** The active sessions that match the query. */
  sessions: SessionInfo[];
}

/**
 * The claims of a Cast stream token (an HS256 JWT). The server and
 * `@cast/server-sdk`'s local signer share these names.
 *
 * @example
 * ```ts
 * const claims: TokenClaims = {
 *   tid: 'acme', chs: ['orders'], sub: 'user_123',
 *   iat: 1732400000, exp: 1732403600, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE,
 * }
 * ```
 */
export interface TokenClaims {
  /** The tenant the token belongs to. */
  tid: string;
  /** The channels it grants. */
  chs: string[];
  /** The user id, when given. */
  sub?: string;
  /** The token's id: what `POST /push/revoke` with `tokenId` names. */
  jti?: string;
  /** True when the token receives the presence events of its channels. */
  prs?: boolean;
  /** What other members see about this user (a JSON object, at most 1 KiB serialized). */
  uin?: Record<string, unknown>;
  /** Issued at (seconds since the epoch). */
  iat: number;
  /**
   * Issued at, in milliseconds since the epoch (within the `iat` second).
   * Revocations compare against it: a revocation covers the tokens issued
   * strictly before it. Without it a token counts as issued at the start of
   * its `iat` second, so a revocation in that same second covers it.
   */
  ims?: number;
  /** Expires at (seconds since the epoch). */
  exp: number;
  /** Always {@link TOKEN_ISSUER}. */
  iss: string;
  /** Always {@link TOKEN_AUDIENCE}. */
  aud: string;
}

/**
 * The `iss` claim of every Cast token.
 *
 * @example
 * ```ts
 * await jwtVerify(token, key, { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE })
 * ```
 */
export const TOKEN_ISSUER = 'cast';
/**
 * The `aud` claim of every Cast stream token.
 *
 * @example
 * ```ts
 * await jwtVerify(token, key, { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE })
 * ```
 */
export const TOKEN_AUDIENCE = 'cast:stream';

/**
 * One present user of a channel: all of the user's open streams on it count as one member.
 *
 * @example
 * ```ts
 * const member: PresenceMember = { userId: 'user_123', userInfo: { name: 'Ada' }, connections: 2 }
 * ```
 */
export interface PresenceMember {
  /** The token's `userId`. */
  userId: string;
  /** The `userInfo` of the user's token (the newest connection's), or null. */
  userInfo: Record<string, unknown> | null;
  /** How many open streams of the user are on the channel, across all nodes. */
  connections: number;
}

/**
 * Data of `presence.sync`: a channel's members at that point of its log.
 *
 * @example
 * ```ts
 * const sync: PresenceSyncData = { channel: 'room:1', members: [] }
 * ```
 */
export interface PresenceSyncData {
  /** The channel. */
  channel: string;
  /** Everyone present at that point of the log. */
  members: PresenceMember[];
}

/**
 * Data of `presence.join` (a user's first stream on a channel opened) and
 * `presence.leave` (the user's last stream closed and the grace period passed).
 *
 * @example
 * ```ts
 * const join: PresenceChangeData = { channel: 'room:1', userId: 'user_123', userInfo: null }
 * ```
 */
export interface PresenceChangeData {
  /** The channel. */
  channel: string;
  /** Who joined or left. */
  userId: string;
  /** The user's `userInfo`, or null. */
  userInfo: Record<string, unknown> | null;
}

/**
 * Answer of `GET /push/presence?channel=C`.
 *
 * @example
 * ```ts
 * const { members, connections }: PresenceResponse = await res.json()
 * ```
 */
export interface PresenceResponse {
  /** The channel asked for. */
  channel: string;
  /** Its members across all nodes. */
  members: PresenceMember[];
  /** Open streams on the channel across all nodes (those without a userId included). */
  connections: number;
}

/**
 * One occupied channel, as listed by `GET /push/channels`.
 *
 * @example
 * ```ts
 * const busy = (c: ChannelInfo) => c.connections > 100
 * ```
 */
export interface ChannelInfo {
  /** The channel name. */
  channel: string;
  /** Open streams on it across all nodes. */
  connections: number;
  /** Distinct user ids among them. */
  users: number;
}

/**
 * Answer of `GET /push/channels`.
 *
 * @example
 * ```ts
 * const { channels, cursor }: ChannelsResponse = await res.json()
 * ```
 */
export interface ChannelsResponse {
  /** One page of occupied channels, in name order. */
  channels: ChannelInfo[];
  /** Pass as `cursor=` for the next page; null on the last page. */
  cursor: string | null;
}

/**
 * Data of the final `revoked` event of a stream whose token was revoked.
 *
 * @example
 * ```ts
 * const data: RevokedData = { reason: 'token_revoked' }
 * ```
 */
export interface RevokedData {
  /** Why the stream ends. */
  reason: string;
}

/**
 * Data of the final `disconnected` event of a stream closed by `POST /push/disconnect`.
 *
 * @example
 * ```ts
 * const data: DisconnectedData = { reason: 'disconnected_by_server', reconnect: true }
 * ```
 */
export interface DisconnectedData {
  /** Why the stream ends. */
  reason: string;
  /** Whether the client should reconnect (to pick up new grants, say) or stop. */
  reconnect: boolean;
}

/**
 * Answer of `POST /push/revoke`.
 *
 * @example
 * ```ts
 * const { revoked }: RevokeResponse = await res.json()
 * ```
 */
export interface RevokeResponse {
  /** Open streams the revocation ended, counted across all nodes. */
  revoked: number;
}

/**
 * Answer of `POST /push/disconnect`.
 *
 * @example
 * ```ts
 * const { disconnected }: DisconnectResponse = await res.json()
 * ```
 */
export interface DisconnectResponse {
  /** Streams closed, counted across all nodes. */
  disconnected: number;
}

/**
 * The kinds of webhook events.
 *
 * @example
 * ```ts
 * WEBHOOK_EVENT_TYPES.includes('channel.occupied') // true
 * ```
 */
export const WEBHOOK_EVENT_TYPES = [
  'channel.occupied',
  'channel.vacated',
  'presence.join',
  'presence.leave',
  'connection.revoked',
] as const;

/**
 * One of {@link WEBHOOK_EVENT_TYPES}.
 *
 * @example
 * ```ts
 * const type: WebhookEventType = 'presence.join'
 * ```
 */
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * One event of a webhook delivery.
 *
 * @example
 * ```ts
 * const e: WebhookEvent = { id: 'wh_…', type: 'channel.occupied', tenant: 'acme', channel: 'order:1', at: '2026-01-01T00:00:00.000Z' }
 * ```
 */
export interface WebhookEvent {
  /** Unique per event and the same on every retry: deduplicate on it. */
  id: string;
  /** What happened. */
  type: WebhookEventType;
  /** The tenant whose channel it is. */
  tenant: string;
  /** The channel. */
  channel: string;
  /** The user, for presence and revocation events. */
  userId?: string;
  /** When it happened, ISO 8601. */
  at: string;
}

/**
 * The JSON body of one webhook request: one or more events (at most 100), in order per channel.
 *
 * @example
 * ```ts
 * const { events }: WebhookBody = JSON.parse(rawBody)
 * ```
 */
export interface WebhookBody {
  /** The events of this delivery. */
  events: WebhookEvent[];
}

/**
 * The header carrying a webhook's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
 *
 * @example
 * ```ts
 * request.headers.get(WEBHOOK_SIGNATURE_HEADER)
 * ```
 */
export const WEBHOOK_SIGNATURE_HEADER = 'Cast-Signature';

// Number literals only: esbuild (0.28) keeps an unused object holding `64 * 1024`, since it does not
// treat arithmetic as free of side effects, and so put this table into every browser bundle.
/**
 * Protocol defaults shared by the server and the SDKs.
 *
 * @example
 * ```ts
 * const ttlSeconds = Math.min(requested, DEFAULTS.maxTokenTtlSeconds)
 * ```
 */
export const DEFAULTS = {
  /** Default token lifetime, seconds. */
  tokenTtlSeconds: 3600,
  /** Longest token lifetime the server accepts by default, seconds. */
  maxTokenTtlSeconds: 86_400,
  /** Heartbeat comment interval of the server, milliseconds. */
  heartbeatMs: 15_000,
  /** The `retry:` hint the server sends, milliseconds. */
  retryMs: 1_000,
  /** Largest `data` payload, bytes of JSON. */
  maxPayloadBytes: 65_536,
  /** Most channels one token may carry. */
  maxChannelsPerToken: 100,
  /** Most events in one batch publish. */
  maxBatchSize: 100,
  /** How long an idempotency key is remembered, seconds. */
  idempotencyWindowSeconds: 86_400,
  /** Largest `userInfo` of a token, bytes of JSON. */
  maxUserInfoBytes: 1_024,
} as const;

/**
 * A map from event names to their `data` types, shared by publisher and
 * subscriber: `new CastServer<Events>()` and `createRealtime<Events>()` both
 * take it, so `publish` and `on` check names and payloads at compile time.
 *
 * @example
 * ```ts
 * type Events = { 'order.created': { id: string; total: number } }
 * ```
 */
export type EventMap = Record<string, unknown>;
