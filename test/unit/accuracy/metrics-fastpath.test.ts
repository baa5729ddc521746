/**
 * analyze() takes a separate fast path when both outputs are Float32Arrays; analyzeGeneric()
 * is the path every other input takes. Every number of the two must be identical: the same
 * sums in the same order, the same maxima and argmax, the same verdict and required
 * tolerances, the same histogram and the same quantiles (toEqual compares numbers with
 * Object.is: NaN equals NaN, -0 differs from 0).
 */
import { describe, expect, it } from 'vitest';
import { analyze, analyzeGeneric, samplePlan, type AnalyzeOptions, type OutputTolerance } from '../../../src/accuracy/metrics.js';
import { Random } from '../../../src/random.js';

const tol = (atol: number, rtol: number, checkErrorStat: OutputTolerance['checkErrorStat'] = 'elemwise', errorQuantile = 0.99): OutputTolerance => ({
  atol,
  rtol,
  checkErrorStat,
  errorQuantile,
});

function expectSame(a: Float32Array, b: Float32Array, t: OutputTolerance, options: AnalyzeOptions = {}): void {
  const fast = analyze(a, b, t, options);
  const generic = analyzeGeneric(a, b, t, options);
  expect(fast).toEqual(generic);
}

/** A float32 value of one of the awkward kinds, or a plain one. */
function awkward(rng: Random): number {
  const u = rng.nextFloat();
  if (u < 0.02) return NaN;
  if (u < 0.03) return Infinity;
  if (u < 0.04) return -Infinity;
  if (u < 0.1) return 0;
  if (u < 0.12) return -0;
  if (u < 0.16) return (rng.nextFloat() - 0.5) * 1e-39; // subnormal
  if (u < 0.17) return rng.nextInt(-3, 4) * 2 ** -149; // the smallest subnormals
  if (u < 0.2) return (rng.nextFloat() - 0.5) * 1e30;
  return (rng.nextFloat() - 0.5) * 8;
}

/**
 * b with every awkward kind of value, and a = b plus an error of varied size, or an awkward
 * value of its own, or b itself (exact zeros).
 */
function awkwardPair(n: number, seed: number): [Float32Array, Float32Array] {
  const rng = new Random(seed);
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const y = awkward(rng);
    b[i] = y;
    const u = rng.nextFloat();
    if (u < 0.15) a[i] = y;
    else if (u < 0.3) a[i] = awkward(rng);
    else a[i] = y + y * (rng.nextFloat() - 0.5) * 2 ** -rng.nextInt(1, 31) + (rng.nextFloat() - 0.5) * 2 ** -rng.nextInt(0, 141);
  }
  return [a, b];
}

/** Mostly finite, FP16-like errors (the common case), with a few zeros in b and non-finite values. */
function plainPair(n: number, seed: number, nonFinite = true): [Float32Array, Float32Array] {
  const rng = new Random(seed);
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const y = rng.nextFloat() < 0.01 ? 0 : (rng.nextFloat() - 0.5) * 8;
    b[i] = y;
    a[i] = y * (1 + (rng.nextFloat() - 0.5) * 2 ** -10);
  }
  if (nonFinite) {
    for (const i of [3, 16383, 16384, n - 1]) {
      if (i < n) a[i] = NaN;
    }
    if (n > 20000) {
      b[20000] = Infinity;
      a[20001] = -Infinity;
      a[20002] = Infinity;
      b[20002] = Infinity;
    }
  }
  return [a, b];
}

const TOLERANCES = [
  tol(0, 0),
  tol(1e-5, 1e-5),
  tol(1e-3, 1e-2),
  tol(1e9, 1e9),
  tol(1e-4, 1e-3, 'max'),
  tol(1e-4, 1e-3, 'mean'),
  tol(1e-4, 1e-3, 'median'),
  tol(1e-4, 1e-3, 'quantile', 0.37),
  tol(1e-4, 1e-3, 'quantile', 0),
  tol(1e-4, 1e-3, 'quantile', 1),
];

