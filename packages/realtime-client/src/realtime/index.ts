import { backoffDelay, CastError, comparePositions, isCastError, parseWireId } from '@cast/protocol';
import type { ConnectedData, DisconnectedData, EventMap, EventPosition, RevokedData } from '@cast/protocol';
import { createParser } from 'eventsource-parser';
import type { EventSourceMessage } from 'eventsource-parser';
import { createHandlers } from '../handlers/index.js';
import { resolveOptions } from '../options/index.js';
import { pump, responseError } from '../stream/index.js';
import type { BodyReader } from '../stream/index.js';
import type { ConnectionState, Realtime, RealtimeOptions } from '../types.js';

/** A connection counts as healthy, and the backoff starts over, once it stayed up this long (ms). */
const HEALTHY_AFTER_MS = 5_000;

type Timer = ReturnType<typeof setTimeout>;

/**
 * Creates a realtime client: one Server-Sent Events stream to a Cast server,
 * read with `fetch`, reopened after every drop with exponential backoff and
 * full jitter, resuming from the last event id so no event is lost. Handlers
 * are registered by event name, `prefix.*` or `*`.
 *
 * The client is a state machine (`disconnected → connecting → connected →
 * reconnecting → … → closed`); every asynchronous step carries the number of
 * the attempt it belongs to and does nothing once that attempt is over, so a
 * late answer can never open a second connection.
 *
 * @param options - server URL, token (or token provider) and tuning
 * @returns the client, connecting at once unless `autoConnect` is false
 * @throws CastError `INVALID_OPTIONS` when the options are unusable
 * @example
 * ```ts
 * type Events = { 'order.created': { id: string; total: number } }
 * const realtime = createRealtime<Events>({
 *   url: 'https://push.example.com',
 *   token: () => fetch('/api/cast-token').then((r) => r.json()).then((b) => b.token),
 * })
 * const off = realtime.on('order.created', (e) => console.log(e.data.total, e.channel))
 * realtime.onError((err) => console.warn(err.code, err.message))
 * ```
 */
