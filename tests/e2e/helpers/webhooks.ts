/**
 * Webhook receivers for the end-to-end tests: the same loopback receiver the
 * server's own webhook tests use (one place for it), and a signer for posting
 * deliveries to receivers under test.
 */
import { createHmac } from 'node:crypto';
import type { WebhookEvent } from '@cast/protocol';

export * from '../../../apps/server/src/webhooks/test-receiver.js';

/**
 * Signs a body the way the Cast server does, for testing receivers.
 *
 * @example
 * ```ts
 * fetch(url, { method: 'POST', body, headers: { 'cast-signature': castSignature(body, secret) } })
 * ```
 */
export function castSignature(body: string, secret: string, unixSeconds = Math.floor(Date.now() / 1000)): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

/** Posts a signed batch of events to a receiver; `signature` overrides the header. */
export async function postSigned(
  url: string,
  events: WebhookEvent[],
  secret: string,
  signature?: string,
): Promise<number> {
  const body = JSON.stringify({ events });
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cast-signature': signature ?? castSignature(body, secret) },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}
