/**
 * buildEngine() options: the zod schema at the public edge, the flat form the addon gets, and
 * the normalised form that goes into cache keys and sidecars (callbacks, signals, paths and
 * log levels removed; ranges in one shape; keys sorted), so two spellings of the same build
 * share one cache entry.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InvalidArgumentError, describe } from '../errors.js';

const DimSize = z.number().int().min(0);

/**
 * A range for a dynamic dim: a fixed size, `[min, max]`, or `{ min, opt?, max }`. When `opt`
 * is missing it is `max`: TensorRT tunes kernels for `opt`, and servers that batch spend most
 * of their time at the large end.
 */
export const DimRangeSchema = z.union([
  DimSize,
  z.tuple([DimSize, DimSize]),
  z.object({ min: DimSize, opt: DimSize.optional(), max: DimSize }).strict(),
]);
export type DimRangeInput = z.input<typeof DimRangeSchema>;

export interface DimRange {
  readonly min: number;
  readonly opt: number;
  readonly max: number;
}

export const ShapeRangeSchema = z
  .object({ min: z.array(DimSize), opt: z.array(DimSize), max: z.array(DimSize) })
  .strict();
export type ShapeRange = z.infer<typeof ShapeRangeSchema>;

/**
 * One optimization profile: explicit per-input shapes (trtexec's --minShapes/--optShapes/
 * --maxShapes), ranges per symbolic dim name, or both (explicit shapes win). Dims with no
 * symbolic name can be given as "input:axis" keys in `dims`.
 */
export const ProfileSchema = z
  .object({
    shapes: z.record(z.string(), ShapeRangeSchema).optional(),
    dims: z.record(z.string(), DimRangeSchema).optional(),
  })
  .strict();
export type ProfileInput = z.input<typeof ProfileSchema>;

/**
 * A decoder's generation limits (TensorRT-LLM's trtllm-build vocabulary), which shape its
 * profile's batch, sequence, past and total ranges: see generation.ts.
 */
export const GenerationBuildOptionsSchema = z
  .object({
    /** Rows per run: the most sequences a step holds (trtllm-build --max_batch_size; default 32). */
    maxBatchSize: z.number().int().min(1).max(65536).optional(),
    /** Positions a sequence holds in all, prompt + generated (--max_seq_len; default 2048). */
    maxSeqLen: z.number().int().min(2).max(2 ** 30).optional(),
    /** New positions one run takes: the longest prompt (--max_input_len; default min(512, maxSeqLen)). */
    maxInputLen: z.number().int().min(1).max(2 ** 30).optional(),
  })
  .strict();
export type GenerationBuildOptions = z.input<typeof GenerationBuildOptionsSchema>;

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `expected ${what}` });

