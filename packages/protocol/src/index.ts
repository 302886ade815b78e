/**
 * The Cast wire protocol: the types of every request and response, the channel and
 * event-name grammar, wildcard matching, SSE framing, event ids and the error table.
 * The server, the server SDK and the realtime client all build on it.
 *
 * @packageDocumentation
 * @module @cast/protocol
 */
export { ERROR_CODES, CastError, isCastError, isErrorCode, codeForStatus, errorFromResponse } from './errors.js';
export type { CastErrorCode, CastErrorOptions, ErrorBody } from './errors.js';
export {
  CHANNEL_PATTERN,
  EVENT_NAME_PATTERN,
  RESERVED_EVENT_NAMES,
  isValidChannel,
  isValidEventName,
  isReservedEventName,
  isValidPattern,
  isValidUserId,
  isValidIdempotencyKey,
} from './names.js';
export type { ReservedEventName } from './names.js';
export {
  channelError,
  checkChannel,
  eventNameError,
  checkEventName,
  patternError,
  userIdError,
  checkUserId,
  idempotencyKeyError,
  checkIdempotencyKey,
} from './checks.js';
export { backoffDelay, BACKOFF_JITTERS } from './backoff.js';
export type { BackoffJitter, BackoffOptions } from './backoff.js';
export { matchesPattern, createMatcher, parsePatternList } from './wildcard.js';
export type { EventMatcher } from './wildcard.js';
export { encodeFrame, encodeComment } from './sse.js';
export type { SseFrame } from './sse.js';
export { parsePosition, formatPosition, comparePositions, formatWireId, parseWireId } from './event-id.js';
export type { EventPosition } from './event-id.js';
export { TOKEN_ISSUER, TOKEN_AUDIENCE, DEFAULTS, WEBHOOK_EVENT_TYPES, WEBHOOK_SIGNATURE_HEADER } from './types.js';
export type {
  TokenRequest,
  TokenResponse,
  PublishRequest,
  PublishResponse,
  PublishBatchRequest,
  PublishBatchResponse,
  ConnectedData,
  ExpiredData,
  SessionInfo,
  SessionsResponse,
  TokenClaims,
  EventMap,
  PresenceMember,
  PresenceSyncData,
  PresenceChangeData,
  PresenceResponse,
  ChannelInfo,
  ChannelsResponse,
  RevokedData,
  DisconnectedData,
  RevokeResponse,
  DisconnectResponse,
  WebhookEventType,
  WebhookEvent,
  WebhookBody,
} from './types.js';
