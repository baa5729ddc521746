/**
 * Saved inputs: our JSON format, and Polygraphy's (read and write).
 *
 * Our format (`tensorrt-node compare --save-inputs FILE`, `--inputs FILE`):
 *
 *     {
 *       "format": "tensorrt-node-inputs",
 *       "version": 1,
 *       "iterations": [
 *         {
 *           "input_ids":      { "dtype": "int64", "dims": [2, 4], "data": [101, 7592, 102, 0, 101, 2088, 999, 102] },
 *           "attention_mask": { "dtype": "int64", "dims": [2, 4], "base64": "AQAAAAAAAAA..." }
 *         }
 *       ]
 *     }
 *
 * - `iterations`: one object per iteration, mapping input names to tensors.
 * - `dtype`: float32, float16, bfloat16, float64, int8, uint8, int16, uint16, int32, uint32,
 *   int64, uint64 or bool.
 * - `dims`: the shape, row-major.
 * - exactly one of
 *   `data`: the elements, flattened row-major. Numbers; int64/uint64 values beyond 2^53 as
 *           decimal strings; float NaN/Infinity as the strings "NaN", "Infinity", "-Infinity";
 *           bool as true/false or 0/1. float16/bfloat16 are given as their values (rounded
 *           to nearest even on reading).
 *   `base64`: the raw little-endian element bytes (float16/bfloat16 as their 16-bit
 *           patterns, bool as one byte each).
 *
 * We write `data` (float32 and float64 values written by JavaScript read back bit-identical). A file
 * may also be a bare array of iteration objects, or a single iteration object.
 *
 * Polygraphy's format (`polygraphy run --save-inputs`): a JSON array with one object per
 * iteration, each value `{"array": "<base64 of a .npy file>", "polygraphy_class": "ndarray"}`
 * (older versions mark it with "__polygraphy_encoded_ndarray" instead). We read it as is
 * and write it with `format: 'polygraphy'`.
 */
import { readFile } from 'node:fs/promises';
import { FileError, InvalidArgumentError, TensorRTNodeError, describe, errorFromCode } from '../errors.js';
import { DATA_TYPES, DATA_TYPE_NAMES, Tensor, elementCount, isDataType, type DataType, type TensorData } from '../tensor.js';
import type { Feeds } from '../session.js';
import { parseNpy, toNpy } from './npy.js';
import { writeFileAtomic } from '../files.js';

export const INPUT_FILE_FORMAT = 'tensorrt-node-inputs';

export type InputFileFormat = 'tensorrt-node' | 'polygraphy';

