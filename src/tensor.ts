/**
 * Tensor: an element type, a flat typed array and dims, checked against each other on
 * construction. The constructor follows onnxruntime-node's `new Tensor(type, data, dims)`.
 */
import { DTypeError, InvalidArgumentError, ShapeError, TensorRTNodeError, describe, errorFromCode } from './errors.js';

/**
 * The element types a Tensor holds: every type onnxruntime-node runs except strings and the
 * sub-byte ints. TensorRT takes a subset (see `DataTypeInfo.tensorrt`); ONNX Runtime's CPU
 * provider takes all but bfloat16.
 */
export type DataType =
  'float32' | 'float16' | 'bfloat16' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

export interface DataTypeMap {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  float64: Float64Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
}

export type TypedArrayFor<T extends DataType> = DataTypeMap[T];
export type TensorData = DataTypeMap[DataType];

type TypedArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** How the elements read as numbers: floats, signed or unsigned integers, or 0/1. */
export type DataTypeKind = 'float' | 'int' | 'uint' | 'bool';

export interface DataTypeInfo {
  /** The typed array class that holds the elements. */
  readonly array: TypedArrayCtor;
  readonly bytesPerElement: number;
  /** ONNX TensorProto.DataType enum value. */
  readonly onnx: number;
  /** Element storage, for messages: float16 and bfloat16 are raw bits in a Uint16Array. */
  readonly storage: string;
  readonly kind: DataTypeKind;
  /** Elements are bigints (int64, uint64). */
  readonly bigint: boolean;
  /** Smallest and largest value of an integer type (as numbers; 64-bit ones are rounded). */
  readonly min: number;
  readonly max: number;
  /** TensorRT engines exchange this type with JavaScript. */
  readonly tensorrt: boolean;
  /** ONNX Runtime's CPU provider (onnxruntime-node) takes this type. */
  readonly onnxruntime: boolean;
}

const FLOAT = { kind: 'float', bigint: false, min: -Infinity, max: Infinity } as const;
const int = (bits: number, signed: boolean) =>
  ({
    kind: signed ? 'int' : 'uint',
    bigint: bits === 64,
    min: signed ? -(2 ** (bits - 1)) : 0,
    max: signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1,
  }) as const;

/** The dtype table: storage, ONNX number, value kind and which backends take each type. */
export const DATA_TYPES: Readonly<Record<DataType, DataTypeInfo>> = freezeRows({
  float32: { array: Float32Array, bytesPerElement: 4, onnx: 1, storage: 'Float32Array', ...FLOAT, tensorrt: true, onnxruntime: true },
  float16: { array: Uint16Array, bytesPerElement: 2, onnx: 10, storage: 'Uint16Array (IEEE half bits)', ...FLOAT, tensorrt: true, onnxruntime: true },
  bfloat16: { array: Uint16Array, bytesPerElement: 2, onnx: 16, storage: 'Uint16Array (bfloat16 bits)', ...FLOAT, tensorrt: true, onnxruntime: false },
  float64: { array: Float64Array, bytesPerElement: 8, onnx: 11, storage: 'Float64Array', ...FLOAT, tensorrt: false, onnxruntime: true },
  int8: { array: Int8Array, bytesPerElement: 1, onnx: 3, storage: 'Int8Array', ...int(8, true), tensorrt: true, onnxruntime: true },
  uint8: { array: Uint8Array, bytesPerElement: 1, onnx: 2, storage: 'Uint8Array', ...int(8, false), tensorrt: true, onnxruntime: true },
  int16: { array: Int16Array, bytesPerElement: 2, onnx: 5, storage: 'Int16Array', ...int(16, true), tensorrt: false, onnxruntime: true },
  uint16: { array: Uint16Array, bytesPerElement: 2, onnx: 4, storage: 'Uint16Array', ...int(16, false), tensorrt: false, onnxruntime: true },
  int32: { array: Int32Array, bytesPerElement: 4, onnx: 6, storage: 'Int32Array', ...int(32, true), tensorrt: true, onnxruntime: true },
  uint32: { array: Uint32Array, bytesPerElement: 4, onnx: 12, storage: 'Uint32Array', ...int(32, false), tensorrt: false, onnxruntime: true },
  int64: { array: BigInt64Array, bytesPerElement: 8, onnx: 7, storage: 'BigInt64Array', ...int(64, true), tensorrt: true, onnxruntime: true },
  uint64: { array: BigUint64Array, bytesPerElement: 8, onnx: 13, storage: 'BigUint64Array', ...int(64, false), tensorrt: false, onnxruntime: true },
  bool: {
    array: Uint8Array,
    bytesPerElement: 1,
    onnx: 9,
    storage: 'Uint8Array (0 or 1)',
    kind: 'bool',
    bigint: false,
    min: 0,
    max: 1,
    tensorrt: true,
    onnxruntime: true,
  },
} satisfies Record<DataType, DataTypeInfo>);

