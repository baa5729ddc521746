/**
 * Tensor: an element type, a flat typed array and dims, checked against each other on
 * construction. The constructor follows onnxruntime-node's `new Tensor(type, data, dims)`.
 */
import { DTypeError, InvalidArgumentError, ShapeError, describe } from './errors.js';

export type DataType = 'float32' | 'float16' | 'bfloat16' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';

export interface DataTypeMap {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int32: Int32Array;
  int64: BigInt64Array;
  bool: Uint8Array;
}

export type TypedArrayFor<T extends DataType> = DataTypeMap[T];
export type TensorData = DataTypeMap[DataType];

type TypedArrayCtor = Float32ArrayConstructor | Uint16ArrayConstructor | Int8ArrayConstructor |
  Uint8ArrayConstructor | Int32ArrayConstructor | BigInt64ArrayConstructor;

export interface DataTypeInfo {
  /** The typed array class that holds the elements. */
  readonly array: TypedArrayCtor;
  readonly bytesPerElement: number;
  /** ONNX TensorProto.DataType enum value. */
  readonly onnx: number;
  /** Element storage, for messages: float16 and bfloat16 are raw bits in a Uint16Array. */
  readonly storage: string;
}

export const DATA_TYPES: Readonly<Record<DataType, DataTypeInfo>> = Object.freeze({
  float32: { array: Float32Array, bytesPerElement: 4, onnx: 1, storage: 'Float32Array' },
  float16: { array: Uint16Array, bytesPerElement: 2, onnx: 10, storage: 'Uint16Array (IEEE half bits)' },
  bfloat16: { array: Uint16Array, bytesPerElement: 2, onnx: 16, storage: 'Uint16Array (bfloat16 bits)' },
  int8: { array: Int8Array, bytesPerElement: 1, onnx: 3, storage: 'Int8Array' },
  uint8: { array: Uint8Array, bytesPerElement: 1, onnx: 2, storage: 'Uint8Array' },
  int32: { array: Int32Array, bytesPerElement: 4, onnx: 6, storage: 'Int32Array' },
  int64: { array: BigInt64Array, bytesPerElement: 8, onnx: 7, storage: 'BigInt64Array' },
  bool: { array: Uint8Array, bytesPerElement: 1, onnx: 9, storage: 'Uint8Array (0 or 1)' },
});

export const DATA_TYPE_NAMES = Object.freeze(Object.keys(DATA_TYPES) as DataType[]);

export function isDataType(value: unknown): value is DataType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DATA_TYPES, value);
}

const ONNX_TO_TYPE = new Map<number, DataType>(DATA_TYPE_NAMES.map((t) => [DATA_TYPES[t].onnx, t]));

/** The DataType of an ONNX TensorProto.DataType value, or undefined if we do not support it. */
export function dataTypeFromOnnx(onnxType: number): DataType | undefined {
  return ONNX_TO_TYPE.get(onnxType);
}

/** Largest number of elements a tensor may have (the largest typed array Node allocates). */
export const MAX_ELEMENTS = 2 ** 32;

/**
 * Checks dims and returns their element count. Throws ShapeError naming `what` for
 * non-arrays, negative, fractional, non-finite or too-large dims.
 */
export function elementCount(dims: unknown, what = 'dims'): number {
  if (!Array.isArray(dims)) {
    throw new ShapeError(`${what} must be an array of non-negative integers, got ${describe(dims)}`);
  }
  let count = 1;
  for (let i = 0; i < dims.length; i++) {
    const d: unknown = dims[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new ShapeError(
        `${what}[${i}] must be a non-negative integer, got ${describe(d)} (dims ${formatDims(dims)})`,
      );
    }
    count *= d;
    if (count > MAX_ELEMENTS) {
      throw new ShapeError(
        `${what} ${formatDims(dims)} describe more than ${MAX_ELEMENTS} elements, the most a tensor can hold`,
      );
    }
  }
  return count;
}

export function formatDims(dims: readonly unknown[]): string {
  return `[${dims.map((d) => (typeof d === 'string' ? d : String(d))).join(', ')}]`;
}

