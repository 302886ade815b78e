/**
 * The Cast realtime client: one Server-Sent Events stream per client with wildcard
 * handlers, reconnection with backoff, `Last-Event-ID` replay and token refresh, for
 * browsers, Node, Deno, Bun, edge runtimes and React Native.
 *
 * @packageDocumentation
 * @module @cast/realtime-client
 */
export { createRealtime } from './realtime/index.js';
export { CONNECTION_STATES } from './types.js';
export type {
  ConnectionState,
  EventFor,
  MatchingNames,
  Realtime,
  RealtimeEvent,
  RealtimeOptions,
  ResumeInfo,
  StreamFetch,
  StreamResponse,
} from './types.js';
export type { Unsubscribe } from './emitter/index.js';
export { CastError, isCastError, backoffDelay } from '@cast/protocol';
export type { BackoffOptions, CastErrorCode, EventMap } from '@cast/protocol';
export { createXhrFetch } from './xhr/index.js';
export type { XhrLike } from './xhr/index.js';
