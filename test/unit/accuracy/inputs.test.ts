import { describe, expect, it } from 'vitest';
import { generateInputs, resolveDims } from '../../../src/accuracy/inputs.js';
import { InvalidArgumentError } from '../../../src/errors.js';
import type { TensorInfo } from '../../../src/session.js';

const bert: TensorInfo[] = [
  { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'token_type_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
];
const rows = (data: ArrayLike<bigint | number>, seq: number) =>
  Array.from({ length: data.length / seq }, (_, r) => Array.from({ length: seq }, (_, c) => Number(data[r * seq + c]!)));

describe('resolveDims', () => {
  const opts = { batch: 3, seq: 7, dims: { heads: 4 }, shapes: {} };
  it('fills batch-like, sequence-like and named dims', () => {
    expect(resolveDims({ name: 'x', dtype: 'float32', dims: ['batch_size', 'seq_len', 'heads', 8] }, opts)).toEqual([3, 7, 4, 8]);
    expect(resolveDims({ name: 'x', dtype: 'float32', dims: [-1, -1] }, opts)).toEqual([3, 7]);
    expect(resolveDims({ name: 'x', dtype: 'float32', dims: ['unk__1', 'unk__2'] }, opts)).toEqual([3, 7]);
  });
  it('asks for the size of an unknown symbolic dim beyond axis 1', () => {
    expect(() => resolveDims({ name: 'x', dtype: 'float32', dims: ['batch', 'seq', 'width'] }, opts)).toThrow(
      'input "x" dim 2 [batch, seq, width] is "width"; give its size with dims: { "width": N } (--dim width:N)',
    );
  });
  it('checks explicit shapes against fixed dims', () => {
    expect(resolveDims({ name: 'x', dtype: 'float32', dims: ['b', 3] }, { ...opts, shapes: { x: [5, 3] } })).toEqual([5, 3]);
    expect(() => resolveDims({ name: 'x', dtype: 'float32', dims: ['b', 3] }, { ...opts, shapes: { x: [5, 4] } })).toThrow(InvalidArgumentError);
  });
});

describe('generateInputs', () => {
  it('gives BERT-style inputs with right padding shared by ids, type ids and mask', () => {
    const [feeds] = generateInputs(bert, { seed: 5, batch: 4, seq: 8 });
    const mask = rows(feeds!.attention_mask!.data as BigInt64Array, 8);
    const ids = rows(feeds!.input_ids!.data as BigInt64Array, 8);
    const types = rows(feeds!.token_type_ids!.data as BigInt64Array, 8);
    expect(feeds!.input_ids!.dims).toEqual([4, 8]);
    expect(mask[0]).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    const lengths = mask.map((r) => r.reduce((s, v) => s + v, 0));
    mask.forEach((r, i) => {
      // ones then zeros
      expect(r).toEqual(Array.from({ length: 8 }, (_, c) => (c < lengths[i]! ? 1 : 0)));
      expect(lengths[i]).toBeGreaterThanOrEqual(1);
      ids[i]!.forEach((id, c) => (c >= lengths[i]! ? expect(id).toBe(0) : expect(id).toBeLessThanOrEqual(99)));
      types[i]!.forEach((t, c) => (c >= lengths[i]! ? expect(t).toBe(0) : expect([0, 1]).toContain(t)));
    });
    // Varied lengths across rows for this seed.
    expect(new Set(lengths).size).toBeGreaterThan(1);
  });

  it('pads token ids drawn from an explicit range too', () => {
    const [f] = generateInputs(bert, { seed: 5, batch: 4, seq: 8, valueRanges: { input_ids: [500, 999] } });
    const mask = rows(f!.attention_mask!.data as BigInt64Array, 8);
    rows(f!.input_ids!.data as BigInt64Array, 8).forEach((r, i) =>
      r.forEach((id, c) => (mask[i]![c] === 0 ? expect(id).toBe(0) : expect(id).toBeGreaterThanOrEqual(500))),
    );
    expect(mask.flat().includes(0)).toBe(true);
  });

  it('mirrors the pattern for left padding and leaves no padding with none', () => {
    const [left] = generateInputs(bert, { seed: 5, batch: 4, seq: 8, maskPattern: 'left' });
    for (const r of rows(left!.attention_mask!.data as BigInt64Array, 8)) {
      const len = r.reduce((s, v) => s + v, 0);
      expect(r).toEqual(Array.from({ length: 8 }, (_, c) => (c >= 8 - len ? 1 : 0)));
    }
    const [none] = generateInputs(bert, { seed: 5, batch: 4, seq: 8, maskPattern: 'none' });
    expect([...(none!.attention_mask!.data as BigInt64Array)].every((v) => v === 1n)).toBe(true);
  });

  it('is reproducible per seed, and iteration i uses seed + i', () => {
    const one = generateInputs(bert, { seed: 9, iterations: 2 });
    const again = generateInputs(bert, { seed: 9, iterations: 2 });
    const shifted = generateInputs(bert, { seed: 10 });
    expect(one[0]!.input_ids!.data).toEqual(again[0]!.input_ids!.data);
    expect(one[1]!.input_ids!.data).toEqual(shifted[0]!.input_ids!.data);
    expect(one[0]!.input_ids!.data).not.toEqual(one[1]!.input_ids!.data);
  });

  it('draws from per-input ranges, inclusive, with "" as the default', () => {
    const inputs: TensorInfo[] = [
      { name: 'x', dtype: 'float32', dims: [1000] },
      { name: 'y', dtype: 'float16', dims: [1000] },
      { name: 'input_ids', dtype: 'int32', dims: [2, 500] },
    ];
    const [f] = generateInputs(inputs, { valueRanges: { '': [-2, -1], input_ids: [5, 7] } });
    const x = f!.x!.toFloat32();
    expect(Math.min(...x)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...x)).toBeLessThanOrEqual(-1);
    expect(f!.y!.type).toBe('float16');
    const y = f!.y!.toFloat32();
    expect(Math.min(...y)).toBeGreaterThanOrEqual(-2);
    expect(new Set(f!.input_ids!.data as Int32Array)).toEqual(new Set([5, 6, 7]));
  });

  it('counts position ids and defaults other floats to [0, 1]', () => {
    const [f] = generateInputs(
      [
        { name: 'position_ids', dtype: 'int64', dims: ['batch', 'seq'] },
        { name: 'pixel', dtype: 'float32', dims: ['batch', 3] },
      ],
      { batch: 2, seq: 4 },
    );
    expect(rows(f!.position_ids!.data as BigInt64Array, 4)).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
    const px = f!.pixel!.toFloat32();
    expect(Math.min(...px)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...px)).toBeLessThanOrEqual(1);
  });

  it('refuses ranges for unknown inputs and ranges without integers', () => {
    expect(() => generateInputs(bert, { valueRanges: { input_idz: [0, 1] } })).toThrow('input "input_idz" (given a value range or shape) is not an input');
    expect(() => generateInputs(bert, { valueRanges: { input_ids: [0.2, 0.8] } })).toThrow('holds no integer');
    expect(() => generateInputs(bert, { valueRanges: { input_ids: [3, 1] } })).toThrow(InvalidArgumentError);
    expect(() => generateInputs(bert, { seed: -1 })).toThrow(InvalidArgumentError);
  });
});
