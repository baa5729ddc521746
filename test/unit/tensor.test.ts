import { describe, expect, it } from 'vitest';
import {
  Tensor,
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from '../../src/tensor.js';
import { DTypeError, InvalidArgumentError, ShapeError } from '../../src/errors.js';

describe('Tensor construction', () => {
  it('takes type, typed array and dims like onnxruntime-node', () => {
    const t = new Tensor('float32', new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(t.type).toBe('float32');
    expect(t.dtype).toBe('float32');
    expect(t.dims).toEqual([2, 3]);
    expect(t.size).toBe(6);
    expect(t.byteLength).toBe(24);
    expect(Object.isFrozen(t.dims)).toBe(true);
  });

  it('infers the type from unambiguous typed arrays and defaults dims to [length]', () => {
    expect(new Tensor(new Int32Array(4)).type).toBe('int32');
    expect(new Tensor(new BigInt64Array(2)).dims).toEqual([2]);
    expect(() => new Tensor(new Uint16Array(2) as never)).toThrow(DTypeError);
  });

  it('converts plain arrays, checking each value', () => {
    expect(Array.from(new Tensor('int64', [1, 2n, -3]).data)).toEqual([1n, 2n, -3n]);
    expect(Array.from(new Tensor('bool', [true, false, 1]).data)).toEqual([1, 0, 1]);
    expect(Array.from(new Tensor('float16', [1, -2, 0.5]).data)).toEqual([0x3c00, 0xc000, 0x3800]);
    expect(() => new Tensor('int8', [127, 128])).toThrow(/data\[1\] = 128 is out of range for a int8 tensor/);
    expect(() => new Tensor('int32', [1.5])).toThrow(DTypeError);
    expect(() => new Tensor('int64', [2 ** 60])).toThrow(/must be an integer/);
    expect(() => new Tensor('bool', [2])).toThrow(DTypeError);
    expect(() => new Tensor('float32', ['1' as never])).toThrow(/must be a number/);
  });

  it('refuses a typed array of the wrong class for the type', () => {
    expect(() => new Tensor('float32', new Float64Array(2) as never)).toThrow(
      'data for a float32 tensor must be a Float32Array, got a Float64Array of length 2',
    );
    expect(() => new Tensor('int64', new Int32Array(2) as never)).toThrow(DTypeError);
    expect(() => new Tensor('float16', new Float32Array(2) as never)).toThrow(/Uint16Array/);
  });

  it('refuses unknown types and non-array data', () => {
    expect(() => new Tensor('float64' as never, new Float64Array(1) as never)).toThrow(/tensor type must be one of/);
    expect(() => new Tensor('float32', 'abc' as never)).toThrow(InvalidArgumentError);
    expect(() => new Tensor('float32', null as never)).toThrow(InvalidArgumentError);
  });

  it('checks dims against the element count', () => {
    expect(() => new Tensor('float32', new Float32Array(6), [4, 2])).toThrow(
      'dims [4, 2] describe 8 elements but data has 6',
    );
    expect(new Tensor('float32', new Float32Array(0), [0, 5]).size).toBe(0);
    expect(new Tensor('float32', new Float32Array(1), []).size).toBe(1);
  });

  it.each([
    [[-1, 6], /dims\[0\] must be a non-negative integer, got -1/],
    [[1.5, 4], /dims\[0\] must be a non-negative integer, got 1.5/],
    [[NaN], /got NaN/],
    [[Infinity], /got Infinity/],
    [[2, '3'], /dims\[1\] must be a non-negative integer, got "3"/],
    [[2 ** 31, 2 ** 31], /more than 4294967296 elements/],
    [[2 ** 53, 1], /more than/],
  ])('rejects bad dims %j', (dims, message) => {
    expect(() => new Tensor('float32', new Float32Array(6), dims as number[])).toThrow(ShapeError);
    expect(() => new Tensor('float32', new Float32Array(6), dims as number[])).toThrow(message);
  });

  it('rejects dims that are not an array', () => {
    expect(() => new Tensor('float32', new Float32Array(2), 2 as never)).toThrow(ShapeError);
  });

  it('rejects views on detached buffers', () => {
    const data = new Float32Array(4);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    expect(data.length).toBe(0);
    expect(() => new Tensor('float32', data, [0])).toThrow(/detached ArrayBuffer/);
    // An empty but live buffer is fine.
    expect(new Tensor('float32', new Float32Array(0), [0]).size).toBe(0);
  });

  it('reshapes without copying and builds zeros', () => {
    const t = new Tensor('int32', new Int32Array([1, 2, 3, 4]), [4]);
    const r = t.reshape([2, 2]);
    expect(r.data).toBe(t.data);
    expect(() => t.reshape([3])).toThrow(ShapeError);
    const z = Tensor.zeros('int64', [2, 3]);
    expect(z.data).toBeInstanceOf(BigInt64Array);
    expect(z.size).toBe(6);
  });

  it('converts to float32/float64 from every type', () => {
    expect(Array.from(new Tensor('float16', new Uint16Array([0x3c00, 0x7bff])).toFloat32())).toEqual([1, 65504]);
    expect(Array.from(new Tensor('bfloat16', new Uint16Array([0x3f80, 0xc000])).toFloat64())).toEqual([1, -2]);
    expect(Array.from(new Tensor('int64', [5n, -7n]).toFloat64())).toEqual([5, -7]);
    expect(Array.from(Tensor.fromFloat32('float16', new Float32Array([0.1])).toFloat32())).toEqual([
      float16BitsToFloat32(float32ToFloat16Bits(0.1)),
    ]);
  });
});

describe('float16 bits', () => {
  it('round-trips every finite half exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const e = (h >>> 10) & 0x1f;
      if (e === 31) continue;
      const v = float16BitsToFloat32(h);
      expect(float32ToFloat16Bits(v)).toBe(h);
    }
  });

  it('rounds to nearest, ties to even, with overflow to infinity', () => {
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65519)).toBe(0x7bff); // below the midpoint to 65536
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // the tie rounds to even = infinity
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(-1e6)).toBe(0xfc00);
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1).
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // Subnormals: the smallest is 2^-24; half of it ties to even (0).
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000);
    expect(float32ToFloat16Bits(3 * 2 ** -25)).toBe(0x0002);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN)))).toBe(true);
    expect(float16BitsToFloat32(0xfc00)).toBe(-Infinity);
  });
});

describe('bfloat16 bits', () => {
  it('round-trips and rounds to nearest even', () => {
    expect(float32ToBfloat16Bits(1)).toBe(0x3f80);
    expect(bfloat16BitsToFloat32(0x3f80)).toBe(1);
    // 1 + 2^-8 is the midpoint between 1 and 1 + 2^-7: ties to even (1).
    expect(float32ToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(float32ToBfloat16Bits(Infinity)).toBe(0x7f80);
    expect(Number.isNaN(bfloat16BitsToFloat32(float32ToBfloat16Bits(NaN)))).toBe(true);
    expect(bfloat16BitsToFloat32(float32ToBfloat16Bits(3.0e38))).toBeCloseTo(3.0e38, -36);
  });
});
