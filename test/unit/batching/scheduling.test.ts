/**
 * The scheduling rules as pure functions, with given cost models: which requests go
 * together, how many, and when a batch waits.
 */
import { describe, expect, it } from 'vitest';
import {
  launchAt,
  planTriton,
  selectByCost,
  waitForCompany,
  type CostCandidate,
  type CostFn,
  type InflightState,
  type Selection,
} from '../../../src/batching/scheduling.js';
import { Group, Request } from '../../../src/batching/request.js';

/** Requests of one row each with these lengths; the first is the oldest. */
function cands(lens: number[], rows: number[] = []): CostCandidate[] {
  return lens.map((l, i) => ({ batch: rows[i] ?? 1, rowLen: l, lens: [l], enqueuedAt: i }));
}

/** Lengths of the picked requests, in the order picked. */
const lensOf = (c: CostCandidate[], s: Selection): number[] => s.picked.map((i) => c[i]!.rowLen);

const LIMITS = { maxRows: 64, maxTokens: Infinity };

/** A CPU-like cost: a fixed 0.3 ms per batch and 2 µs per padded token. */
const cpu: CostFn = (n, l) => 0.3 + 0.002 * n * l;

describe('selectByCost: which requests go together, and how many', () => {
  it('batches the anchor with requests of similar length and leaves long ones out of a short batch', () => {
    const c = cands([10, 100, 12, 98, 11, 9]);
    const s = selectByCost(c, 0, null, cpu, LIMITS);
    expect(lensOf(c, s).sort((a, b) => a - b)).toEqual([9, 10, 11, 12]);
    expect(s).toMatchObject({ rows: 4, paddedLen: 12, realTokens: 42 });
    expect(s.predictedMs).toBeCloseTo(cpu(4, 12), 12);
    expect(s.apartMs).toBeCloseTo(cpu(1, 10) + cpu(1, 12) + cpu(1, 11) + cpu(1, 9), 12);
  });

  it('puts a long anchor with the other long requests; short ones would only add padding', () => {
    const c = cands([100, 10, 98, 12, 97]);
    const s = selectByCost(c, 0, null, (n, l) => 0.05 + 0.002 * n * l, LIMITS);
    expect(lensOf(c, s).sort((a, b) => a - b)).toEqual([97, 98, 100]);
  });

  it('pads short requests up when the fixed cost is worth more than the padding', () => {
    const c = cands([100, 10, 98, 12]);
    // A GPU-like cost: the batch costs the same at any size.
    const s = selectByCost(c, 0, null, () => 4, LIMITS);
    expect(s.rows).toBe(4);
    expect(s.paddedLen).toBe(100);
  });

  it('never forms a batch that costs more than running its requests apart', () => {
    // Cost per row grows with the batch: batching never pays.
    const superlinear: CostFn = (n, l) => 0.01 * n * n * l;
    const c = cands([50, 50, 50, 50]);
    const s = selectByCost(c, 0, null, superlinear, LIMITS);
    expect(s.picked).toEqual([0]);
    expect(s.predictedMs).toBeLessThanOrEqual(s.apartMs);
  });

  it('stops at the size where the cost per row starts to rise (a CPU running out of cache)', () => {
    const knee: CostFn = (n, l) => 0.2 + 0.004 * n * l * (1 + Math.max(0, n - 6) * 0.1);
    const c = cands(Array.from({ length: 20 }, () => 64));
    const s = selectByCost(c, 0, null, knee, LIMITS);
    // Tokens per ms: 6 rows 384/1.736, 7 rows 448/2.0912: the best is at 6 or 7.
    const eff = (n: number): number => (n * 64) / knee(n, 64);
    const bestN = [...Array(20).keys()].map((k) => k + 1).reduce((a, n) => (eff(n) > eff(a) ? n : a), 1);
    expect(s.rows).toBe(bestN);
    expect(s.full).toBe(false);
  });

  it('takes the oldest of equal requests first', () => {
    const c = cands([8, 8, 8, 8, 8, 8]);
    const s = selectByCost(c, 0, null, cpu, { maxRows: 3, maxTokens: Infinity });
    expect([...s.picked].sort()).toEqual([0, 1, 2]);
    expect(s.full).toBe(true);
  });

  it('keeps within maxRows and maxBatchTokens, counting multi-row requests whole; a lone request may exceed the tokens', () => {
    const c = cands([16, 16, 16, 16, 16], [2, 3, 1, 2, 1]);
    const flat: CostFn = () => 1;
    const byRows = selectByCost(c, 0, null, flat, { maxRows: 4, maxTokens: Infinity });
    expect(byRows.rows).toBe(4);
    expect(byRows.picked[0]).toBe(0);
    const byTokens = selectByCost(c, 0, null, flat, { maxRows: 64, maxTokens: 16 * 5 });
    expect(byTokens.rows * byTokens.paddedLen).toBeLessThanOrEqual(80);
    expect(byTokens.full).toBe(true);
    const huge = cands([1000, 10]);
    const alone = selectByCost(huge, 0, null, flat, { maxRows: 64, maxTokens: 512 });
    expect(alone.picked).toEqual([0]);
  });

  it('pads to the bucket when the group has one', () => {
    const c = cands([3, 5, 7]);
    const s = selectByCost(c, 0, [8], (n, l) => 0.5 + 0.01 * n * l, LIMITS);
    expect(s.paddedLen).toBe(8);
    expect(s.rows).toBe(3);
  });

  it('before anything is measured, forms the batch greedily in arrival order', () => {
    const c = cands([10, 100, 12, 98]);
    const s = selectByCost(c, 0, null, () => NaN, { maxRows: 3, maxTokens: Infinity });
    expect(s.picked).toEqual([0, 1, 2]);
    expect(s.predictedMs).toBeNaN();
  });

  it('evaluates every choice of longest request among many lengths (thinned, but always the anchor and the longest)', () => {
    const lens = Array.from({ length: 200 }, (_, i) => 1 + ((i * 37) % 128));
    const c = cands(lens);
    const s = selectByCost(c, 0, null, () => 1, { maxRows: 256, maxTokens: Infinity });
    expect(s.rows).toBe(200); // a flat cost takes everyone
    const t = selectByCost(c, 0, null, cpu, { maxRows: 256, maxTokens: Infinity });
    expect(t.rows).toBeGreaterThan(1);
    expect(t.apartMs / t.predictedMs).toBeGreaterThan(1);
    // No other batch around the anchor, by longest length and count, does better.
    const sorted = [...lens.keys()].sort((x, y) => lens[x]! - lens[y]! || y - x);
    let best = 1;
    for (let e = sorted.indexOf(0); e < sorted.length; e++) {
      const maxL = lens[sorted[e]!]!;
      const members = sorted
        .slice(0, e + 1)
        .filter((i) => i !== 0)
        .reverse();
      let apart = cpu(1, lens[0]!);
      for (let n = 1; n <= members.length; n++) {
        apart += cpu(1, lens[members[n - 1]!]!);
        best = Math.max(best, apart / cpu(n + 1, Math.max(maxL, lens[0]!)));
      }
    }
    expect(t.apartMs / t.predictedMs).toBeGreaterThan(best * 0.97); // thinned choices lose little
  });
});

