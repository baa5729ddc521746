/**
 * Seeded input generation for accuracy checks, modelled on Polygraphy's DataLoader (values
 * uniform in an inclusive [min, max], iteration i seeded with seed + i, per-input ranges)
 * with what transformer models need on top:
 *
 * - symbolic dims are filled by name: batch-like names (batch, batch_size, N, B, bs) take
 *   `batch`, sequence-like names (seq, sequence, seq_len, length, ...) take `seq`; other
 *   names take `dims[name]`; unnamed dims take `batch` on axis 0 and `seq` on axis 1.
 * - attention masks (an integer, bool or float input named like "mask" of rank 2) get a
 *   padding pattern: with 'right' (default) row 0 is full length and the other rows have
 *   seeded lengths in [1, seq], ones then zeros; 'left' mirrors it; 'none' is all ones.
 * - token ids (integer inputs named input_ids, *_ids, ids, tokens) are drawn from
 *   `valueRanges[name]` or `[0, 99]`, and padded positions get `padTokenId`; position_ids
 *   count 0..seq-1 per row; token_type_ids/segment ids are 0 at padded positions.
 * - anything else: Polygraphy's default range [0, 1] (integers 0 or 1).
 *
 * An explicit `valueRanges[name]` wins: the input is drawn uniformly from it, masks and
 * position ids included; token ids and type ids drawn from a range still get the pad value
 * where the generated mask says padding.
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';
import { parseOptions } from '../options.js';
import { DATA_TYPES, Tensor, formatDims, type DataType, type TensorData } from '../tensor.js';
import type { Feeds, TensorInfo } from '../session.js';
import { Random } from '../random.js';

export type MaskPattern = 'right' | 'left' | 'none';

const rangeSchema = z.tuple([z.number().finite(), z.number().finite()]).refine(([lo, hi]) => lo <= hi, { message: 'a range [min, max] needs min <= max' });

export const GenerateInputsOptionsSchema = z
  .object({
    /** Polygraphy's default seed is 1. */
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(1),
    iterations: z.number().int().min(1).max(100_000).default(1),
    batch: z
      .number()
      .int()
      .min(1)
      .max(1 << 20)
      .default(2),
    seq: z
      .number()
      .int()
      .min(1)
      .max(1 << 24)
      .default(16),
    /** Sizes of other symbolic dims, by dim name. */
    dims: z.record(z.string(), z.number().int().min(0)).default({}),
    /** Full shapes by input name; overrides the dims rules for that input. */
    shapes: z.record(z.string(), z.array(z.number().int().min(0))).default({}),
    /** [min, max] (inclusive) by input name; the key "" is the default for every input. */
    valueRanges: z.record(z.string(), rangeSchema).default({}),
    maskPattern: z.enum(['right', 'left', 'none']).default('right'),
    padTokenId: z.number().int().default(0),
  })
  .strict();

export type GenerateInputsOptions = z.input<typeof GenerateInputsOptionsSchema>;
type Normalised = z.output<typeof GenerateInputsOptionsSchema>;

const BATCH_NAMES = /^(batch|batch_?size|n|b|bs|num_?batch(es)?|batch_?dim)$/i;
const SEQ_NAMES = /^(seq|sequence|seq_?len(gth)?|sequence_?len(gth)?|s|t|len(gth)?|max_?seq(_?len)?|num_?tokens|tokens?|max_?length)$/i;

type Role = 'mask' | 'token_ids' | 'position_ids' | 'type_ids' | 'plain';

function isInteger(dtype: DataType): boolean {
  const kind = DATA_TYPES[dtype].kind;
  return kind === 'int' || kind === 'uint';
}

function roleOf(info: TensorInfo): Role {
  const n = info.name.toLowerCase();
  const rank2 = info.dims.length === 2;
  if (rank2 && /mask/.test(n) && info.dtype !== 'bfloat16') return 'mask';
  if (!isInteger(info.dtype)) return 'plain';
  if (/position/.test(n)) return rank2 ? 'position_ids' : 'plain';
  if (/type|segment/.test(n)) return 'type_ids';
  if (/(^|_)ids?$|input_?ids|token|^input$/.test(n)) return 'token_ids';
  return 'plain';
}

