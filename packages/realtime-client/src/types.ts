import type { CastError, EventMap, PresenceMember } from '@cast/protocol';
import type { Unsubscribe } from './emitter/index.js';

/**
 * The states of a client, as an ordered list:
 * - `disconnected`: not connected and not trying (before `connect()` with
 *   `autoConnect: false`, or after a fatal error; `connect()` starts again);
 * - `connecting`: opening the first stream;
 * - `connected`: the server confirmed the subscription (`connected` event);
 * - `reconnecting`: the stream dropped; waiting out the backoff or reopening;
 * - `closed`: `destroy()` was called; nothing happens any more.
 *
 * @example
 * ```ts
 * const stateIndex = CONNECTION_STATES.indexOf(realtime.state)
 * ```
 */
export const CONNECTION_STATES = ['disconnected', 'connecting', 'connected', 'reconnecting', 'closed'] as const;

/**
 * One of {@link CONNECTION_STATES}.
 *
 * @example
 * ```ts
 * const label = (state: ConnectionState) => (state === 'connected' ? 'Live' : 'Offline')
 * ```
 */
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/**
 * One event received from the stream.
 *
 * @example
 * ```ts
 * realtime.onAny((event: RealtimeEvent) => console.log(event.channel, event.type, event.data))
 * ```
 */
export interface RealtimeEvent<T extends string = string, D = unknown> {
  /** The event name (`order.created`); `message` when the server sent none. */
  type: T;
  /** The published payload, parsed from JSON. */
  data: D;
  /** The raw SSE id of the event (`<ms>-<seq>/<channel>`), when it had one. */
  id: string | undefined;
  /** The channel the event was published to, read from its id. */
  channel: string | undefined;
}

/**
 * Told when a stream resumed from a last event id.
 *
 * @example
 * ```ts
 * realtime.onResume((info: ResumeInfo) => {
 *   if (!info.recovered) refetchState()
 * })
 * ```
 */
export interface ResumeInfo {
  /**
   * True when the server replayed every event after `lastEventId`; false when
   * it could not (too old, or unknown to it) and the app should refetch state.
   */
  recovered: boolean;
  /** The id the client resumed from. */
  lastEventId: string;
}

/**
 * The minimal response a {@link StreamFetch} must return: what `fetch`'s
 * `Response` has, so the global `fetch` fits as is. Body chunks may be bytes
 * (decoded as UTF-8) or already-decoded strings.
 *
 * @example
 * ```ts
 * const res: StreamResponse = await fetch(url)
 * const reader = res.body?.getReader()
 * ```
 */
export interface StreamResponse {
  /** The HTTP status. */
  readonly status: number;
  /** The response headers. */
  readonly headers: {
    /** The value of one header (case-insensitive name), or null when absent. */
    get(name: string): string | null;
  };
  /** The body as a stream of chunks, or null when there is none. */
  readonly body: {
    /** Locks the body to one reader. */
    getReader(): {
      /** The next chunk, or `done: true` at the end of the body. */
      read(): Promise<
        | {
            /** The body ended. */
            done: true;
            /** Ignored. */
            value?: unknown;
          }
        | {
            /** More to come. */
            done: false;
            /** The chunk: bytes, or text already decoded. */
            value: Uint8Array | string;
          }
      >;
      /** Stops reading and closes the body. */
      cancel(reason?: unknown): Promise<void>;
    };
  } | null;
  /** The whole body as text (read for error answers). */
  text(): Promise<string>;
}

/**
 * A `fetch`-like function whose response body can be read while it arrives.
 *
 * @example
 * ```ts
 * const logged: StreamFetch = (url, init) => {
 *   console.log('opening', url)
 *   return fetch(url, init)
 * }
 * createRealtime({ url, token, fetch: logged })
 * ```
 */
export type StreamFetch = (
  url: string,
  init: { method: 'GET'; headers: Record<string, string>; signal: AbortSignal },
) => Promise<StreamResponse>;

/**
 * Options of {@link createRealtime}.
 *
 * @example
 * ```ts
 * const options: RealtimeOptions = {
 *   url: 'https://push.example.com',
 *   token: () => fetch('/api/cast-token').then((r) => r.json()).then((t) => t.token),
 *   types: ['order.*'],
 * }
 * const realtime = createRealtime(options)
 * ```
 */
export interface RealtimeOptions {
  /** The Cast server's base URL, e.g. `https://push.example.com`; the stream is `<url>/push/stream`. */
  url: string;
  /**
   * The stream token, or an async function returning one. A function is
   * called before every connection attempt (so it can hand out a fresh token
   * before the old one expires) and once more after a 401/403 before the
   * client gives up.
   */
  token: string | (() => string | Promise<string>);
  /** Server-side filter: event names and `prefix.*` patterns. @defaultValue every event */
  types?: readonly string[];
  /** The `fetch` to use (React Native: a streaming fetch or {@link createXhrFetch}). @defaultValue globalThis.fetch */
  fetch?: StreamFetch;
  /** Connect at once; when false, nothing happens until `connect()`. @defaultValue true */
  autoConnect?: boolean;
  /** Base of the exponential reconnect delay, ms (the server's `retry:` raises it). @defaultValue 1000 */
  backoffFloorMs?: number;
  /** Largest reconnect delay, ms. @defaultValue 30000 */
  backoffCapMs?: number;
  /**
   * Reconnect when no byte (event or heartbeat) arrived for this long, ms;
   * a little over two server heartbeats of 15 s. @defaultValue 35000
   */
  stallTimeoutMs?: number;
  /** Resume from this event id (one saved from an earlier session) on the first connection. */
  lastEventId?: string;
}