describe('launchAt: a free slot is not a free session', () => {
  const sel = (full: boolean): Selection => ({ picked: [0], rows: 4, paddedLen: 8, predictedMs: 2, realTokens: 32, apartMs: 4, full });
  const state = (o: Partial<InflightState>): InflightState => ({ count: 1, busyUntil: 110, serial: 1, handoverMs: 0.1, leadFraction: 0.2, ...o });

  it('holds a batch until the running one is predicted to end, less the handover and the lead, on a session that runs one at a time', () => {
    expect(launchAt(100, sel(false), state({}))).toBeCloseTo(110 - 0.2 - 0.05 - 0.2 * 2, 9);
    expect(launchAt(100, sel(false), state({ leadFraction: 0 }))).toBeCloseTo(110 - 0.25, 9);
    expect(launchAt(100, sel(false), state({ serial: 0.5 }))).toBeCloseTo(105 - 0.65, 9);
  });

  it('launches at once with nothing running, on a session that runs batches side by side, for a full batch, or when the running batch is overdue', () => {
    expect(launchAt(100, sel(false), state({ count: 0 }))).toBe(100);
    expect(launchAt(100, sel(false), state({ serial: 0 }))).toBe(100);
    expect(launchAt(100, sel(true), state({}))).toBe(100);
    expect(launchAt(100, sel(false), state({ busyUntil: 99, serial: 0.5 }))).toBe(100);
  });

  it('waits for the completion of a running batch that is later than predicted, on a session that runs one at a time', () => {
    expect(launchAt(100, sel(false), state({ busyUntil: 99 }))).toBe(Infinity);
  });
});

describe('waitForCompany: the queue-delay budget of the cost scheduler', () => {
  const sel: Selection = { picked: [0, 1], rows: 2, paddedLen: 8, predictedMs: 4, realTokens: 16, apartMs: 6, full: false };
  it('waits within the budget only while requests arrive faster than batches of this size are served', () => {
    // 2 rows per 4 ms serve 0.5 per ms: arrivals of 1 per ms outpace them.
    expect(waitForCompany(10, sel, 9, 5, 1)).toBe(14);
    expect(waitForCompany(10, sel, 9, 5, 0.25)).toBe(10);
    expect(waitForCompany(10, sel, 0, 5, 1)).toBe(10); // the budget is spent
    expect(waitForCompany(10, { ...sel, full: true }, 9, 5, 1)).toBe(10);
    expect(waitForCompany(10, sel, 9, 0, 1)).toBe(10);
  });
});

describe("planTriton: Triton's rule with a token budget", () => {
  function group(lens: number[]): Group {
    const g = new Group('', null, 1);
    lens.forEach((l, i) => {
      const r = new Request({}, 1, [l], l, l, 1, i);
      r.group = g;
      g.queues[0]!.push(r);
      g.live++;
    });
    return g;
  }
  const rules = { maxBatch: 8, preferred: new Uint8Array(9), maxPreferred: 8, delayMs: 0, maxTokens: Infinity };

  it('sends everything that fits maxBatchSize at delay 0', () => {
    expect(planTriton(group([4, 4, 4]), 0, rules, false)).toMatchObject({ n: 3, rows: 3, level: 0, oldest: 0 });
  });

  it('stops the batch where rows x the longest length would pass maxBatchTokens, but sends a lone oversized request', () => {
    expect(planTriton(group([4, 4, 20, 4]), 0, { ...rules, maxTokens: 40 }, false)).toMatchObject({ n: 2, rows: 2 });
    expect(planTriton(group([100, 4]), 0, { ...rules, maxTokens: 40 }, false)).toMatchObject({ n: 1, rows: 1 });
  });

  it('waits for the queue delay when the batch is not full', () => {
    expect(planTriton(group([4]), 1, { ...rules, delayMs: 5 }, false)).toMatchObject({ n: 0, wake: 5 });
    expect(planTriton(group([4]), 1, { ...rules, delayMs: 5 }, true)).toMatchObject({ n: 1 });
  });
});
