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


/**
 * Checks a token request against the grammar and, for tokens signed locally,
 * the server's default limits. A request sent to the server leaves the limits
 * to it, since an operator may have raised them.
 *
 * @param request - channels, user id and lifetime
 * @param limits - whether to enforce the default channel count and lifetime limits
 * @returns the request with its lifetime filled in
 * @throws CastError `BAD_REQUEST`, `INVALID_CHANNEL` or `TOO_MANY_CHANNELS`
 * @example
 * ```ts
 * checkTokenRequest({ channels: ['orders'] }) // { channels: ['orders'], ttlSeconds: 3600 }
 * ```
 */
export function checkTokenRequest(
  request: TokenRequest,
  limits = true,
): { channels: string[]; ttlSeconds: number; userId?: string } {
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
  return { channels: [...channels], ttlSeconds, ...(userId === undefined ? {} : { userId }) };
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
