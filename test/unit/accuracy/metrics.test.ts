import { describe, expect, it } from 'vitest';
import { REL_EPSILON, analyze, elementErrors, histogram, topKAgreement, type AnalyzeOptions, type OutputTolerance } from '../../../src/accuracy/metrics.js';
import { quantiles } from '../../../src/accuracy/quantile.js';
import { Random } from '../../../src/random.js';

const f64 = (v: number[]) => Float64Array.from(v);
const tol = (atol: number, rtol: number, checkErrorStat: OutputTolerance['checkErrorStat'] = 'elemwise', errorQuantile = 0.99): OutputTolerance => ({
  atol,
  rtol,
  checkErrorStat,
  errorQuantile,
});

const run = (a: number[], b: number[], t: OutputTolerance, options?: AnalyzeOptions) => analyze(f64(a), f64(b), t, options);
function metricsOf(a: number[], b: number[], q = 0.99) {
  return { diffs: elementErrors(f64(a), f64(b)), m: run(a, b, tol(0, 0, 'elemwise', q)).metrics };
}

/** NumPy's default (linear) quantile, by sorting. */
function npQuantile(values: number[], q: number): number {
  const s = [...values].sort((x, y) => x - y);
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

describe('error metrics on a hand-computed case', () => {
  // a - b = [0, -0.5, 1, 4]; |b| = [1, 2.5, 2, 0 -> eps]
  const { diffs, m } = metricsOf([1, 2, 3, 4], [1, 2.5, 2, 0]);
  const judge = (t: OutputTolerance) => run([1, 2, 3, 4], [1, 2.5, 2, 0], t).verdict;

  it('computes absolute and relative errors the Polygraphy way', () => {
    expect([...diffs.abs]).toEqual([0, 0.5, 1, 4]);
    expect([...diffs.rel]).toEqual([0, 0.5 / 2.5, 0.5, 4 / REL_EPSILON]);
  });

  it('computes the statistics', () => {
    expect(m.maxAbsError).toBe(4);
    expect(m.meanAbsError).toBe(1.375);
    expect(m.medianAbsError).toBe(0.75);
    expect(m.p90AbsError).toBeCloseTo(1 + 0.7 * 3, 12);
    expect(m.p95AbsError).toBeCloseTo(1 + 0.85 * 3, 12);
    expect(m.p99AbsError).toBeCloseTo(1 + 0.97 * 3, 12);
    expect(m.medianRelError).toBeCloseTo(0.35, 7);
    expect(m.maxRelError).toBe(4 / REL_EPSILON);
    expect(m.cosineSimilarity).toBeCloseTo(12 / Math.sqrt(30 * 11.25), 12);
    expect(m.relativeL2Error).toBeCloseTo(Math.sqrt(17.25 / 11.25), 12);
    expect(m.nanCount).toBe(0);
    expect(m.infCount).toBe(0);
    expect(m.elementCount).toBe(4);
  });

  it('elemwise: an element fails only beyond both tolerances; required tolerances hold the other fixed', () => {
    const v = judge(tol(0.6, 0.3));
    expect(v.passed).toBe(false);
    expect(v.mismatchCount).toBe(2);
    // rtol 0.3 fixed: elements with rel > 0.3 are #2 (abs 1) and #3 (abs 4).
    expect(v.requiredAtol).toBe(4);
    // atol 0.6 fixed: elements with abs > 0.6 are #2 (rel 0.5) and #3 (rel 4/eps).
    expect(v.requiredRtol).toBe(4 / REL_EPSILON);
    expect(v.worstIndex).toBe(3);
    expect(judge(tol(4, 0.3)).passed).toBe(true);
    expect(judge(tol(3.999, 0.3)).passed).toBe(false);
    // With a loose rtol only element #3 (b = 0) still needs the atol.
    expect(judge(tol(0, 0.5)).requiredAtol).toBe(4);
  });

  it('median/mean/max/quantile: a statistic fails beyond both tolerances', () => {
    const med = judge(tol(0.6, 0.3, 'median'));
    expect(med.passed).toBe(false);
    expect(med.requiredAtol).toBe(0.75);
    expect(med.requiredRtol).toBe(m.medianRelError);
    expect(judge(tol(0.6, m.medianRelError, 'median')).passed).toBe(true);
    expect(judge(tol(0.6, 0.3499, 'median')).passed).toBe(false);
    expect(judge(tol(0.75, 0.3, 'median')).passed).toBe(true);
    const mean = judge(tol(0.6, 0.3, 'mean'));
    expect(mean.passed).toBe(false);
    expect(mean.requiredAtol).toBe(1.375);
    expect(judge(tol(1.375, 0, 'mean')).passed).toBe(true);
    expect(judge(tol(4, 0, 'max')).passed).toBe(true);
    expect(judge(tol(3.9, 0, 'max')).passed).toBe(false);
    expect(judge(tol(0.75, 0, 'quantile', 0.5)).passed).toBe(true);
    expect(judge(tol(0.74, 0, 'quantile', 0.5)).passed).toBe(false);
  });
});

describe('NaN, Inf and bool', () => {
  it('counts NaN per side and NaN mismatches, and fails NaN errors under any tolerance', () => {
    const { m } = metricsOf([NaN, 1, NaN, 3], [NaN, 1, 2, 3]);
    const judge = (t: OutputTolerance) => run([NaN, 1, NaN, 3], [NaN, 1, 2, 3], t).verdict;
    expect(m.nanCountA).toBe(2);
    expect(m.nanCountB).toBe(1);
    expect(m.nanCount).toBe(2);
    expect(m.nanMismatchCount).toBe(1);
    expect(m.nanErrorCount).toBe(2);
    // Statistics cover the elements with a defined error.
    expect(m.maxAbsError).toBe(0);
    expect(m.cosineSimilarity).toBe(1);
    for (const stat of ['elemwise', 'max', 'mean', 'median', 'quantile'] as const) {
      const v = judge(tol(1e9, 1e9, stat));
      expect(v.passed).toBe(false);
      expect(v.requiredAtol).toBe(Infinity);
      expect(v.requiredRtol).toBe(Infinity);
    }
  });

  it('treats equal infinities as NaN error unless infinitiesCompareEqual', () => {
    const a = [Infinity, -Infinity, 1];
    const b = [Infinity, -Infinity, Infinity];
    const plain = elementErrors(f64(a), f64(b));
    expect(Number.isNaN(plain.abs[0])).toBe(true);
    expect(plain.abs[2]).toBe(Infinity);
    const eq = elementErrors(f64(a), f64(b), { infinitiesCompareEqual: true });
    const m = run(a, b, tol(0, 0), { infinitiesCompareEqual: true }).metrics;
    expect([...eq.abs.subarray(0, 2)]).toEqual([0, 0]);
    expect(m.infCountA).toBe(2);
    expect(m.infCountB).toBe(3);
    expect(m.infCount).toBe(3);
  });

  it('uses XOR for bool outputs', () => {
    const d = elementErrors(f64([1, 0, 1, 0]), f64([1, 1, 0, 0]), { bool: true });
    expect(run([1, 0, 1, 0], [1, 1, 0, 0], tol(0, 0), { bool: true }).metrics.meanAbsError).toBe(0.5);
    expect([...d.abs]).toEqual([0, 1, 1, 0]);
  });

  it('defines cosine and relative L2 for zero vectors', () => {
    expect(metricsOf([0, 0], [0, 0]).m.cosineSimilarity).toBe(1);
    expect(metricsOf([0, 0], [0, 0]).m.relativeL2Error).toBe(0);
    expect(metricsOf([1, 0], [0, 0]).m.cosineSimilarity).toBe(0);
    expect(metricsOf([1, 0], [0, 0]).m.relativeL2Error).toBe(Infinity);
    expect(metricsOf([1, 2], [-1, -2]).m.cosineSimilarity).toBe(-1);
  });

  it('gives zeros for empty outputs (Polygraphy zero-on-empty)', () => {
    const { metrics: m, verdict } = run([], [], tol(0, 0));
    expect(m.maxAbsError).toBe(0);
    expect(m.medianAbsError).toBe(0);
    expect(verdict.passed).toBe(true);
    expect(verdict.worstIndex).toBe(-1);
  });
});

describe('required tolerances are the smallest that pass', () => {
  it('holds on random data for every check stat', () => {
    const rng = new Random(7);
    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + rng.nextInt(0, 201);
      const b = Array.from({ length: n }, () => (rng.nextFloat() < 0.1 ? 0 : rng.nextFloat() * 4 - 2));
      const a = b.map((x) => x + (rng.nextFloat() - 0.5) * 0.01 * (rng.nextFloat() < 0.05 ? 100 : 1));
      const judge = (t: OutputTolerance) => run(a, b, t).verdict;
      for (const stat of ['elemwise', 'max', 'mean', 'median', 'quantile'] as const) {
        const rtol = [0, 1e-3, 1e-2][trial % 3]!;
        const atol = [0, 1e-4, 1e-3][(trial + 1) % 3]!;
        const v = judge(tol(atol, rtol, stat, 0.9));
        expect(judge(tol(v.requiredAtol, rtol, stat, 0.9)).passed).toBe(true);
        if (v.requiredAtol > 0) expect(judge(tol(v.requiredAtol * (1 - 1e-9), rtol, stat, 0.9)).passed).toBe(false);
        expect(judge(tol(atol, v.requiredRtol, stat, 0.9)).passed).toBe(true);
        if (v.requiredRtol > 0) expect(judge(tol(atol, v.requiredRtol * (1 - 1e-9), stat, 0.9)).passed).toBe(false);
        expect(v.passed).toBe(atol >= v.requiredAtol);
      }
    }
  });
});