function freezeRows<T extends Record<string, object>>(table: T): Readonly<T> {
  for (const row of Object.values(table)) Object.freeze(row);
  return Object.freeze(table);
}

export const DATA_TYPE_NAMES = Object.freeze(Object.keys(DATA_TYPES) as DataType[]);

/** The dtypes TensorRT engines exchange with JavaScript. */
export const TENSORRT_DATA_TYPES = Object.freeze(DATA_TYPE_NAMES.filter((t) => DATA_TYPES[t].tensorrt));

/** The dtypes ONNX Runtime's CPU provider takes. */
export const ONNXRUNTIME_DATA_TYPES = Object.freeze(DATA_TYPE_NAMES.filter((t) => DATA_TYPES[t].onnxruntime));

export type FloatDataType = 'float32' | 'float16' | 'bfloat16' | 'float64';

export function isFloatType(type: DataType): type is FloatDataType {
  return DATA_TYPES[type].kind === 'float';
}

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
      throw new ShapeError(`${what}[${i}] must be a non-negative integer, got ${describe(d)} (dims ${formatDims(dims)})`);
    }
    count *= d;
    if (count > MAX_ELEMENTS) {
      throw new ShapeError(`${what} ${formatDims(dims)} describe more than ${MAX_ELEMENTS} elements, the most a tensor can hold`);
    }
  }
  return count;
}

export function formatDims(dims: readonly unknown[]): string {
  return `[${dims.map((d) => (typeof d === 'string' ? d : String(d))).join(', ')}]`;
}

function inferType(data: unknown): DataType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigUint64Array) return 'uint64';
  // A Uint16Array holds float16, bfloat16 or uint16 elements: only the caller knows which.
  throw new DTypeError(
    `cannot infer the tensor type from ${describe(data)}; pass the type first: new Tensor(type, data, dims) ` +
      `with type one of ${DATA_TYPE_NAMES.join(', ')}`,
  );
}

/**
 * Throws ERR_INVALID_ARG naming `what` when the tensor's memory was detached after it was
 * made (its ArrayBuffer transferred, e.g. by postMessage or structuredClone with transfer):
 * the typed array then has no elements, and reading it would give nothing or garbage.
 */
