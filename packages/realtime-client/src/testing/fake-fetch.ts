// Test support only (not exported): a fetch whose answers and stream bytes the test scripts.
import type { StreamFetch, StreamResponse } from '../types.js';

/** One request the client made, with controls to answer it. */
export interface FakeCall {
  url: URL;
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Answers with an open event stream (or other status/headers/body); returns its controls. */
  respond(init?: { status?: number; headers?: Record<string, string>; body?: string }): FakeStream;
  /** Fails the request like a refused connection. */
  fail(error?: unknown): void;
}

/** Controls of an answered stream. */
export interface FakeStream {
  /** Sends a chunk (a string is sent as UTF-8 bytes). */
  push(chunk: string | Uint8Array): void;
  /** Ends the body cleanly. */
  end(): void;
  /** Breaks the body mid-stream. */
  error(error?: unknown): void;
  /** Whether the client cancelled or aborted the body. */
  readonly cancelled: boolean;
}

/** A scripted fetch: every call waits until the test answers it. */
export function createFakeFetch() {
  const calls: FakeCall[] = [];
  const encoder = new TextEncoder();
  const fetch: StreamFetch = (input, init) =>
    new Promise<StreamResponse>((resolve, reject) => {
      const abortError = () => Object.assign(new Error('aborted'), { name: 'AbortError' });
      if (init.signal.aborted) return reject(abortError());
      let settled = false;
      init.signal.addEventListener('abort', () => {
        if (!settled) {
          settled = true;
          reject(abortError());
        }
      });
      calls.push({
        url: new URL(input),
        headers: init.headers,
        signal: init.signal,
        respond({ status = 200, headers = { 'content-type': 'text/event-stream' }, body } = {}) {
          let controller!: ReadableStreamDefaultController<Uint8Array>;
          let cancelled = false;
          const stream = new ReadableStream<Uint8Array>({
            start(c) {
              controller = c;
              if (body !== undefined) {
                c.enqueue(encoder.encode(body));
                c.close();
              }
            },
            cancel() {
              cancelled = true;
            },
          });
          init.signal.addEventListener('abort', () => {
            cancelled = true;
            try {
              controller.error(abortError());
            } catch {
              // already closed
            }
          });
          const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
          if (!settled) {
            settled = true;
            resolve({
              status,
              headers: { get: (name: string) => lower[name.toLowerCase()] ?? null },
              body: stream,
              text: async () => body ?? '',
            });
          }
          return {
            push: (chunk) => {
              try {
                controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
              } catch {
                // the client went away; a real server's write would fail the same way
              }
            },
            end: () => controller.close(),
            error: (error = new TypeError('terminated')) => controller.error(error),
            get cancelled() {
              return cancelled;
            },
          };
        },
        fail(error = new TypeError('fetch failed')) {
          if (!settled) {
            settled = true;
            reject(error);
          }
        },
      });
    });
  return {
    fetch,
    calls,
    /** The most recent call. */
    get last(): FakeCall {
      const call = calls[calls.length - 1];
      if (!call) throw new Error('no fetch call yet');
      return call;
    },
  };
}

/**
 * Lets promise chains (stream reads, fetch answers) run to quiescence: a few
 * turns of the real event loop. Tests fake only the timers, not setImmediate.
 */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The timers the unit tests fake: every timer the client uses, and the clock. */
export const FAKED_TIMERS = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const;

/** The `connected` frame the server sends first. */
export function connectedFrame(data: Record<string, unknown> = { channels: ['orders'] }): string {
  return `retry: 1000\nevent: connected\ndata: ${JSON.stringify(data)}\n\n`;
}

/** One event frame as the server writes it. */
export function eventFrame(position: string, channel: string, event: string, data: unknown): string {
  return `id: ${position}/${channel}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
