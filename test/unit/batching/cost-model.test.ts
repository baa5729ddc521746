import { describe, expect, it } from 'vitest';
import { CostModel, OverlapEstimator, gridIndex, gridNode } from '../../../src/batching/cost-model.js';

/** A seeded uniform [0, 1) generator. */
function lcg(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

/** The simulated H100 curve of bench-batcher-device (ms per batch of b rows at one length). */
const gpu = (b: number): number => (b <= 32 ? 3.8 : 3.8 + ((b - 32) * (7.7 - 3.8)) / 96);

/** A CPU-like cost: a fixed 0.1 ms, 5 µs per token, and 6% more per token for each row past 8. */
const cpu = (n: number, l: number): number => 0.1 + 0.005 * n * l * (1 + Math.max(0, n - 8) * 0.06);

describe('cost model grid', () => {
  it('has nodes 1, 2, 3, 4, 6, 8, 12, ... and finds the node at or below a value', () => {
    expect(Array.from({ length: 12 }, (_, k) => gridNode(k))).toEqual([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]);
    for (const [x, k] of [
      [1, 0],
      [1.9, 0],
      [2, 1],
      [2.9, 1],
      [3, 2],
      [5, 3],
      [6, 4],
      [7.9, 4],
      [8, 5],
      [100, 12],
      [128, 13],
      [129, 13],
    ] as const) {
      expect(gridIndex(x), String(x)).toBe(k);
    }
  });
});

describe('CostModel', () => {
  it('knows nothing before its first run', () => {
    const m = new CostModel(64);
    expect(m.ready).toBe(false);
    expect(m.predict(4, 16)).toBeNaN();
    expect(m.snapshot()).toEqual({ samples: 0, fixedMs: 0, perTokenMs: 0, cells: [], bestRows: [] });
  });

  it('fits the base line of a linear cost exactly', () => {
    const m = new CostModel(64);
    for (const n of [1, 2, 4, 8, 16]) for (const l of [8, 32, 128]) m.observe(n, l, 2 + 0.01 * n * l);
    const s = m.snapshot();
    expect(s.fixedMs).toBeCloseTo(2, 6);
    expect(s.perTokenMs).toBeCloseTo(0.01, 8);
    // Between and beyond the measured shapes too.
    expect(m.predict(5, 50)).toBeCloseTo(2 + 0.01 * 250, 6);
    expect(m.predict(64, 128)).toBeCloseTo(2 + 0.01 * 64 * 128, 6);
  });

  it("learns a GPU's flat-then-linear curve, and that the largest batch serves the most rows per ms", () => {
    const m = new CostModel(128);
    for (const b of [1, 4, 8, 16, 24, 32, 48, 64, 96, 128]) for (let k = 0; k < 3; k++) m.observe(b, 128, gpu(b));
    for (const b of [1, 8, 20, 32, 40, 64, 100, 128]) expect(m.predict(b, 128) / gpu(b), `batch ${b}`).toBeGreaterThan(0.9);
    for (const b of [1, 8, 20, 32, 40, 64, 100, 128]) expect(m.predict(b, 128) / gpu(b), `batch ${b}`).toBeLessThan(1.1);
    const best = m.snapshot().bestRows;
    expect(best).toEqual([expect.objectContaining({ length: 128, rows: 128 })]);
  });

  it("learns a CPU's rising cost per row past 8 rows, and says 8 rows is where batching stops paying", () => {
    const m = new CostModel(64);
    for (const n of [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]) for (const l of [16, 64]) for (let k = 0; k < 3; k++) m.observe(n, l, cpu(n, l));
    for (const [n, l] of [
      [1, 16],
      [5, 40],
      [8, 64],
      [20, 64],
      [32, 16],
    ] as const) {
      expect(Math.abs(m.predict(n, l) / cpu(n, l) - 1), `${n} x ${l}`).toBeLessThan(0.1);
    }
    const best = m.snapshot().bestRows;
    expect(best.map((b) => [b.length, b.rows])).toEqual([
      [16, 8],
      [64, 8],
    ]);
    expect(best[1]!.perRowVsSingle).toBeLessThan(1);
  });

  it('is not moved by runs slowed down by a busy machine', () => {
    const m = new CostModel(64);
    const rand = lcg(3);
    for (let k = 0; k < 400; k++) {
      const n = [1, 2, 4, 8, 16][k % 5]!;
      const l = [8, 32, 128][k % 3]!;
      // One run in five is 2-4x slower (preempted); the rest jitter by up to 5%.
      const slow = rand() < 0.2 ? 2 + 2 * rand() : 1 + 0.05 * rand();
      m.observe(n, l, cpu(n, l) * slow);
    }
    for (const [n, l] of [
      [1, 8],
      [4, 32],
      [16, 128],
      [8, 8],
    ] as const) {
      expect(m.predict(n, l) / cpu(n, l), `${n} x ${l}`).toBeGreaterThan(0.97);
      expect(m.predict(n, l) / cpu(n, l), `${n} x ${l}`).toBeLessThan(1.1);
    }
  });

  it('does not let one unlucky run bar a batch size whose neighbours are measured', () => {
    const m = new CostModel(64);
    for (const n of [1, 2, 4, 8, 16, 32]) for (let k = 0; k < 4; k++) m.observe(n, 64, gpu(n));
    m.observe(12, 64, gpu(12) * 5); // one run, five times too slow
    expect(m.predict(12, 64) / gpu(12)).toBeLessThan(1.15);
    // Once it is measured often enough, the model believes it.
    for (let k = 0; k < 4; k++) m.observe(12, 64, gpu(12) * 5);
    expect(m.predict(12, 64) / gpu(12)).toBeGreaterThan(3);
  });

  it('extrapolates with the base line: a batch larger than any measured shares the fixed cost', () => {
    const m = new CostModel(64);
    for (let k = 0; k < 3; k++) m.observe(1, 32, 1);
    // One shape only: half of its cost is taken to be fixed.
    expect(m.snapshot().fixedMs).toBeCloseTo(0.5, 9);
    expect(m.predict(2, 32)).toBeCloseTo(1.5, 9);
    expect(m.predict(2, 32) / 2).toBeLessThan(m.predict(1, 32));
    expect(m.samplesNear(1, 32)).toBe(3);
    expect(m.samplesNear(2, 32)).toBe(0);
  });
});

describe('OverlapEstimator', () => {
  it('reads 1 for a session that runs batches one after another and 0 for one that runs them side by side', () => {
    const serial = new OverlapEstimator();
    const parallel = new OverlapEstimator();
    const rand = lcg(5);
    for (let k = 0; k < 40; k++) {
      const own = 4 + rand();
      const ahead = 1 + 3 * rand();
      serial.observe(ahead + own * (1 + 0.05 * rand()), own, ahead); // waited for the batch ahead
      parallel.observe(own * (1 + 0.05 * rand()), own, ahead); // did not
    }
    expect(serial.value).toBeGreaterThan(0.95);
    expect(parallel.value).toBeLessThan(0.1);
    expect(serial.samples).toBe(40);
    serial.tick();
    serial.tick();
    expect(serial.staleness).toBe(2);
  });
});