export function checkAttached(t: Tensor, what: string): void {
  if (t.data.length === t.size) return;
  throw new InvalidArgumentError(
    `${what}'s data was detached (its ArrayBuffer was transferred, e.g. by postMessage) after the tensor was made: ` +
      `it holds ${t.data.length} of the ${t.size} elements its dims ${formatDims(t.dims)} need; pass a tensor whose memory is still here`,
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

function fromArray(type: DataType, values: readonly unknown[]): TensorData {
  const n = values.length;
  const info = DATA_TYPES[type];
  switch (type) {
    case 'float32':
    case 'float64': {
      const out = new info.array(n) as Float32Array | Float64Array;
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
    case 'int64':
    case 'uint64': {
      const out = new info.array(n) as BigInt64Array | BigUint64Array;
      const lo = type === 'int64' ? -(2n ** 63n) : 0n;
      const hi = type === 'int64' ? 2n ** 63n : 2n ** 64n;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        let b: bigint;
        if (typeof v === 'bigint') b = v;
        else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
        else throw new DTypeError(`data[${i}] must be an integer (number or bigint) for a ${type} tensor, got ${describe(v)}`);
        if (b < lo || b >= hi) throw outOfRange(b, i, type);
        out[i] = b;
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
      const out = new info.array(n) as Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'number' || !Number.isInteger(v)) {
          throw new DTypeError(`data[${i}] must be an integer for a ${type} tensor, got ${describe(v)}`);
        }
        if (v < info.min || v > info.max) throw outOfRange(v, i, type);
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
  const info = DATA_TYPES[type];
  const range = type === 'int64' ? '-2^63..2^63-1' : type === 'uint64' ? '0..2^64-1' : `${info.min}..${info.max}`;
  return new DTypeError(`data[${i}] = ${v} is out of range for a ${type} tensor (${range})`);
}

/** Where a Tensor's data lives: ordinary JS memory, or page-locked memory from a session's pinned pool. */
export type TensorLocation = 'cpu' | 'cpu-pinned';

const pinnedBuffers = new WeakSet<ArrayBufferLike>();

/** Marks `buffer` as page-locked memory of a pinned pool (TensorRTSession.allocPinned). @internal */
export function markPinned(buffer: ArrayBufferLike): void {
  pinnedBuffers.add(buffer);
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
   * `new Tensor(data, dims)` infers the type from any typed array but a Uint16Array (float16,
   * bfloat16 or uint16: pass the type). `dims` defaults to `[data.length]`. A tensor of another
   * library becomes one with asTensor().
   */
  constructor(type: T, data: TypedArrayFor<T> | readonly unknown[], dims?: readonly number[]);
  constructor(data: TypedArrayFor<T>, dims?: readonly number[]);
  constructor(typeOrData: T | TypedArrayFor<T>, dataOrDims?: unknown, maybeDims?: readonly number[]) {
    let type: DataType;
    let data: unknown;
    let dims: unknown;
    if (typeof typeOrData === 'string') {
      if (!isDataType(typeOrData)) {
        throw new DTypeError(
          `tensor type must be one of ${DATA_TYPE_NAMES.join(', ')}, got ${describe(typeOrData)}` +
            (typeOrData === 'string' ? ' (string tensors are not supported)' : ''),
        );
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
      throw new InvalidArgumentError(`tensor data must be a typed array or an array of values, got ${describe(data)}`);
    }

    const shape = dims === undefined ? [array.length] : dims;
    const count = elementCount(shape, 'dims');
    if (count !== array.length) {
      throw new ShapeError(`dims ${formatDims(shape as number[])} describe ${count} elements but data has ${array.length}`);
    }
    this.type = type as T;
    this.data = array as TypedArrayFor<T>;
    this.dims = Object.freeze([...(shape as number[])]);
    this.size = count;
  }

  /**
   * 'cpu-pinned' for a tensor over page-locked memory from a session's pinned pool
   * (TensorRTSession.allocPinned), which TensorRT sessions copy to and from the device without
   * staging; 'cpu' otherwise (onnxruntime-node's `location` convention).
   */
  get location(): TensorLocation {
    return pinnedBuffers.has(this.data.buffer) ? 'cpu-pinned' : 'cpu';
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
  static fromFloat32<T extends 'float32' | 'float16' | 'bfloat16'>(type: T, values: Float32Array, dims: readonly number[] = [values.length]): Tensor<T> {
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

  /** Element values as a Float64Array, the form the accuracy metrics use (64-bit ints may lose precision). */
  toFloat64(): Float64Array {
    return toFloat64Array(this.type, this.data);
  }
}

/** Element values as a Float32Array: the array itself for float32, else a converted copy. */
export function toFloat32Array(type: DataType, data: TensorData): Float32Array {
  if (type === 'float32') return data as Float32Array;
  const out = new Float32Array(data.length);
  fillNumbers(type, data, out);
  return out;
}

/** Element values as a Float64Array: the array itself for float64, else a converted copy. */
export function toFloat64Array(type: DataType, data: TensorData): Float64Array {
  if (type === 'float64') return data as Float64Array;
  const out = new Float64Array(data.length);
  fillNumbers(type, data, out);
  return out;
}

function fillNumbers(type: DataType, data: TensorData, out: Float32Array | Float64Array): void {
  if (type === 'float16' || type === 'bfloat16') {
    const conv = type === 'float16' ? float16BitsToFloat32 : bfloat16BitsToFloat32;
    const src = data as Uint16Array;
    for (let i = 0; i < src.length; i++) out[i] = conv(src[i]!);
  } else if (DATA_TYPES[type].bigint) {
    const src = data as BigInt64Array | BigUint64Array;
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
  } else {
    out.set(data as Float32Array);
  }
}

/**
 * `t` as a tensor of another float type (float32, float16, bfloat16, float64): values rounded
 * to the nearest of the target type; `t` itself when it already has that type.
 */
export function castFloat<T extends FloatDataType>(t: Tensor, type: T): Tensor<T> {
  if (!isFloatType(t.type)) throw new DTypeError(`castFloat converts between float types; the tensor is ${t.type}`);
  if (t.type === type) return t as Tensor<T>;
  if (type === 'float64') return new Tensor(type, toFloat64Array(t.type, t.data) as TypedArrayFor<T>, t.dims);
  // float64 to a narrower type rounds through float32 (twice for float16/bfloat16; ties may differ in the last bit).
  return Tensor.fromFloat32(type as 'float32' | 'float16' | 'bfloat16', t.toFloat32(), t.dims) as unknown as Tensor<T>;
}

// --- tensors from other libraries ---

/**
 * A tensor of another library, in onnxruntime-node's shape: onnxruntime-node's `Tensor`,
 * transformers.js's `Tensor`, or a plain `{ type, data, dims }`. Sessions take these as feeds
 * and wrap them without copying (see asTensor).
 */
export interface TensorLike {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

/** True for our Tensor and for objects with a string `type`, a `data` property and array `dims`. */
export function isTensorLike(value: unknown): value is TensorLike {
  if (value instanceof Tensor) return true;
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.type === 'string' && Array.isArray(v.dims) && 'data' in v;
}

/** Where an onnxruntime tensor's data may live for us to read it without a download. */
const HOST_LOCATIONS = new Set(['cpu', 'cpu-pinned']);

/**
 * `value` as our Tensor: itself when it is one, else a Tensor over the same typed array (no
 * copy: later writes to one show in the other). The data must be the typed array of its
 * `type` (float16 also from a Float16Array, whose bits are viewed as a Uint16Array) and hold
 * exactly the elements `dims` describe. `what` names the value in messages (e.g.
 * `feeds["input_ids"]`). Throws ERR_INVALID_ARG for what is not a tensor or lives on a GPU,
 * ERR_DTYPE for an unsupported type (strings included) or data of the wrong class, ERR_SHAPE
 * for dims that do not match the data.
 */
export function asTensor(value: unknown, what = 'tensor'): Tensor {
  if (value instanceof Tensor) return value;
  const where = (value as { location?: unknown } | null | undefined)?.location;
  if (where === 'gpu-buffer' && typeof (value as { toHost?: unknown }).toHost === 'function') {
    // Our DeviceTensor: only TensorRT sessions read device memory.
    throw new InvalidArgumentError(
      `${what} is a DeviceTensor (its data is on GPU ${String((value as { device?: unknown }).device)}); this takes host tensors: ` +
        'pass await tensor.toHost(), or run it on a TensorRT session',
    );
  }
  if (!isTensorLike(value)) {
    throw new InvalidArgumentError(
      `${what} must be a Tensor (or a tensor with type, data and dims, such as onnxruntime-node's), got ${describeTensorLike(value)}`,
    );
  }
  const location = (value as { location?: unknown }).location;
  if (location !== undefined && !HOST_LOCATIONS.has(location as string)) {
    throw new InvalidArgumentError(
      `${what} is a tensor whose data lives on ${describe(location)}; pass a CPU tensor (onnxruntime-node: await tensor.getData(), then a new Tensor)`,
    );
  }
  const type = value.type;
  if (!isDataType(type)) {
    throw new DTypeError(
      `${what} has element type ${describe(type)}, which tensorrt-node does not support${type === 'string' ? ' (string tensors are not supported)' : ''}; ` +
        `supported: ${DATA_TYPE_NAMES.join(', ')}`,
    );
  }
  const info = DATA_TYPES[type];
  let data = (value as { data: unknown }).data;
  if (!(data instanceof info.array)) {
    const tag = ArrayBuffer.isView(data) ? (data as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag] : undefined;
    // A typed array of another realm (vm context), or float16 data as a Float16Array: view the same memory.
    if (tag === info.array.name || (type === 'float16' && tag === 'Float16Array')) {
      const view = data as ArrayBufferView;
      data = new info.array(view.buffer as ArrayBuffer, view.byteOffset, view.byteLength / info.bytesPerElement);
    } else {
      throw new DTypeError(`${what} is a ${type} tensor, so its data must be a ${info.storage}, got ${describe(data)}`);
    }
  }
  try {
    return new Tensor(type, data as TensorData, value.dims);
  } catch (e) {
    if (e instanceof TensorRTNodeError) throw errorFromCode(e.code, `${what}: ${e.message}`, { cause: e });
    throw e;
  }
}

function describeTensorLike(value: unknown): string {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || Array.isArray(value)) return describe(value);
  const v = value as Record<string, unknown>;
  const missing = ['type', 'data', 'dims'].filter((k) => !(k in v));
  const base = describe(value);
  if (missing.length === 3) return base;
  if (missing.length > 0) return `${base} without ${missing.join(', ')}`;
  return `${base} with type ${describe(v.type)} and dims ${describe(v.dims)}`;
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