/** Reads saved inputs (either format, detected from the content). */
export async function readInputFile(path: string): Promise<Feeds[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new FileError(`cannot read the input file ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`the input file ${JSON.stringify(path)} is not valid JSON: ${(e as Error).message}`);
  }
  return parseInputJson(json, JSON.stringify(path));
}

/** Parses the JSON value of an input file; `where` prefixes error messages. */
export function parseInputJson(json: unknown, where = 'input file'): Feeds[] {
  let iterations: unknown;
  if (Array.isArray(json)) iterations = json;
  else if (isObject(json) && 'iterations' in json) {
    if (json.format !== undefined && json.format !== INPUT_FILE_FORMAT) {
      throw new InvalidArgumentError(`${where}: format must be ${JSON.stringify(INPUT_FILE_FORMAT)}, got ${describe(json.format)}`);
    }
    if (json.version !== undefined && json.version !== 1) {
      throw new InvalidArgumentError(`${where}: version ${describe(json.version)} is not supported (this reader knows version 1)`);
    }
    iterations = json.iterations;
  } else if (isObject(json)) iterations = [json];
  else throw new InvalidArgumentError(`${where} must hold an object or an array of iterations, got ${describe(json)}`);
  if (!Array.isArray(iterations) || iterations.length === 0) {
    throw new InvalidArgumentError(`${where}: "iterations" must be a non-empty array, got ${describe(iterations)}`);
  }
  return iterations.map((it, i) => {
    if (!isObject(it)) throw new InvalidArgumentError(`${where}: iteration ${i} must be an object of named tensors, got ${describe(it)}`);
    const feeds: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(it)) {
      feeds[name] = parseTensor(value, `${where}: iteration ${i}, input ${JSON.stringify(name)}`);
    }
    return feeds;
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseTensor(value: unknown, what: string): Tensor {
  if (!isObject(value)) throw new InvalidArgumentError(`${what} must be a tensor object, got ${describe(value)}`);
  if (typeof value.array === 'string' && (value.polygraphy_class === 'ndarray' || '__polygraphy_encoded_ndarray' in value)) {
    const bytes = decodeBase64(value.array, what);
    return parseNpy(bytes, what);
  }
  if ('polygraphy_class' in value) {
    throw new InvalidArgumentError(`${what} is a Polygraphy ${describe(value.polygraphy_class)}; only "ndarray" values can be read`);
  }
  const { dtype, dims } = value;
  if (!isDataType(dtype)) {
    throw new InvalidArgumentError(`${what}: dtype must be one of ${DATA_TYPE_NAMES.join(', ')}, got ${describe(dtype)}`);
  }
  const count = elementCount(dims, `${what} dims`);
  const shape = dims as number[];
  const hasData = value.data !== undefined;
  const hasBase64 = value.base64 !== undefined;
  if (hasData === hasBase64) {
    throw new InvalidArgumentError(`${what} needs exactly one of "data" (an array of values) or "base64" (raw bytes)`);
  }
  if (hasBase64) {
    if (typeof value.base64 !== 'string') throw new InvalidArgumentError(`${what}: base64 must be a string, got ${describe(value.base64)}`);
    const bytes = decodeBase64(value.base64, what);
    const info = DATA_TYPES[dtype];
    if (bytes.length !== count * info.bytesPerElement) {
      throw new InvalidArgumentError(`${what}: base64 holds ${bytes.length} bytes, ${dtype} ${JSON.stringify(shape)} needs ${count * info.bytesPerElement}`);
    }
    const copy = bytes.slice();
    return new Tensor(dtype, new info.array(copy.buffer, 0, count) as TensorData, shape);
  }
  if (!Array.isArray(value.data)) throw new InvalidArgumentError(`${what}: data must be an array, got ${describe(value.data)}`);
  if (value.data.length !== count) {
    throw new InvalidArgumentError(`${what}: data has ${value.data.length} values, dims ${JSON.stringify(shape)} need ${count}`);
  }
  try {
    return new Tensor(dtype, decodeValues(dtype, value.data), shape);
  } catch (e) {
    // Keep the error's class and code (ERR_DTYPE for a value the dtype cannot hold).
    if (e instanceof TensorRTNodeError) throw errorFromCode(e.code, `${what}: ${e.message}`, { cause: e });
    throw e;
  }
}

const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

function decodeValues(dtype: DataType, values: unknown[]): unknown[] {
  if (DATA_TYPES[dtype].bigint) {
    return values.map((v, i) => {
      if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
      if (typeof v === 'number') return v;
      throw new InvalidArgumentError(`data[${i}] must be an integer or a decimal string for ${dtype}, got ${describe(v)}`);
    });
  }
  if (DATA_TYPES[dtype].kind === 'float') {
    return values.map((v) => (typeof v === 'string' && v in SPECIAL ? SPECIAL[v] : v));
  }
  return values;
}

function decodeBase64(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text.replace(/\s+/g, ''))) {
    throw new InvalidArgumentError(`${what}: not valid base64`);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function encodeValues(t: Tensor): unknown[] {
  const out = new Array<unknown>(t.size);
  if (DATA_TYPES[t.type].bigint) {
    const d = t.data as BigInt64Array | BigUint64Array;
    for (let i = 0; i < t.size; i++) {
      const v = d[i]!;
      out[i] = v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString();
    }
    return out;
  }
  // float16/bfloat16 are written as their values (float32 holds them exactly); the rest as they are.
  const values = t.type === 'float16' || t.type === 'bfloat16' ? t.toFloat32() : t.data;
  for (let i = 0; i < t.size; i++) {
    const v = (values as ArrayLike<number>)[i]!;
    out[i] = Number.isFinite(v) ? v : String(v);
  }
  return out;
}

/** The JSON value of an input file in `format`. */
export function inputFileJson(iterations: readonly Feeds[], format: InputFileFormat = 'tensorrt-node'): unknown {
  if (format === 'polygraphy') {
    return iterations.map((feeds) =>
      Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, { array: Buffer.from(toNpy(t)).toString('base64'), polygraphy_class: 'ndarray' }])),
    );
  }
  return {
    format: INPUT_FILE_FORMAT,
    version: 1,
    iterations: iterations.map((feeds) =>
      Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, { dtype: t.type, dims: [...t.dims], data: encodeValues(t) }])),
    ),
  };
}

/** Writes `iterations` to `path` (temp file and rename). */
export async function writeInputFile(path: string, iterations: readonly Feeds[], format: InputFileFormat = 'tensorrt-node'): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(inputFileJson(iterations, format), null, format === 'polygraphy' ? 4 : undefined)}\n`);
}
