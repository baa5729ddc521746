import { describe, expect, it } from 'vitest';
import {
  DATA_TYPES,
  DATA_TYPE_NAMES,
  ONNXRUNTIME_DATA_TYPES,
  TENSORRT_DATA_TYPES,
  Tensor,
  asTensor,
  castFloat,
  checkAttached,
  dataTypeFromOnnx,
  isTensorLike,
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
    expect(() => new Tensor('double' as never, new Float64Array(1) as never)).toThrow(/tensor type must be one of/);
    expect(() => new Tensor('string' as never, ['a'] as never)).toThrow(DTypeError);
    expect(() => new Tensor('float32', 'abc' as never)).toThrow(InvalidArgumentError);
    expect(() => new Tensor('float32', null as never)).toThrow(InvalidArgumentError);
  });

  it('checks dims against the element count', () => {
    expect(() => new Tensor('float32', new Float32Array(6), [4, 2])).toThrow('dims [4, 2] describe 8 elements but data has 6');
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
    expect(Array.from(Tensor.fromFloat32('float16', new Float32Array([0.1])).toFloat32())).toEqual([float16BitsToFloat32(float32ToFloat16Bits(0.1))]);
  });
});

describe('the dtypes onnxruntime-node runs', () => {
  it('has one table row per dtype: storage, ONNX number, kind and backends', () => {
    expect(DATA_TYPE_NAMES).toEqual([
      'float32',
      'float16',
      'bfloat16',
      'float64',
      'int8',
      'uint8',
      'int16',
      'uint16',
      'int32',
      'uint32',
      'int64',
      'uint64',
      'bool',
    ]);
    for (const t of DATA_TYPE_NAMES) {
      const info = DATA_TYPES[t];
      expect(info.array.BYTES_PER_ELEMENT).toBe(info.bytesPerElement);
      expect(dataTypeFromOnnx(info.onnx)).toBe(t);
    }
    expect(TENSORRT_DATA_TYPES).toEqual(['float32', 'float16', 'bfloat16', 'int8', 'uint8', 'int32', 'int64', 'bool']);
    expect(ONNXRUNTIME_DATA_TYPES).not.toContain('bfloat16');
    expect(ONNXRUNTIME_DATA_TYPES).toContain('uint64');
    expect(DATA_TYPES.uint16).toMatchObject({ kind: 'uint', min: 0, max: 65535, bigint: false });
    expect(DATA_TYPES.int16).toMatchObject({ kind: 'int', min: -32768, max: 32767 });
  });

  it('builds float64, int16, uint16, uint32 and uint64 tensors from arrays, checking ranges', () => {
    expect(Array.from(new Tensor('float64', [0.1, -2]).data)).toEqual([0.1, -2]);
    expect(new Tensor('int16', [-32768, 32767]).data).toBeInstanceOf(Int16Array);
    expect(new Tensor('uint16', [0, 65535]).data).toBeInstanceOf(Uint16Array);
    expect(Array.from(new Tensor('uint32', [4294967295]).data)).toEqual([4294967295]);
    expect(Array.from(new Tensor('uint64', [2n ** 64n - 1n, 3]).data)).toEqual([2n ** 64n - 1n, 3n]);
    expect(() => new Tensor('int16', [32768])).toThrow('data[0] = 32768 is out of range for a int16 tensor (-32768..32767)');
    expect(() => new Tensor('uint16', [-1])).toThrow(/out of range for a uint16 tensor \(0\.\.65535\)/);
    expect(() => new Tensor('uint64', [-1n])).toThrow('data[0] = -1 is out of range for a uint64 tensor (0..2^64-1)');
    expect(() => new Tensor('uint64', [2n ** 64n])).toThrow(DTypeError);
    expect(() => new Tensor('float64', new Float32Array(1) as never)).toThrow(
      'data for a float64 tensor must be a Float64Array, got a Float32Array of length 1',
    );
  });

  it('infers the new types from their typed arrays; a Uint16Array stays ambiguous', () => {
    expect(new Tensor(new Float64Array(1)).type).toBe('float64');
    expect(new Tensor(new Int16Array(1)).type).toBe('int16');
    expect(new Tensor(new Uint32Array(1)).type).toBe('uint32');
    expect(new Tensor(new BigUint64Array(1)).type).toBe('uint64');
    expect(() => new Tensor(new Uint16Array(1) as never)).toThrow(/pass the type first/);
  });

  it('converts every type to float32 and float64', () => {
    expect(Array.from(new Tensor('uint64', [5n, 2n ** 60n]).toFloat64())).toEqual([5, 2 ** 60]);
    const f64 = new Tensor('float64', [0.1, 1e300]);
    expect(f64.toFloat64()).toBe(f64.data);
    expect(Array.from(f64.toFloat32())).toEqual([Math.fround(0.1), Infinity]);
    expect(Array.from(new Tensor('uint16', [65535]).toFloat32())).toEqual([65535]);
  });

  it('casts between float types, rounding to the target', () => {
    const f64 = new Tensor('float64', [0.1, 1 / 3], [1, 2]);
    expect(castFloat(f64, 'float64')).toBe(f64);
    const f32 = castFloat(f64, 'float32');
    expect(f32.dims).toEqual([1, 2]);
    expect(Array.from(f32.data)).toEqual([Math.fround(0.1), Math.fround(1 / 3)]);
    expect(Array.from(castFloat(f32, 'float64').data)).toEqual([Math.fround(0.1), Math.fround(1 / 3)]);
    expect(Array.from(castFloat(f64, 'float16').data)).toEqual([float32ToFloat16Bits(0.1), float32ToFloat16Bits(1 / 3)]);
    expect(() => castFloat(new Tensor('int32', [1]), 'float32')).toThrow(/converts between float types; the tensor is int32/);
  });
});

