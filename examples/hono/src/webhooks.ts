import { createHmac, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';

/** One event of a Cast webhook (the `WebhookEvent` type of `@cast/protocol`). */
export interface CastWebhookEvent {
  id: string;
  type: 'channel.occupied' | 'channel.vacated' | 'presence.join' | 'presence.leave' | 'connection.revoked';
  tenant: string;
  channel: string;
  userId?: string;
  at: string;
}

/**
 * The events of a body Cast signed (`Cast-Signature: t=…,v1=…`) within
 * `toleranceSeconds`, or undefined for anything else.
 */
export function verifyCastWebhook(rawBody: string, header: string | undefined, secret: string, toleranceSeconds = 300) {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return undefined;
  const [, t, v1] = match as unknown as [string, string, string];
  if (Math.abs(Date.now() / 1000 - Number(t)) > toleranceSeconds) return undefined;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(v1, 'hex'))) return undefined;
  return (JSON.parse(rawBody) as { events: CastWebhookEvent[] }).events;
}

/**
 * A Hono app receiving Cast webhooks: verifies each request, skips events
 * already handled (delivery is at least once) and answers 204.
 */
export function castWebhooks(secret: string, handle: (event: CastWebhookEvent) => void | Promise<void>): Hono {
  const app = new Hono();
  // Keep handled ids in your database (a unique key) in a real app; memory forgets them on restart.
  const handled = new Set<string>();
  app.post('/', async (c) => {
    const events = verifyCastWebhook(await c.req.text(), c.req.header('cast-signature'), secret);
    if (!events) return c.json({ error: { code: 'INVALID_SIGNATURE', message: 'Not signed by Cast.' } }, 400);
    for (const event of events) {
      if (handled.has(event.id)) continue;
      await handle(event);
      handled.add(event.id);
    }
    return c.body(null, 204);
  });
  return app;
}
