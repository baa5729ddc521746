import { describe, expect, it } from 'vitest';
import { Samples, median, percentile, summarize } from '../../../src/bench/stats.js';

const range = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => i + 1);

describe('percentile (trtexec: nearest rank from the top)', () => {
  it('gives the k-th smallest of 1..100 for pk', () => {
    const a = range(100);
    expect(percentile(a, 90)).toBe(90);
    expect(percentile(a, 95)).toBe(95);
    expect(percentile(a, 99)).toBe(99);
    expect(percentile(a, 50)).toBe(50);
  });

  it('excludes floor((100 - p) n / 100) samples from the top, without binary rounding errors', () => {
    // 10 samples: p90 excludes exactly 1 (1 - 0.9 = 0.0999... in floating point would exclude 0).
    const a = range(10);
    expect(percentile(a, 90)).toBe(9);
    expect(percentile(a, 95)).toBe(10);
    expect(percentile(a, 99)).toBe(10);
    expect(percentile(a, 50)).toBe(5);
    // 1000 samples: p99 excludes 10, p99.9 excludes 1.
    const b = range(1000);
    expect(percentile(b, 99)).toBe(990);
    expect(percentile(b, 99.9)).toBe(999);
  });

  it('is the maximum for few samples and at p100, the minimum at p0', () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3], 99)).toBe(3);
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
    expect(s).toEqual({ count: 10, min: 1, mean: 5.5, median: 5.5, p90: 9, p95: 10, p99: 10, max: 10 });
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
    expect(s.p99).toBe(sorted[989]);
    expect(s.p90).toBe(sorted[899]);
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
