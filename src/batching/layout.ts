/**
 * How a model's tensors are batched: per input and output, the batch axis, the axes that
 * are padded (inputs) or trimmed back (outputs), and the axes whose sizes must match for
 * requests to share a batch. Derived from the session's TensorInfo, with user overrides.
 *
 * Zero-config rule: the first dynamic dim (symbolic name or -1) of each tensor is its batch
 * axis; a symbolic dim name that appears at a non-batch axis of an input and of an output
 * is a sequence dim: inputs are padded along it with 0 and outputs trimmed back.
 */
import { InvalidArgumentError } from '../errors.js';
import { DATA_TYPES, float32ToBfloat16Bits, float32ToFloat16Bits, formatDims, type DataType } from '../tensor.js';
import type { InferenceSession, TensorInfo } from '../session.js';
import type { AxisOption } from './options.js';

type PaddingOption =
  | false
  | {
      inputs?: Record<string, { axes?: AxisOption | AxisOption[]; value?: number }>;
      outputs?: Record<string, { axes?: AxisOption | AxisOption[] }>;
    }
  | undefined;

export interface InputPlan {
  readonly name: string;
  readonly dtype: DataType;
  readonly rank: number;
  readonly batchAxis: number;
  /** Per axis: the fixed size, or -1 when the model leaves it open. */
  readonly fixed: readonly number[];
  /** Padded axes and, for each, the index of its length in BatchLayout.dims. */
  readonly padAxes: readonly number[];
  readonly padDims: readonly number[];
  /** Per axis: -1, or the index (in BatchLayout.keySymbols) of a symbolic dim that must agree across inputs. */
  readonly symbolIndex: readonly number[];
  /** Non-batch, non-padded open axes: their sizes go into the batch key. */
  readonly keyAxes: readonly number[];
  /** Pad fill in the tensor's storage type (bigint for int64, half bits for float16). */
  readonly padFill: number | bigint;
}

export interface OutputPlan {
  readonly name: string;
  readonly batchAxis: number;
  readonly trimAxes: readonly number[];
  readonly trimDims: readonly number[];
}

export interface BatchLayout {
  readonly inputs: readonly InputPlan[];
  readonly outputs: readonly OutputPlan[];
  /** Names of the padded lengths (e.g. ["sequence"]). */
  readonly dims: readonly string[];
  /** Symbolic dim names checked for agreement across inputs (excluding padded dims and batch). */
  readonly keySymbols: readonly string[];
  /** Largest batch the session's TensorRT profiles accept, if it has profiles. */
  readonly profileMaxBatch: number | undefined;
  /** Per padded dim, the largest length the session's profiles accept (Infinity if open). */
  readonly profileMaxLen: readonly number[];
}

function isDynamic(d: number | string): boolean {
  return typeof d === 'string' || d < 0;
}

function batchAxisOf(info: TensorInfo, kind: 'input' | 'output'): number {
  const axis = info.dims.findIndex(isDynamic);
  if (axis < 0) {
    throw new InvalidArgumentError(
      `cannot batch model ${kind} ${JSON.stringify(info.name)}: its dims ${formatDims(info.dims)} have no dynamic (batch) dim; ` +
        'the DynamicBatcher needs a model exported with a dynamic batch dim',
    );
  }
  return axis;
}

function toAxisList(spec: AxisOption | AxisOption[]): { axis: number; dim?: string | undefined }[] {
  const list = Array.isArray(spec) ? spec : [spec];
  return list.map((s) => (typeof s === 'number' ? { axis: s } : s));
}

function padFillFor(dtype: DataType, value: number, name: string): number | bigint {
  switch (dtype) {
    case 'int64':
      if (!Number.isSafeInteger(value)) {
        throw new InvalidArgumentError(`padding.inputs.${name}.value must be an integer for an int64 input, got ${value}`);
      }
      return BigInt(value);
    case 'float16':
      return float32ToFloat16Bits(value);
    case 'bfloat16':
      return float32ToBfloat16Bits(value);
    case 'float32':
      return value;
    default: {
      const arr = new DATA_TYPES[dtype].array(1) as Int8Array;
      arr[0] = value;
      if (arr[0] !== value || (dtype === 'bool' && value !== 0 && value !== 1)) {
        throw new InvalidArgumentError(`padding.inputs.${name}.value ${value} does not fit a ${dtype} input`);
      }
      return value;
    }
  }
}

