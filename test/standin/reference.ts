/**
 * The stand-in engine's output function in TypeScript (test/standin/trt/compute.cc computes it
 * on the stream), so tests can check every value a run returns, not only that batched and
 * unbatched runs agree. README.md ("The deterministic output function") states the rule.
 *
 * Data use the repository's tensor representation (src/tensor.ts): float16/bfloat16 as raw
 * bits in a Uint16Array, int64 as BigInt64Array, bool as 0/1 in a Uint8Array.
 */
import { DATA_TYPES, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits, type TensorData } from '../../src/tensor.js';

/** The element types TensorRT exchanges with the addon (src/tensor.ts has more). */
export type StandinDataType = 'float32' | 'float16' | 'bfloat16' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';

export interface StandinTensor {
  name: string;
  dtype: StandinDataType;
  /** Run-time dims. */
  dims: number[];
  /** The ONNX dim_param of each dim ('' where none), as the engine was built. */
  dimNames: string[];
}

export interface StandinInput extends StandinTensor {
  data: TensorData;
}

const OFFSET = 2166136261;
const mix = (h: number, w: number): number => Math.imul((h ^ w) >>> 0, 16777619) >>> 0;

function finalize(h: number): number {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function hashName(name: string): number {
  let h = OFFSET;
  for (const byte of new TextEncoder().encode(name)) h = Math.imul((h ^ byte) >>> 0, 16777619) >>> 0;
  return h;
}

const volume = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function mixValue(h: number, dtype: StandinDataType, data: TensorData, index: number): number {
  switch (dtype) {
    case 'float32': {
      const view = new DataView(new ArrayBuffer(4));
      view.setFloat32(0, (data as Float32Array)[index]!, true);
      return mix(h, view.getUint32(0, true));
    }
    case 'int32':
      return mix(h, (data as Int32Array)[index]! >>> 0);
    case 'float16':
    case 'bfloat16':
      return mix(h, (data as Uint16Array)[index]!);
    case 'int64': {
      const v = BigInt.asUintN(64, (data as BigInt64Array)[index]!);
      return mix(mix(h, Number(v & 0xffffffffn)), Number(v >> 32n));
    }
    case 'int8':
      return mix(h, (data as Int8Array)[index]! >>> 0);
    case 'bool':
      return mix(h, (data as Uint8Array)[index]! !== 0 ? 1 : 0);
    case 'uint8':
      return mix(h, (data as Uint8Array)[index]!);
  }
}

function integerAt(input: StandinInput, index: number): number {
  const v = input.data[index]!;
  return typeof v === 'bigint' ? Number(v) : v;
}

function store(dtype: StandinDataType, out: TensorData, index: number, f: number): void {
  switch (dtype) {
    case 'float32':
      (out as Float32Array)[index] = ((f >>> 21) - 1024) / 2048;
      break;
    case 'float16':
      (out as Uint16Array)[index] = float32ToFloat16Bits(((f >>> 21) - 1024) / 2048);
      break;
    case 'bfloat16':
      (out as Uint16Array)[index] = float32ToBfloat16Bits(((f >>> 24) - 128) / 256);
      break;
    case 'int32':
      (out as Int32Array)[index] = f | 0;
      break;
    case 'int64':
      (out as BigInt64Array)[index] = BigInt(f);
      break;
    case 'bool':
      (out as Uint8Array)[index] = f & 1;
      break;
    case 'int8':
      (out as Int8Array)[index] = ((f & 0xff) << 24) >> 24;
      break;
    case 'uint8':
      (out as Uint8Array)[index] = f & 0xff;
      break;
  }
}

function strides(dims: readonly number[]): number[] {
  const s = dims.map(() => 1);
  for (let k = dims.length - 1; k > 0; k--) s[k - 1] = s[k]! * dims[k]!;
  return s;
}

/** The outputs a stand-in engine computes from `inputs` (engine input order) for `outputs` (run-time dims). */
export function standinOutputs(inputs: readonly StandinInput[], outputs: readonly StandinTensor[]): Record<string, TensorData> {
  const isInteger = (t: StandinDataType) => t === 'int64' || t === 'int32' || t === 'int8' || t === 'uint8' || t === 'bool';
  const mask = inputs.findIndex((t) => t.name.toLowerCase().endsWith('mask') && t.dims.length === 2 && isInteger(t.dtype));
  const maskAxis = inputs.map((input) => {
    if (mask < 0) return -1;
    const m = inputs[mask]!;
    if (input.dims.length < 2 || input.dims[0] !== m.dims[0]) return -1;
    const seq = m.dimNames[1] ?? '';
    for (let j = 1; j < input.dims.length; j++) {
      const same = seq === '' ? j === 1 : (input.dimNames[j] ?? '') === seq;
      if (same && input.dims[j] === m.dims[1]) return j;
    }
    return -1;
  });
  const result: Record<string, TensorData> = {};
  for (const out of outputs) {
    const rank = out.dims.length;
    const count = volume(out.dims);
    const data = new DATA_TYPES[out.dtype].array(count) as TensorData;
    result[out.name] = data;
    if (count === 0) continue;
    // links[i][k]: the axis of input i tied to output axis k (axis 0 by size, others by dim name).
    const links = inputs.map((input) => {
      const used = input.dims.map(() => false);
      const l = out.dims.map(() => -1);
      for (let k = 0; k < rank; k++) {
        if (k === 0) {
          if (input.dims.length > 0 && input.dims[0] === out.dims[0]) {
            l[0] = 0;
            used[0] = true;
          }
          continue;
        }
        const name = out.dimNames[k] ?? '';
        if (name === '') continue;
        for (let j = 1; j < input.dims.length; j++) {
          if (!used[j] && (input.dimNames[j] ?? '') === name && input.dims[j] === out.dims[k]) {
            l[k] = j;
            used[j] = true;
            break;
          }
        }
      }
      return l;
    });
    const free = out.dims.map((_, k) => links.every((l) => l[k]! < 0));
    const base = mix(OFFSET, hashName(out.name));
    const inStrides = inputs.map((t) => strides(t.dims));
    const idx = out.dims.map(() => 0);
    let lastKey = '';
    let inputsHash = 0;
    for (let flat = 0; flat < count; flat++) {
      const key = idx.filter((_, k) => !free[k]).join(',');
      if (flat === 0 || key !== lastKey) {
        let h = base;
        inputs.forEach((input, i) => {
          h = mix(h, (0x9e3779b9 ^ i) >>> 0);
          const r = input.dims.length;
          const fixed = input.dims.map(() => -1);
          for (let k = 0; k < rank; k++) if (links[i]![k]! >= 0) fixed[links[i]![k]!] = idx[k]!;
          if (volume(input.dims) <= 0) return;
          const x = fixed.map((f) => (f >= 0 ? f : 0));
          const axes = fixed.map((f, j) => (f < 0 ? j : -1)).filter((j) => j >= 0);
          for (let done = false; !done;) {
            let masked = false;
            if (maskAxis[i]! >= 0) {
              const m = inputs[mask]!;
              masked = integerAt(m, x[0]! * m.dims[1]! + x[maskAxis[i]!]!) === 0;
            }
            if (!masked) {
              let offset = 0;
              for (let j = 0; j < r; j++) offset += x[j]! * inStrides[i]![j]!;
              h = mixValue(h, input.dtype, input.data, offset);
            }
            let a = axes.length;
            for (;;) {
              if (a === 0) {
                done = true;
                break;
              }
              const j = axes[--a]!;
              if (++x[j]! < input.dims[j]!) break;
              x[j] = 0;
            }
          }
        });
        inputsHash = h;
        lastKey = key;
      }
      let h = inputsHash;
      for (let k = 0; k < rank; k++) if (free[k]) h = mix(h, idx[k]!);
      store(out.dtype, data, flat, finalize(h));
      for (let k = rank - 1; k >= 0; k--) {
        if (++idx[k]! < out.dims[k]!) break;
        idx[k] = 0;
      }
    }
  }
  return result;
}

/** Numbers (as the probes print them) in the tensor representation of `dtype`. */
export function fromNumbers(dtype: StandinDataType, values: readonly number[]): TensorData {
  switch (dtype) {
    case 'float16':
      return Uint16Array.from(values, float32ToFloat16Bits);
    case 'bfloat16':
      return Uint16Array.from(values, float32ToBfloat16Bits);
    case 'int64':
      return BigInt64Array.from(values, (v) => BigInt(v));
    case 'float32':
      return Float32Array.from(values);
    case 'int32':
      return Int32Array.from(values);
    case 'int8':
      return Int8Array.from(values);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values);
  }
}

/** The tensor representation as numbers (float16 decoded), to compare with the probes' output. */
export function toNumbers(dtype: StandinDataType, data: TensorData): number[] {
  if (dtype === 'float16') return Array.from(data as Uint16Array, float16BitsToFloat32);
  if (dtype === 'bfloat16') return Array.from(data as Uint16Array, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]!);
  return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
}
