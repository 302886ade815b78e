/**
 * `cast listen`: one stream, kept open. Reads SSE with eventsource-parser,
 * resumes after every drop with `Last-Event-ID`, fetches a fresh token when
 * the old one expires, and stops only on its signal or a fatal error.
 */
import {
  backoffDelay,
  CastError,
  errorFromResponse,
  isCastError,
  parseWireId,
  type ConnectedData,
} from '@cast/protocol';
import { createParser } from 'eventsource-parser';
import { parseRetryAfter } from '../backoff.js';
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
  /** The parsed JSON payload (the raw text when it is not JSON). */
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
  /** No byte for this long means the stream stalled; reconnect. @defaultValue 45000 (three heartbeats) */
  stallMs?: number;
  /** Jitter source. @defaultValue Math.random */
  random?: () => number;
}

/** Why one connection ended without a fatal error. */
type Ending = { kind: 'dropped'; error?: CastError } | { kind: 'expired' };

function waitFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Listens until `signal` aborts. Resolves then; rejects with a `CastError`
 * when listening cannot go on (a bad API key, a refused channel).
 *
 * @param options - where, what and the callbacks
 * @returns when stopped
 * @example
 * ```ts
 * await listen({ cast, baseUrl, fetch, channels: ['orders'], signal, onEvent: print, onStatus: console.error })
 * ```
 */
export async function listen(options: ListenOptions): Promise<void> {
  const { signal } = options;
  const random = options.random ?? Math.random;
  const stallMs = options.stallMs ?? 45_000;
  let token: string | undefined;
  let lastEventId: string | undefined;
  let retryMs = 1_000;
  let failures = 0;
  let tokenRejections = 0;

  while (!signal.aborted) {
    if (token === undefined) {
      try {
        token = (
          await options.cast.tokens.create(
            { channels: options.channels, ...(options.userId === undefined ? {} : { userId: options.userId }) },
            { signal },
          )
        ).token;
      } catch (error) {
        if (signal.aborted) return;
        if (isCastError(error) && error.retryable) {
          failures += 1;
          await waitFor(delayAfter(error, failures, retryMs, random), signal);
          continue;
        }
        throw error;
      }
    }

    let ending: Ending;
    try {
      ending = await connectOnce(token, lastEventId, {
        ...options,
        stallMs,
        onOpen: (data) => {
          failures = 0;
          tokenRejections = 0;
          const names = data.channels.join(', ');
          if (data.recovered === false) {
            options.onStatus(`resumed on ${names}, but some events since ${lastEventId ?? 'the last one'} could not be replayed`);
          } else if (data.recovered === true) {
            options.onStatus(`resumed on ${names}, nothing missed`);
          } else {
            options.onStatus(`listening on ${names}`);
          }
        },
        onId: (id) => {
          lastEventId = id;
        },
        onRetry: (ms) => {
          retryMs = ms;
        },
      });
    } catch (error) {
      if (signal.aborted) return;
      const failure = isCastError(error) ? error : new CastError('NETWORK_ERROR', String(error), { cause: error });
      if (failure.code === 'TOKEN_EXPIRED' || failure.code === 'INVALID_TOKEN') {
        tokenRejections += 1;
        // A token the server refuses twice in a row, fresh from its own API, will not get better.
        if (tokenRejections > 1) throw failure;
        token = undefined;
        continue;
      }
      if (!failure.retryable) throw failure;
      ending = { kind: 'dropped', error: failure };
    }
    if (signal.aborted) return;
    if (ending.kind === 'expired') {
      options.onStatus('token expired; fetching a fresh one');
      token = undefined;
      continue;
    }
    failures += 1;
    const wait = delayAfter(ending.error, failures, retryMs, random);
    options.onStatus(
      `stream dropped${ending.error ? ` (${ending.error.message})` : ''}; reconnecting in ${(wait / 1000).toFixed(1)} s`,
    );
    await waitFor(wait, signal);
  }
}

function delayAfter(error: CastError | undefined, failures: number, retryMs: number, random: () => number): number {
  if (error?.retryAfter !== undefined) return error.retryAfter * 1000;
  // The first reconnect waits about the server's `retry:` hint; later ones back off up to 30 s.
  return Math.floor(retryMs / 2) + backoffDelay(failures - 1, { floorMs: retryMs, capMs: 30_000 }, random);
}

interface ConnectHooks extends ListenOptions {
  stallMs: number;
  onOpen: (data: ConnectedData) => void;
  onId: (id: string) => void;
  onRetry: (ms: number) => void;
}

async function connectOnce(token: string, lastEventId: string | undefined, hooks: ConnectHooks): Promise<Ending> {
  const url = new URL(`${hooks.baseUrl}/push/stream`);
  if (hooks.types !== undefined) url.searchParams.set('types', hooks.types);
  const headers: Record<string, string> = { accept: 'text/event-stream', authorization: `Bearer ${token}` };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;

  const controller = new AbortController();
  const stop = (): void => controller.abort();
  hooks.signal.addEventListener('abort', stop, { once: true });
  let stallTimer: ReturnType<typeof setTimeout> | undefined;
  let stalled = false;
  const armStall = (): void => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, hooks.stallMs);
  };

  try {
    let response: Response;
    try {
      armStall();
      response = await hooks.fetch(url.toString(), { headers, signal: controller.signal });
    } catch (error) {
      throw new CastError('NETWORK_ERROR', stalled ? 'no answer from the server' : describe(error), { cause: error });
    }
    if (!response.ok) {
      const body: unknown = await response.json().catch(() => undefined);
      throw errorFromResponse(response.status, body, parseRetryAfter(response.headers.get('retry-after')));
    }
    const type = response.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream') || response.body === null) {
      await response.body?.cancel();
      throw new CastError('BAD_RESPONSE', `${url.origin}${url.pathname} did not answer with an event stream.`);
    }

    let ending: Ending | undefined;
    const parser = createParser({
      onEvent: (message) => {
        const name = message.event ?? 'message';
        if (name === 'connected') {
          const data = parseData(message.data) as ConnectedData;
          hooks.onOpen({ ...data, channels: Array.isArray(data?.channels) ? data.channels : [] });
          return;
        }
        if (name === 'expired') {
          ending = { kind: 'expired' };
          controller.abort();
          return;
        }
        if (message.id !== undefined) hooks.onId(message.id);
        hooks.onEvent({
          id: message.id,
          channel: message.id === undefined ? undefined : parseWireId(message.id)?.channel,
          event: name,
          data: parseData(message.data),
        });
      },
      onRetry: (ms) => hooks.onRetry(ms),
    });

    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        armStall();
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
        if (ending !== undefined) break;
      }
    } catch (error) {
      if (ending !== undefined || hooks.signal.aborted) return ending ?? { kind: 'dropped' };
      return {
        kind: 'dropped',
        error: new CastError('STREAM_INTERRUPTED', stalled ? 'no heartbeat from the server' : describe(error), {
          cause: error,
        }),
      };
    } finally {
      reader.cancel().catch(() => undefined);
    }
    return ending ?? { kind: 'dropped' };
  } finally {
    clearTimeout(stallTimer);
    hooks.signal.removeEventListener('abort', stop);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
