/**
 * A TensorRT engine's inputs and outputs as plain data, and the checks and sizes the session
 * derives from them: which optimization profiles a set of feed dims fits (ERR_PROFILE_RANGE
 * naming the input, its dims and the allowed range when none does), and the bytes of each
 * context's buffers. Nothing here touches the addon, so all of it is unit-tested without
 * TensorRT.
 */
import { DTypeError, ProfileRangeError, TensorRTError } from '../errors.js';
import { DATA_TYPES, TENSORRT_DATA_TYPES, formatDims, isDataType, type DataType } from '../tensor.js';
import type { Dim, ProfileRange, TensorInfo } from '../session.js';
import type { NativeEngineDescription } from '../native.js';

export interface EngineTensorMeta {
  readonly name: string;
  /** Position among the engine's inputs, or among its outputs. */
  readonly index: number;
  readonly dtype: DataType;
  /** -1 where the dim varies at run time. */
  readonly dims: readonly number[];
  /** Inputs: the allowed dims of each optimization profile; outputs: []. */
  readonly profiles: readonly ProfileRange[];
}

export interface EngineMeta {
  readonly inputs: readonly EngineTensorMeta[];
  readonly outputs: readonly EngineTensorMeta[];
  readonly profiles: number;
}

/**
 * The engine's I/O from the addon's description, refusing what the session cannot exchange
 * with JavaScript (shape-tensor inputs, host-resident or vectorized I/O, fp8/int4/fp4 types).
 */
export function engineMeta(desc: NativeEngineDescription): EngineMeta {
  const inputs: EngineTensorMeta[] = [];
  const outputs: EngineTensorMeta[] = [];
  for (const t of desc.tensors) {
    const kind = t.mode === 'input' ? 'input' : 'output';
    if (!isDataType(t.dtype) || !DATA_TYPES[t.dtype].tensorrt) {
      throw new DTypeError(
        `the engine's ${kind} ${JSON.stringify(t.name)} has element type ${t.dtype.replace(/^unsupported:/, '')}, ` +
          `which tensorrt-node cannot exchange with JavaScript (supported: ${TENSORRT_DATA_TYPES.join(', ')})`,
      );
    }
    if (t.mode === 'input' && t.isShapeTensor) {
      throw new TensorRTError(
        `the engine's input ${JSON.stringify(t.name)} is a shape tensor (its values set output shapes); tensorrt-node does not support shape-tensor inputs`,
      );
    }
    if (t.onHost) throw new TensorRTError(`the engine's ${kind} ${JSON.stringify(t.name)} lives in host memory; tensorrt-node supports device I/O only`);
    if (!t.linear) {
      throw new TensorRTError(`the engine's ${kind} ${JSON.stringify(t.name)} has a vectorized layout; rebuild the engine without I/O format restrictions`);
    }
    const list = t.mode === 'input' ? inputs : outputs;
    list.push(
      Object.freeze({
        name: t.name,
        index: list.length,
        dtype: t.dtype,
        dims: Object.freeze([...t.dims]),
        profiles: Object.freeze(
          t.profiles.map((p) => Object.freeze({ min: Object.freeze([...p.min]), opt: Object.freeze([...p.opt]), max: Object.freeze([...p.max]) })),
        ),
      }),
    );
  }
  return Object.freeze({ inputs: Object.freeze(inputs), outputs: Object.freeze(outputs), profiles: desc.profiles });
}

/**
 * TensorInfo for the session: dims with -1 where the engine's dim varies, replaced by the
 * symbolic name from `names` (the build's sidecar) where one is known.
 */
export function tensorInfo(meta: EngineTensorMeta, names?: readonly Dim[]): TensorInfo {
  const dims: Dim[] = meta.dims.map((d, axis) => {
    const named = names?.[axis];
    return d < 0 && typeof named === 'string' && named !== '' ? named : d;
  });
  const info: TensorInfo = { name: meta.name, dtype: meta.dtype, dims: Object.freeze(dims) };
  return Object.freeze(meta.profiles.length > 0 ? { ...info, profiles: meta.profiles } : info);
}