export const BuildOptionsSchema = z
  .object({
    /** 'fp16' converts the model to mixed precision first (or, on 10.x, sets kFP16). */
    precision: z.enum(['fp32', 'fp16']).default('fp32'),
    /**
     * 'convert' (default): convertToFloat16 then a strongly typed build, on any TensorRT.
     * 'builder-flag': TensorRT 10.x's BuilderFlag::kFP16 on a weakly typed network (removed in 11).
     */
    fp16Mode: z.enum(['convert', 'builder-flag']).default('convert'),
    /** Options for convertToFloat16 (precision 'fp16', fp16Mode 'convert'). */
    fp16: z.record(z.string(), z.unknown()).optional(),
    /** Ranges of symbolic dims for the default profile, e.g. { batch: [1, 64], seq: [1, 512] }. */
    dims: z.record(z.string(), DimRangeSchema).default({}),
    /**
     * A decoder (Optimum's convention) gets the ranges generation needs for the dims `dims`
     * leaves out: past 0..maxSeqLen - 1, total 1..maxSeqLen, sequence 1..maxInputLen, batch
     * 1..maxBatchSize (defaults 2048, 512, 32). Refused for a model that is not a decoder.
     */
    generation: GenerationBuildOptionsSchema.optional(),
    /** Optimization profiles; one derived from `dims` when omitted. */
    profiles: z.array(ProfileSchema).min(1).max(64).optional(),
    /** Limit of the workspace memory pool, bytes (TensorRT's default: the device's memory). */
    workspaceBytes: z.number().int().positive().optional(),
    /** Builder optimization level 0-5 (TensorRT's default 3; higher builds longer, may run faster). */
    optimizationLevel: z.number().int().min(0).max(5).default(3),
    /** A timing-cache file: read when it exists, written after the build. */
    timingCache: z.string().min(1).optional(),
    hardwareCompatibility: z.enum(['none', 'ampere-plus', 'same-compute-capability']).default('none'),
    /** A plan that later TensorRT versions can run (embeds the lean runtime). */
    versionCompatible: z.boolean().default(false),
    /** With versionCompatible: leave the lean runtime out of the plan. */
    excludeLeanRuntime: z.boolean().default(false),
    /** A refittable engine. */
    refit: z.boolean().default(false),
    /** Allow TF32 for float32 math (TensorRT's default). */
    tf32: z.boolean().default(true),
    /** Auxiliary streams TensorRT may use inside one inference; TensorRT decides when omitted. */
    maxAuxStreams: z.number().int().min(0).max(64).optional(),
    /** CUDA device to build on. */
    device: z.number().int().min(0).max(65535).default(0),
    /** Engine cache: a folder, true for the default folder, false (default) for none. */
    cache: z.union([z.string().min(1), z.boolean()]).default(false),
    /** Where external weights live when `model` is given as bytes (the model file's path). */
    modelPath: z.string().min(1).optional(),
    /** TensorRT log lines of this severity and worse go to onLog. */
    logLevel: z.enum(['error', 'warning', 'info', 'verbose']).default('warning'),
    onProgress: fn<(event: BuildProgressEvent) => void>('a function (event) => void').optional(),
    onLog: fn<(severity: string, message: string) => void>('a function (severity, message) => void').optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

export type BuildOptions = z.input<typeof BuildOptionsSchema>;
export type ParsedBuildOptions = z.output<typeof BuildOptionsSchema>;

/** A build progress event (TensorRT's IProgressMonitor, with the nesting depth of the phase). */
export type BuildProgressEvent =
  | { kind: 'phaseStart'; phase: string; parent: string | null; steps: number; depth: number }
  | { kind: 'step'; phase: string; step: number; steps: number; depth: number }
  | { kind: 'phaseFinish'; phase: string; steps: number; depth: number };

export function dimRange(r: DimRangeInput): DimRange {
  if (typeof r === 'number') return { min: r, opt: r, max: r };
  if (Array.isArray(r)) return { min: r[0], opt: r[1], max: r[1] };
  const o = r as { min: number; opt?: number; max: number };
  return { min: o.min, opt: o.opt ?? o.max, max: o.max };
}

export const HARDWARE_COMPATIBILITY = { none: 0, 'ampere-plus': 1, 'same-compute-capability': 2 } as const;

/** JSON with object keys sorted at every level, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  // A RegExp (e.g. convertToFloat16's blockNodes) would serialise as {}: keep its source.
  if (value instanceof RegExp) return value.toString();
  // Tensors (convertToFloat16's calibration data) enter the key by content, not element by element.
  if (ArrayBuffer.isView(value)) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return `${value.constructor.name}:sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  }
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    throw new InvalidArgumentError(`build options must be plain values to be part of a cache key, got ${describe(value)}`);
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export interface NormalisedBuildOptions {
  precision: 'fp32' | 'fp16';
  fp16Mode: 'convert' | 'builder-flag';
  fp16: Record<string, unknown> | null;
  dims: Record<string, DimRange>;
  profiles: { shapes: Record<string, ShapeRange>; dims: Record<string, DimRange> }[] | null;
  workspaceBytes: number | null;
  optimizationLevel: number;
  hardwareCompatibility: ParsedBuildOptions['hardwareCompatibility'];
  versionCompatible: boolean;
  excludeLeanRuntime: boolean;
  refit: boolean;
  tf32: boolean;
  maxAuxStreams: number | null;
}

/**
 * What determines the engine, in one spelling. Left out: the device index (the GPU's compute
 * capability goes into the cache key instead), callbacks, the signal, the cache and timing
 * cache locations, the model path and the log level.
 */
export function normaliseForKey(o: ParsedBuildOptions): NormalisedBuildOptions {
  const ranges = (d: Record<string, DimRangeInput> | undefined): Record<string, DimRange> =>
    Object.fromEntries(Object.entries(d ?? {}).map(([k, v]) => [k, dimRange(v)]));
  const fp16 = o.precision === 'fp16';
  return {
    precision: o.precision,
    fp16Mode: fp16 ? o.fp16Mode : 'convert',
    fp16: fp16 && o.fp16Mode === 'convert' && o.fp16 !== undefined ? (JSON.parse(canonicalJson(o.fp16)) as Record<string, unknown>) : null,
    dims: ranges(o.dims),
    profiles: o.profiles === undefined ? null : o.profiles.map((p) => ({ shapes: p.shapes ?? {}, dims: ranges(p.dims) })),
    workspaceBytes: o.workspaceBytes ?? null,
    optimizationLevel: o.optimizationLevel,
    hardwareCompatibility: o.hardwareCompatibility,
    versionCompatible: o.versionCompatible,
    excludeLeanRuntime: o.versionCompatible && o.excludeLeanRuntime,
    refit: o.refit,
    tf32: o.tf32,
    maxAuxStreams: o.maxAuxStreams ?? null,
  };
}