/** Builds the batching layout of `session`, applying `padding` overrides. */
export function planLayout(
  session: Pick<InferenceSession, 'inputs' | 'outputs'>,
  padding: PaddingOption,
  outputNames: readonly string[] | undefined,
): BatchLayout {
  const inputs = session.inputs;
  if (inputs.length === 0) throw new InvalidArgumentError('cannot batch a model with no inputs');
  let outputs = session.outputs;
  if (outputNames !== undefined) {
    for (const n of outputNames) {
      if (!outputs.some((o) => o.name === n)) {
        throw new InvalidArgumentError(
          `options.outputs names an unknown output ${JSON.stringify(n)}; the model's outputs are ${outputs.map((o) => JSON.stringify(o.name)).join(', ')}`,
        );
      }
    }
    outputs = outputNames.map((n) => outputs.find((o) => o.name === n)!);
  }
  if (padding !== false && padding !== undefined) {
    for (const n of Object.keys(padding.inputs ?? {})) {
      if (!inputs.some((i) => i.name === n)) {
        throw new InvalidArgumentError(
          `padding.inputs names an unknown input ${JSON.stringify(n)}; the model's inputs are ${inputs.map((i) => JSON.stringify(i.name)).join(', ')}`,
        );
      }
    }
    for (const n of Object.keys(padding.outputs ?? {})) {
      if (!outputs.some((o) => o.name === n)) {
        throw new InvalidArgumentError(
          `padding.outputs names an unknown (or unfetched) output ${JSON.stringify(n)}; the outputs are ${outputs.map((o) => JSON.stringify(o.name)).join(', ')}`,
        );
      }
    }
  }

  const inBatch = inputs.map((i) => batchAxisOf(i, 'input'));
  const outBatch = outputs.map((o) => batchAxisOf(o, 'output'));
  const batchNames = new Set<string>();
  inputs.forEach((info, k) => {
    const d = info.dims[inBatch[k]!]!;
    if (typeof d === 'string') batchNames.add(d);
  });
  if (batchNames.size > 1) {
    throw new InvalidArgumentError(
      `the model's inputs name their batch dim differently (${[...batchNames].map((n) => JSON.stringify(n)).join(', ')}); ` +
        `the first dynamic dim of every input must be the same batch dim: ${inputs.map((i) => `${i.name} ${formatDims(i.dims)}`).join(', ')}`,
    );
  }

  // Zero-config sequence dims: symbolic names at non-batch axes of an input and of an output.
  const auto = new Set<string>();
  if (padding !== false) {
    const outNames = new Set<string>();
    outputs.forEach((o, k) => o.dims.forEach((d, a) => a !== outBatch[k] && typeof d === 'string' && outNames.add(d)));
    inputs.forEach((i, k) =>
      i.dims.forEach((d, a) => {
        if (a !== inBatch[k] && typeof d === 'string' && !batchNames.has(d) && outNames.has(d)) auto.add(d);
      }),
    );
  }

  const dims: string[] = [];
  const dimIndex = (name: string): number => {
    let k = dims.indexOf(name);
    if (k < 0) k = dims.push(name) - 1;
    return k;
  };
  const keySymbols: string[] = [];
  const profileMaxLen: number[] = [];
  let profileMaxBatch: number | undefined;

  const inputPlans: InputPlan[] = inputs.map((info, k) => {
    const batchAxis = inBatch[k]!;
    const override = padding === false ? undefined : padding?.inputs?.[info.name];
    let axes: { axis: number; dim?: string | undefined }[];
    if (padding === false) axes = [];
    else if (override?.axes !== undefined) axes = toAxisList(override.axes);
    else axes = info.dims.flatMap((d, a) => (a !== batchAxis && typeof d === 'string' && auto.has(d) ? [{ axis: a }] : []));
    const padAxes: number[] = [];
    const padDims: number[] = [];
    for (const { axis, dim } of axes) {
      if (axis >= info.dims.length) {
        throw new InvalidArgumentError(`padding.inputs.${info.name}.axes: axis ${axis} is out of range for dims ${formatDims(info.dims)}`);
      }
      if (axis === batchAxis) {
        throw new InvalidArgumentError(`padding.inputs.${info.name}.axes: axis ${axis} is the batch axis of ${formatDims(info.dims)}`);
      }
      if (!isDynamic(info.dims[axis]!)) {
        throw new InvalidArgumentError(
          `padding.inputs.${info.name}.axes: axis ${axis} has the fixed size ${info.dims[axis]} in ${formatDims(info.dims)}; only dynamic axes can be padded`,
        );
      }
      if (padAxes.includes(axis)) continue;
      const d = info.dims[axis]!;
      padAxes.push(axis);
      padDims.push(dimIndex(dim ?? (typeof d === 'string' ? d : 'sequence')));
    }
    const symbolIndex = info.dims.map((d, a) => {
      if (a === batchAxis || padAxes.includes(a) || typeof d !== 'string') return -1;
      let s = keySymbols.indexOf(d);
      if (s < 0) s = keySymbols.push(d) - 1;
      return s;
    });
    const keyAxes = info.dims.flatMap((d, a) => (a !== batchAxis && !padAxes.includes(a) && isDynamic(d) ? [a] : []));
    // TensorRT profiles bound the batch and the padded lengths.
    if (info.profiles && info.profiles.length > 0) {
      const maxB = Math.max(...info.profiles.map((p) => p.max[batchAxis] ?? Infinity));
      profileMaxBatch = Math.min(profileMaxBatch ?? Infinity, maxB);
      padAxes.forEach((axis, j) => {
        const maxL = Math.max(...info.profiles!.map((p) => p.max[axis] ?? Infinity));
        const di = padDims[j]!;
        profileMaxLen[di] = Math.min(profileMaxLen[di] ?? Infinity, maxL);
      });
    }
    return Object.freeze({
      name: info.name,
      dtype: info.dtype,
      rank: info.dims.length,
      batchAxis,
      fixed: Object.freeze(info.dims.map((d) => (typeof d === 'number' && d >= 0 ? d : -1))),
      padAxes: Object.freeze(padAxes),
      padDims: Object.freeze(padDims),
      symbolIndex: Object.freeze(symbolIndex),
      keyAxes: Object.freeze(keyAxes),
      padFill: padFillFor(info.dtype, override?.value ?? 0, info.name),
    });
  });

  const outputPlans: OutputPlan[] = outputs.map((info, k) => {
    const batchAxis = outBatch[k]!;
    const override = padding === false ? undefined : padding?.outputs?.[info.name];
    let axes: { axis: number; dim?: string | undefined }[];
    if (padding === false) axes = [];
    else if (override?.axes !== undefined) axes = toAxisList(override.axes);
    else axes = info.dims.flatMap((d, a) => (a !== batchAxis && typeof d === 'string' && dims.includes(d) ? [{ axis: a }] : []));
    const trimAxes: number[] = [];
    const trimDims: number[] = [];
    for (const { axis, dim } of axes) {
      if (axis >= info.dims.length || axis === batchAxis) {
        throw new InvalidArgumentError(
          `padding.outputs.${info.name}.axes: axis ${axis} is ${axis === batchAxis ? 'the batch axis' : 'out of range'} of ${formatDims(info.dims)}`,
        );
      }
      const d = info.dims[axis]!;
      const name = dim ?? (typeof d === 'string' ? d : 'sequence');
      const di = dims.indexOf(name);
      if (di < 0) {
        throw new InvalidArgumentError(
          `padding.outputs.${info.name}.axes: axis ${axis} is trimmed to the length ${JSON.stringify(name)}, but no input pads a dim of that name ` +
            `(padded dims: ${dims.length > 0 ? dims.map((n) => JSON.stringify(n)).join(', ') : 'none'})`,
        );
      }
      if (trimAxes.includes(axis)) continue;
      trimAxes.push(axis);
      trimDims.push(di);
    }
    return Object.freeze({ name: info.name, batchAxis, trimAxes: Object.freeze(trimAxes), trimDims: Object.freeze(trimDims) });
  });

  for (let i = 0; i < dims.length; i++) profileMaxLen[i] ??= Infinity;
  return Object.freeze({
    inputs: Object.freeze(inputPlans),
    outputs: Object.freeze(outputPlans),
    dims: Object.freeze(dims),
    keySymbols: Object.freeze(keySymbols),
    profileMaxBatch: profileMaxBatch === Infinity ? undefined : profileMaxBatch,
    profileMaxLen: Object.freeze(profileMaxLen),
  });
}
