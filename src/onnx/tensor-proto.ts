/**
 * TensorProto <-> Tensor, and the ONNX element-type tables.
 *
 * A TensorProto holds its elements either in `raw_data` (little-endian bytes, what exporters
 * write) or in a typed field chosen by the element type: float_data (FLOAT), int32_data (INT32
 * and everything narrower, including FLOAT16/BFLOAT16 as their 16-bit patterns, per the ONNX
 * spec), int64_data (INT64), double_data (DOUBLE), uint64_data (UINT32/UINT64). Both are read;
 * we always write raw_data. Strings, complex and sub-byte types have no Tensor.
 */
import { create, fromBinary, isFieldSet, toBinary } from '@bufbuild/protobuf';
import { DTypeError, OnnxError, OnnxParseError, describe } from '../errors.js';
import { DATA_TYPES, DATA_TYPE_NAMES, Tensor, dataTypeFromOnnx, formatDims, type DataType, type TensorData } from '../tensor.js';
import { DATA_LOCATION, TENSOR_TYPE, TensorProtoSchema, type TensorProto } from './schema.js';

const ONNX_TYPE_NAMES: Readonly<Record<number, string>> = Object.freeze(Object.fromEntries(Object.entries(TENSOR_TYPE).map(([k, v]) => [v, k.toLowerCase()])));

/**
 * The name of an ONNX element type: our DataType name where we support the type
 * (`float32`, `float16`, `int64`...), otherwise the lower-cased TensorProto.DataType name
 * (`double`, `string`, `uint16`, `float8e4m3fn`...), or `type(N)` for a number we do not know.
 */
export function onnxTypeName(elemType: number): string {
  return dataTypeFromOnnx(elemType) ?? ONNX_TYPE_NAMES[elemType] ?? `type(${elemType})`;
}

/** The TensorProto.DataType of one of our DataTypes. */
export function onnxTypeOf(dtype: DataType): number {
  return DATA_TYPES[dtype].onnx;
}

/** Bytes per element of an ONNX element type, or undefined for strings and sub-byte types. */
export function onnxElementBytes(elemType: number): number | undefined {
  switch (elemType) {
    case TENSOR_TYPE.BOOL:
    case TENSOR_TYPE.INT8:
    case TENSOR_TYPE.UINT8:
    case TENSOR_TYPE.FLOAT8E4M3FN:
    case TENSOR_TYPE.FLOAT8E4M3FNUZ:
    case TENSOR_TYPE.FLOAT8E5M2:
    case TENSOR_TYPE.FLOAT8E5M2FNUZ:
    case TENSOR_TYPE.FLOAT8E8M0:
      return 1;
    case TENSOR_TYPE.INT16:
    case TENSOR_TYPE.UINT16:
    case TENSOR_TYPE.FLOAT16:
    case TENSOR_TYPE.BFLOAT16:
      return 2;
    case TENSOR_TYPE.FLOAT:
    case TENSOR_TYPE.INT32:
    case TENSOR_TYPE.UINT32:
      return 4;
    case TENSOR_TYPE.INT64:
    case TENSOR_TYPE.UINT64:
    case TENSOR_TYPE.DOUBLE:
    case TENSOR_TYPE.COMPLEX64:
      return 8;
    case TENSOR_TYPE.COMPLEX128:
      return 16;
    default:
      return undefined;
  }
}

/** Dims of a TensorProto as numbers (checked: non-negative and safe). */
export function tensorProtoDims(tp: TensorProto): number[] {
  return tp.dims.map((d, i) => {
    if (d < 0n || d > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new OnnxParseError(`tensor ${JSON.stringify(tp.name)} has an invalid dims[${i}] = ${d}`);
    }
    return Number(d);
  });
}

export function tensorProtoElementCount(tp: TensorProto): number {
  return tensorProtoDims(tp).reduce((a, b) => a * b, 1);
}

/** Bytes the tensor's elements take (whether stored inline, in typed fields or externally), or undefined for strings. */
export function tensorProtoByteSize(tp: TensorProto): number | undefined {
  const bpe = onnxElementBytes(tp.dataType);
  if (tp.dataType === TENSOR_TYPE.INT4 || tp.dataType === TENSOR_TYPE.UINT4 || tp.dataType === TENSOR_TYPE.FLOAT4E2M1) {
    return Math.ceil(tensorProtoElementCount(tp) / 2);
  }
  return bpe === undefined ? undefined : bpe * tensorProtoElementCount(tp);
}

/** True when the tensor's data lives in an external file that has not been loaded. */
export function isExternal(tp: TensorProto): boolean {
  return tp.dataLocation === DATA_LOCATION.EXTERNAL;
}

function hasRawData(tp: TensorProto): boolean {
  return isFieldSet(tp, TensorProtoSchema.field.rawData);
}

/**
 * The tensor's elements as our Tensor. Raw data is copied into a fresh, aligned typed array.
 * Throws DTypeError for element types our Tensor does not hold (e.g. double, string),
 * OnnxError for external data that was not loaded, OnnxParseError when the stored element
 * count does not match the dims.
 */
