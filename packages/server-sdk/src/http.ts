/**
 * The one way this SDK talks to the Cast server: JSON over `fetch`, with a
 * per-call deadline, an optional `AbortSignal` and retries with backoff.
 */
import { backoffDelay, CastError, errorFromResponse, isCastError } from '@cast/protocol';
import { parseRetryAfter } from './backoff.js';
import type { FetchLike, RequestOptions } from './types.js';

/** The retry schedule: a full-jitter window from 250 ms doubling up to 5 s. */
const RETRY_BACKOFF = { floorMs: 250, capMs: 5000 } as const;

/** What every call needs from the client's options. */
export interface TransportConfig {
  /** Base URL without a trailing slash. */
  baseUrl: string;
  /** Secret API key, sent as `Authorization: Bearer`. */
  apiKey: string;
  /** The fetch to call. */
  fetch: FetchLike;
  /** Default deadline of one call, milliseconds. */
  timeoutMs: number;
  /** Retries after the first attempt. */
  retries: number;
  /** Jitter source; tests may pin it. */
  random?: () => number;
}

/** One HTTP call. */
export interface CallSpec {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * Checks a `timeoutMs` value.
 *
 * @param value - the candidate
 * @param where - the option's name, for the message
 * @returns the value
 * @example
 * ```ts
 * checkTimeout(5000, 'timeoutMs')
 * ```
 */
export function checkTimeout(value: number, where: string): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new CastError('INVALID_OPTIONS', `${where} must be a positive number of milliseconds.`);
  }
  return value;
}

/** Rejects with the signal's reason as soon as it aborts, whatever the promise does. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return raceAbort(
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    }),
    signal,
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function attempt<T>(config: TransportConfig, spec: CallSpec, signal: AbortSignal): Promise<T> {
  const url = new URL(config.baseUrl + spec.path);
  for (const [name, value] of Object.entries(spec.query ?? {})) {
    if (value !== undefined) url.searchParams.set(name, value);
  }
  const headers: Record<string, string> = {
    accept: 'application/json',
    authorization: `Bearer ${config.apiKey}`,
    ...spec.headers,
  };
  const init: RequestInit = { method: spec.method, headers, signal };
  if (spec.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(spec.body);
  }

  let response: Response;
  let text: string;
  try {
    response = await config.fetch(url.toString(), init);
    text = await response.text();
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new CastError('NETWORK_ERROR', `Could not reach the Cast server at ${url.origin}: ${describe(error)}`, {
      cause: error,
    });
  }

  if (!response.ok) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    throw errorFromResponse(response.status, body, parseRetryAfter(response.headers.get('retry-after')));
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) throw new TypeError('not a JSON object');
    return parsed as T;
  } catch (error) {
    throw new CastError('BAD_RESPONSE', `The Cast server answered HTTP ${response.status} without a JSON object.`, {
      status: response.status,
      cause: error,
    });
  }
}

/**
 * Sends one call and returns its parsed JSON answer. Retries network errors,
 * 408, 429 (waiting `Retry-After` when given) and 5xx with full-jitter backoff, all
 * within one deadline (`timeoutMs`, the whole call including waits). The
 * caller's signal ends the call at once with `ABORTED`.
 *
 * @param config - the client's transport settings
 * @param spec - method, path, query, body, extra headers
 * @param options - the caller's signal and deadline
 * @returns the JSON object the server answered
 * @example
 * ```ts
 * const res = await send<PublishResponse>(config, { method: 'POST', path: '/push/publish', body })
 * ```
 */
export async function send<T>(config: TransportConfig, spec: CallSpec, options: RequestOptions = {}): Promise<T> {
  const timeoutMs = checkTimeout(options.timeoutMs ?? config.timeoutMs, 'timeoutMs');
  const outer = options.signal;
  if (outer?.aborted) throw abortedError(outer.reason);

  const controller = new AbortController();
  const onAbort = (): void => controller.abort(abortedError(outer?.reason));
  outer?.addEventListener('abort', onAbort, { once: true });
  const finite = Number.isFinite(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  const timer = finite
    ? setTimeout(
        () =>
          controller.abort(new CastError('TIMEOUT', `The call did not finish within ${timeoutMs} ms.`, { status: 0 })),
        timeoutMs,
      )
    : undefined;

  try {
    for (let retry = 0; ; retry += 1) {
      let failure: CastError;
      try {
        return await raceAbort(attempt<T>(config, spec, controller.signal), controller.signal);
      } catch (error) {
        if (controller.signal.aborted) throw controller.signal.reason;
        failure = isCastError(error)
          ? error
          : new CastError('INTERNAL', `Unexpected failure: ${describe(error)}`, { cause: error });
      }
      // Retryable: the server was not reached, timed the request out (408), was rate limited or failed
      // (5xx), as `errorFromResponse` and the error table say. Other 4xx answers do not change by retrying.
      if (retry >= config.retries || !failure.retryable) throw failure;
      const wait =
        failure.retryAfter !== undefined
          ? failure.retryAfter * 1000
          : backoffDelay(retry, RETRY_BACKOFF, config.random);
      // A wait that ends past the deadline could only end in TIMEOUT; the real cause says more.
      if (finite && Date.now() + wait >= deadline) throw failure;
      await sleep(wait, controller.signal);
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

function abortedError(reason: unknown): CastError {
  return new CastError('ABORTED', 'The call was aborted by its signal.', {
    ...(reason === undefined ? {} : { cause: reason }),
  });
}
