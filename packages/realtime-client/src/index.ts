export { createRealtime } from './realtime/index.js';
export { backoffDelay } from './backoff/index.js';
export type { BackoffOptions } from './backoff/index.js';
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
export { CastError, isCastError } from '@cast/protocol';
export type { CastErrorCode, EventMap } from '@cast/protocol';
export { createXhrFetch } from './xhr/index.js';
export type { XhrLike } from './xhr/index.js';
