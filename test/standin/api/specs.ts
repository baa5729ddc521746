/**
 * The models the public-API scenarios build (their I/O only: the stand-in engine computes
 * every output from the inputs, see ../README.md) and deterministic feeds for them.
 */
import { DATA_TYPES, Tensor, float32ToFloat16Bits, type DataType, type TensorData } from '../../../src/index.js';
import { encoderSpec, type ModelSpec } from '../models.js';
import type { Lcg } from './harness.js';

/** A BERT-like encoder: input_ids/attention_mask [batch, sequence] -> states [batch, sequence, 4], logits [batch, 3] (fp16). */
export const ENCODER: ModelSpec = encoderSpec();

/** Another encoder (other output names), for builds that must be told apart. */
export const ENCODER_B: ModelSpec = {
  inputs: ENCODER.inputs,
  outputs: [
    { name: 'pooled_b', dtype: 'float32', dims: ['batch', 2] },
    { name: 'scores_b', dtype: 'float32', dims: ['batch', 'sequence'] },
  ],
};

/** Fixed shapes only: a static engine (no profile choices, one shape). */
export const STATIC: ModelSpec = {
  inputs: [{ name: 'x', dtype: 'float32', dims: [2, 8] }],
  outputs: [{ name: 'y', dtype: 'float32', dims: [2, 5] }],
};

/** Every element type TensorRT exchanges, as inputs and outputs. */
export const DTYPES: ModelSpec = {
  inputs: [
    { name: 'ids', dtype: 'int64', dims: ['batch', 'sequence'] },
    { name: 'flags', dtype: 'bool', dims: ['batch', 'sequence'] },
    { name: 'scale', dtype: 'float16', dims: ['batch', 2] },
    { name: 'bias', dtype: 'int32', dims: ['batch', 2] },
  ],
  outputs: [
    { name: 'o_f16', dtype: 'float16', dims: ['batch', 'sequence'] },
    { name: 'o_i64', dtype: 'int64', dims: ['batch'] },
    { name: 'o_bool', dtype: 'bool', dims: ['batch', 'sequence'] },
    { name: 'o_i32', dtype: 'int32', dims: ['batch', 2] },
    { name: 'o_i8', dtype: 'int8', dims: ['batch', 3] },
    { name: 'o_u8', dtype: 'uint8', dims: ['batch'] },
    { name: 'o_f32', dtype: 'float32', dims: ['batch', 'sequence', 2] },
  ],
};

/** A KV-cache-style update: output "present" aliases input "past" (getAliasedInputTensor). */
export const ALIASED: ModelSpec = {
  inputs: [
    { name: 'x', dtype: 'float32', dims: ['batch', 4] },
    { name: 'past', dtype: 'float32', dims: ['batch', 6] },
  ],
  outputs: [
    { name: 'y', dtype: 'float32', dims: ['batch', 2] },
    { name: 'present', dtype: 'float32', dims: ['batch', 6] },
  ],
  metadata: { 'standin.aliases': 'present=past' },
};

/** An int64 input that feeds Reshape's shape slot: a shape tensor for TensorRT. */
export const SHAPE_INPUT: ModelSpec = {
  inputs: [
    { name: 'x', dtype: 'float32', dims: ['batch', 4] },
    { name: 'target_shape', dtype: 'int64', dims: [2] },
  ],
  outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 4] }],
  nodes: [{ name: '/reshape', op: 'Reshape', inputs: ['x', 'target_shape'], outputs: ['reshaped'] }],
};

/** Values of `dtype` from the generator (float16 as bits of small floats, bool 0/1). */
function values(dtype: DataType, n: number, rng: Lcg): TensorData {
  const out = new DATA_TYPES[dtype].array(n) as TensorData;
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    switch (dtype) {
      case 'float32':
        (out as Float32Array)[i] = ((r % 2001) - 1000) / 64;
        break;
      case 'float16':
        (out as Uint16Array)[i] = float32ToFloat16Bits(((r % 201) - 100) / 16);
        break;
      case 'int64':
        (out as BigInt64Array)[i] = BigInt(r % 30522) - 5n;
        break;
      case 'bool':
        (out as Uint8Array)[i] = r & 1;
        break;
      case 'int32':
        (out as Int32Array)[i] = (r | 0) >> 3;
        break;
      default:
        (out as Uint8Array)[i] = r & 0x7f;
    }
  }
  return out;
}

/**
 * Feeds for `spec` with the named dims set to `sizes` (e.g. { batch: 2, sequence: 7 }). An
 * input whose name ends in "mask" is all ones up to `lengths[row]` (right padding) when
 * given, else all ones.
 */
export function feedsFor(spec: ModelSpec, sizes: Record<string, number>, rng: Lcg, lengths?: number[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const t of spec.inputs) {
    const dims = t.dims.map((d) => {
      if (typeof d === 'number') return d;
      const v = sizes[d];
      if (v === undefined) throw new Error(`no size for dim ${d}`);
      return v;
    });
    const n = dims.reduce((a, b) => a * b, 1);
    let data: TensorData;
    if (t.name.endsWith('mask')) {
      const mask = new BigInt64Array(n);
      const seq = dims[1] ?? 1;
      for (let i = 0; i < n; i++) mask[i] = lengths === undefined || i % seq < lengths[Math.floor(i / seq)]! ? 1n : 0n;
      data = mask;
    } else {
      data = values(t.dtype, n, rng);
    }
    out[t.name] = new Tensor(t.dtype, data as never, dims);
  }
  return out;
}