describe('asTensor', () => {
  it('returns our Tensor as is and wraps others without copying', () => {
    const t = new Tensor('int64', [1n, 2n], [1, 2]);
    expect(asTensor(t)).toBe(t);
    const data = new Uint32Array([7, 8]);
    const w = asTensor({ type: 'uint32', data, dims: [2, 1] });
    expect(w.data).toBe(data);
    expect(w.dims).toEqual([2, 1]);
    expect(isTensorLike({ type: 'uint32', data, dims: [2] })).toBe(true);
    expect(isTensorLike({ type: 'uint32', dims: [2] })).toBe(false);
    expect(isTensorLike(data)).toBe(false);
  });

  it.skipIf(typeof (globalThis as { Float16Array?: unknown }).Float16Array !== 'function')('views float16 data given as a Float16Array as its bits', () => {
    const F16 = (globalThis as unknown as { Float16Array: new (v: number[]) => ArrayBufferView }).Float16Array;
    const data = new F16([1, -2]);
    const t = asTensor({ type: 'float16', data, dims: [2] });
    expect(Array.from(t.data as Uint16Array)).toEqual([0x3c00, 0xc000]);
    expect(t.data.buffer).toBe(data.buffer);
  });

  it('names the value in its errors', () => {
    expect(() => asTensor(42, 'output "y"')).toThrow('output "y" must be a Tensor (or a tensor with type, data and dims, such as onnxruntime-node\'s), got 42');
    expect(() => asTensor({ type: 'float32', data: new Float32Array(2), dims: [3] }, 'x')).toThrow(
      new ShapeError('x: dims [3] describe 3 elements but data has 2'),
    );
    expect(() => asTensor({ type: 'float32', data: new Float32Array(2), dims: [-1] }, 'x')).toThrow(ShapeError);
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

describe('location and detached memory', () => {
  it("a Tensor is on the host ('cpu') unless made over a session's pinned memory", () => {
    expect(new Tensor('float32', new Float32Array(2), [2]).location).toBe('cpu');
  });

  it('checkAttached refuses a tensor whose ArrayBuffer was transferred after it was made', () => {
    const t = new Tensor('float32', new Float32Array(4), [2, 2]);
    expect(() => checkAttached(t, 'input "x"')).not.toThrow();
    structuredClone(t.data.buffer, { transfer: [t.data.buffer as ArrayBuffer] });
    expect(() => checkAttached(t, 'input "x"')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('input "x"\'s data was detached') }),
    );
  });

  it('asTensor refuses a DeviceTensor with what to do instead', () => {
    const device = { type: 'float32', dims: [2], location: 'gpu-buffer', device: 1, toHost: async () => undefined };
    expect(() => asTensor(device, 'feeds["x"]')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('feeds["x"] is a DeviceTensor (its data is on GPU 1)') }),
    );
  });
});