export function tensorFromProto(tp: TensorProto): Tensor {
  const label = tp.name ? `tensor ${JSON.stringify(tp.name)}` : 'tensor';
  const dtype = dataTypeFromOnnx(tp.dataType);
  if (dtype === undefined) {
    throw new DTypeError(
      `${label} has element type ${onnxTypeName(tp.dataType)}, which tensorrt-node does not support ` + `(supported: ${DATA_TYPE_NAMES.join(', ')})`,
    );
  }
  if (isExternal(tp)) {
    throw new OnnxError(
      `${label} keeps its data in an external file that was not loaded; read the model with { loadExternalData: true } ` + `(the default) from its path`,
    );
  }
  const dims = tensorProtoDims(tp);
  const count = dims.reduce((a, b) => a * b, 1);
  const info = DATA_TYPES[dtype];
  if (hasRawData(tp) || tp.rawData.byteLength > 0) {
    const raw = tp.rawData;
    const expected = count * info.bytesPerElement;
    if (raw.byteLength !== expected) {
      throw new OnnxParseError(`${label} (${dtype} ${formatDims(dims)}) needs ${expected} bytes of raw_data, got ${raw.byteLength}`);
    }
    const buf = new ArrayBuffer(expected);
    new Uint8Array(buf).set(raw);
    const data = new info.array(buf) as TensorData;
    return new Tensor(dtype, data, dims);
  }
  let data: TensorData;
  let stored: number;
  switch (dtype) {
    case 'float32':
      stored = tp.floatData.length;
      data = Float32Array.from(tp.floatData);
      break;
    case 'float64':
      stored = tp.doubleData.length;
      data = Float64Array.from(tp.doubleData);
      break;
    case 'int64':
      stored = tp.int64Data.length;
      data = BigInt64Array.from(tp.int64Data);
      break;
    case 'uint64':
      stored = tp.uint64Data.length;
      data = BigUint64Array.from(tp.uint64Data);
      break;
    case 'uint32': {
      // uint32_data does not exist: UINT32 values travel in uint64_data.
      stored = tp.uint64Data.length;
      const out = new Uint32Array(stored);
      for (let i = 0; i < stored; i++) out[i] = Number(tp.uint64Data[i]!);
      data = out;
      break;
    }
    default: {
      // int32_data carries every type of 32 bits or less, float16/bfloat16 as their bit patterns.
      stored = tp.int32Data.length;
      const out = new info.array(stored) as Int32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;
      const src = tp.int32Data;
      for (let i = 0; i < stored; i++) out[i] = src[i]!;
      data = out as TensorData;
    }
  }
  if (stored !== count) {
    throw new OnnxParseError(`${label} (${dtype} ${formatDims(dims)}) has ${count} elements but stores ${stored}`);
  }
  return new Tensor(dtype, data, dims);
}

/**
 * A TensorProto holding `tensor` in raw_data. The raw bytes are a view of the tensor's memory
 * (no copy): do not modify the tensor's data while the proto is in use.
 */
export function tensorToProto(tensor: Tensor, name = ''): TensorProto {
  if (!(tensor instanceof Tensor)) {
    throw new DTypeError(`tensorToProto expects a Tensor, got ${describe(tensor)}`);
  }
  const data = tensor.data;
  return create(TensorProtoSchema, {
    name,
    dims: tensor.dims.map((d) => BigInt(d)),
    dataType: DATA_TYPES[tensor.type].onnx,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

/**
 * Decodes a serialized TensorProto, e.g. the `input_0.pb` / `output_0.pb` files of the ONNX
 * backend-test layout. Throws OnnxParseError when the bytes are not a TensorProto.
 */
export function readTensorProto(bytes: Uint8Array, what = 'TensorProto'): { name: string; tensor: Tensor } {
  if (!(bytes instanceof Uint8Array)) {
    throw new OnnxParseError(`${what}: expected the bytes of a TensorProto, got ${describe(bytes)}`);
  }
  let tp: TensorProto;
  try {
    tp = fromBinary(TensorProtoSchema, bytes);
  } catch (e) {
    throw new OnnxParseError(`${what}: the ${bytes.byteLength} bytes are not a valid TensorProto: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (!isFieldSet(tp, TensorProtoSchema.field.dataType) || tp.dataType === TENSOR_TYPE.UNDEFINED) {
    throw new OnnxParseError(`${what}: the bytes decode to no TensorProto with an element type (data_type missing)`);
  }
  try {
    return { name: tp.name, tensor: tensorFromProto(tp) };
  } catch (e) {
    if (e instanceof OnnxParseError || e instanceof DTypeError) {
      throw new (e.constructor as typeof OnnxParseError)(`${what}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** Serializes `tensor` as a TensorProto (the `.pb` layout of ONNX backend tests). */
export function encodeTensorProto(tensor: Tensor, name = ''): Uint8Array {
  return toBinary(TensorProtoSchema, tensorToProto(tensor, name));
}

/**
 * Element values of a FLOAT tensor proto as a Float32Array: a view of raw_data where it is
 * aligned (no copy), else a copy. Throws like tensorFromProto.
 */
export function float32Values(tp: TensorProto): Float32Array {
  if (tp.dataType !== TENSOR_TYPE.FLOAT) {
    throw new DTypeError(`tensor ${JSON.stringify(tp.name)} is ${onnxTypeName(tp.dataType)}, expected float32`);
  }
  const raw = tp.rawData;
  if (!isExternal(tp) && raw.byteLength > 0 && raw.byteOffset % 4 === 0 && raw.byteLength === tensorProtoElementCount(tp) * 4) {
    return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  }
  return tensorFromProto(tp).data as Float32Array;
}
