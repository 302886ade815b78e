import type { StreamFetch, StreamResponse } from '../types.js';

/**
 * The part of `XMLHttpRequest` that {@link createXhrFetch} uses.
 *
 * @example
 * ```ts
 * // A polyfill, or a test double that has these members:
 * const fetchOverXhr = createXhrFetch(FakeXhr satisfies new () => XhrLike)
 * ```
 */
export interface XhrLike {
  /** 0 unsent … 2 headers received, 3 loading, 4 done. */
  readyState: number;
  /** The HTTP status, once the headers arrived. */
  status: number;
  /** Everything received so far, as text. */
  responseText: string;
  /** Prepares the request. */
  open(method: string, url: string): void;
  /** Adds a request header (between `open` and `send`). */
  setRequestHeader(name: string, value: string): void;
  /** A response header, or null when absent. */
  getResponseHeader(name: string): string | null;
  /** Starts the request. */
  send(): void;
  /** Cancels the request. */
  abort(): void;
  /** Called when `readyState` changes. */
  onreadystatechange: (() => void) | null;
  /** Called when more of the body arrived. */
  onprogress: (() => void) | null;
  /** Called when the request failed on the network. */
  onerror: (() => void) | null;
  /** Called when the request was aborted. */
  onabort: (() => void) | null;
}

type Chunk = { done: true; value?: undefined } | { done: false; value: string };

/**
 * A {@link StreamFetch} over `XMLHttpRequest`, for runtimes whose `fetch`
 * cannot stream a response body (React Native's, as of 0.7x). Each `progress`
 * event hands the new part of `responseText` to the reader.
 *
 * `responseText` keeps the whole stream in memory, so a long-lived stream
 * grows; the client's reconnects (token expiry, stalls) start it over.
 *
 * @param Xhr - the XMLHttpRequest constructor @defaultValue globalThis.XMLHttpRequest
 * @returns a fetch for the `fetch` option of `createRealtime`
 * @example
 * ```ts
 * const realtime = createRealtime({ url, token, fetch: createXhrFetch() })
 * ```
 */
export function createXhrFetch(
  Xhr: new () => XhrLike = (globalThis as unknown as { XMLHttpRequest: new () => XhrLike }).XMLHttpRequest,
): StreamFetch {
  return (url, init) =>
    new Promise<StreamResponse>((resolve, reject) => {
      const xhr = new Xhr();
      let seen = 0;
      let ended = false;
      let failure: Error | undefined;
      const queue: Chunk[] = [];
      let waiting: ((chunk: Chunk) => void) | undefined;
      let onFailure: ((error: Error) => void) | undefined;
      let settled = false;
      const textWaiters: Array<(text: string) => void> = [];

      const push = (chunk: Chunk): void => {
        if (waiting) {
          const take = waiting;
          waiting = undefined;
          onFailure = undefined;
          take(chunk);
        } else queue.push(chunk);
      };
      const flush = (): void => {
        const text = xhr.responseText ?? '';
        if (text.length > seen) {
          push({ done: false, value: text.slice(seen) });
          seen = text.length;
        }
      };
      const finish = (error?: Error): void => {
        if (ended) return;
        ended = true;
        for (const done of textWaiters.splice(0)) done(xhr.responseText ?? '');
        if (!settled) {
          settled = true;
          reject(error ?? new TypeError('Network request failed'));
          return;
        }
        if (error) {
          failure = error;
          onFailure?.(error);
        } else push({ done: true });
      };

      // DOMException is missing from some React Native engines; the name is what callers check.
      const abortError = (): Error => Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
      if (init.signal.aborted) {
        reject(abortError());
        return;
      }
      init.signal.addEventListener('abort', () => {
        xhr.abort();
        finish(abortError());
      });

      xhr.onreadystatechange = () => {
        if (xhr.readyState >= 2 && !settled) {
          settled = true;
          resolve({
            status: xhr.status,
            headers: { get: (name) => xhr.getResponseHeader(name) },
            body: {
              getReader: () => ({
                read: () =>
                  new Promise<Chunk>((take, fail) => {
                    if (failure) return fail(failure);
                    const next = queue.shift();
                    if (next) return take(next);
                    waiting = take;
                    onFailure = fail;
                  }),
                cancel: async () => {
                  xhr.abort();
                  finish();
                },
              }),
            },
            text: () =>
              new Promise<string>((done) => {
                if (ended) done(xhr.responseText);
                else textWaiters.push(done);
              }),
          });
        }
        if (xhr.readyState >= 3) flush();
        if (xhr.readyState === 4) {
          flush();
          finish(xhr.status === 0 ? new TypeError('Network request failed') : undefined);
        }
      };
      xhr.onprogress = flush;
      xhr.onerror = () => finish(new TypeError('Network request failed'));
      xhr.onabort = () => finish(abortError());
      xhr.open(init.method, url);
      for (const [name, value] of Object.entries(init.headers)) xhr.setRequestHeader(name, value);
      xhr.send();
    });
}
