import { CastError, isCastError, WEBHOOK_SIGNATURE_HEADER, type WebhookEvent } from '@cast/protocol';
import { errorResponse, json } from './responses.js';
import { verifyWebhook } from './webhook.js';

/**
 * Options of {@link createWebhookHandler}.
 *
 * @example
 * ```ts
 * const options: WebhookHandlerOptions = { secret: process.env.CAST_WEBHOOK_SECRET!, onEvents: (events) => console.log(events) }
 * ```
 */
export interface WebhookHandlerOptions {
  /** The webhook secret (the server's `CAST_WEBHOOK_SECRET`), or several during a rotation. */
  secret: string | readonly string[];
  /**
   * Called with the events of every verified delivery, in order. Finish your
   * work (or queue it durably) before it resolves: the delivery is
   * acknowledged only then. A throw answers 500, so Cast delivers the batch
   * again (deduplicate on `event.id`).
   */
  onEvents: (events: WebhookEvent[], request: Request) => void | Promise<void>;
  /** See {@link VerifyWebhookOptions.toleranceSeconds}. @defaultValue 300 */
  toleranceSeconds?: number;
  /** Told about a throw of `onEvents` (the sender only sees a 500). */
  onError?: (error: unknown) => void;
}

/**
 * Builds a Fetch-API handler that receives Cast webhooks: it verifies the
 * `Cast-Signature` of each `POST` (401 `INVALID_SIGNATURE` / `WEBHOOK_TOO_OLD`
 * otherwise), hands the events to `onEvents`, and answers 200
 * `{ "received": N }` once it resolved. Works with Hono, Next.js route
 * handlers, Cloudflare Workers, Deno and Bun as is.
 *
 * @param options - the secret and what to do with the events
 * @returns the request handler
 * @throws CastError `INVALID_OPTIONS` without a secret or `onEvents`
 * @example
 * ```ts
 * // Next.js: app/api/cast-webhooks/route.ts
 * export const POST = createWebhookHandler({
 *   secret: process.env.CAST_WEBHOOK_SECRET!,
 *   onEvents: async (events) => {
 *     for (const e of events) if (e.type === 'presence.join') await markOnline(e.userId!)
 *   },
 * })
 * ```
 */
export function createWebhookHandler(options: WebhookHandlerOptions): (request: Request) => Promise<Response> {
  const { secret, onEvents, toleranceSeconds, onError } = options ?? ({} as WebhookHandlerOptions);
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (!Array.isArray(secrets) || secrets.length === 0 || !secrets.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new CastError('INVALID_OPTIONS', 'createWebhookHandler needs { secret }, the webhook secret.');
  }
  if (typeof onEvents !== 'function') {
    throw new CastError('INVALID_OPTIONS', 'createWebhookHandler needs { onEvents }, a function of the events.');
  }
  const verifyOptions = toleranceSeconds === undefined ? {} : { toleranceSeconds };
  // Checked once here, so that a bad tolerance fails at startup rather than on every delivery.
  if (toleranceSeconds !== undefined && !(typeof toleranceSeconds === 'number' && toleranceSeconds > 0)) {
    throw new CastError('INVALID_OPTIONS', 'toleranceSeconds must be a positive number of seconds.');
  }

  return async function castWebhookHandler(request: Request): Promise<Response> {
    if (request.method !== 'POST') {
      return errorResponse(new CastError('METHOD_NOT_ALLOWED', 'Cast webhooks are POSTed.'));
    }
    let events: WebhookEvent[];
    try {
      const body = new Uint8Array(await request.arrayBuffer());
      events = await verifyWebhook(body, request.headers.get(WEBHOOK_SIGNATURE_HEADER), secrets, verifyOptions);
    } catch (error) {
      if (isCastError(error) && error.status >= 400 && error.status < 500) return errorResponse(error);
      onError?.(error);
      return errorResponse(new CastError('INTERNAL', 'Could not read the webhook.'));
    }
    try {
      await onEvents(events, request);
    } catch (error) {
      onError?.(error);
      return errorResponse(new CastError('INTERNAL', 'The webhook receiver failed; the delivery will be retried.'));
    }
    return json(200, { received: events.length });
  };
}
