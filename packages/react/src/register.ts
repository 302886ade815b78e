import type { EventMap } from '@cast/realtime-client';

/**
 * Declare your event map here once, and every hook is typed by it:
 * `useRealtimeEvent('order.created', (e) => e.data.total)`.
 *
 * @example
 * ```ts
 * declare module '@cast/react' {
 *   interface RealtimeRegister {
 *     events: { 'order.created': { id: string; total: number } }
 *   }
 * }
 * ```
 */
export interface RealtimeRegister {}

/**
 * The event map declared in {@link RealtimeRegister}, or any event when none is.
 *
 * @example
 * ```ts
 * type Events = RegisteredEvents // { 'order.created': { id: string; total: number } } once registered
 * ```
 */
export type RegisteredEvents = RealtimeRegister extends {
  /** The app's event map: event name → data type. */
  events: infer E extends EventMap;
}
  ? E
  : EventMap;
