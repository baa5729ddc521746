import { describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/tensor.js';
import { concatPadded, copyBox, sliceBox } from '../../../src/batching/tensor-ops.js';

/** Element-by-element reference of copyBox. */
function naiveCopy(src: ArrayLike<number>, sDims: number[], dst: Float32Array, dDims: number[], box: number[], axis: number, sOff: number, dOff: number): void {
  const rank = box.length;
  const total = box.reduce((a, b) => a * b, 1);
  const idx = new Array(rank).fill(0);
  for (let n = 0; n < total; n++) {
    let si = 0;
    let di = 0;
    for (let i = 0; i < rank; i++) {
      si = si * sDims[i]! + idx[i] + (i === axis ? sOff : 0);
      di = di * dDims[i]! + idx[i] + (i === axis ? dOff : 0);
    }
    dst[di] = src[si]!;
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < box[i]!) break;
      idx[i] = 0;
    }
  }
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('copyBox', () => {
  it('matches an element-by-element copy for random ranks, boxes, axes and offsets', () => {
    const r = rng(7);
    for (let trial = 0; trial < 400; trial++) {
      const rank = 1 + Math.floor(r() * 5);
      const box = Array.from({ length: rank }, () => 1 + Math.floor(r() * 4));
      const axis = Math.floor(r() * rank);
      const sDims = box.map((b) => b + (r() < 0.5 ? 0 : Math.floor(r() * 3)));
      const dDims = box.map((b) => b + (r() < 0.5 ? 0 : Math.floor(r() * 3)));
      const sOff = Math.floor(r() * 3);
      const dOff = Math.floor(r() * 3);
      sDims[axis] = box[axis]! + sOff + Math.floor(r() * 2);
      dDims[axis] = box[axis]! + dOff + Math.floor(r() * 2);
      const src = Float32Array.from({ length: sDims.reduce((a, b) => a * b, 1) }, (_, i) => i + 1);
      const want = new Float32Array(dDims.reduce((a, b) => a * b, 1)).fill(-1);
      const got = want.slice();
      naiveCopy(src, sDims, want, dDims, box, axis, sOff, dOff);
      copyBox(src, sDims, got, dDims, box, axis, sOff, dOff);
      expect(Array.from(got), `rank ${rank} box ${box} axis ${axis} s ${sDims}@${sOff} d ${dDims}@${dOff}`).toEqual(Array.from(want));
    }
  });

  it('copies long runs (the subarray path) and bigint data', () => {
    const src = BigInt64Array.from({ length: 2 * 100 }, (_, i) => BigInt(i));
    const dst = new BigInt64Array(3 * 128).fill(-1n);
    copyBox(src, [2, 100], dst, [3, 128], [2, 100], 0, 0, 1);
    expect(dst[128]).toBe(0n);
    expect(dst[128 + 99]).toBe(99n);
    expect(dst[128 + 100]).toBe(-1n);
    expect(dst[256 + 99]).toBe(199n);
    expect(dst[0]).toBe(-1n);
  });
});

describe('concatPadded / sliceBox', () => {
  it('concatenates [b, s] parts along the batch axis with padding and slices them back', () => {
    const a = new Tensor('int64', [1n, 2n, 3n], [1, 3]);
    const b = new Tensor('int64', [4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n], [2, 5]);
    const batch = concatPadded('int64', [a, b], [3, 5], 0, 0n);
    expect(batch.dims).toEqual([3, 5]);
    expect(Array.from(batch.data as BigInt64Array)).toEqual([1n, 2n, 3n, 0n, 0n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n]);
    const backA = sliceBox(batch, [1, 3], 0, 0);
    const backB = sliceBox(batch, [2, 5], 0, 1);
    expect(Array.from(backA.data as BigInt64Array)).toEqual([1n, 2n, 3n]);
    expect(Array.from(backB.data as BigInt64Array)).toEqual(Array.from(b.data as BigInt64Array));
    // Slices own their buffers: no request can see another's rows through .buffer.
    expect(backA.data.buffer).not.toBe(batch.data.buffer);
  });

  it('pads with a non-zero fill and handles a batch axis that is not the first', () => {
    const a = new Tensor('float32', new Float32Array([1, 2]), [2, 1]); // [seq, batch]
    const b = new Tensor('float32', new Float32Array([3, 4, 5, 6, 7, 8]), [3, 2]);
    const batch = concatPadded('float32', [a, b], [3, 3], 1, -1);
    expect(Array.from(batch.data as Float32Array)).toEqual([1, 3, 4, 2, 5, 6, -1, 7, 8]);
  });
});
