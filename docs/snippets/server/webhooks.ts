import { createWebhookHandler, verifyWebhook } from '@cast/server-sdk';
import type { WebhookEvent } from '@cast/server-sdk';

/** The endpoint Cast posts webhooks to. */
export function webhookEndpoint(secret: string, handle: (event: WebhookEvent) => Promise<void>) {
  // #region handler
  // A (Request) => Response handler: mount it in Hono, Next.js, Workers, Deno or Bun.
  const handler = createWebhookHandler({
    secret, // the server's CAST_WEBHOOK_SECRET
    onEvents: async (events) => {
      // Resolve only once the work is done (or queued durably); a throw answers 500 and Cast retries.
      for (const event of events) await handle(event); // deduplicate on event.id: delivery is at least once
    },
  });
  // #endregion handler
  return handler;
}

/** Verifies a delivery by hand, from the raw body and the header. */
export async function verifyByHand(rawBody: string, signature: string | null, secret: string) {
  // #region verify
  // The raw body, as received: JSON parsed and serialized again does not verify.
  const events = await verifyWebhook(rawBody, signature, secret, { toleranceSeconds: 300 });
  // Throws CastError INVALID_SIGNATURE (no, malformed or wrong signature) or WEBHOOK_TOO_OLD (a replay).
  // #endregion verify
  return events;
}
