import { WEBHOOK_SIGNATURE_HEADER, type WebhookBody, type WebhookEvent } from '@cast/protocol';
import { signWebhook } from './sign.js';

/** The fetch the engine sends with (injectable for tests). */
export type WebhookFetch = (url: string, init: RequestInit) => Promise<Response>;

/** What one request to a receiver came to. */
export interface PostOutcome {
  ok: boolean;
  /** Why it failed, for the log: `HTTP 500`, `timeout after 5000 ms`, `ECONNREFUSED`. */
  reason?: string;
}

/** Options of {@link postWebhook}. */
export interface PostWebhookOptions {
  url: string;
  secret: string;
  events: readonly WebhookEvent[];
  /** Longest wait for the answer's status, ms. */
  timeoutMs: number;
  fetch: WebhookFetch;
  now: () => number;
  /** Ends the request early (shutdown). */
  signal?: AbortSignal;
}

/**
 * POSTs one signed batch to a receiver. Never throws: a 2xx is `ok`, anything
 * else (another status, a timeout, a refused connection) is a failure to retry.
 *
 * @example
 * ```ts
 * const { ok } = await postWebhook({ url, secret, events, timeoutMs: 5000, fetch, now: Date.now })
 * ```
 */
export async function postWebhook(options: PostWebhookOptions): Promise<PostOutcome> {
  const payload: WebhookBody = { events: [...options.events] };
  const body = JSON.stringify(payload);
  const signature = signWebhook(body, options.secret, Math.floor(options.now() / 1000));
  const controller = new AbortController();
  // A timer of our own rather than AbortSignal.timeout, so fake timers drive it in tests.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onAbort = () => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await options.fetch(options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Cast-Webhooks/1',
        [WEBHOOK_SIGNATURE_HEADER]: signature,
      },
      body,
      redirect: 'manual',
      signal: controller.signal,
    });
    // The answer's body means nothing to us; release the connection.
    await res.body?.cancel().catch(() => {});
    return res.status >= 200 && res.status < 300 ? { ok: true } : { ok: false, reason: `HTTP ${res.status}` };
  } catch (err) {
    if (timedOut) return { ok: false, reason: `timeout after ${options.timeoutMs} ms` };
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, reason: cause?.code ?? cause?.message ?? (err as Error).message };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
