import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyHistogram, bucketOf, bucketUpperBound, percentile } from './histogram.js';

describe('percentile', () => {
  it('uses the nearest rank', () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([5, 1, 3, 2, 4], 100)).toBe(5);
    expect(percentile([5, 1, 3, 2, 4], 0)).toBe(1);
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 99)).toBe(100);
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90)).toBe(90);
  });

  it('is NaN for no samples', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('bucketOf / bucketUpperBound', () => {
  it('is exact below 128 µs', () => {
    for (let v = 0; v < 128; v++) {
      expect(bucketOf(v)).toBe(v);
      expect(bucketUpperBound(v)).toBe(v);
    }
  });

  it('puts every value at or under its bucket upper bound, within 1.6 %', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 34 }), (v) => {
        const upper = bucketUpperBound(bucketOf(v));
        expect(upper).toBeGreaterThanOrEqual(v);
        expect(upper - v).toBeLessThanOrEqual(Math.max(0, v * 0.016));
      }),
    );
  });

  it('puts powers of two at the start of their bucket, on both sides of the 2^32 µs switch', () => {
    for (let e = 7; e < 36; e++) {
      const v = 2 ** e;
      expect(bucketOf(v)).toBe(bucketOf(v - 1) + 1);
      expect(bucketUpperBound(bucketOf(v - 1))).toBe(v - 1);
    }
  });

  it('is monotonic', () => {
    let last = -1;
    for (let v = 0; v < 1_000_000; v += 37) {
      const b = bucketOf(v);
      expect(b).toBeGreaterThanOrEqual(last);
      last = b;
    }
  });
});

describe('LatencyHistogram', () => {
  it('matches exact percentiles within one bucket', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5_000_000 }), { minLength: 1, maxLength: 400 }),
        fc.constantFrom(50, 90, 99, 99.9, 100),
        (values, p) => {
          const h = new LatencyHistogram();
          for (const v of values) h.record(v);
          const exact = percentile(values, p);
          const approx = h.percentile(p);
          expect(approx).toBeGreaterThanOrEqual(exact);
          expect(approx - exact).toBeLessThanOrEqual(exact * 0.016);
        },
      ),
    );
  });

  it('reports min, max, mean and count exactly', () => {
    const h = new LatencyHistogram();
    for (const v of [300, 100, 200]) h.record(v);
    expect(h.count).toBe(3);
    expect(h.min).toBe(100);
    expect(h.max).toBe(300);
    expect(h.mean()).toBe(200);
    expect(h.percentile(100)).toBe(300);
  });

  it('merges through JSON the same as recording everything in one', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let i = 0; i < 1000; i++) {
      const v = (i * 7919) % 100_000;
      (i % 2 ? a : b).record(v);
      all.record(v);
    }
    const merged = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    merged.merge(b.toJSON());
    expect(merged.toJSON()).toEqual(all.toJSON());
    expect(merged.percentile(99)).toBe(all.percentile(99));
  });

  it('is empty after reset', () => {
    const h = new LatencyHistogram();
    h.record(5);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.percentile(50)).toBeNaN();
    expect(h.toJSON()).toEqual({ buckets: [], count: 0, sum: 0, min: 0, max: 0 });
  });
});
