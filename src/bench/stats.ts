/**
 * Latency statistics. The project has one percentile definition, used by the bench, the demo
 * and the accuracy harness's error quantiles alike: linear interpolation between order
 * statistics, NumPy's default (`numpy.percentile`, method "linear"; Hyndman and Fan's type 7):
 *
 * - percentile(p): of n ascending samples x[0..n-1], at h = (n - 1) p / 100,
 *   x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)]). p0 is the minimum, p100 the
 *   maximum, and the median is percentile(50) (the mean of the two middle samples for even n).
 *   trtexec reports the nearest rank instead (a sample itself, the maximum for p99 of fewer
 *   than 100 samples); the two differ by less than the gap between neighbouring samples.
 * - mean: arithmetic mean; min and max.
 *
 * An empty sample set has no statistics: every field is NaN and count is 0, and the
 * reports print "n/a" for it.
 */

export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly median: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/** Percentiles reported everywhere (trtexec prints 90, 95 and 99). */
export const PERCENTILES = [90, 95, 99] as const;

/**
 * The p-th percentile (p in [0, 100]) of `sorted` (ascending), by linear interpolation (see
 * the module comment). NaN for an empty array.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  // (n - 1) * p / 100, not (n - 1) * (p / 100): p / 100 rounds (0.29 * 100 is 28.999...).
  const h = ((n - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const x = sorted[lo]!;
  return lo === hi ? x : x + (h - lo) * (sorted[hi]! - x);
}

/** The median of `sorted` (ascending): percentile(50), the mean of the two middle samples for even n. */
export function median(sorted: ArrayLike<number>): number {
  return percentile(sorted, 50);
}

/** The summary of `values` (any order; not modified). */
export function summarize(values: ArrayLike<number>): LatencySummary {
  const n = values.length;
  if (n === 0) {
    return { count: 0, min: Number.NaN, mean: Number.NaN, median: Number.NaN, p90: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: Number.NaN };
  }
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return {
    count: n,
    min: sorted[0]!,
    mean: sum / n,
    median: median(sorted),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[n - 1]!,
  };
}

/**
 * A growable Float64Array: the load generator records one number per request, and a
 * million requests in a plain array of boxed doubles would be slow to sort and to keep.
 */
export class Samples {
  #data: Float64Array;
  #length = 0;

  constructor(capacity = 1024) {
    this.#data = new Float64Array(Math.max(16, capacity));
  }

  get length(): number {
    return this.#length;
  }

  push(v: number): void {
    if (this.#length === this.#data.length) {
      const grown = new Float64Array(this.#data.length * 2);
      grown.set(this.#data);
      this.#data = grown;
    }
    this.#data[this.#length++] = v;
  }

  /** The recorded values (a view; valid until the next push). */
  values(): Float64Array {
    return this.#data.subarray(0, this.#length);
  }
}
