// Splitting a prefill round by length when the measured step costs say it pays.
import { describe, expect, it } from 'vitest';
import { StepCostModel, planPrefillGroups } from '../../../src/generation/prefill-plan.js';

const cost = (lengths: number[], groups: number[][], fixed: number): number =>
  groups.reduce((a, g) => a + fixed + g.length * Math.max(...g.map((i) => lengths[i]!)), 0);

describe('prefill plan', () => {
  it('one group while the fixed cost is unknown or large; groups of similar lengths when steps are cheap', () => {
    const lengths = [40, 1, 22, 3, 39, 2, 21, 20];
    expect(planPrefillGroups(lengths, 4096, Infinity)).toEqual([[1, 5, 3, 7, 6, 2, 4, 0]]);
    expect(planPrefillGroups(lengths, 4096, 1000)).toHaveLength(1);
    const split = planPrefillGroups(lengths, 4096, 10);
    expect(split.map((g) => g.map((i) => lengths[i]))).toEqual([
      [1, 2, 3],
      [20, 21, 22],
      [39, 40],
    ]);
    expect(cost(lengths, split, 10)).toBeLessThan(cost(lengths, [[0, 1, 2, 3, 4, 5, 6, 7]], 10));
  });

  it('is optimal against every contiguous partition, and keeps each group within the budget', () => {
    const lengths = [5, 9, 1, 14, 7, 3, 12, 8, 2];
    for (const [budget, fixed] of [
      [1000, 0],
      [1000, 6],
      [40, 6],
      [40, Infinity],
      [14, 3],
    ] as const) {
      const plan = planPrefillGroups(lengths, budget, fixed);
      expect(plan.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
      for (const g of plan) expect(g.length * Math.max(...g.map((i) => lengths[i]!))).toBeLessThanOrEqual(budget);
      // Brute force over the 2^(n-1) cuts of the sorted order.
      const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]!);
      let best = Infinity;
      for (let mask = 0; mask < 1 << (order.length - 1); mask++) {
        const groups: number[][] = [[order[0]!]];
        for (let i = 1; i < order.length; i++) {
          if ((mask >> (i - 1)) & 1) groups.push([order[i]!]);
          else groups[groups.length - 1]!.push(order[i]!);
        }
        if (groups.some((g) => g.length * Math.max(...g.map((i) => lengths[i]!)) > budget)) continue;
        best = Math.min(
          best,
          groups.reduce((a, g) => a + (Number.isFinite(fixed) ? fixed : 1e9) + g.length * Math.max(...g.map((i) => lengths[i]!)), 0),
        );
      }
      expect(cost(lengths, plan, Number.isFinite(fixed) ? fixed : 1e9)).toBe(best);
    }
  });

  it('learns the fixed cost of a step from step times', () => {
    const m = new StepCostModel();
    expect(m.fixedTokens()).toBe(Infinity);
    for (const x of [10, 200, 40, 640, 90, 300]) m.observe(x, 3 + 0.25 * x);
    expect(m.fixedTokens()).toBeCloseTo(12, 6);
    const flat = new StepCostModel();
    for (let i = 0; i < 5; i++) flat.observe(64, 5);
    expect(flat.fixedTokens()).toBe(Infinity);
  });
});
