/**
 * Optimization profiles from the parsed network's inputs and the user's ranges. Each dynamic
 * dim (-1) takes its range from, in order: the profile's explicit `shapes` for that input,
 * the profile's `dims` by symbolic name (the ONNX dim_param) or by "input:axis", then the
 * top-level `dims` likewise. Inputs sharing a symbolic dim share its range, as ONNX means.
 * Everything missing or inconsistent is reported in one InvalidArgumentError that names the
 * input, the axis and how to supply it.
 */
import { InvalidArgumentError } from '../errors.js';
import { formatDims } from '../tensor.js';
import { dimRange, type DimRange, type DimRangeInput, type ParsedBuildOptions, type ShapeRange } from './options.js';

/** A network input as the parser sees it. */
export interface NetworkInput {
  readonly name: string;
  /** -1 for dynamic dims. */
  readonly dims: readonly number[];
  /** The ONNX dim_param of each dim, "" where none. */
  readonly dimNames: readonly string[];
}

export interface InputProfile {
  readonly input: string;
  readonly min: readonly number[];
  readonly opt: readonly number[];
  readonly max: readonly number[];
}

export type Profile = readonly InputProfile[];

type ProfileSpec = NonNullable<ParsedBuildOptions['profiles']>[number];

function isDynamic(input: NetworkInput): boolean {
  return input.dims.some((d) => d < 0);
}

function checkOrder(r: DimRange, what: string, problems: string[]): void {
  if (!(r.min <= r.opt && r.opt <= r.max)) problems.push(`${what}: needs min <= opt <= max, got min ${r.min}, opt ${r.opt}, max ${r.max}`);
}

function explicitShape(input: NetworkInput, s: ShapeRange, where: string, problems: string[]): InputProfile | null {
  const rank = input.dims.length;
  for (const k of ['min', 'opt', 'max'] as const) {
    if (s[k].length !== rank) {
      problems.push(`${where}.${k} ${formatDims(s[k])} has rank ${s[k].length}, input ${JSON.stringify(input.name)} has rank ${rank} ${formatDims(input.dims)}`);
      return null;
    }
  }
  for (let axis = 0; axis < rank; axis++) {
    const fixed = input.dims[axis]!;
    const r = { min: s.min[axis]!, opt: s.opt[axis]!, max: s.max[axis]! };
    if (fixed >= 0 && (r.min !== fixed || r.opt !== fixed || r.max !== fixed)) {
      problems.push(`${where}: dim ${axis} of input ${JSON.stringify(input.name)} is fixed at ${fixed}, got min ${r.min}, opt ${r.opt}, max ${r.max}`);
    }
    checkOrder(r, `${where} dim ${axis}`, problems);
  }
  return { input: input.name, min: [...s.min], opt: [...s.opt], max: [...s.max] };
}

/**
 * The profiles to build: one per entry of `options.profiles`, or one from `options.dims`.
 * Inputs without dynamic dims are left out (TensorRT takes their shape from the network);
 * a network with no dynamic input gets no profile at all.
 */