function inferType(data: unknown): DataType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  throw new DTypeError(
    `cannot infer the tensor type from ${describe(data)}; pass the type first: new Tensor(type, data, dims) ` +
      `with type one of ${DATA_TYPE_NAMES.join(', ')}`,
  );
}

function isDetached(view: ArrayBufferView): boolean {
  if (view.byteLength !== 0) return false;
  try {
    // Constructing a view on a detached buffer throws; on an empty buffer it does not.
    new Uint8Array(view.buffer as ArrayBuffer);
    return false;
  } catch {
    return true;
  }
}

const INT_RANGES: Partial<Record<DataType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int32: [-(2 ** 31), 2 ** 31 - 1],
};

function fromArray(type: DataType, values: readonly unknown[]): TensorData {
  const n = values.length;
  switch (type) {
    case 'float32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = expectNumber(values[i], i, type);
      return out;
    }
    case 'float16':
    case 'bfloat16': {
      const out = new Uint16Array(n);
      const conv = type === 'float16' ? float32ToFloat16Bits : float32ToBfloat16Bits;
      for (let i = 0; i < n; i++) out[i] = conv(expectNumber(values[i], i, type));
      return out;
    }
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v === 'bigint') {
          if (v < -(2n ** 63n) || v >= 2n ** 63n) throw outOfRange(v, i, type);
          out[i] = v;
        } else if (typeof v === 'number' && Number.isSafeInteger(v)) {
          out[i] = BigInt(v);
        } else {
          throw new DTypeError(`data[${i}] must be an integer (number or bigint) for an int64 tensor, got ${describe(v)}`);
        }
      }
      return out;
    }
    case 'bool': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v === 'boolean') out[i] = v ? 1 : 0;
        else if (v === 0 || v === 1) out[i] = v;
        else throw new DTypeError(`data[${i}] must be a boolean (or 0/1) for a bool tensor, got ${describe(v)}`);
      }
      return out;
    }
    default: {
      const [lo, hi] = INT_RANGES[type]!;
      const out = new DATA_TYPES[type].array(n) as Int8Array | Uint8Array | Int32Array;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'number' || !Number.isInteger(v)) {
          throw new DTypeError(`data[${i}] must be an integer for a ${type} tensor, got ${describe(v)}`);
        }
        if (v < lo || v > hi) throw outOfRange(v, i, type);
        out[i] = v;
      }
      return out;
    }
  }
}

function expectNumber(v: unknown, i: number, type: DataType): number {
  if (typeof v !== 'number') throw new DTypeError(`data[${i}] must be a number for a ${type} tensor, got ${describe(v)}`);
  return v;
}

function outOfRange(v: number | bigint, i: number, type: DataType): DTypeError {
  return new DTypeError(`data[${i}] = ${v} is out of range for a ${type} tensor`);
}

export class Tensor<T extends DataType = DataType> {
  readonly type: T;
  readonly data: TypedArrayFor<T>;
  readonly dims: readonly number[];
  /** Number of elements. */
  readonly size: number;

  /**
   * `new Tensor(type, data, dims)`: `data` is the typed array of `type` (see DATA_TYPES;
   * float16/bfloat16 take raw bits in a Uint16Array) or a plain array of values, converted.
   * `new Tensor(data, dims)` infers the type from a Float32Array, Int32Array, BigInt64Array,
   * Int8Array or Uint8Array. `dims` defaults to `[data.length]`.
   */
  constructor(type: T, data: TypedArrayFor<T> | readonly unknown[], dims?: readonly number[]);
  constructor(data: TypedArrayFor<T>, dims?: readonly number[]);
  constructor(typeOrData: T | TypedArrayFor<T>, dataOrDims?: unknown, maybeDims?: readonly number[]) {
    let type: DataType;
    let data: unknown;
    let dims: unknown;
    if (typeof typeOrData === 'string') {
      if (!isDataType(typeOrData)) {
        throw new DTypeError(`tensor type must be one of ${DATA_TYPE_NAMES.join(', ')}, got ${describe(typeOrData)}`);
      }
      type = typeOrData;
      data = dataOrDims;
      dims = maybeDims;
    } else {
      type = inferType(typeOrData);
      data = typeOrData;
      dims = dataOrDims;
    }

    let array: TensorData;
    if (Array.isArray(data)) {
      array = fromArray(type, data);
    } else if (ArrayBuffer.isView(data)) {
      const info = DATA_TYPES[type];
      if (!(data instanceof info.array)) {
        throw new DTypeError(`data for a ${type} tensor must be a ${info.storage}, got ${describe(data)}`);
      }
      if (isDetached(data)) {
        throw new InvalidArgumentError(`data for the ${type} tensor is a view on a detached ArrayBuffer (it was transferred)`);
      }
      array = data as TensorData;
    } else {
      throw new InvalidArgumentError(
        `tensor data must be a typed array or an array of values, got ${describe(data)}`,
      );
    }

    const shape = dims === undefined ? [array.length] : dims;
    const count = elementCount(shape, 'dims');
    if (count !== array.length) {
      throw new ShapeError(
        `dims ${formatDims(shape as number[])} describe ${count} elements but data has ${array.length}`,
      );
    }
    this.type = type as T;
    this.data = array as TypedArrayFor<T>;
    this.dims = Object.freeze([...(shape as number[])]);
    this.size = count;
  }