/** The concrete dims generated for `info`, filling symbolic dims (see the module comment). */
export function resolveDims(info: TensorInfo, opts: Pick<Normalised, 'batch' | 'seq' | 'dims' | 'shapes'>): number[] {
  const given = opts.shapes[info.name];
  if (given !== undefined) {
    if (given.length !== info.dims.length) {
      throw new InvalidArgumentError(
        `shapes[${JSON.stringify(info.name)}] has rank ${given.length} ${formatDims(given)} but the input has rank ${info.dims.length} ${formatDims(info.dims)}`,
      );
    }
    info.dims.forEach((d, axis) => {
      if (typeof d === 'number' && d >= 0 && d !== given[axis]) {
        throw new InvalidArgumentError(`shapes[${JSON.stringify(info.name)}] dim ${axis} must be ${d} ${formatDims(info.dims)}, got ${formatDims(given)}`);
      }
    });
    return [...given];
  }
  return info.dims.map((d, axis) => {
    if (typeof d === 'number' && d >= 0) return d;
    if (typeof d === 'string' && d !== '') {
      const named = opts.dims[d];
      if (named !== undefined) return named;
      if (BATCH_NAMES.test(d)) return opts.batch;
      if (SEQ_NAMES.test(d)) return opts.seq;
    }
    if (axis === 0) return opts.batch;
    if (axis === 1) return opts.seq;
    const label = typeof d === 'string' && d !== '' ? `${JSON.stringify(d)}` : 'unnamed (-1)';
    throw new InvalidArgumentError(
      `input ${JSON.stringify(info.name)} dim ${axis} ${formatDims(info.dims)} is ${label}; give its size with ` +
        (typeof d === 'string' && d !== '' ? `dims: { ${JSON.stringify(d)}: N } (--dim ${d}:N)` : `shapes: { ${JSON.stringify(info.name)}: [...] }`),
    );
  });
}

/** Row lengths for a padding pattern: row 0 full, the others seeded in [1, seq]. */
function rowLengths(rng: Random, batch: number, seq: number, pattern: MaskPattern): number[] {
  return Array.from({ length: batch }, (_, r) => (pattern === 'none' || r === 0 || seq === 0 ? seq : rng.nextInt(1, seq + 1)));
}

function tensorFrom(dtype: DataType, values: Float64Array, dims: number[]): Tensor {
  switch (dtype) {
    case 'float64':
      return new Tensor('float64', values, dims);
    case 'float16':
    case 'bfloat16':
      return Tensor.fromFloat32(dtype, Float32Array.from(values), dims);
    case 'int64':
      return new Tensor(
        'int64',
        BigInt64Array.from(values, (v) => BigInt(v)),
        dims,
      );
    case 'uint64':
      return new Tensor(
        'uint64',
        BigUint64Array.from(values, (v) => BigInt(v)),
        dims,
      );
    default:
      // The values are already integers in the type's range (see generateOne), or floats for float32.
      return new Tensor(dtype, (DATA_TYPES[dtype].array as Float32ArrayConstructor).from(values) as TensorData as never, dims);
  }
}

function defaultRange(info: TensorInfo, role: Role): [number, number] {
  if (role === 'token_ids') return [0, 99];
  return [0, 1];
}

/**
 * Generates `iterations` feeds for `inputs` (a session's input infos). Deterministic for a
 * given seed and options.
 */
export function generateInputs(inputs: readonly TensorInfo[], options: GenerateInputsOptions = {}): Feeds[] {
  const opts = parseOptions(GenerateInputsOptionsSchema, options, 'input generator options');
  const known = new Set(inputs.map((i) => i.name));
  for (const key of [...Object.keys(opts.valueRanges), ...Object.keys(opts.shapes)]) {
    if (key !== '' && !known.has(key)) {
      throw new InvalidArgumentError(
        `input ${JSON.stringify(key)} (given a value range or shape) is not an input of the model; its inputs are ${[...known].map((k) => JSON.stringify(k)).join(', ')}`,
      );
    }
  }
  const dimsByInput = new Map(inputs.map((i) => [i.name, resolveDims(i, opts)]));
  checkSharedSymbols(inputs, dimsByInput);
  const out: Feeds[] = [];
  for (let it = 0; it < opts.iterations; it++) {
    out.push(generateOne(inputs, dimsByInput, opts, opts.seed + it));
  }
  return out;
}

function checkSharedSymbols(inputs: readonly TensorInfo[], dimsByInput: Map<string, number[]>): void {
  const seen = new Map<string, { size: number; from: string }>();
  for (const info of inputs) {
    info.dims.forEach((d, axis) => {
      if (typeof d !== 'string' || d === '') return;
      const size = dimsByInput.get(info.name)![axis]!;
      const prev = seen.get(d);
      if (prev === undefined) seen.set(d, { size, from: info.name });
      else if (prev.size !== size) {
        throw new InvalidArgumentError(
          `inputs ${JSON.stringify(prev.from)} and ${JSON.stringify(info.name)} share dim ${JSON.stringify(d)} but were given sizes ${prev.size} and ${size}`,
        );
      }
    });
  }
}

