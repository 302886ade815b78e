import { CastError, isValidPattern, matchesPattern } from '@cast/protocol';
import type { EventMap } from '@cast/protocol';
import { createListeners, type Listeners } from '../emitter/index.js';
import { createPresenceStore, type PresenceStore } from '../presence/index.js';
import type { ConnectionState, Realtime, RealtimeEvent, ResumeInfo } from '../types.js';

/** The methods of a client that register handlers, and its presence view. */
export type HandlerMethods<Events extends EventMap> = Pick<
  Realtime<Events>,
  'on' | 'onAny' | 'onConnectionChange' | 'onStateChange' | 'onError' | 'onResume' | 'presence'
>;

/**
 * A client's handlers: the methods that register them, the lists the client
 * emits to, its presence store, and `clear` (for `destroy()`). A tuple, not an
 * object, so the minified client names each part with one letter: an object's
 * property names cost `createRealtime` 42 bytes, past its size budget.
 */
export type ClientHandlers<Events extends EventMap> = [
  methods: HandlerMethods<Events>,
  events: Listeners<[RealtimeEvent]>,
  stateListeners: Listeners<[ConnectionState, ConnectionState]>,
  connectionListeners: Listeners<[boolean]>,
  errorListeners: Listeners<[CastError]>,
  resumeListeners: Listeners<[ResumeInfo]>,
  presence: PresenceStore,
  clear: () => void,
];

/**
 * The handler side of a client, one for `createRealtime` and
 * `createSharedRealtime`: `on` (which checks its pattern and calls a handler
 * for the event types it matches), `onAny`, `onConnectionChange`,
 * `onStateChange`, `onError`, `onResume` and `presence`, and the lists and
 * presence store behind them.
 *
 * @returns the methods, the lists, the presence store and a `clear` that empties them all
 * @example
 * ```ts
 * const [methods, events, , , , , , clear] = createHandlers<Events>()
 * methods.on('ticket.*', (event) => console.log(event.type))
 * events.emit({ type: 'ticket.created', data: {}, id: undefined, channel: undefined })
 * clear()
 * ```
 */
export function createHandlers<Events extends EventMap>(): ClientHandlers<Events> {
  const events = createListeners<[RealtimeEvent]>();
  const stateListeners = createListeners<[ConnectionState, ConnectionState]>();
  const connectionListeners = createListeners<[boolean]>();
  const errorListeners = createListeners<[CastError]>();
  const resumeListeners = createListeners<[ResumeInfo]>();
  const presence = createPresenceStore();
  // The lists' add and the store's view use no `this`: they serve as the methods themselves.
  const methods: HandlerMethods<Events> = {
    on(pattern, handler) {
      if (!isValidPattern(pattern)) {
        throw new CastError(
          'INVALID_OPTIONS',
          `Invalid event pattern ${JSON.stringify(pattern)}: use a name, "prefix.*" or "*".`,
        );
      }
      return events.add((event) => {
        if (matchesPattern(pattern, event.type)) (handler as (event: RealtimeEvent) => void)(event);
      });
    },
    onAny: events.add as HandlerMethods<Events>['onAny'],
    onConnectionChange: connectionListeners.add,
    onStateChange: stateListeners.add,
    onError: errorListeners.add,
    onResume: resumeListeners.add,
    presence: presence.view,
  };
  const clear = (): void => {
    events.clear();
    stateListeners.clear();
    connectionListeners.clear();
    errorListeners.clear();
    resumeListeners.clear();
    presence.clear();
  };
  return [methods, events, stateListeners, connectionListeners, errorListeners, resumeListeners, presence, clear];
}
