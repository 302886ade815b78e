/**
 * Local checks of what the SDK sends, with the protocol's name rules (and
 * their messages) and the server's default limits, so that a mistake fails fast with the code the
 * server would answer and no request is retried in vain.
 */
import {
  CastError,
  checkChannel,
  checkEventName,
  checkIdempotencyKey,
  checkUserId,
  DEFAULTS,
  type PublishRequest,
  type TokenRequest,
} from '@cast/protocol';
import type { DisconnectRequest, RevokeRequest } from './types.js';

/**
 * A token request after {@link checkTokenRequest}: its lifetime filled in.
 *
 * @example
 * ```ts
 * const checked: CheckedTokenRequest = { channels: ['orders'], ttlSeconds: 3600 }
 * ```
 */
export type CheckedTokenRequest = TokenRequest & { ttlSeconds: number };

/**
 * Checks a token request against the grammar and, for tokens signed locally,
 * the server's default limits. A request sent to the server leaves the limits
 * to it, since an operator may have raised them.
 *
 * @param request - channels, user id and lifetime
 * @param limits - whether to enforce the default channel count and lifetime limits
 * @returns the request with its lifetime filled in
 * @throws CastError `BAD_REQUEST`, `INVALID_CHANNEL`, `TOO_MANY_CHANNELS` or `INVALID_USER_INFO`
 * @example
 * ```ts
 * checkTokenRequest({ channels: ['orders'] }) // { channels: ['orders'], ttlSeconds: 3600 }
 * ```
 */
export function checkTokenRequest(request: TokenRequest, limits = true): CheckedTokenRequest {
  if (typeof request !== 'object' || request === null || !Array.isArray(request.channels)) {
    throw new CastError('BAD_REQUEST', 'channels must be an array of channel names.');
  }
  const { channels, userId } = request;
  if (channels.length === 0) throw new CastError('BAD_REQUEST', 'channels must name at least one channel.');
  if (limits && channels.length > DEFAULTS.maxChannelsPerToken) {
    throw new CastError(
      'TOO_MANY_CHANNELS',
      `A token may carry at most ${DEFAULTS.maxChannelsPerToken} channels, not ${channels.length}.`,
    );
  }
  channels.forEach((channel, i) => checkChannel(channel, `channels[${i}]`));
  checkUserId(userId);
  const ttlSeconds = request.ttlSeconds ?? DEFAULTS.tokenTtlSeconds;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || (limits && ttlSeconds > DEFAULTS.maxTokenTtlSeconds)) {
    throw new CastError(
      'BAD_REQUEST',
      `ttlSeconds must be a whole number from 1 to ${DEFAULTS.maxTokenTtlSeconds}, not ${String(ttlSeconds)}.`,
    );
  }
  const { presence, userInfo } = request;
  if (presence !== undefined && typeof presence !== 'boolean') {
    throw new CastError('BAD_REQUEST', 'presence must be true or false.');
  }
  if (userInfo !== undefined) checkUserInfo(userInfo, limits);
  return {
    channels: [...channels],
    ttlSeconds,
    ...(userId === undefined ? {} : { userId }),
    ...(presence === undefined ? {} : { presence }),
    ...(userInfo === undefined ? {} : { userInfo }),
  };
}

/**
 * Checks a token's `userInfo`: a plain JSON object and, with `limits`, at most
 * {@link DEFAULTS.maxUserInfoBytes} bytes of JSON (UTF-8).
 *
 * @param userInfo - the candidate
 * @param limits - whether to enforce the size limit
 * @throws CastError `INVALID_USER_INFO`
 * @example
 * ```ts
 * checkUserInfo({ name: 'Ada' }, true)
 * ```
 */
export function checkUserInfo(userInfo: unknown, limits: boolean): asserts userInfo is Record<string, unknown> {
  if (typeof userInfo !== 'object' || userInfo === null || Array.isArray(userInfo)) {
    throw new CastError('INVALID_USER_INFO', 'userInfo must be a JSON object, such as { "name": "Ada" }.');
  }
  let text: string;
  try {
    text = JSON.stringify(userInfo);
  } catch (error) {
    throw new CastError('INVALID_USER_INFO', 'userInfo must be serializable as JSON.', { cause: error });
  }
  if (!limits) return;
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > DEFAULTS.maxUserInfoBytes) {
    throw new CastError(
      'INVALID_USER_INFO',
      `userInfo must be at most ${DEFAULTS.maxUserInfoBytes} bytes as JSON, not ${bytes}.`,
    );
  }
}

