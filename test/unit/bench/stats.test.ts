import { describe, expect, it } from 'vitest';
import { Samples, median, percentile, summarize } from '../../../src/bench/stats.js';

const range = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => i + 1);

describe("percentile (linear interpolation, NumPy's default)", () => {
  it('interpolates between order statistics at h = (n - 1) p / 100', () => {
    const a = range(100); // 1..100
    expect(percentile(a, 90)).toBeCloseTo(90.1, 12);
    expect(percentile(a, 95)).toBeCloseTo(95.05, 12);
    expect(percentile(a, 99)).toBeCloseTo(99.01, 12);
    expect(percentile(a, 50)).toBe(50.5);
    const b = range(11); // h is a whole number for every tenth
    expect(percentile(b, 90)).toBe(10);
    expect(percentile(b, 30)).toBe(4);
  });

  it('gives what numpy.percentile gives', () => {
    // numpy.percentile([1, 2, 4, 8, 100], [25, 50, 90, 99]) = [2, 4, 63.2, 96.32]
    const x = [1, 2, 4, 8, 100];
    expect(percentile(x, 25)).toBe(2);
    expect(percentile(x, 50)).toBe(4);
    expect(percentile(x, 90)).toBeCloseTo(63.2, 12);
    expect(percentile(x, 99)).toBeCloseTo(96.32, 12);
  });

  it('is the only sample for one, the maximum at p100 and the minimum at p0', () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3], 99)).toBeCloseTo(2.98, 12);
    expect(percentile(range(20), 100)).toBe(20);
    expect(percentile(range(20), 0)).toBe(1);
  });

  it('is NaN for no samples and rejects p outside [0, 100]', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('median', () => {
  it('averages the two middle samples for even n', () => {
    expect(median([1, 2, 3, 4])).toBe(2.5);
    expect(median(range(10))).toBe(5.5);
    expect(median([1, 2, 3])).toBe(2);
    expect(median([])).toBeNaN();
  });
});

describe('summarize', () => {
  it('sorts a copy and reports min, mean, median, p90, p95, p99, max', () => {
    const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    const s = summarize(values);
    expect(values).toEqual([5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
    expect(s).toMatchObject({ count: 10, min: 1, mean: 5.5, median: 5.5, max: 10 });
    expect(s.p90).toBeCloseTo(9.1, 12);
    expect(s.p95).toBeCloseTo(9.55, 12);
    expect(s.p99).toBeCloseTo(9.91, 12);
  });

  it('reports NaN statistics with count 0 for no samples', () => {
    const s = summarize(new Float64Array(0));
    expect(s.count).toBe(0);
    for (const k of ['min', 'mean', 'median', 'p90', 'p95', 'p99', 'max'] as const) expect(s[k]).toBeNaN();
  });

  it('matches a direct computation on a skewed sample', () => {
    // A latency-like sample: most fast, a tail of slow ones.
    const values = Array.from({ length: 1000 }, (_, i) => (i % 100 === 99 ? 50 + i / 100 : 1 + (i % 7) / 10));
    const s = summarize(values);
    const sorted = [...values].sort((a, b) => a - b);
    expect(s.min).toBe(sorted[0]);
    expect(s.max).toBe(sorted[999]);
    expect(s.p99).toBeCloseTo(sorted[989]! + 0.01 * (sorted[990]! - sorted[989]!), 9);
    expect(s.p90).toBeCloseTo(sorted[899]! + 0.1 * (sorted[900]! - sorted[899]!), 9);
    expect(s.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / 1000, 12);
    expect(s.median).toBe((sorted[499]! + sorted[500]!) / 2);
  });
});

describe('Samples', () => {
  it('grows past its capacity and keeps every value in order', () => {
    const s = new Samples(16);
    for (let i = 0; i < 1000; i++) s.push(i * 0.5);
    expect(s.length).toBe(1000);
    const v = s.values();
    expect(v.length).toBe(1000);
    expect(v[0]).toBe(0);
    expect(v[999]).toBe(499.5);
    expect(Array.from(v).every((x, i) => x === i * 0.5)).toBe(true);
  });
});
