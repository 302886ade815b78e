import { createHmac } from 'node:crypto';

/**
 * The `Cast-Signature` header of a webhook body: `t=<unix seconds>,v1=<hex
 * HMAC-SHA256 of "<t>.<body>">` under the tenant's webhook secret.
 *
 * @param body - the exact bytes of the request body (UTF-8 text)
 * @param secret - the tenant's webhook secret
 * @param unixSeconds - the signing time, whole seconds since the epoch
 * @returns the header value
 * @example
 * ```ts
 * signWebhook('{"events":[]}', secret, Math.floor(Date.now() / 1000)) // 't=1767225600,v1=5f2c…'
 * ```
 */
export function signWebhook(body: string, secret: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}