/**
 * Checks one event before it is published.
 *
 * @param event - channel, event name, data and idempotency key
 * @throws CastError `INVALID_CHANNEL`, `INVALID_EVENT_NAME`, `RESERVED_EVENT_NAME` or `BAD_REQUEST`
 * @example
 * ```ts
 * checkPublishRequest({ channel: 'orders', event: 'order.created', data: {} })
 * ```
 */
export function checkPublishRequest(event: PublishRequest): void {
  if (typeof event !== 'object' || event === null) {
    throw new CastError('BAD_REQUEST', 'An event must be an object { channel, event, data }.');
  }
  checkChannel(event.channel);
  checkEventName(event.event);
  if (event.data === undefined) throw new CastError('BAD_REQUEST', 'data is required (any JSON value).');
  checkIdempotencyKey(event.idempotencyKey);
}

function selectorCount(request: Record<string, unknown>, names: string[]): number {
  return names.filter((name) => request[name] !== undefined).length;
}

function checkObject(request: unknown, what: string): Record<string, unknown> {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new CastError('BAD_REQUEST', `${what} needs an object.`);
  }
  return request as Record<string, unknown>;
}

/** A user id given as a selector: present, and by the protocol's rule. */
function checkUser(userId: unknown): string {
  const id = checkUserId(userId);
  if (id === undefined)
    throw new CastError('BAD_REQUEST', '"userId" must be a string of 1-256 characters without control characters.');
  return id;
}

function checkId(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
    throw new CastError('BAD_REQUEST', `${name} must be a string of 1 to 128 characters.`);
  }
  return value;
}

/**
 * Checks a revocation and builds its body: exactly one of `userId`, `tokenId`
 * and `issuedBefore` (which may come with `userId`).
 *
 * @param request - the selector
 * @returns the body of `POST /push/revoke`, `issuedBefore` as ISO 8601
 * @throws CastError `BAD_REQUEST`
 * @example
 * ```ts
 * checkRevokeRequest({ issuedBefore: new Date(0) }) // { issuedBefore: '1970-01-01T00:00:00.000Z' }
 * ```
 */
export function checkRevokeRequest(request: RevokeRequest): Record<string, string> {
  const given = checkObject(request, 'tokens.revoke');
  const { userId, tokenId, issuedBefore } = given;
  if (issuedBefore !== undefined) {
    if (tokenId !== undefined)
      throw new CastError('BAD_REQUEST', 'Give issuedBefore (optionally with userId) or tokenId, not both.');
    const at =
      issuedBefore instanceof Date
        ? issuedBefore.getTime()
        : typeof issuedBefore === 'string'
          ? Date.parse(issuedBefore)
          : NaN;
    if (Number.isNaN(at)) {
      throw new CastError(
        'BAD_REQUEST',
        'issuedBefore must be a Date or an ISO 8601 time, such as 2026-01-01T00:00:00Z.',
      );
    }
    return { issuedBefore: new Date(at).toISOString(), ...(userId === undefined ? {} : { userId: checkUser(userId) }) };
  }
  const count = selectorCount(given, ['userId', 'tokenId']);
  if (count !== 1) {
    throw new CastError(
      'BAD_REQUEST',
      'tokens.revoke needs exactly one of { userId }, { tokenId } or { issuedBefore }.',
    );
  }
  return userId !== undefined ? { userId: checkUser(userId) } : { tokenId: checkId(tokenId, 'tokenId') };
}

/**
 * Checks a disconnect and builds its body: exactly one of `userId` and
 * `sessionId`, an optional channel and reconnect flag.
 *
 * @param request - the selector
 * @returns the body of `POST /push/disconnect`
 * @throws CastError `BAD_REQUEST` or `INVALID_CHANNEL`
 * @example
 * ```ts
 * checkDisconnectRequest({ userId: 'u1', reconnect: false })
 * ```
 */
export function checkDisconnectRequest(request: DisconnectRequest): Record<string, string | boolean> {
  const given = checkObject(request, 'connections.disconnect');
  const { userId, sessionId, channel, reconnect } = given;
  if (selectorCount(given, ['userId', 'sessionId']) !== 1) {
    throw new CastError('BAD_REQUEST', 'connections.disconnect needs exactly one of { userId } or { sessionId }.');
  }
  const body: Record<string, string | boolean> =
    userId !== undefined ? { userId: checkUser(userId) } : { sessionId: checkId(sessionId, 'sessionId') };
  if (channel !== undefined) body.channel = checkChannel(channel);
  if (reconnect !== undefined) {
    if (typeof reconnect !== 'boolean') throw new CastError('BAD_REQUEST', 'reconnect must be true or false.');
    body.reconnect = reconnect;
  }
  return body;
}
