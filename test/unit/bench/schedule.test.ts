import { describe, expect, it } from 'vitest';
import { arrivalSchedule } from '../../../src/bench/schedule.js';

function gaps(a: Float64Array): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i]! - (i === 0 ? 0 : a[i - 1]!));
}

describe('arrivalSchedule: poisson', () => {
  const rate = 1000;
  const durationMs = 20_000;
  const a = arrivalSchedule(rate, durationMs, 'poisson', 42);

  it('is the same for the same seed and differs for another', () => {
    expect(arrivalSchedule(rate, durationMs, 'poisson', 42)).toEqual(a);
    const b = arrivalSchedule(rate, durationMs, 'poisson', 43);
    expect(b.slice(0, 10)).not.toEqual(a.slice(0, 10));
  });

  it('is ascending and inside [0, duration)', () => {
    for (let i = 1; i < a.length; i++) expect(a[i]!).toBeGreaterThan(a[i - 1]!);
    expect(a[0]!).toBeGreaterThan(0);
    expect(a[a.length - 1]!).toBeLessThan(durationMs);
  });

  it('has about rate x duration arrivals (within 4 standard deviations of a Poisson count)', () => {
    const expected = (rate * durationMs) / 1000; // 20000, sd ~141
    expect(Math.abs(a.length - expected)).toBeLessThan(4 * Math.sqrt(expected));
  });

  it('has exponential gaps: mean 1/rate, coefficient of variation 1, P(gap > mean) = 1/e', () => {
    const g = gaps(a);
    const n = g.length;
    const mean = g.reduce((s, x) => s + x, 0) / n;
    const sd = Math.sqrt(g.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
    expect(mean).toBeGreaterThan(0.97);
    expect(mean).toBeLessThan(1.03);
    expect(sd / mean).toBeGreaterThan(0.96);
    expect(sd / mean).toBeLessThan(1.04);
    const above = g.filter((x) => x > 1).length / n;
    expect(Math.abs(above - Math.exp(-1))).toBeLessThan(0.015);
  });

  it('has counts per 10 ms window with variance about equal to their mean (index of dispersion 1)', () => {
    // 2000 windows: the index's standard error is about sqrt(2 / 1999) = 0.032.
    const bins = new Float64Array(durationMs / 10);
    for (const t of a) bins[Math.floor(t / 10)]!++;
    const mean = bins.reduce((s, x) => s + x, 0) / bins.length;
    const variance = bins.reduce((s, x) => s + (x - mean) ** 2, 0) / (bins.length - 1);
    expect(variance / mean).toBeGreaterThan(0.88);
    expect(variance / mean).toBeLessThan(1.12);
  });
});

describe('arrivalSchedule: constant', () => {
  it('spaces arrivals exactly 1/rate apart', () => {
    const a = arrivalSchedule(250, 1000, 'constant', 1);
    expect(a.length).toBe(249);
    const g = gaps(a);
    for (const x of g) expect(x).toBeCloseTo(4, 9);
  });
});

describe('arrivalSchedule: input checks', () => {
  it('refuses a rate <= 0 or non-finite, and a negative duration', () => {
    expect(() => arrivalSchedule(0, 1000, 'poisson', 1)).toThrow(/rate/);
    expect(() => arrivalSchedule(Number.POSITIVE_INFINITY, 1000, 'poisson', 1)).toThrow(/rate/);
    expect(() => arrivalSchedule(10, -1, 'poisson', 1)).toThrow(/durationMs/);
  });

  it('gives no arrival for a zero duration', () => {
    expect(arrivalSchedule(100, 0, 'poisson', 1).length).toBe(0);
  });
});