  /** Alias of `type`, matching TensorInfo.dtype. */
  get dtype(): T {
    return this.type;
  }

  get byteLength(): number {
    return this.data.byteLength;
  }

  /** A zero-filled tensor. */
  static zeros<T extends DataType>(type: T, dims: readonly number[]): Tensor<T> {
    const n = elementCount(dims);
    return new Tensor(type, new DATA_TYPES[type].array(n) as TypedArrayFor<T>, dims);
  }

  /** A tensor of `type` holding `values` (converted from float32 for float16/bfloat16). */
  static fromFloat32<T extends 'float32' | 'float16' | 'bfloat16'>(
    type: T,
    values: Float32Array,
    dims: readonly number[] = [values.length],
  ): Tensor<T> {
    if (type === 'float32') return new Tensor(type, values as TypedArrayFor<T>, dims);
    const conv = type === 'float16' ? float32ToFloat16Bits : float32ToBfloat16Bits;
    const out = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = conv(values[i]!);
    return new Tensor(type, out as TypedArrayFor<T>, dims);
  }

  /** The same data under other dims of the same element count (no copy). */
  reshape(dims: readonly number[]): Tensor<T> {
    return new Tensor(this.type, this.data, dims);
  }

  /** Element values as a Float32Array (float16/bfloat16 decoded; int64 may lose precision). */
  toFloat32(): Float32Array {
    return toFloat32Array(this.type, this.data);
  }

  /** Element values as a Float64Array, the form the accuracy metrics use. */
  toFloat64(): Float64Array {
    const src = this.data;
    const out = new Float64Array(src.length);
    if (this.type === 'float16' || this.type === 'bfloat16') {
      const conv = this.type === 'float16' ? float16BitsToFloat32 : bfloat16BitsToFloat32;
      for (let i = 0; i < src.length; i++) out[i] = conv((src as Uint16Array)[i]!);
    } else if (this.type === 'int64') {
      for (let i = 0; i < src.length; i++) out[i] = Number((src as BigInt64Array)[i]!);
    } else {
      out.set(src as Float32Array);
    }
    return out;
  }
}

export function toFloat32Array(type: DataType, data: TensorData): Float32Array {
  if (type === 'float32') return data as Float32Array;
  const out = new Float32Array(data.length);
  if (type === 'float16' || type === 'bfloat16') {
    const conv = type === 'float16' ? float16BitsToFloat32 : bfloat16BitsToFloat32;
    const src = data as Uint16Array;
    for (let i = 0; i < src.length; i++) out[i] = conv(src[i]!);
  } else if (type === 'int64') {
    const src = data as BigInt64Array;
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
  } else {
    out.set(data as Int32Array);
  }
  return out;
}

// --- half and bfloat16 bit conversions (round to nearest, ties to even) ---

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of `value`, rounded to nearest even; overflow gives ±Infinity. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m !== 0 ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** bfloat16 bits of `value`, rounded to nearest even; NaN stays a (quiet) NaN. */
export function float32ToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bfloat16BitsToFloat32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** Largest finite float16 value. */
export const FLOAT16_MAX = 65504;