/**
 * Picks the event names of `Events` that a pattern covers.
 *
 * @example
 * ```ts
 * type Events = { 'order.created': { id: string }; 'order.paid': { id: string }; 'ticket.closed': null }
 * type OrderNames = MatchingNames<Events, 'order.*'> // 'order.created' | 'order.paid'
 * ```
 */
export type MatchingNames<Events extends EventMap, P extends string> = P extends '*'
  ? keyof Events & string
  : P extends `${infer Prefix}.*`
    ? Extract<keyof Events & string, `${Prefix}.${string}`>
    : Extract<keyof Events & string, P>;

/**
 * The event a handler of `on(pattern, …)` receives: typed by `Events` when it names the event.
 *
 * @example
 * ```ts
 * type Events = { 'order.created': { id: string; total: number } }
 * type Created = EventFor<Events, 'order.created'> // RealtimeEvent<'order.created', { id: string; total: number }>
 * ```
 */
export type EventFor<Events extends EventMap, P extends string> = [MatchingNames<Events, P>] extends [never]
  ? RealtimeEvent<string, unknown>
  : DistributeEvents<Events, MatchingNames<Events, P>>;

type DistributeEvents<Events extends EventMap, K> = K extends keyof Events & string
  ? RealtimeEvent<K, Events[K]>
  : never;

/**
 * A live, read-only view of one channel's members, kept from the stream's
 * `presence.sync`, `presence.join` and `presence.leave` events (the stream's
 * token must have been issued with `presence: true`).
 *
 * @example
 * ```ts
 * const room: PresenceView = realtime.presence('room:1')
 * const off = room.onChange((members) => render(members.map((m) => m.userId)))
 * ```
 */
export interface PresenceView {
  /** The channel. */
  readonly channel: string;
  /**
   * Who is present, as of the last presence event (empty before the first
   * `presence.sync`). A new array after every change. `connections` is exact
   * as of the last sync; a member who joined since counts 1.
   */
  readonly members: readonly PresenceMember[];
  /**
   * Whether `members` follows the server: true from a `presence.sync` on; false
   * before it, and after a resume that lost events until the next sync.
   */
  readonly synced: boolean;
  /** Calls `handler` with the new members after every change. */
  onChange(handler: (members: readonly PresenceMember[]) => void): Unsubscribe;
}

/**
 * A realtime client: one SSE connection, many handlers.
 *
 * @example
 * ```ts
 * const realtime: Realtime<Events> = createRealtime<Events>({ url, token })
 * const off = realtime.on('order.*', (event) => render(event.data))
 * realtime.onStateChange((state) => setBadge(state))
 * // later
 * off()
 * realtime.destroy()
 * ```
 */
export interface Realtime<Events extends EventMap = EventMap> {
  /** The current state. */
  readonly state: ConnectionState;
  /** Whether the stream is open and confirmed (`state === 'connected'`). */
  readonly connected: boolean;
  /** The id of the last event received; resent as `Last-Event-ID` on reconnect. */
  readonly lastEventId: string | undefined;
  /**
   * Calls `handler` for every event whose name matches `pattern`: an exact
   * name, `prefix.*` or `*`.
   * @throws CastError `INVALID_OPTIONS` when the pattern is malformed
   */
  on<P extends (keyof Events & string) | `${string}.*` | '*' | (string & {})>(
    pattern: P,
    handler: (event: EventFor<Events, P>) => void,
  ): Unsubscribe;
  /** Calls `handler` for every event. */
  onAny(handler: (event: EventFor<Events, '*'>) => void): Unsubscribe;
  /** Called with true when the stream is confirmed, false when it is lost. */
  onConnectionChange(handler: (connected: boolean) => void): Unsubscribe;
  /** Called on every state change. */
  onStateChange(handler: (state: ConnectionState, previous: ConnectionState) => void): Unsubscribe;
  /**
   * Called with every error: retryable ones (the client retries) and fatal ones
   * (it stops: 401/403, `TOKEN_REVOKED` after a `revoked` event, `DISCONNECTED`
   * after a `disconnected` event that says not to reconnect).
   */
  onError(handler: (error: CastError) => void): Unsubscribe;
  /** Called when a stream resumed from a last event id, telling whether nothing was missed. */
  onResume(handler: (info: ResumeInfo) => void): Unsubscribe;
  /**
   * The live members of a channel of the stream, from its presence events
   * (the same view on every call; handlers are removed by `destroy()`).
   */
  presence(channel: string): PresenceView;
  /**
   * Opens the stream (after `autoConnect: false`, or after a fatal error, a
   * `revoked` event or a `disconnected` event without reconnect; a token
   * provider is asked for a new token); does nothing while open or opening.
   */
  connect(): void;
  /** Closes the stream, cancels every timer and removes every handler. Idempotent. */
  destroy(): void;
}
