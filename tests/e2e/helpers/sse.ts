import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { expect } from 'vitest';

/** One SSE message as a raw reader sees it. */
export interface RawEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/** A raw SSE reader over fetch, for tests that check the wire itself. */
export interface RawStream {
  status: number;
  headers: Headers;
  /** Every message received so far (comments excluded). */
  events: RawEvent[];
  /** Comments received so far (heartbeats). */
  comments: string[];
  /** The raw text received so far. */
  text(): string;
  /** Resolves when `count` messages (optionally matching) have arrived, or rejects after `timeoutMs`. */
  waitFor(count: number, options?: { timeoutMs?: number; match?: (e: RawEvent) => boolean }): Promise<RawEvent[]>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** Closes the stream from the client side. */
  close(): void;
}

/**
 * Opens `url` with fetch and parses the SSE body with eventsource-parser. A
 * non-200 answer resolves too (check `status`; `events` stays empty).
 */
export async function openRaw(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  const events: RawEvent[] = [];
  const comments: string[] = [];
  let raw = '';
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const parser = createParser({
    onEvent(msg: EventSourceMessage) {
      events.push({ id: msg.id, event: msg.event ?? 'message', data: msg.data });
      notify();
    },
    onComment(comment) {
      comments.push(comment);
      notify();
    },
  });
  let ended: Promise<void> = Promise.resolve();
  if (res.status === 200 && res.body) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    ended = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          raw += value;
          parser.feed(value);
        }
      } catch {
        // Aborted by close() or cut by the server.
      } finally {
        notify();
      }
    })();
  } else {
    raw = await res.text();
  }
  return {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    text: () => raw,
    ended,
    close: () => controller.abort(),
    waitFor(count, options = {}) {
      const timeoutMs = options.timeoutMs ?? 10_000;
      const pick = () => (options.match ? events.filter(options.match) : events);
      return new Promise((resolve, reject) => {
        const check = () => {
          const got = pick();
          if (got.length >= count) {
            cleanup();
            resolve(got);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${count} events; got ${pick().length}:\n${raw.slice(-2000)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/**
 * Opens a stream that must be accepted: a 200 whose first message is
 * `connected` (the test fails otherwise).
 *
 * @param url - the stream URL, token included
 * @param headers - extra request headers (`Last-Event-ID`)
 * @returns the open stream, its `connected` received
 */
export async function openConnected(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const s = await openRaw(url, headers);
  expect(s.status).toBe(200);
  await s.waitFor(1);
  expect(s.events[0]?.event).toBe('connected');
  return s;
}