export function deriveProfiles(
  inputs: readonly NetworkInput[],
  options: { dims?: Record<string, DimRangeInput>; profiles?: readonly ProfileSpec[] | undefined },
): Profile[] {
  const problems: string[] = [];
  const names = new Set(inputs.map((i) => i.name));
  const symbols = new Set(inputs.flatMap((i) => i.dimNames.filter((n, axis) => n !== '' && i.dims[axis]! < 0)));
  const axisKeys = new Set(inputs.flatMap((i) => i.dims.flatMap((d, axis) => (d < 0 ? [`${i.name}:${axis}`] : []))));

  const checkDimKeys = (dims: Record<string, DimRangeInput> | undefined, where: string): void => {
    for (const key of Object.keys(dims ?? {})) {
      if (symbols.has(key) || axisKeys.has(key)) continue;
      const known = [...symbols, ...axisKeys].join(', ') || '(none: every input dim is fixed)';
      problems.push(`${where}.${key} names no dynamic dim of the model; its dynamic dims are ${known}`);
    }
  };
  checkDimKeys(options.dims, 'options.dims');
  const specs: ProfileSpec[] = options.profiles === undefined ? [{}] : [...options.profiles];
  specs.forEach((spec, p) => {
    const where = options.profiles === undefined ? 'options' : `options.profiles[${p}]`;
    checkDimKeys(spec.dims, `${where}.dims`);
    for (const key of Object.keys(spec.shapes ?? {})) {
      if (!names.has(key)) problems.push(`${where}.shapes names ${JSON.stringify(key)}, which is not an input; the inputs are ${[...names].map((n) => JSON.stringify(n)).join(', ')}`);
    }
  });

  const dynamic = inputs.filter(isDynamic);
  const profiles: Profile[] = [];
  specs.forEach((spec, p) => {
    const where = options.profiles === undefined ? 'options' : `options.profiles[${p}]`;
    const profile: InputProfile[] = [];
    for (const input of dynamic) {
      const explicit = spec.shapes?.[input.name];
      if (explicit !== undefined) {
        const r = explicitShape(input, explicit, `${where}.shapes.${input.name}`, problems);
        if (r) profile.push(r);
        continue;
      }
      const min: number[] = [];
      const opt: number[] = [];
      const max: number[] = [];
      input.dims.forEach((d, axis) => {
        if (d >= 0) {
          min.push(d);
          opt.push(d);
          max.push(d);
          return;
        }
        const name = input.dimNames[axis] ?? '';
        const axisKey = `${input.name}:${axis}`;
        const raw =
          (name !== '' ? spec.dims?.[name] : undefined) ??
          spec.dims?.[axisKey] ??
          (name !== '' ? options.dims?.[name] : undefined) ??
          options.dims?.[axisKey];
        if (raw === undefined) {
          const key = name !== '' ? name : axisKey;
          problems.push(
            `input ${JSON.stringify(input.name)} ${formatDims(input.dims.map((x, i) => (x < 0 ? input.dimNames[i] || -1 : x)))} ` +
              `dim ${axis}${name !== '' ? ` (${JSON.stringify(name)})` : ''} has no range${options.profiles === undefined ? '' : ` in profile ${p}`}: ` +
              `give dims: { ${JSON.stringify(key)}: [min, max] } or { min, opt, max }, or explicit shapes for the input`,
          );
          min.push(-1);
          opt.push(-1);
          max.push(-1);
          return;
        }
        const r = dimRange(raw);
        checkOrder(r, `${where} range of ${name !== '' ? JSON.stringify(name) : axisKey}`, problems);
        min.push(r.min);
        opt.push(r.opt);
        max.push(r.max);
      });
      profile.push({ input: input.name, min, opt, max });
    }
    profiles.push(profile);
  });

  if (problems.length > 0) {
    const unique = [...new Set(problems)];
    throw new InvalidArgumentError(`cannot derive optimization profiles: ${unique.join('; ')}`, { problems: unique });
  }
  return dynamic.length === 0 ? [] : profiles;
}

/** Profiles as the sidecar stores them: per profile, input name -> range. */
export function profilesAsRecords(profiles: readonly Profile[]): Record<string, { min: number[]; opt: number[]; max: number[] }>[] {
  return profiles.map((p) => Object.fromEntries(p.map((r) => [r.input, { min: [...r.min], opt: [...r.opt], max: [...r.max] }])));
}

/**
 * Ranges for every dynamic dim of `inputs` (a model's TensorInfo: -1 or a symbolic name),
 * keyed as buildEngine's `dims` takes them (the symbolic name, or "input:axis"): `named`
 * when it has the key, else `batch` for a leading dim and `seq` for any other. For tools
 * that build an engine for the inputs they will generate (the GPU check, compare, bench).
 */
export function defaultDimRanges(
  inputs: readonly { readonly name: string; readonly dims: readonly (number | string)[] }[],
  o: { batch: DimRange; seq: DimRange; named?: Readonly<Record<string, DimRange>> },
): Record<string, DimRange> {
  const out: Record<string, DimRange> = {};
  for (const input of inputs) {
    input.dims.forEach((d, axis) => {
      if (typeof d === 'number' && d >= 0) return;
      const key = typeof d === 'string' && d !== '' ? d : `${input.name}:${axis}`;
      out[key] ??= o.named?.[key] ?? (axis === 0 ? o.batch : o.seq);
    });
  }
  return out;
}
