import { percentile } from './histogram.js';

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

/**
 * A "search" that measures a given list of rates in order, for comparing two
 * builds step by step at the same rates (`--rates=` of the runner). It ends
 * after the list; every rate is measured whatever the outcome of the last.
 *
 * @param rates - the rates, in the order to measure them
 * @returns a {@link RateSearch} over exactly those rates
 * @throws RangeError when the list is empty or holds a rate that is not positive
 * @example
 * ```ts
 * const search = createFixedRates([100, 400, 100, 400]);
 * search.next(); // 100
 * ```
 */
export function createFixedRates(rates: readonly number[]): RateSearch {
  if (rates.length === 0 || !rates.every((r) => Number.isFinite(r) && r > 0)) {
    throw new RangeError('createFixedRates: give at least one rate, every rate > 0.');
  }
  const history: RateStep[] = [];
  let pending: number | undefined;
  return {
    next() {
      if (pending === undefined && history.length < rates.length) pending = rates[history.length];
      return pending;
    },
    record(passed) {
      if (pending === undefined) throw new Error('record() called without a pending rate from next().');
      history.push({ rate: pending, passed });
      pending = undefined;
    },
    best: () => {
      const passed = history.filter((h) => h.passed).map((h) => h.rate);
      return passed.length ? Math.max(...passed) : undefined;
    },
    steps: () => history,
  };
}

/** What {@link retryReason} and {@link bestStep} read of a measured step. */
export interface MeasuredStep {
  /** The rate measured. */
  rate: number;
  /** Whether it passed. */
  passed: boolean;
  /** Its p99 latency, ms. */
  p99Ms: number;
  /** Failures other than latency (loss, duplicates, errors, a late publisher). */
  failures: readonly string[];
  /** Set on the second measurement of a search's best rate: the rate it confirms. */
  confirms?: number;
  /**
   * Set on a later measurement of a rate the search passed, taken for the
   * step comparison ({@link furthestBehind}): the rate it measures again.
   */
  repeats?: number;
}

/**
 * Whether a step is a pass of the search itself: not a confirmation of its
 * best rate, not a repeat for the step comparison.
 *
 * @param x - the step
 * @returns true when the search passed its rate with this step
 * @example
 * ```ts
 * passedBySearch({ rate: 100, passed: true, p99Ms: 20, failures: [], repeats: 100 }) // false
 * ```
 */
export function passedBySearch(x: MeasuredStep): boolean {
  return x.passed && x.confirms === undefined && x.repeats === undefined;
}

/**
 * Why a failed step of a search is measured once more, or undefined: other
 * processes took a large share of the machine, or it failed only on p99, by
 * less than twice the bound, above every rate passed so far (the knee, where
 * one step's luck decides). A step that failed otherwise (lost events, a late
 * publisher) is not retried for being at the knee.
 *
 * @param st - the failed (or passed) step
 * @param bestRate - the highest rate passed so far
 * @param p99LimitMs - the search's p99 bound, ms
 * @param othersCores - cores other processes used during the step
 * @param othersLimit - cores of other processes above which a step is retried
 * @returns the reason to measure it again, or undefined
 * @example
 * ```ts
 * retryReason({ rate: 800, passed: false, p99Ms: 120, failures: [] }, 400, 100, 0, 0.5)
 * // 'p99 within twice the bound at the knee'
 * ```
 */
export function retryReason(
  st: MeasuredStep,
  bestRate: number | undefined,
  p99LimitMs: number,
  othersCores: number,
  othersLimit: number,
): string | undefined {
  if (st.passed) return undefined;
  if (othersCores > othersLimit) return `other processes used ${othersCores.toFixed(2)} cores`;
  if (st.failures.length === 0 && st.p99Ms <= 2 * p99LimitMs && st.rate > (bestRate ?? 0))
    return 'p99 within twice the bound at the knee';
  return undefined;
}

/**
 * The best step of a search that held: the highest passing rate whose
 * confirmation (its second measurement after the search, when there is one)
 * passed too; when the confirmation failed, the highest passing rate below it.
 *
 * @param steps - every measured step, confirmations included
 * @returns the best step, or undefined when none passed
 * @example
 * ```ts
 * bestStep([
 *   { rate: 400, passed: true, p99Ms: 40, failures: [] },
 *   { rate: 800, passed: true, p99Ms: 90, failures: [] },
 *   { rate: 800, passed: false, p99Ms: 130, failures: [], confirms: 800 },
 * ])?.rate // 400
 * ```
 */
