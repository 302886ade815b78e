/**
 * React bindings for Cast: a provider that owns one realtime client, and hooks
 * for events, the connection state and presence. StrictMode-safe (one stream)
 * and SSR-safe (no connection on the server).
 *
 * @packageDocumentation
 * @module @cast/react
 */
export { RealtimeProvider, useRealtime } from './provider.js';
export type { RealtimeProviderProps } from './provider.js';
export { useConnectionState, usePresence, useRealtimeEvent } from './hooks.js';
export type { RealtimeRegister, RegisteredEvents } from './register.js';
