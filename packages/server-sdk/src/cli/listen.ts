/**
 * `cast listen`: the realtime client with a printer. `createRealtime` keeps
 * the stream open (reconnect with backoff, `Last-Event-ID` replay without
 * duplicates, stall detection, a fresh token after expiry or refusal); this
 * file fetches the tokens with the API key and turns the client's callbacks
 * into events and status lines.
 */
import { CastError, parsePatternList, patternError, type TokenResponse } from '@cast/protocol';
import { createRealtime, type StreamFetch, type StreamResponse } from '@cast/realtime-client';
import type { CastServer } from '../cast-server.js';
import type { FetchLike } from '../types.js';

/** One event received on the stream. */
export interface ListenedEvent {
  /** The SSE id (`<position>/<channel>`). */
  id: string | undefined;
  /** The channel, read from the id. */
  channel: string | undefined;
  /** The event name. */
  event: string;
  /** The parsed JSON payload. */
  data: unknown;
}

/** Options of {@link listen}. */
export interface ListenOptions {
  cast: CastServer;
  /** The server's base URL, without a trailing slash. */
  baseUrl: string;
  fetch: FetchLike;
  channels: string[];
  userId?: string;
  /** The server-side `types` filter, a comma list. */
  types?: string;
  /** Stops listening (the promise then resolves). */
  signal: AbortSignal;
  onEvent: (event: ListenedEvent) => void;
  /** Connection news, for stderr. */
  onStatus: (message: string) => void;
  /** No byte for this long means the stream stalled; reconnect. @defaultValue the realtime client's `stallTimeoutMs` */
  stallMs?: number;
}

/** Where the current attempt got to, so a drop can be told apart from a server out of reach. */
type Phase = 'token' | 'request' | 'open' | 'ended';

/**
 * Listens until `signal` aborts. Resolves then; rejects with a `CastError`
 * when listening cannot go on (a bad API key, a refused channel, a token
 * refused twice).
 *
 * @param options - where, what and the callbacks
 * @returns when stopped
 * @example
 * ```ts
 * await listen({ cast, baseUrl, fetch, channels: ['orders'], signal, onEvent: print, onStatus: console.error })
 * ```
 */
export function listen(options: ListenOptions): Promise<void> {
  const { signal, onStatus } = options;
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return resolve();
    const types = options.types === undefined ? undefined : parsePatternList(options.types);
    // Refused with the server's code and words, before any request.
    const badType = types?.map(patternError).find((error) => error !== undefined);
    if (badType) return reject(badType);
    let grant: TokenResponse | undefined;
    /** Set when the server expired or refused the token: the next attempt asks for a new one. */
    let staleToken = false;
    let phase: Phase = 'token';
    /** The last error, until the client's next step shows whether it ended the attempt. */
    let pending: CastError | undefined;
    let resumed = false;
    const names = (): string => (grant?.channels ?? options.channels).join(', ');

    const token = async (): Promise<string> => {
      phase = 'token';
      if (grant === undefined || staleToken) {
        const request = {
          channels: options.channels,
          ...(options.userId === undefined ? {} : { userId: options.userId }),
        };
        grant = await options.cast.tokens.create(request, { signal });
        staleToken = false;
      }
      return grant.token;
    };

    // The token travels in the Authorization header rather than the URL, where logs and proxies keep it.
    const streamFetch: StreamFetch = async (url, init) => {
      phase = 'request';
      const target = new URL(url);
      const authorization = `Bearer ${target.searchParams.get('token') ?? ''}`;
      target.searchParams.delete('token');
      const response = await options.fetch(target.href, { ...init, headers: { ...init.headers, authorization } });
      // The client asks for a token once more after a 401/403 before it gives up: make that one fresh.
      if (response.status === 401 || response.status === 403) staleToken = true;
      phase = 'open';
      return watchEnd(response, () => {
        phase = 'ended';
      });
    };

    const realtime = createRealtime({
      url: options.baseUrl,
      token,
      fetch: streamFetch,
      ...(types === undefined ? {} : { types }),
      ...(options.stallMs === undefined ? {} : { stallTimeoutMs: options.stallMs }),
    });

    const finish = (error?: CastError): void => {
      signal.removeEventListener('abort', stop);
      realtime.destroy();
      if (error) reject(error);
      else resolve();
    };
    const stop = (): void => finish();
    signal.addEventListener('abort', stop, { once: true });

    realtime.onAny((event) =>
      options.onEvent({ id: event.id, channel: event.channel, event: event.type, data: event.data }),
    );
    realtime.onError((error) => {
      pending = error;
      // The client changes state right after reporting; by the next microtask it is clear what the error did.
      queueMicrotask(() => {
        if (pending !== error) return; // fatal: the listener is done with it
        pending = undefined;
        // Still connected: it did not end the stream (an event the client skipped), so it is said as is.
        onStatus(realtime.state === 'reconnecting' ? describeDrop(error, phase, options.baseUrl) : error.message);
      });
    });
    realtime.onResume(({ recovered, lastEventId }) => {
      resumed = true;
      onStatus(
        recovered
          ? `resumed on ${names()}, nothing missed`
          : `resumed on ${names()}, but some events since ${lastEventId} could not be replayed`,
      );
    });
    realtime.onStateChange((state, previous) => {
      if (state === 'connected') {
        // The client reports a resume right after this change; a first connection gets this line instead.
        resumed = false;
        queueMicrotask(() => {
          if (!resumed) onStatus(`listening on ${names()}`);
        });
      } else if (state === 'disconnected') {
        const error = pending;
        pending = undefined;
        finish(error ?? new CastError('STREAM_INTERRUPTED', 'The stream closed.'));
      } else if (state === 'reconnecting' && previous === 'connected' && pending === undefined) {
        // The client goes straight back without an error only when the server ended the stream with `expired`.
        staleToken = true;
        onStatus('token expired; fetching a fresh one');
      }
    });
  });
}

/** The status line of an attempt that failed with a retryable error. */
function describeDrop(error: CastError, phase: Phase, baseUrl: string): string {
  if (error.code === 'NETWORK_ERROR' && (phase === 'token' || phase === 'request')) {
    return `cannot reach ${baseUrl} (${rootCause(error)}); retrying`;
  }
  let reason = error.message;
  if (error.code === 'STREAM_INTERRUPTED') {
    reason =
      phase === 'ended'
        ? 'the server ended the stream'
        : phase === 'open'
          ? 'no heartbeat from the server'
          : 'no answer from the server';
  }
  return `stream dropped (${reason}); reconnecting`;
}

/** The innermost message of an error chain: `connect ECONNREFUSED 127.0.0.1:8080` rather than `fetch failed`. */
function rootCause(error: Error): string {
  let inner: Error = error;
  while (inner.cause instanceof Error) inner = inner.cause;
  return inner.message;
}

/** The response as the client reads it, calling `onEnd` when its body ends. */
function watchEnd(response: Response, onEnd: () => void): StreamResponse {
  const body = response.body;
  if (body === null) return response;
  return {
    status: response.status,
    headers: response.headers,
    text: () => response.text(),
    body: {
      getReader() {
        const reader = body.getReader();
        return {
          read: async () => {
            const result = await reader.read();
            if (result.done) onEnd();
            return result;
          },
          cancel: (reason?: unknown) => reader.cancel(reason),
        };
      },
    },
  };
}
