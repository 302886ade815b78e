/**
 * Retry timing: `Retry-After` parsing. The backoff schedule itself is
 * `backoffDelay` from `@cast/protocol`, shared with the realtime client.
 */

/**
 * Reads a `Retry-After` header: delay-seconds (`120`) or an HTTP date.
 *
 * @param value - the header value, or null when absent
 * @param now - the current time, milliseconds since the epoch
 * @returns seconds to wait (0 for a date in the past), or undefined when absent or malformed
 * @example
 * ```ts
 * parseRetryAfter('3') // 3
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.now()) // 0 (in the past)
 * ```
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  // RFC 9110 §10.2.3: otherwise an HTTP-date. Date.parse reads IMF-fixdate and the obsolete forms.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}