export function createRealtime<Events extends EventMap = EventMap>(options: RealtimeOptions): Realtime<Events> {
  const config = resolveOptions(options);
  const [handlers, events, stateListeners, connectionListeners, errorListeners, resumeListeners, presence, clear] =
    createHandlers<Events>();

  let state: ConnectionState = 'disconnected';
  let lastEventId = config.lastEventId;
  let lastPosition: EventPosition | undefined = lastEventId ? parseWireId(lastEventId) : undefined;
  /** Attempts that failed in a row; reset once a connection stayed healthy. */
  let failures = 0;
  let serverRetryMs = 0;
  /** Whether the one token refresh after a 401/403 was spent (until the next good stream). */
  let authRetried = false;
  /** The current attempt; anything tagged with an older number is stale. */
  let attempt = 0;
  let controller: AbortController | undefined;
  let reader: BodyReader | undefined;
  let retryTimer: Timer | undefined;
  let stallTimer: Timer | undefined;
  let healthyTimer: Timer | undefined;

  const setState = (next: ConnectionState): void => {
    const previous = state;
    if (next === previous) return;
    state = next;
    stateListeners.emit(next, previous);
    if (previous === 'connected' || next === 'connected') connectionListeners.emit(next === 'connected');
  };

  /** Ends the current attempt's I/O and timers (not the retry timer). */
  const teardown = (): void => {
    attempt++;
    clearTimeout(stallTimer);
    clearTimeout(healthyTimer);
    controller?.abort();
    // A fetch that ignores its signal still stops when its reader is cancelled.
    reader?.cancel().catch(() => {});
    controller = undefined;
    reader = undefined;
  };

  const armStall = (current: number): void => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => {
      if (current === attempt) {
        fail(new CastError('STREAM_INTERRUPTED', `No data for ${config.stallTimeoutMs} ms: the stream stalled.`));
      }
    }, config.stallTimeoutMs);
  };

  /** Handles the end of the current attempt: report, then retry or stop. */
  const fail = (error: CastError | undefined, delayMs?: number): void => {
    teardown();
    if (error) errorListeners.emit(error);
    if (state === 'closed') return; // an onError handler destroyed the client
    if (error && !error.retryable) {
      setState('disconnected');
      return;
    }
    const floorMs = Math.max(config.backoffFloorMs, serverRetryMs);
    const waitMs =
      delayMs ??
      Math.max(backoffDelay(failures++, { floorMs, capMs: config.backoffCapMs }), (error?.retryAfter ?? 0) * 1000);
    setState('reconnecting');
    retryTimer = setTimeout(open, waitMs);
  };

  const open = (): void => {
    clearTimeout(retryTimer);
    retryTimer = undefined;
    teardown();
    const current = attempt;
    const isCurrent = () => current === attempt;
    const abort = (controller = new AbortController());
    // Only connect(), a retry timer and a token refresh open, so the state is disconnected or on its way.
    if (state === 'disconnected') setState('connecting');
    // The stall timer also bounds a server that never answers.
    armStall(current);
    void run(current, isCurrent, abort.signal).catch((cause: unknown) => {
      if (!isCurrent()) return;
      fail(
        isCastError(cause)
          ? cause
          : new CastError('NETWORK_ERROR', `The stream from ${config.streamUrl} failed: ${String(cause)}`, { cause }),
      );
    });
  };

  const run = async (current: number, isCurrent: () => boolean, signal: AbortSignal): Promise<void> => {
    let token: string;
    try {
      token = typeof config.token === 'string' ? config.token : await config.token();
      if (!token || typeof token !== 'string') throw new TypeError('it returned no token');
    } catch (cause) {
      throw isCastError(cause)
        ? cause
        : new CastError('TOKEN_PROVIDER_FAILED', `The token provider failed: ${String(cause)}`, { cause });
    }
    if (!isCurrent()) return;
    const url = new URL(config.streamUrl);
    url.searchParams.set('token', token);
    if (config.types.length > 0) url.searchParams.set('types', config.types.join(','));
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId) headers['last-event-id'] = lastEventId;
    const res = await config.fetch(url.href, { method: 'GET', headers, signal });
    if (!isCurrent()) {
      res.body
        ?.getReader()
        .cancel()
        .catch(() => {});
      return;
    }
    const error = await responseError(res);
    if (!isCurrent()) return;
    if (error) {
      const auth = error.status === 401 || error.status === 403;
      if (auth && typeof config.token === 'function' && !authRetried) {
        // One fresh token before giving up: the provider may have handed out one that just expired.
        authRetried = true;
        open();
        return;
      }
      throw error;
    }
    authRetried = false;
    let expired = false;
    const parser = createParser({
      onRetry: (ms) => {
        serverRetryMs = ms;
      },
      onEvent: (message) => {
        if (message.event === 'expired') expired = true;
        else if (isCurrent()) dispatch(message, current);
      },
    });
    const body = (reader = (res.body as NonNullable<typeof res.body>).getReader());
    await pump(
      body,
      (text) => {
        armStall(current);
        parser.feed(text);
      },
      isCurrent,
    );
    if (!isCurrent()) return;
    if (expired)
      fail(undefined, 0); // the token ran out: straight back with a fresh one
    else throw new CastError('STREAM_INTERRUPTED', 'The server ended the stream.');
  };

  const dispatch = (message: EventSourceMessage, current: number): void => {
    const type = message.event ?? 'message';
    if (type === 'revoked' || type === 'disconnected') {
      // The server's last word on this stream: it closes right after.
      const info = parseJson<Partial<RevokedData & DisconnectedData>>(message.data);
      const reason = info.reason ? ` (${info.reason})` : '';
      if (type === 'disconnected' && info.reconnect === true) fail(undefined, 0);
      else if (type === 'revoked') fail(new CastError('TOKEN_REVOKED', `The token was revoked${reason}.`));
      else fail(new CastError('DISCONNECTED', `The server disconnected this client${reason}.`));
      return;
    }
    if (type === 'connected') {
      // A connected event without JSON still confirms the stream.
      const info = parseJson<Partial<ConnectedData>>(message.data);
      // After an unrecoverable resume, the server's new positions are the only reference,
      // and presence starts again from the next sync.
      if (info.recovered === false) {
        lastPosition = undefined;
        presence.unsync();
      }
      setState('connected');
      clearTimeout(healthyTimer);
      healthyTimer = setTimeout(() => {
        if (current === attempt) failures = 0;
      }, HEALTHY_AFTER_MS);
      if (typeof info.recovered === 'boolean' && lastEventId) {
        resumeListeners.emit({ recovered: info.recovered, lastEventId });
      }
      return;
    }
    const wire = message.id ? parseWireId(message.id) : undefined;
    // A replay that overlaps what was already delivered (another node, a retried resume) is dropped. The
    // presence.sync of each channel of a stream share one position (the snapshot's): an equal one is kept.
    if (wire && lastPosition && comparePositions(wire, lastPosition) < (type === 'presence.sync' ? 0 : 1)) return;
    // An event without an id keeps the previous one (SSE spec); an empty id clears it.
    if (message.id !== undefined) lastEventId = message.id || undefined;
    if (wire) lastPosition = wire;
    let data: unknown;
    try {
      data = JSON.parse(message.data);
    } catch (cause) {
      errorListeners.emit(new CastError('BAD_RESPONSE', `Event ${type} skipped: its data is not JSON.`, { cause }));
      return;
    }
    if (type.startsWith('presence.')) presence.apply(type, data);
    events.emit({ type, data, id: message.id, channel: wire?.channel });
  };

  const onOnline = (): void => {
    // Back online: skip the rest of the backoff.
    if (retryTimer !== undefined) open();
  };
  const target = globalThis as {
    addEventListener?: EventTarget['addEventListener'];
    removeEventListener?: EventTarget['removeEventListener'];
  };
  target.addEventListener?.('online', onOnline);

  const realtime: Realtime<Events> = {
    get state() {
      return state;
    },
    get connected() {
      return state === 'connected';
    },
    get lastEventId() {
      return lastEventId;
    },
    ...handlers,
    connect() {
      if (state === 'disconnected' || (state === 'reconnecting' && retryTimer !== undefined)) open();
    },
    destroy() {
      if (state === 'closed') return;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      teardown();
      target.removeEventListener?.('online', onOnline);
      setState('closed');
      clear();
    },
  };
  // Deferred a microtask so handlers registered right after creation see the first state change.
  if (config.autoConnect) queueMicrotask(() => realtime.connect());
  return realtime;
}

function parseJson<T>(text: string): T {
  try {
    return (JSON.parse(text) ?? {}) as T;
  } catch {
    return {} as T;
  }
}