describe('quantiles', () => {
  it('match a sort-based linear quantile, duplicates included', () => {
    const rng = new Random(3);
    for (const n of [1, 2, 3, 17, 100, 1001, 5000]) {
      for (const dupes of [false, true]) {
        const values = Array.from({ length: n }, () => (dupes ? rng.nextInt(0, 4) : rng.nextFloat()));
        const qs = [0, 0.5, 0.9, 0.95, 0.99, 0.37, 1];
        const f32 = Float32Array.from(values);
        const got = quantiles(f32, qs);
        qs.forEach((q, i) => expect(got[i]).toBeCloseTo(npQuantile([...f32], q), 9));
      }
    }
  });

  it('resolves ranks inside a crowded bucket on the low bits', () => {
    // 20000 values within one 1/128 octave ([1, 1 + 1/128)) take the second radix digit.
    const rng = new Random(11);
    const values = Float32Array.from({ length: 20000 }, () => 1 + rng.nextFloat() / 256);
    const qs = [0.5, 0.9, 0.99, 0.999];
    const got = quantiles(values, qs);
    qs.forEach((q, i) => expect(got[i]).toBe(npQuantile([...values], q)));
  });

  it('agree between analyze() (errors recomputed, never stored) and a sort of the rounded errors', () => {
    const rng = new Random(23);
    for (const crowded of [false, true]) {
      const n = 30000;
      const b = Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);
      // crowded: 30000 errors within one 1/128 octave, so the low-bits digit decides.
      const a = b.map((y, i) => (i % 997 === 0 ? NaN : y + (crowded ? 1e-3 * (1 + rng.nextFloat() / 256) : (rng.nextFloat() - 0.5) * 1e-2)));
      const { abs, rel } = elementErrors(f64(a), f64(b));
      const keep = (xs: Float64Array) => [...xs].filter((x) => !Number.isNaN(x)).map(Math.fround);
      const m = run(a, b, tol(0, 0, 'elemwise', 0.37)).metrics;
      expect(m.nanErrorCount).toBe(31);
      expect(m.medianAbsError).toBe(npQuantile(keep(abs), 0.5));
      expect(m.p99AbsError).toBe(npQuantile(keep(abs), 0.99));
      expect(m.quantileAbsError).toBe(npQuantile(keep(abs), 0.37));
      expect(m.p95RelError).toBe(npQuantile(keep(rel), 0.95));
      expect(m.medianRelError).toBe(npQuantile(keep(rel), 0.5));
    }
  });

  it('stays fast on all-equal data', () => {
    const zeros = new Float32Array(1_000_000);
    expect(quantiles(zeros, [0.5, 0.99])).toEqual([0, 0]);
  });
});