function generateOne(inputs: readonly TensorInfo[], dimsByInput: Map<string, number[]>, opts: Normalised, seed: number): Feeds {
  const rng = new Random(seed);
  const feeds: Record<string, Tensor> = {};
  // The padding pattern is drawn once per iteration and shared by every input of the same
  // [batch, seq] shape, so ids, type ids and the mask agree on which positions are padding.
  const lengthsByShape = new Map<string, number[]>();
  const lengthsFor = (dims: number[]): number[] | undefined => {
    if (dims.length !== 2) return undefined;
    const key = `${dims[0]}x${dims[1]}`;
    let lengths = lengthsByShape.get(key);
    if (lengths === undefined) {
      lengths = rowLengths(rng, dims[0]!, dims[1]!, opts.maskPattern);
      lengthsByShape.set(key, lengths);
    }
    return lengths;
  };
  const hasMask = inputs.some((i) => roleOf(i) === 'mask' && opts.valueRanges[i.name] === undefined);
  // Masks first, so their lengths are drawn before any other value in this iteration.
  const order = [...inputs].sort((x, y) => Number(roleOf(y) === 'mask') - Number(roleOf(x) === 'mask'));
  for (const info of order) {
    const dims = dimsByInput.get(info.name)!;
    const n = dims.reduce((p, d) => p * d, 1);
    const values = new Float64Array(n);
    const role = roleOf(info);
    const explicit = opts.valueRanges[info.name];
    const isInt = isInteger(info.dtype) || info.dtype === 'bool';
    if (explicit === undefined && role === 'mask') {
      fillMask(values, dims, lengthsFor(dims)!, opts.maskPattern);
    } else if (explicit === undefined && role === 'position_ids') {
      for (let i = 0; i < n; i++) values[i] = i % dims[1]!;
    } else {
      const [lo, hi] = explicit ?? opts.valueRanges[''] ?? defaultRange(info, role);
      if (isInt) {
        const ilo = Math.ceil(lo);
        const ihi = Math.floor(hi);
        if (ilo > ihi) {
          throw new InvalidArgumentError(`value range [${lo}, ${hi}] for ${info.dtype} input ${JSON.stringify(info.name)} holds no integer`);
        }
        const { min, max } = DATA_TYPES[info.dtype];
        if (ilo < min || ihi > max) {
          // Typed arrays would wrap the values around silently.
          throw new InvalidArgumentError(
            `value range [${lo}, ${hi}] for ${info.dtype} input ${JSON.stringify(info.name)} goes beyond what ${info.dtype} holds (${min}..${max})`,
          );
        }
        for (let i = 0; i < n; i++) values[i] = rng.nextInt(ilo, ihi + 1);
      } else {
        for (let i = 0; i < n; i++) values[i] = lo + rng.nextFloat() * (hi - lo);
      }
      if (hasMask && (role === 'token_ids' || role === 'type_ids') && dims.length === 2) {
        const pad = role === 'token_ids' ? opts.padTokenId : 0;
        padPositions(values, dims, lengthsFor(dims)!, opts.maskPattern, pad);
      }
    }
    feeds[info.name] = tensorFrom(info.dtype, values, dims);
  }
  // Keep the session's input order.
  return Object.fromEntries(inputs.map((i) => [i.name, feeds[i.name]!]));
}

function fillMask(values: Float64Array, dims: number[], lengths: number[], pattern: MaskPattern): void {
  const [batch, seq] = dims as [number, number];
  for (let r = 0; r < batch; r++) {
    const len = lengths[r]!;
    for (let c = 0; c < seq; c++) {
      const inside = pattern === 'left' ? c >= seq - len : c < len;
      values[r * seq + c] = inside ? 1 : 0;
    }
  }
}

function padPositions(values: Float64Array, dims: number[], lengths: number[], pattern: MaskPattern, pad: number): void {
  const [batch, seq] = dims as [number, number];
  for (let r = 0; r < batch; r++) {
    const len = lengths[r]!;
    for (let c = 0; c < seq; c++) {
      const inside = pattern === 'left' ? c >= seq - len : c < len;
      if (!inside) values[r * seq + c] = pad;
    }
  }
}
