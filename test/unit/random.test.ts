import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';

describe('Random', () => {
  it('is deterministic per seed and uniform enough', () => {
    const a = new Random(42);
    const b = new Random(42);
    const xs = Array.from({ length: 1000 }, () => a.nextFloat());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.nextFloat()));
    expect(new Random(43).nextFloat()).not.toBe(xs[0]);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });

  it('draws integers in [lo, hi), hi excluded', () => {
    const g = new Random(2);
    const ints = Array.from({ length: 2000 }, () => g.nextInt(3, 6));
    expect([...new Set(ints)].sort()).toEqual([3, 4, 5]);
    expect(Array.from({ length: 50 }, () => g.nextInt(7, 8))).toEqual(Array(50).fill(7));
  });

  it('keeps the numbers it gave before the two generators were merged', () => {
    // Taken from the former accuracy/random.ts and onnx/random.ts: saved seeds keep giving
    // the same generated inputs, and the embedded encoder the same weights.
    const g = new Random(1);
    expect([g.nextUint32(), g.nextUint32(), g.nextUint32()]).toEqual([2442144158, 3238099751, 3819917871]);
    expect(new Random(1).nextFloat()).toBe(0.5686059948349658);
    expect(new Random(5).nextInt(0, 100)).toBe(84);
    expect(Array.from(Random.forStream(1, 'w').fillNormal(new Float32Array(2), 1))).toEqual([1.1639338731765747, -0.24655216932296753]);
  });

  it('gives independent named streams under one seed', () => {
    const a = Random.forStream(7, 'w');
    const seqA = Array.from({ length: 5 }, () => a.nextUint32());
    const again = Random.forStream(7, 'w');
    expect(Array.from({ length: 5 }, () => again.nextUint32())).toEqual(seqA);
    const other = Random.forStream(7, 'v');
    expect(Array.from({ length: 5 }, () => other.nextUint32())).not.toEqual(seqA);
    const reseeded = Random.forStream(8, 'w');
    expect(Array.from({ length: 5 }, () => reseeded.nextUint32())).not.toEqual(seqA);
  });

  it('draws normal variates with the asked mean and spread', () => {
    const out = Random.forStream(1, 'n').fillNormal(new Float32Array(100_000), 0.5, 2);
    const mean = out.reduce((s, x) => s + x, 0) / out.length;
    const std = Math.sqrt(out.reduce((s, x) => s + (x - mean) ** 2, 0) / out.length);
    expect(mean).toBeCloseTo(2, 2);
    expect(std).toBeCloseTo(0.5, 2);
  });
});
