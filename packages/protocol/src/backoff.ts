/**
 * How {@link backoffDelay} spreads a delay over its window.
 *
 * - `full`: a uniform draw in `[0, window)`, the widest spread (clients of one server);
 * - `equal`: a uniform draw in `[window / 2, window]`, never much shorter than planned;
 * - `none`: the window itself, for a single connection with nobody to collide with.
 *
 * @example
 * ```ts
 * backoffDelay(2, { floorMs: 250, capMs: 5000, jitter: BACKOFF_JITTERS.equal })
 * ```
 */
export const BACKOFF_JITTERS = {
  /** Anywhere from 0 to the attempt's window: spreads a crowd of clients the most. */
  full: 'full',
  /** From half the window to the whole of it: never retries at once. */
  equal: 'equal',
  /** Exactly the window: for a single process where spreading does not matter. */
  none: 'none',
} as const;

/**
 * One of {@link BACKOFF_JITTERS}.
 *
 * @example
 * ```ts
 * const jitter: BackoffJitter = 'equal'
 * ```
 */
export type BackoffJitter = (typeof BACKOFF_JITTERS)[keyof typeof BACKOFF_JITTERS];

/**
 * The schedule of {@link backoffDelay}.
 *
 * @example
 * ```ts
 * const schedule: BackoffOptions = { floorMs: 1000, capMs: 30_000 }
 * backoffDelay(0, schedule) // somewhere in [0, 1000)
 * ```
 */
export interface BackoffOptions {
  /** The window of the first retry (attempt 0), milliseconds; it doubles per attempt. */
  floorMs: number;
  /** The largest window, milliseconds. */
  capMs: number;
  /** How the delay is drawn from the window. @defaultValue `'full'` */
  jitter?: BackoffJitter;
}

/**
 * The delay before retry `attempt` (0 for the first retry after a failure):
 * exponential backoff, a window of `min(capMs, floorMs * 2^attempt)` with the
 * chosen jitter. Full jitter spreads a crowd of clients that lost the same
 * server over the whole window instead of letting them return in waves.
 *
 * @param attempt - how many attempts failed in a row before this one, from 0 (a negative count is 0)
 * @param options - the floor, cap and jitter of the schedule
 * @param random - a source of numbers in `[0, 1)`
 * @returns the delay in whole milliseconds
 * @example
 * ```ts
 * backoffDelay(3, { floorMs: 1000, capMs: 30_000 }) // somewhere in [0, 8000)
 * backoffDelay(3, { floorMs: 50, capMs: 1000, jitter: 'none' }) // 400
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  // 2 ** 31 and beyond only matter as "at the cap"; clamping keeps the product finite.
  const window = Math.min(options.capMs, options.floorMs * 2 ** Math.min(Math.max(0, attempt), 31));
  const jitter = options.jitter;
  if (jitter === 'none') return window;
  return jitter === 'equal' ? Math.round(window / 2 + (window / 2) * random()) : Math.floor(window * random());
}
