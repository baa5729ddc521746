// Token choice: greedy ties, and sampling against a brute-force reference of Hugging Face's
// temperature -> top-k -> top-p rule.
import { describe, expect, it } from 'vitest';
import { TokenSampler, argmax } from '../../../src/generation/sampling.js';
import { Random } from '../../../src/random.js';

/** The tokens Hugging Face would keep, and their probabilities, by sorting everything. */
function reference(logits: Float32Array, t: number, k: number, p: number): Map<number, number> {
  const ids = [...logits.keys()];
  let keep = ids;
  if (k > 0 && k < ids.length) {
    const kth = [...logits].sort((a, b) => b - a)[k - 1]!;
    keep = ids.filter((i) => logits[i]! >= kth);
  }
  const max = Math.max(...keep.map((i) => logits[i]!));
  const w = new Map(keep.map((i) => [i, Math.exp((logits[i]! - max) / t)]));
  const total = [...w.values()].reduce((a, b) => a + b, 0);
  if (p < 1) {
    const sorted = [...w.keys()].sort((a, b) => w.get(b)! - w.get(a)! || a - b);
    let before = 0;
    const nucleus = new Map<number, number>();
    for (const i of sorted) {
      if (before >= p * total) break;
      nucleus.set(i, w.get(i)!);
      before += w.get(i)!;
    }
    const z = [...nucleus.values()].reduce((a, b) => a + b, 0);
    return new Map([...nucleus].map(([i, x]) => [i, x / z]));
  }
  return new Map([...w].map(([i, x]) => [i, x / total]));
}

describe('token choice', () => {
  it('greedy takes the largest logit, the lowest id on ties', () => {
    expect(argmax(Float32Array.of(1, 3, 3, 2), 0, 4)).toBe(1);
    expect(argmax(Float32Array.of(9, 0, 5, 5), 2, 2)).toBe(0);
    expect(new TokenSampler({ temperature: 0, topK: 5, topP: 0.5 }, 1).next(Float32Array.of(0, 7, 7), 0, 3)).toBe(1);
  });

  it('samples only what top-k and top-p keep, at the reference probabilities', () => {
    const rng = new Random(9);
    for (const [t, k, p] of [
      [1, 0, 1],
      [0.7, 10, 1],
      [1.3, 0, 0.8],
      [1, 25, 0.6],
      [2, 3, 0.99],
    ] as const) {
      const logits = new Float32Array(200);
      for (let i = 0; i < 200; i++) logits[i] = rng.nextNormal() * 2;
      logits[17] = logits[18]!; // a tie
      const ref = reference(logits, t, k, p);
      const sampler = new TokenSampler({ temperature: t, topK: k, topP: p }, 123);
      const counts = new Map<number, number>();
      const n = 6000;
      for (let i = 0; i < n; i++) {
        const tok = sampler.next(logits, 0, 200);
        counts.set(tok, (counts.get(tok) ?? 0) + 1);
      }
      for (const tok of counts.keys()) expect(ref.has(tok), `token ${tok} outside the kept set (t ${t}, k ${k}, p ${p})`).toBe(true);
      for (const [tok, prob] of ref) {
        const got = (counts.get(tok) ?? 0) / n;
        // 5 standard deviations of a binomial proportion.
        expect(Math.abs(got - prob)).toBeLessThan(5 * Math.sqrt((prob * (1 - prob)) / n) + 1e-3);
      }
    }
  });

  it('the same seed gives the same samples, one draw per token', () => {
    const logits = new Float32Array(64).map((_, i) => Math.sin(i));
    const a = new TokenSampler({ temperature: 1, topK: 0, topP: 0.9 }, 7);
    const b = new TokenSampler({ temperature: 1, topK: 0, topP: 0.9 }, 7);
    const c = new TokenSampler({ temperature: 1, topK: 0, topP: 0.9 }, 8);
    const sa = Array.from({ length: 50 }, () => a.next(logits, 0, 64));
    expect(Array.from({ length: 50 }, () => b.next(logits, 0, 64))).toEqual(sa);
    expect(Array.from({ length: 50 }, () => c.next(logits, 0, 64))).not.toEqual(sa);
  });
});
