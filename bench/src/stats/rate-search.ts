/**
 * The search for the highest rate that passes: grow the rate geometrically
 * while steps pass, then bisect (geometric mean) between the last pass and the
 * first failure. Bounded in steps; a first failure searches downwards.
 */

/** Options of {@link createRateSearch}. */
export interface RateSearchOptions {
  /** The first rate to try. */
  start: number;
  /** Growth factor while steps pass. @defaultValue 2 */
  factor?: number;
  /** Bisection steps after the first failure. @defaultValue 2 */
  refine?: number;
  /** Most steps in all. @defaultValue 12 */
  maxSteps?: number;
  /** Lowest rate worth trying. @defaultValue 1 */
  min?: number;
  /** Highest rate worth trying. @defaultValue Infinity */
  max?: number;
  /**
   * Failures in a row tolerated while growing: one noisy step (a neighbour's
   * CPU burst on a shared machine, or the knee where batching starts) does
   * not end the climb. @defaultValue 1
   */
  patience?: number;
}

/** One tried step. */
export interface RateStep {
  /** The rate tried. */
  rate: number;
  /** Whether it passed. */
  passed: boolean;
}

/** A rate search in progress. */
export interface RateSearch {
  /** The next rate to try, or undefined when the search is over. */
  next(): number | undefined;
  /** Records the outcome of the rate last returned by `next()`. */
  record(passed: boolean): void;
  /** The highest passing rate so far. */
  best(): number | undefined;
  /** Every step so far, in order. */
  steps(): readonly RateStep[];
}

/**
 * Creates a rate search.
 *
 * @param options - where to start and how far to go
 * @returns the search
 * @throws RangeError when start, factor or bounds are not usable
 * @example
 * ```ts
 * const search = createRateSearch({ start: 100 });
 * for (let rate = search.next(); rate !== undefined; rate = search.next()) {
 *   search.record(await runStep(rate));
 * }
 * search.best();
 * ```
 */
export function createRateSearch(options: RateSearchOptions): RateSearch {
  const factor = options.factor ?? 2;
  const refine = options.refine ?? 2;
  const maxSteps = options.maxSteps ?? 12;
  const min = options.min ?? 1;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const patience = options.patience ?? 1;
  if (
    !(options.start > 0) ||
    !(factor > 1) ||
    !(min > 0) ||
    !(max >= min) ||
    refine < 0 ||
    maxSteps < 1 ||
    patience < 1
  ) {
    throw new RangeError('createRateSearch: start, min > 0, max >= min, factor > 1, refine >= 0, maxSteps >= 1.');
  }
  const history: RateStep[] = [];
  let pending: number | undefined;
  let lowPass: number | undefined;
  let highFail: number | undefined;
  let refined = 0;
  let done = false;
  let climbing = true;
  let failsInRow = 0;
  let top = 0;
  const clamp = (r: number): number => Math.round(Math.min(max, Math.max(min, r)));

  function next(): number | undefined {
    if (done || history.length >= maxSteps) return undefined;
    if (pending !== undefined) return pending;
    let rate: number;
    if (history.length === 0) rate = clamp(options.start);
    else if (climbing && lowPass !== undefined) {
      // Growing: from the highest rate tried, while failures in a row stay within patience.
      rate = clamp(top * factor);
      if (rate === top) return finish();
    } else if (lowPass === undefined) {
      // Every step failed so far: shrink.
      rate = clamp(highFail! / factor);
      if (rate === highFail) return finish();
    } else {
      if (highFail === undefined || refined >= refine) return finish();
      rate = clamp(Math.sqrt(lowPass * highFail));
      if (rate <= lowPass || rate >= highFail) return finish();
      refined += 1;
    }
    pending = rate;
    return rate;
  }

  function finish(): undefined {
    done = true;
    return undefined;
  }

  function record(passed: boolean): void {
    if (pending === undefined) throw new Error('record() called without a pending rate from next().');
    const rate = pending;
    pending = undefined;
    history.push({ rate, passed });
    top = Math.max(top, rate);
    if (passed) {
      lowPass = lowPass === undefined ? rate : Math.max(lowPass, rate);
      failsInRow = 0;
      // A failure below a pass no longer bounds the search.
      if (highFail !== undefined && highFail <= lowPass) highFail = undefined;
    } else {
      highFail = highFail === undefined || highFail <= (lowPass ?? 0) ? rate : Math.min(highFail, rate);
      failsInRow += 1;
      if (lowPass === undefined || failsInRow >= patience) climbing = false;
    }
  }

  return {
    next,
    record,
    best: () => lowPass,
    steps: () => history,
  };
}