export function bestStep<S extends MeasuredStep>(steps: readonly S[]): S | undefined {
  const failedConfirm = new Set(steps.filter((x) => x.confirms !== undefined && !x.passed).map((x) => x.confirms));
  let best: S | undefined;
  for (const x of steps) {
    if (!passedBySearch(x) || failedConfirm.has(x.rate)) continue;
    if (!best || x.rate > best.rate) best = x;
  }
  return best;
}

/** The step of {@link furthestBehind}: a rate both searches passed and the p99 of each there. */
export interface StepComparison {
  /** The rate. */
  rate: number;
  /** The reference's p99 at that rate, ms. */
  referenceP99Ms: number;
  /** The measured target's p99 at that rate, ms. */
  p99Ms: number;
}

/**
 * A target's p99 at each rate its search passed: the median (nearest rank) of
 * its first passing measurement there and every repeat of that rate, passed
 * or not; confirmations do not count.
 *
 * @param steps - the target's steps
 * @returns rate → median p99, ms
 * @example
 * ```ts
 * medianP99ByRate([{ rate: 100, passed: true, p99Ms: 30, failures: [] },
 *   { rate: 100, passed: true, p99Ms: 50, failures: [], repeats: 100 },
 *   { rate: 100, passed: false, p99Ms: 120, failures: [], repeats: 100 }]) // Map { 100 => 50 }
 * ```
 */
export function medianP99ByRate(steps: readonly MeasuredStep[]): Map<number, number> {
  const samples = new Map<number, number[]>();
  for (const x of steps) {
    if (passedBySearch(x) && !samples.has(x.rate)) samples.set(x.rate, [x.p99Ms]);
  }
  for (const x of steps) if (x.repeats !== undefined) samples.get(x.repeats)?.push(x.p99Ms);
  return new Map([...samples].map(([rate, p99s]) => [rate, percentile(p99s, 50)]));
}

/**
 * Of the rates two searches both passed, the one where the target's p99 is
 * the largest multiple of the reference's. At each rate a target's p99 is
 * {@link medianP99ByRate}'s: one short step's p99 is
 * decided by its one or two slowest flushes, and the largest of several such
 * ratios is biased upwards even between two identical servers.
 *
 * @param reference - the reference's steps (the baseline)
 * @param target - the measured target's steps (Cast)
 * @returns that rate with both p99s, or undefined when no rate passed on both
 * @example
 * ```ts
 * furthestBehind(
 *   [{ rate: 100, passed: true, p99Ms: 20, failures: [] }, { rate: 200, passed: true, p99Ms: 40, failures: [] }],
 *   [{ rate: 100, passed: true, p99Ms: 30, failures: [] }, { rate: 200, passed: true, p99Ms: 44, failures: [] }],
 * ) // { rate: 100, referenceP99Ms: 20, p99Ms: 30 }
 * ```
 */
export function furthestBehind(
  reference: readonly MeasuredStep[],
  target: readonly MeasuredStep[],
): StepComparison | undefined {
  const ref = medianP99ByRate(reference);
  let worst: StepComparison | undefined;
  for (const [rate, p99Ms] of medianP99ByRate(target)) {
    const referenceP99Ms = ref.get(rate);
    if (referenceP99Ms === undefined || !(referenceP99Ms > 0)) continue;
    if (!worst || p99Ms / referenceP99Ms > worst.p99Ms / worst.referenceP99Ms) worst = { rate, referenceP99Ms, p99Ms };
  }
  return worst;
}

/**
 * The rates to measure again for the step comparison: those the reference's
 * search passed and at least one other target's search passed too, lowest
 * first (a confirmation or repeat does not make a rate passed).
 *
 * @param reference - the reference's steps (the baseline)
 * @param others - the steps of the targets compared with it
 * @returns the rates
 * @example
 * ```ts
 * ratesToRepeat([{ rate: 100, passed: true, p99Ms: 20, failures: [] }], [[{ rate: 100, passed: true, p99Ms: 30, failures: [] }]])
 * // [100]
 * ```
 */
export function ratesToRepeat(
  reference: readonly MeasuredStep[],
  others: ReadonlyArray<readonly MeasuredStep[]>,
): number[] {
  const passed = (steps: readonly MeasuredStep[]): Set<number> =>
    new Set(steps.filter(passedBySearch).map((x) => x.rate));
  const ref = passed(reference);
  const any = new Set(others.flatMap((steps) => [...passed(steps)]));
  return [...ref].filter((rate) => any.has(rate)).sort((a, b) => a - b);
}
