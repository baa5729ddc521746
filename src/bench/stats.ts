/**
 * Latency statistics with trtexec's definitions, so our figures read like its summary:
 *
 * - percentile(p): nearest rank from the top. Of n ascending samples, floor((1 - p/100) n)
 *   are excluded from the top and the largest remaining one is the percentile
 *   (sorted[max(n - 1 - exclude, 0)]). For n = 100, p99 is the 99th smallest sample; for
 *   n < 100, p99 is the maximum.
 * - median: the middle sample, or the mean of the two middle samples for even n (so the
 *   median may differ from percentile(50)).
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
 * The p-th percentile of `sorted` (ascending), trtexec's nearest rank from the top.
 * NaN for an empty array.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  // (100 - p) * n / 100 instead of (1 - p / 100) * n: 1 - 0.9 is 0.09999999999999998 in
  // binary floating point, which would floor 10 samples' exclusion to 0 instead of 1.
  const exclude = Math.floor(((100 - p) * n) / 100 + 1e-9);
  return sorted[Math.max(n - 1 - exclude, 0)]!;
}

/** The median of `sorted` (ascending): the mean of the two middle samples for even n. */
export function median(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const m = n >> 1;
  return n % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
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
