/**
 * Retry timing: full-jitter exponential backoff and `Retry-After` parsing.
 * Pure functions, so the schedule is testable without a network.
 */

/** Shape of the backoff schedule. */
export interface BackoffOptions {
  /** Delay ceiling of the first retry, milliseconds. @defaultValue 250 */
  baseMs?: number;
  /** Largest delay of any retry, milliseconds. @defaultValue 5000 */
  maxMs?: number;
}

/**
 * Full-jitter backoff: a delay drawn uniformly from `[0, min(maxMs, baseMs * 2^attempt))`,
 * which spreads the retries of many clients that failed together.
 *
 * @param attempt - the retry number, from 0
 * @param random - a source of numbers in `[0, 1)`
 * @param options - the schedule
 * @returns the delay in milliseconds
 * @example
 * ```ts
 * backoffDelay(2, Math.random) // somewhere in [0, 1000)
 * ```
 */
export function backoffDelay(
  attempt: number,
  random: () => number = Math.random,
  options: BackoffOptions = {},
): number {
  const base = options.baseMs ?? 250;
  const max = options.maxMs ?? 5_000;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

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
