import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bestStep,
  createFixedRates,
  createRateSearch,
  furthestBehind,
  medianP99ByRate,
  ratesToRepeat,
  retryReason,
} from './rate-search.js';

function runAgainst(limit: number, options: Parameters<typeof createRateSearch>[0]) {
  const search = createRateSearch(options);
  const tried: number[] = [];
  for (let rate = search.next(), guard = 0; rate !== undefined && guard < 100; rate = search.next(), guard++) {
    tried.push(rate);
    search.record(rate <= limit);
  }
  return { best: search.best(), tried, steps: search.steps() };
}

describe('createRateSearch', () => {
  it('doubles while passing, then bisects between the last pass and the first failure', () => {
    const { tried, best } = runAgainst(500, { start: 100, refine: 2 });
    expect(tried.slice(0, 4)).toEqual([100, 200, 400, 800]);
    // sqrt(400*800) ≈ 566 fails; sqrt(400*566) ≈ 476 passes
    expect(tried.slice(4)).toEqual([566, 476]);
    expect(best).toBe(476);
  });

  it('searches downwards when the first step fails', () => {
    const { tried, best } = runAgainst(30, { start: 100, refine: 0 });
    expect(tried).toEqual([100, 50, 25]);
    expect(best).toBe(25);
  });

  it('gives no best rate when nothing passes above the minimum', () => {
    const { best, tried } = runAgainst(0, { start: 8, min: 2, refine: 1 });
    expect(best).toBeUndefined();
    expect(tried).toEqual([8, 4, 2]);
  });

  it('stops at the maximum rate', () => {
    const { tried, best } = runAgainst(1e9, { start: 100, max: 1000 });
    expect(tried).toEqual([100, 200, 400, 800, 1000]);
    expect(best).toBe(1000);
  });

  it('never exceeds maxSteps and never reports a failing rate as best', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 15 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        (limit, start, maxSteps, refine, patience) => {
          const { best, steps } = runAgainst(limit, { start, maxSteps, refine, patience });
          expect(steps.length).toBeLessThanOrEqual(maxSteps);
          if (best !== undefined) expect(best).toBeLessThanOrEqual(limit);
          for (const s of steps) expect(s.passed).toBe(s.rate <= limit);
        },
      ),
    );
  });

  it('ends within a factor-2 bracket of the true limit when it has room', () => {
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 50_000 }), (limit) => {
        const { best } = runAgainst(limit, { start: 10, maxSteps: 30, refine: 3 });
        expect(best).toBeDefined();
        expect(best!).toBeGreaterThan(limit / 2);
      }),
    );
  });

  it('climbs past a single failure when given patience', () => {
    const passes = (r: number) => r <= 100 || (r >= 400 && r <= 800);
    const search = createRateSearch({ start: 100, patience: 2, refine: 2 });
    const tried: number[] = [];
    for (let rate = search.next(); rate !== undefined; rate = search.next()) {
      tried.push(rate);
      search.record(passes(rate));
    }
    expect(tried).toEqual([100, 200, 400, 800, 1600, 3200, 1131, 951]);
    expect(search.best()).toBe(800);
  });

  it('stops climbing after `patience` failures in a row', () => {
    const { tried, best } = runAgainst(150, { start: 100, patience: 2, refine: 1 });
    expect(tried).toEqual([100, 200, 400, 141]);
    expect(best).toBe(141);
  });

  it('rejects unusable options', () => {
    expect(() => createRateSearch({ start: 0 })).toThrow(RangeError);
    expect(() => createRateSearch({ start: 10, factor: 1 })).toThrow(RangeError);
  });

  it('refuses a result without a pending rate', () => {
    const s = createRateSearch({ start: 1 });
    expect(() => s.record(true)).toThrow();
  });
});

describe('createFixedRates', () => {
  it('measures every given rate in order, failures included, and reports the highest pass', () => {
    const search = createFixedRates([100, 400, 100, 400]);
    const outcomes = [true, false, true, true];
    const tried: number[] = [];
    for (let rate = search.next(), i = 0; rate !== undefined; rate = search.next(), i++) {
      expect(search.next()).toBe(rate); // asking again before recording gives the same rate
      tried.push(rate);
      search.record(outcomes[i]!);
    }
    expect(tried).toEqual([100, 400, 100, 400]);
    expect(search.best()).toBe(400);
    expect(search.steps().map((s) => s.passed)).toEqual(outcomes);
  });

  it('has no best when nothing passed, and refuses an empty list, a bad rate or a record without next', () => {
    const search = createFixedRates([50]);
    expect(() => search.record(true)).toThrow(/without a pending rate/);
    search.next();
    search.record(false);
    expect(search.best()).toBeUndefined();
    expect(search.next()).toBeUndefined();
    expect(() => createFixedRates([])).toThrow(RangeError);
    expect(() => createFixedRates([100, 0])).toThrow(RangeError);
    expect(() => createFixedRates([Number.NaN])).toThrow(RangeError);
  });
});