describe("the float32 fast path gives exactly the generic path's numbers", () => {
  it('on small outputs with NaN, infinities, zeros in b and subnormals', () => {
    for (const n of [0, 1, 2, 7, 100, 5000]) {
      for (const seed of [1, 2, 3]) {
        const [a, b] = awkwardPair(n, seed * 1000 + n);
        for (const t of TOLERANCES) {
          expectSame(a, b, t);
          expectSame(a, b, t, { infinitiesCompareEqual: true });
        }
      }
    }
  });

  it('across block boundaries, with non-finite values at the edges', () => {
    const [a, b] = plainPair(40_000, 5);
    for (const t of TOLERANCES) expectSame(a, b, t);
    const [c, d] = awkwardPair(40_000, 6);
    expectSame(c, d, tol(1e-5, 1e-5));
    expectSame(c, d, tol(1e-5, 1e-5), { infinitiesCompareEqual: true });
  });

  it('on outputs large enough for the sampled candidate buckets', () => {
    const n = 1_200_000;
    expect(samplePlan(n)).toBeDefined();
    const [a, b] = plainPair(n, 7);
    expectSame(a, b, tol(1e-5, 1e-5));
    expectSame(a, b, tol(1e-3, 1e-2, 'quantile', 0.999));
    const [c, d] = awkwardPair(n, 8);
    expectSame(c, d, tol(1e-5, 1e-5));
    expectSame(c, d, tol(1e-4, 1e-3, 'median'), { infinitiesCompareEqual: true });
  });

  it('when the sample misleads (the wanted buckets are gathered by a pass instead)', () => {
    // Tiny errors exactly where the sample looks, large ones everywhere else: the sample
    // puts every quantile among the tiny errors, the data has them among the large ones.
    const n = 1_100_000;
    const plan = samplePlan(n)!;
    const [a, b] = plainPair(n, 9, false);
    const rng = new Random(10);
    for (let s = 0; s < n; s += plan.stride) {
      for (let i = s; i < Math.min(n, s + plan.run); i++) a[i] = b[i]! + (rng.nextFloat() + 0.5) * 1e-9;
    }
    const analysis = analyze(a, b, tol(1e-5, 1e-5));
    expect(analysis.metrics.medianAbsError).toBeGreaterThan(1e-6);
    expectSame(a, b, tol(1e-5, 1e-5));
    expectSame(a, b, tol(1e-5, 1e-5, 'quantile', 0.01));
  });

  it('when a quantile falls among the smallest subnormal errors, next to zeros from equal infinities', () => {
    // The median's bucket (bit patterns below 2^16) holds both the exact zeros and tiny
    // non-zero errors, so it is gathered element by element, equal infinities included.
    const n = 5000;
    const rng = new Random(12);
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (i % 5 < 2) {
        a[i] = b[i] = i % 2 === 0 ? Infinity : -Infinity;
      } else {
        b[i] = rng.nextInt(-1000, 1001) * 2 ** -149;
        a[i] = b[i]! + rng.nextInt(1, 60001) * 2 ** -149;
      }
    }
    for (const t of [tol(0, 0), tol(0, 0, 'quantile', 0.45), tol(0, 0, 'median')]) {
      expectSame(a, b, t);
      expectSame(a, b, t, { infinitiesCompareEqual: true });
    }
    const m = analyze(a, b, tol(0, 0), { infinitiesCompareEqual: true }).metrics;
    expect(m.medianAbsError).toBeGreaterThan(0);
    expect(m.medianAbsError).toBeLessThan(2 ** -133);
  });

  it('when every error is zero, or NaN', () => {
    const n = 1_100_000;
    const [, b] = plainPair(n, 11, false);
    expectSame(b.slice(), b, tol(0, 0));
    const m = analyze(b.slice(), b, tol(0, 0)).metrics;
    expect([m.medianAbsError, m.p99AbsError, m.maxAbsError, m.absErrorHistogram.zeroCount]).toEqual([0, 0, 0, n]);
    const nan = new Float32Array(50_000).fill(NaN);
    expectSame(nan, b.subarray(0, 50_000), tol(1e-5, 1e-5));
    expectSame(nan, nan, tol(1e-5, 1e-5, 'median'));
  });
});