/** Bytes of a tensor of `dims`; throws for negative dims. */
export function tensorBytes(dims: readonly number[], dtype: DataType): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`dims ${formatDims(dims)} must be non-negative integers`);
    n *= d;
  }
  return n * DATA_TYPES[dtype].bytesPerElement;
}

/** Per engine input, the bytes its buffers need to hold profile `profile`'s max shape. */
export function profileInputBytes(meta: EngineMeta, profile: number): number[] {
  return meta.inputs.map((input) => {
    const range = input.profiles[profile];
    if (range === undefined) throw new RangeError(`the engine has no optimization profile ${profile}`);
    return tensorBytes(range.max, input.dtype);
  });
}

/** The first axis where `dims` falls outside `range`, or -1 when they fit. */
export function firstViolation(dims: readonly number[], range: ProfileRange): number {
  if (dims.length !== range.min.length) return 0;
  for (let axis = 0; axis < dims.length; axis++) {
    if (dims[axis]! < range.min[axis]! || dims[axis]! > range.max[axis]!) return axis;
  }
  return -1;
}

/** Indices of the profiles in which every input's dims fit, in profile order. */
export function matchingProfiles(meta: EngineMeta, dims: readonly (readonly number[])[]): number[] {
  const out: number[] = [];
  for (let p = 0; p < meta.profiles; p++) {
    if (meta.inputs.every((input, i) => firstViolation(dims[i]!, input.profiles[p]!) < 0)) out.push(p);
  }
  return out;
}

function describeViolation(dims: readonly number[], range: ProfileRange, axis: number): string {
  if (dims.length !== range.min.length) return `rank ${dims.length}, the profile has rank ${range.min.length}`;
  const allowed = range.min[axis] === range.max[axis] ? `${range.min[axis]}` : `${range.min[axis]}..${range.max[axis]}`;
  return `dim ${axis} is ${dims[axis]}, allowed ${allowed} (min ${formatDims(range.min)}, opt ${formatDims(range.opt)}, max ${formatDims(range.max)})`;
}

/**
 * The profiles `dims` (one entry per engine input, in order) fit; throws ProfileRangeError
 * naming the input, its dims and the allowed range of each profile when none fits.
 */
export function selectProfiles(meta: EngineMeta, dims: readonly (readonly number[])[]): number[] {
  const fits = matchingProfiles(meta, dims);
  if (fits.length > 0) return fits;
  const reasons: string[] = [];
  const details: { profile: number; input: string; dims: number[]; axis: number; min: number[]; max: number[] }[] = [];
  for (let p = 0; p < meta.profiles; p++) {
    for (let i = 0; i < meta.inputs.length; i++) {
      const input = meta.inputs[i]!;
      const range = input.profiles[p]!;
      const axis = firstViolation(dims[i]!, range);
      if (axis < 0) continue;
      reasons.push(`input ${JSON.stringify(input.name)} dims ${formatDims(dims[i]!)}: ${describeViolation(dims[i]!, range, axis)}`);
      details.push({ profile: p, input: input.name, dims: [...dims[i]!], axis, min: [...range.min], max: [...range.max] });
      break;
    }
  }
  const first = details[0]!;
  const message =
    meta.profiles === 1
      ? `input ${JSON.stringify(first.input)} dims ${formatDims(first.dims)} are outside the engine's optimization profile: ` +
        describeViolation(first.dims, meta.inputs.find((x) => x.name === first.input)!.profiles[0]!, first.axis)
      : `the feeds fit none of the engine's ${meta.profiles} optimization profiles: ` +
        reasons.map((r, k) => `profile ${details[k]!.profile}: ${r}`).join('; ');
  throw new ProfileRangeError(message, { input: first.input, dims: first.dims, violations: details });
}
