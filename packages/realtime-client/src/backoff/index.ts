/**
 * Bounds of the reconnect delay.
 *
 * @example
 * ```ts
 * const bounds: BackoffOptions = { floorMs: 1000, capMs: 30_000 }
 * backoffDelay(0, bounds) // somewhere in [0, 1000)
 * ```
 */
export interface BackoffOptions {
  /** The base delay of the first retry, milliseconds. */
  floorMs: number;
  /** The largest delay, milliseconds. */
  capMs: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry after a
 * drop): exponential backoff with full jitter, a uniform draw in
 * `[0, min(capMs, floorMs * 2^attempt))`. Full jitter spreads a crowd of
 * clients that lost the same server over the whole window instead of letting
 * them return in waves.
 *
 * @param attempt - how many attempts failed in a row before this one, from 0
 * @param options - the floor (base) and cap of the window
 * @param random - a source of numbers in `[0, 1)`
 * @returns the delay in whole milliseconds
 * @example
 * ```ts
 * backoffDelay(3, { floorMs: 1000, capMs: 30_000 }) // somewhere in [0, 8000)
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  // 2 ** 31 and beyond only matter as "at the cap"; clamping keeps the product finite.
  const window = Math.min(options.capMs, options.floorMs * 2 ** Math.min(attempt, 31));
  return Math.floor(window * random());
}
