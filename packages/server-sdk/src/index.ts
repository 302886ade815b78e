/**
 * The Cast server SDK: issue and revoke channel-scoped tokens, publish events,
 * see sessions, presence and occupied channels, close streams, verify webhooks,
 * from any backend that has `fetch` (Node, Deno, Bun, edge runtimes).
 *
 * @packageDocumentation
 * @module @cast/server-sdk
 */
export { CastServer } from './cast-server.js';
export type { Tokens, Sessions, Presence, Channels, Connections } from './cast-server.js';
export { createTokenHandler } from './token-handler.js';
export type { TokenHandlerOptions, AuthorizeResult } from './token-handler.js';
export { createWebhookHandler } from './webhook-handler.js';
export type { WebhookHandlerOptions } from './webhook-handler.js';
export { verifyWebhook, signWebhook } from './webhook.js';
export type { VerifyWebhookOptions, SignWebhookOptions } from './webhook.js';
export { signToken } from './sign.js';
export type { SignTokenOptions } from './sign.js';
export { ENV_NAMES } from './options.js';
export type {
  CastServerOptions,
  FetchLike,
  PublishEvent,
  PublishInput,
  RequestOptions,
  SessionsQuery,
  RevokeRequest,
  DisconnectRequest,
  ChannelsQuery,
} from './types.js';
export { CastError, isCastError, ERROR_CODES, WEBHOOK_SIGNATURE_HEADER } from '@cast/protocol';
export type {
  CastErrorCode,
  EventMap,
  PublishResponse,
  SessionInfo,
  TokenRequest,
  TokenResponse,
  PresenceMember,
  PresenceResponse,
  ChannelInfo,
  ChannelsResponse,
  RevokeResponse,
  DisconnectResponse,
  WebhookEvent,
  WebhookEventType,
  WebhookBody,
} from '@cast/protocol';
