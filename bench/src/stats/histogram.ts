/**
 * A log-linear latency histogram in microseconds: exact below 128 µs, then 64
 * sub-buckets per power of two (under 1.6 % relative error). Fixed size, cheap
 * to record into on the hot path of a load generator, and mergeable across
 * processes through its JSON form.
 */

const LINEAR = 128;
const SUB = 64;
const MAX_EXPONENT = 36; // 2^36 µs ≈ 19 hours: far beyond any bounded run
const BUCKETS = LINEAR + (MAX_EXPONENT - 6) * SUB;

/** The serialisable form of a {@link LatencyHistogram}. */
export interface HistogramJson {
  /** Non-empty buckets as `[index, count]`. */
  buckets: Array<[number, number]>;
  /** Number of recorded values. */
  count: number;
  /** Sum of recorded values, µs. */
  sum: number;
  /** Smallest recorded value, µs (0 when empty). */
  min: number;
  /** Largest recorded value, µs (0 when empty). */
  max: number;
}

/**
 * Bucket index of a value in µs.
 *
 * @param us - a non-negative value in microseconds
 * @returns its bucket
 * @example
 * ```ts
 * bucketOf(100) // 100 (exact below 128)
 * ```
 */
export function bucketOf(us: number): number {
  const v = us <= 0 ? 0 : Math.floor(us);
  if (v < LINEAR) return v;
  if (v < 2 ** 32) {
    // Integer arithmetic below 2^32 µs (71 minutes): the hot path of a load generator.
    const e = 31 - Math.clz32(v);
    return LINEAR + (e - 7) * SUB + (v >>> (e - 6)) - SUB;
  }
  const e = Math.min(Math.floor(Math.log2(v)), MAX_EXPONENT - 1);
  const shift = e - 6;
  const mantissa = Math.min(Math.floor(v / 2 ** shift), 2 * SUB - 1) - SUB;
  return LINEAR + (e - 7) * SUB + mantissa;
}

/**
 * Highest value (µs) that falls into a bucket.
 *
 * @param index - a bucket index
 * @returns the bucket's inclusive upper bound
 * @example
 * ```ts
 * bucketUpperBound(bucketOf(1000)) >= 1000 // true
 * ```
 */
export function bucketUpperBound(index: number): number {
  if (index < LINEAR) return index;
  const k = index - LINEAR;
  const e = Math.floor(k / SUB) + 7;
  const mantissa = (k % SUB) + SUB;
  return (mantissa + 1) * 2 ** (e - 6) - 1;
}

/**
 * Latency histogram; see the module comment.
 *
 * @example
 * ```ts
 * const h = new LatencyHistogram();
 * h.record(1500);
 * h.percentile(99); // ≈ 1500
 * ```
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  /** Number of recorded values. */
  count = 0;
  /** Sum of recorded values, µs. */
  sum = 0;
  /** Smallest recorded value, µs. */
  min = Number.POSITIVE_INFINITY;
  /** Largest recorded value, µs. */
  max = 0;

  /**
   * Records one value.
   *
   * @param us - the value in microseconds (negative values count as 0)
   */
  record(us: number): void {
    const v = us < 0 ? 0 : us;
    this.counts[bucketOf(v)]! += 1;
    this.count += 1;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /**
   * Adds every value of another histogram (or of its JSON form).
   *
   * @param other - the histogram to add
   */
  merge(other: LatencyHistogram | HistogramJson): void {
    const json = other instanceof LatencyHistogram ? other.toJSON() : other;
    if (json.count === 0) return;
    for (const [index, n] of json.buckets) this.counts[index]! += n;
    this.count += json.count;
    this.sum += json.sum;
    if (json.min < this.min) this.min = json.min;
    if (json.max > this.max) this.max = json.max;
  }

  /**
   * The nearest-rank percentile, as the upper bound of its bucket clamped to
   * the recorded range (never below the true value by more than one bucket).
   *
   * @param p - the percentile, 0–100
   * @returns the value in µs, or NaN when empty
   */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(Math.max(bucketUpperBound(i), this.min), this.max);
    }
    return this.max;
  }

  /** Mean value in µs, or NaN when empty. */
  mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  /** Forgets every value. */
  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
  }

  /** The serialisable form. */
  toJSON(): HistogramJson {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return {
      buckets,
      count: this.count,
      sum: this.sum,
      min: this.count === 0 ? 0 : this.min,
      max: this.max,
    };
  }

  /**
   * Rebuilds a histogram from its JSON form.
   *
   * @param json - the serialised histogram
   * @returns the histogram
   */
  static fromJSON(json: HistogramJson): LatencyHistogram {
    const h = new LatencyHistogram();
    h.merge(json);
    return h;
  }
}

/**
 * Nearest-rank percentile of a list of numbers (exact; for small samples).
 *
 * @param values - the samples, in any order
 * @param p - the percentile, 0–100
 * @returns the sample at that rank, or NaN when empty
 * @example
 * ```ts
 * percentile([5, 1, 3, 2, 4], 50) // 3
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * sorted.length));
  return sorted[rank - 1]!;
}