describe('retryReason', () => {
  const fail = { rate: 800, passed: false, p99Ms: 130, failures: [] as string[] };

  it('retries a p99-only failure near the bound above every passed rate', () => {
    expect(retryReason(fail, 400, 100, 0, 0.5)).toBe('p99 within twice the bound at the knee');
    expect(retryReason(fail, undefined, 100, 0, 0.5)).toBe('p99 within twice the bound at the knee');
  });

  it('does not retry a pass, a far miss, a rate below a pass, or a failure that lost events', () => {
    expect(retryReason({ ...fail, passed: true }, 400, 100, 0, 0.5)).toBeUndefined();
    expect(retryReason({ ...fail, p99Ms: 201 }, 400, 100, 0, 0.5)).toBeUndefined();
    expect(retryReason(fail, 1600, 100, 0, 0.5)).toBeUndefined();
    expect(retryReason({ ...fail, failures: ['3 lost'] }, 400, 100, 0, 0.5)).toBeUndefined();
  });

  it('retries any failure while other processes were busy', () => {
    expect(retryReason({ ...fail, failures: ['3 lost'] }, 1600, 100, 0.8, 0.5)).toBe('other processes used 0.80 cores');
  });
});

describe('bestStep', () => {
  const step = (rate: number, passed: boolean, confirms?: number) => ({
    rate,
    passed,
    p99Ms: 0,
    failures: [],
    confirms,
  });

  it('is the highest passing rate whose confirmation passed', () => {
    expect(bestStep([step(400, true), step(800, true), step(1600, false), step(800, true, 800)])?.rate).toBe(800);
  });

  it('falls back below a rate whose confirmation failed', () => {
    expect(bestStep([step(400, true), step(800, true), step(1600, false), step(800, false, 800)])?.rate).toBe(400);
  });

  it('is undefined when nothing passed, and ignores confirmations as passes of their own', () => {
    expect(bestStep([step(100, false)])).toBeUndefined();
    expect(bestStep([step(100, false), step(100, true, 100)])).toBeUndefined();
  });

  it('leaves out repeats taken for the step comparison', () => {
    expect(bestStep([step(100, true), { ...step(200, true), repeats: 200 }])?.rate).toBe(100);
  });
});

describe('furthestBehind', () => {
  const step = (rate: number, p99Ms: number, passed = true, confirms?: number) => ({
    rate,
    passed,
    p99Ms,
    failures: [],
    confirms,
  });

  it('is the rate both passed where the target is the most behind the reference', () => {
    const reference = [step(100, 20), step(200, 40), step(400, 90), step(800, 300, false)];
    const target = [step(100, 22), step(200, 60), step(400, 95, false), step(400, 80), step(800, 90)];
    expect(furthestBehind(reference, target)).toEqual({ rate: 200, referenceP99Ms: 40, p99Ms: 60 });
  });

  it('takes the first passing measurement of a rate, not a confirmation', () => {
    const reference = [step(100, 20), step(100, 10, true, 100)];
    const target = [step(100, 30), step(100, 90, true, 100)];
    expect(furthestBehind(reference, target)).toEqual({ rate: 100, referenceP99Ms: 20, p99Ms: 30 });
  });

  it('is undefined when no rate passed on both', () => {
    expect(furthestBehind([step(100, 20)], [step(100, 200, false), step(200, 20)])).toBeUndefined();
  });

  const repeat = (rate: number, p99Ms: number, passed = true) => ({ ...step(rate, p99Ms, passed), repeats: rate });

  it('reads the median of a rate and its repeats, failed repeats included, so one slow step does not decide', () => {
    // One slow first step at 100/s (60 ms against 20) would be 3×; its repeats put the median at 22.
    const reference = [
      step(100, 20),
      step(200, 40),
      repeat(100, 19),
      repeat(100, 21),
      repeat(200, 38),
      repeat(200, 44),
    ];
    const target = [
      step(100, 60),
      step(200, 40),
      repeat(100, 22),
      repeat(100, 21),
      repeat(200, 130, false),
      repeat(200, 52),
    ];
    expect(furthestBehind(reference, target)).toEqual({ rate: 200, referenceP99Ms: 40, p99Ms: 52 });
  });

  it('does not count a repeat as the search passing its rate', () => {
    expect(furthestBehind([step(100, 20)], [step(100, 30, false), repeat(100, 25)])).toBeUndefined();
  });
});

describe('medianP99ByRate', () => {
  const step = (rate: number, p99Ms: number, passed = true, marks: { confirms?: number; repeats?: number } = {}) => ({
    rate,
    passed,
    p99Ms,
    failures: [],
    ...marks,
  });

  it('is, per rate the search passed, the median of its first pass and the repeats; confirmations and later passes left out', () => {
    const steps = [
      step(100, 30),
      step(100, 99),
      step(100, 50, true, { repeats: 100 }),
      step(100, 120, false, { repeats: 100 }),
      step(100, 1, true, { confirms: 100 }),
      step(200, 80, false),
      step(200, 40, true, { repeats: 200 }),
    ];
    expect([...medianP99ByRate(steps)]).toEqual([[100, 50]]);
  });
});

describe('ratesToRepeat', () => {
  const step = (rate: number, passed = true, marks: { confirms?: number; repeats?: number } = {}) => ({
    rate,
    passed,
    p99Ms: 10,
    failures: [],
    ...marks,
  });

  it('is every rate the reference and another target passed, lowest first', () => {
    const reference = [step(50), step(25), step(100), step(200, false), step(100, true, { confirms: 100 })];
    const peer = [step(25), step(50, false)];
    const cast = [step(25), step(50), step(200)];
    expect(ratesToRepeat(reference, [peer, cast])).toEqual([25, 50]);
  });

  it('ignores confirmations and repeats', () => {
    const reference = [step(100), step(200, true, { repeats: 200 })];
    expect(ratesToRepeat(reference, [[step(100, true, { confirms: 100 }), step(200)]])).toEqual([]);
  });
});
