/**
 * Optimization-profile ranges for a decoder that generates text, in one place: buildEngine(),
 * `tensorrt-node build` and createSession() all take a decoder's ranges from here, so an
 * engine built by any of them has the profile the Generator needs (past length from 0, the
 * prefill's empty past, up to the longest sequence).
 *
 * The limits use TensorRT-LLM's vocabulary (trtllm-build's --max_batch_size, --max_seq_len,
 * --max_input_len): maxBatchSize rows per run, maxSeqLen positions per sequence in all
 * (prompt + generated: the attention mask's length), maxInputLen new positions per run (the
 * longest prompt one prefill takes). TensorRT-LLM's max_num_tokens (tokens per step after
 * padding is removed) has no counterpart in a padded [batch, sequence] engine: the Generator's
 * maxBatchTokens is that budget at run time.
 */
import { InvalidArgumentError, describe } from '../errors.js';
import { decoderDimRoles, type DecoderDimRole } from '../generation/decoder-io.js';
import type { Dim } from '../session.js';
import { defaultDimRanges } from './profiles.js';
import { GenerationBuildOptionsSchema, type DimRange, type DimRangeInput, type GenerationBuildOptions } from './options.js';

export { GenerationBuildOptionsSchema, type GenerationBuildOptions };

/** Defaults: the Generator's default maxBatchSize, and sequences of up to 2048 positions. */
export const GENERATION_DEFAULTS = { maxBatchSize: 32, maxSeqLen: 2048, maxInputLen: 512 } as const;

/** The limits with defaults applied and checked against each other. */
export interface GenerationLimits {
  readonly maxBatchSize: number;
  readonly maxSeqLen: number;
  readonly maxInputLen: number;
}

const positiveInt = (v: unknown, what: string, min: number): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new InvalidArgumentError(`${what} must be an integer >= ${min}, got ${describe(v)}`);
  }
  return v;
};

/** Applies the defaults and checks the limits (ERR_INVALID_ARG naming the option). */
export function generationLimits(o: GenerationBuildOptions = {}, where = 'generation'): GenerationLimits {
  const maxBatchSize = o.maxBatchSize === undefined ? GENERATION_DEFAULTS.maxBatchSize : positiveInt(o.maxBatchSize, `${where}.maxBatchSize`, 1);
  const maxSeqLen = o.maxSeqLen === undefined ? GENERATION_DEFAULTS.maxSeqLen : positiveInt(o.maxSeqLen, `${where}.maxSeqLen`, 2);
  const maxInputLen =
    o.maxInputLen === undefined ? Math.min(GENERATION_DEFAULTS.maxInputLen, maxSeqLen) : positiveInt(o.maxInputLen, `${where}.maxInputLen`, 1);
  if (maxInputLen > maxSeqLen) {
    throw new InvalidArgumentError(
      `${where}.maxInputLen ${maxInputLen} is more than ${where}.maxSeqLen ${maxSeqLen}: a prompt is part of the sequence (maxSeqLen counts prompt + generated positions)`,
    );
  }
  return { maxBatchSize, maxSeqLen, maxInputLen };
}

/**
 * The range of each decoder role for `limits`: batch 1..maxBatchSize (opt at the max, as for
 * any batch), sequence 1..maxInputLen (opt 1: decode steps are most runs), past
 * 0..maxSeqLen - 1 (0 is the prefill: an empty past tensor), total 1..maxSeqLen.
 */
export function generationRoleRanges(limits: GenerationLimits): Record<DecoderDimRole, DimRange> {
  const { maxBatchSize: batch, maxSeqLen: total, maxInputLen: seq } = limits;
  return {
    batch: { min: 1, opt: batch, max: batch },
    sequence: { min: 1, opt: 1, max: seq },
    past: { min: 0, opt: Math.min(total - 1, 512), max: total - 1 },
    total: { min: 1, opt: Math.min(total, 513), max: total },
  };
}

type ModelInputs = readonly { readonly name: string; readonly dims: readonly Dim[] | null }[];

const withDims = (inputs: ModelInputs) => inputs.map((i) => ({ name: i.name, dims: i.dims ?? [] }));

/**
 * The ranges generation needs for every dynamic dim of a decoder's inputs (in Optimum's
 * convention: input_ids, attention_mask, past_key_values.{i}.key/.value), keyed as
 * buildEngine's `dims` takes them; undefined when the inputs are not such a decoder.
 */
export function generationDimRanges(inputs: ModelInputs, options: GenerationBuildOptions = {}, where = 'generation'): Record<string, DimRange> | undefined {
  const roles = decoderDimRoles(withDims(inputs));
  if (roles === undefined) return undefined;
  const range = generationRoleRanges(generationLimits(options, where));
  return Object.fromEntries(Object.entries(roles).map(([key, role]) => [key, { ...range[role] }]));
}

/**
 * The `dims` a build uses for the model's inputs: the caller's `dims`, over the generation
 * ranges when the model is a decoder, over `fallback` (a leading dim and any other) when
 * given. One function for buildEngine(), the CLI and createSession(). `generation` given for
 * a model that is not a decoder is refused (ERR_INVALID_ARG), since it would be ignored.
 */
export function engineDimRanges(
  inputs: ModelInputs,
  options: { readonly dims?: Readonly<Record<string, DimRangeInput>> | undefined; readonly generation?: GenerationBuildOptions | undefined },
  fallback?: { readonly batch: DimRange; readonly seq: DimRange },
  where = 'options',
): Record<string, DimRangeInput> {
  const generated = generationDimRanges(inputs, options.generation ?? {}, `${where}.generation`);
  if (generated === undefined && options.generation !== undefined) {
    const names = inputs.map((i) => JSON.stringify(i.name)).join(', ') || '(none)';
    throw new InvalidArgumentError(
      `${where}.generation sets a decoder's profile (past and total sequence lengths), but the model is not a decoder with a KV cache ` +
        `in Hugging Face Optimum's convention (input_ids, attention_mask, past_key_values.{i}.key/.value); its inputs are ${names}. ` +
        `Give its ranges with ${where}.dims instead`,
    );
  }
  const base = fallback === undefined ? {} : defaultDimRanges(withDims(inputs), { ...fallback, ...(generated ? { named: generated } : {}) });
  return { ...base, ...(generated ?? {}), ...(options.dims ?? {}) };
}
