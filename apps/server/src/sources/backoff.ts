/** Options of {@link reconnectDelay}. */
export interface ReconnectDelayOptions {
  /** First delay, ms. @defaultValue 250 */
  baseMs?: number;
  /** Longest delay, ms. @defaultValue 5000 */
  maxMs?: number;
  /** A number in [0, 1), for tests. @defaultValue Math.random */
  random?: () => number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first): doubling
 * from `baseMs` up to `maxMs`, then a random half of it taken off, so nodes
 * that lost the database together do not return in lockstep.
 *
 * @param attempt - attempts made since the connection was lost
 * @param options - base, cap and randomness
 * @returns milliseconds to wait
 * @example
 * ```ts
 * reconnectDelay(0) // 125–250
 * reconnectDelay(10) // 2500–5000
 * ```
 */
export function reconnectDelay(attempt: number, options: ReconnectDelayOptions = {}): number {
  const base = options.baseMs ?? 250;
  const max = options.maxMs ?? 5000;
  const random = options.random ?? Math.random;
  const ceiling = Math.min(max, base * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