describe('top-k agreement', () => {
  it('compares argmax and top-k sets per row of the last axis', () => {
    const a = f64([1, 3, 2, 5, 4, 0]);
    const b = f64([1, 2, 3, 5, 4, 0]);
    const t1 = topKAgreement(a, b, [2, 3], 2)!;
    expect(t1).toEqual({ classes: 3, rows: 2, k: 2, top1Agreement: 0.5, topKAgreement: 1 });
    const t2 = topKAgreement(a, b, [2, 3], 1)!;
    expect(t2.topKAgreement).toBe(0.5);
    // k stays below the class count (top-3 of 3 classes always agrees).
    expect(topKAgreement(a, b, [2, 3], 10)!.k).toBe(2);
    expect(topKAgreement(f64([1]), f64([1]), [1, 1], 5)).toBeUndefined();
  });

  it('ranks NaN below every number', () => {
    const t = topKAgreement(f64([NaN, 1, 0]), f64([5, 1, 0]), [3], 1)!;
    expect(t.top1Agreement).toBe(0);
  });
});

describe('histogram', () => {
  it('puts zeros apart and every positive error in a log bin', () => {
    const h = histogram(Float32Array.from([0, 0, 1e-6, 1e-3, 1, NaN]), 6);
    expect(h.zeroCount).toBe(2);
    expect(h.nanCount).toBe(1);
    expect(h.counts.reduce((x, y) => x + y, 0)).toBe(3);
    expect(h.counts[0]).toBe(1);
    // Edges are 1/16-octave boundaries around the smallest and largest error.
    expect(h.edges[0]).toBeLessThanOrEqual(1e-6);
    expect(h.edges[0]).toBeGreaterThan(1e-6 / 1.0625);
    expect(h.edges[h.edges.length - 1]).toBeGreaterThan(1);
    expect(h.counts[h.counts.length - 1]).toBe(1);
  });
});
