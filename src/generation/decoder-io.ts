/**
 * Finds what the Generator needs in a decoder session's inputs and outputs, with no
 * configuration: Hugging Face Optimum's decoder-with-past convention (input_ids,
 * attention_mask over past + current tokens, optional position_ids and use_cache_branch,
 * past_key_values.{i}.key/.value in, logits and present.{i}.key/.value out).
 *
 * Tolerated variants, as exporters emit them: any dim names (or -1) for the batch, sequence
 * and past axes; the KV time axis found by name (past/sequence/length) and else at axis 2 of
 * [batch, heads, time, head_dim]; key and value of different shapes (per tensor); `past.{i}`
 * and `present_key_values.{i}` spellings; int32 ids and masks (TensorRT engines); float16 or
 * bfloat16 KV and logits; logits of the last position only ([batch, vocab]).
 */
import { OnnxError } from '../errors.js';
import { formatDims } from '../tensor.js';
import type { DataType } from '../tensor.js';
import type { Dim, InferenceSession, TensorInfo } from '../session.js';

export type IndexDtype = 'int64' | 'int32';

/** One KV tensor (a layer's key or value): its past input and present output. */
export interface KvSlot {
  readonly layer: number;
  readonly kind: 'key' | 'value';
  readonly past: string;
  readonly present: string;
  readonly dtype: DataType;
  /** The past input's dims as the model declares them. */
  readonly dims: readonly Dim[];
  readonly timeAxis: number;
  /** Product of the fixed dims between the batch axis and the time axis (e.g. heads). */
  readonly outer: number;
  /** Product of the fixed dims after the time axis (e.g. head_dim). */
  readonly inner: number;
}

export interface DecoderIO {
  readonly inputIds: { readonly name: string; readonly dtype: IndexDtype };
  readonly attentionMask: { readonly name: string; readonly dtype: IndexDtype };
  readonly positionIds: { readonly name: string; readonly dtype: IndexDtype } | undefined;
  readonly useCacheBranch: { readonly name: string; readonly dims: readonly number[] } | undefined;
  readonly layers: number;
  /** key 0, value 0, key 1, value 1, ... */
  readonly kv: readonly KvSlot[];
  readonly logits: { readonly name: string; readonly dtype: 'float32' | 'float16' | 'bfloat16'; readonly lastOnly: boolean };
  /** The vocabulary size when the logits' last dim is fixed. */
  readonly vocabSize: number | undefined;
  /** Bytes one token of every layer's key and value takes. */
  readonly kvBytesPerToken: number;
  /** The longest total sequence (past + current) the session accepts, when it says (TensorRT profiles). */
  readonly maxTotalLength: number | undefined;
  /** The most rows the session accepts in a run, when it says (TensorRT profiles). */
  readonly maxBatch: number | undefined;
  /** The most new positions one run takes (the longest prompt), when it says (TensorRT profiles). */
  readonly maxSequenceLength: number | undefined;
  /**
   * The most positions a sequence can hold (prompt + generated), when the session reports a
   * limit on input_ids, position_ids or attention_mask axis 1 (`TensorInfo.limits`: the
   * model's position table); the smallest of them, with its reason.
   */
  readonly positionLimit: PositionLimit | undefined;
}

/**
 * The most positions a sequence can hold, and what says so: a limit on axis 1 of input_ids,
 * position_ids or attention_mask (`TensorInfo.limits`), or position_ids' value range (a table
 * of N rows indexed by position_ids takes positions 0..N - 1: N positions).
 */
export interface PositionLimit {
  readonly max: number;
  readonly input: string;
  readonly reason: string;
  /** 'length': axis 1 of `input` at most `max`; 'values': `input`'s values at most `max - 1`. */
  readonly kind: 'length' | 'values';
}

const PAST = /^(?:past_key_values|past)\.(\d+)\.(key|value)$/;
const PRESENT = /^(?:present|present_key_values)\.(\d+)\.(key|value)$/;
const TIME_NAME = /past|seq|len|total|time|kv/i;
const BYTES: Partial<Record<DataType, number>> = { float32: 4, float16: 2, bfloat16: 2 };

const list = (infos: readonly TensorInfo[]): string => infos.map((i) => JSON.stringify(i.name)).join(', ') || '(none)';
const show = (i: TensorInfo): string => `${JSON.stringify(i.name)} ${i.dtype} ${formatDims(i.dims)}`;

function notDecoder(session: InferenceSession, missing: string[], hint = ''): never {
  throw new OnnxError(
    `the session is not a decoder with a KV cache in Hugging Face Optimum's convention: ${missing.join('; ')}. ` +
      `Its inputs are ${list(session.inputs)}; its outputs are ${list(session.outputs)}.${hint}`,
    { reason: 'not-a-decoder', missing },
  );
}

function indexInput(info: TensorInfo, what: string): { name: string; dtype: IndexDtype } {
  if (info.dtype !== 'int64' && info.dtype !== 'int32') {
    throw new OnnxError(`decoder input ${show(info)}: ${what} must be int64 or int32, got ${info.dtype}`);
  }
  if (info.dims.length !== 2) {
    throw new OnnxError(`decoder input ${show(info)}: ${what} must have rank 2 [batch, length], got rank ${info.dims.length}`);
  }
  return { name: info.name, dtype: info.dtype };
}

function timeAxisOf(dims: readonly Dim[]): number {
  const symbolic: number[] = [];
  for (let a = 1; a < dims.length; a++) {
    const d = dims[a]!;
    if (typeof d === 'string' || d < 0) symbolic.push(a);
  }
  const named = symbolic.filter((a) => typeof dims[a] === 'string' && TIME_NAME.test(dims[a] as string));
  if (named.length === 1) return named[0]!;
  if (symbolic.length === 1) return symbolic[0]!;
  return dims.length === 4 ? 2 : -1;
}

function positionLimitOf(infos: readonly (TensorInfo | undefined)[], positionIds: TensorInfo | undefined): PositionLimit | undefined {
  let best: PositionLimit | undefined;
  for (const info of infos) {
    for (const l of info?.limits ?? []) {
      if (l.axis !== 1 || l.max === undefined || !(l.max >= 1)) continue;
      if (best === undefined || l.max < best.max) best = { max: l.max, input: info!.name, reason: l.reason, kind: 'length' };
    }
  }
  // Positions are fed from 0 (the Generator counts a row's real tokens): values up to N - 1 are N positions.
  const range = positionIds?.valueRange;
  if (range !== undefined && Number.isFinite(range.max) && range.max >= 0) {
    const max = Math.floor(range.max) + 1;
    if (best === undefined || max < best.max) best = { max, input: positionIds!.name, reason: range.reason, kind: 'values' };
  }
  return best && Object.freeze(best);
}

function maxOfProfiles(info: TensorInfo | undefined, axis: number): number | undefined {
  const profiles = info?.profiles;
  if (!profiles || profiles.length === 0) return undefined;
  let max = 0;
  for (const p of profiles) max = Math.max(max, p.max[axis] ?? 0);
  return max > 0 ? max : undefined;
}

/** Reads the decoder's I/O from `session`; throws OnnxError naming what is missing or unusable. */
export function detectDecoder(session: InferenceSession): DecoderIO {
  const inputs = new Map(session.inputs.map((i) => [i.name, i]));
  const outputs = new Map(session.outputs.map((o) => [o.name, o]));
  const missing: string[] = [];
  if (!inputs.has('input_ids')) missing.push('no input "input_ids"');
  if (!inputs.has('attention_mask')) missing.push('no input "attention_mask" (covering past and current tokens)');
  if (!outputs.has('logits')) missing.push('no output "logits"');

  const past = new Map<number, { key?: TensorInfo; value?: TensorInfo }>();
  const present = new Map<number, { key?: TensorInfo; value?: TensorInfo }>();
  const unknown: TensorInfo[] = [];
  for (const info of session.inputs) {
    const m = PAST.exec(info.name);
    if (m) {
      const e = past.get(Number(m[1])) ?? {};
      e[m[2] as 'key' | 'value'] = info;
      past.set(Number(m[1]), e);
    } else if (!['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch'].includes(info.name)) {
      unknown.push(info);
    }
  }
  for (const info of session.outputs) {
    const m = PRESENT.exec(info.name);
    if (m) {
      const e = present.get(Number(m[1])) ?? {};
      e[m[2] as 'key' | 'value'] = info;
      present.set(Number(m[1]), e);
    }
  }
  if (past.size === 0) {
    missing.push('no past_key_values.{i}.key / .value inputs');
    if (present.size === 0) missing.push('no present.{i}.key / .value outputs');
    notDecoder(
      session,
      missing,
      inputs.has('input_ids') && outputs.has('logits')
        ? ' A decoder exported without its cache (Optimum\'s decoder_model.onnx) cannot be used: export with the task "text-generation-with-past".'
        : '',
    );
  }
  const layers = Math.max(...past.keys()) + 1;
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value'] as const) {
      if (!past.get(l)?.[kind]) missing.push(`no input "past_key_values.${l}.${kind}"`);
      if (!present.get(l)?.[kind]) missing.push(`no output "present.${l}.${kind}"`);
    }
  }
  if (missing.length > 0) notDecoder(session, missing);
  if (unknown.length > 0) {
    throw new OnnxError(
      `the decoder has input(s) the Generator does not know how to feed: ${unknown.map(show).join(', ')}. ` +
        'It feeds input_ids, attention_mask, position_ids, past_key_values.{i}.key/.value and use_cache_branch.',
      { reason: 'unknown-inputs' },
    );
  }

  const inputIds = indexInput(inputs.get('input_ids')!, 'input_ids');
  const attentionMask = indexInput(inputs.get('attention_mask')!, 'attention_mask');
  const positionInfo = inputs.get('position_ids');
  const positionIds = positionInfo ? indexInput(positionInfo, 'position_ids') : undefined;
  const cacheInfo = inputs.get('use_cache_branch');
  let useCacheBranch: DecoderIO['useCacheBranch'];
  if (cacheInfo) {
    if (
      cacheInfo.dtype !== 'bool' ||
      cacheInfo.dims.length > 1 ||
      (cacheInfo.dims.length === 1 && cacheInfo.dims[0] !== 1 && cacheInfo.dims[0] !== -1 && typeof cacheInfo.dims[0] !== 'string')
    ) {
      throw new OnnxError(`decoder input ${show(cacheInfo)}: use_cache_branch must be a bool of dims [1] or []`);
    }
    useCacheBranch = { name: cacheInfo.name, dims: cacheInfo.dims.length === 0 ? [] : [1] };
  }

  const kv: KvSlot[] = [];
  let bytes = 0;
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value'] as const) {
      const p = past.get(l)![kind]!;
      const out = present.get(l)![kind]!;
      const size = BYTES[p.dtype];
      if (size === undefined) {
        throw new OnnxError(`decoder input ${show(p)}: the KV cache must be float32, float16 or bfloat16, got ${p.dtype}`);
      }
      if (out.dtype !== p.dtype) {
        throw new OnnxError(`decoder output ${show(out)} must have the element type of its past input ${show(p)}`);
      }
      if (p.dims.length < 3) {
        throw new OnnxError(`decoder input ${show(p)}: a KV tensor needs rank >= 3 ([batch, ..., time, ...]), got rank ${p.dims.length}`);
      }
      if (out.dims.length !== p.dims.length) {
        throw new OnnxError(`decoder output ${show(out)} must have the rank of its past input ${show(p)}`);
      }
      const timeAxis = timeAxisOf(p.dims);
      if (timeAxis < 1) {
        throw new OnnxError(
          `decoder input ${show(p)}: cannot tell its time (past sequence) axis; name it (e.g. "past_sequence_length") or use [batch, heads, time, head_dim]`,
        );
      }
      let outer = 1;
      let inner = 1;
      for (let a = 1; a < p.dims.length; a++) {
        if (a === timeAxis) continue;
        const d = p.dims[a]!;
        if (typeof d !== 'number' || d < 1) {
          throw new OnnxError(
            `decoder input ${show(p)}: dim ${a} is ${typeof d === 'string' ? JSON.stringify(d) : d}; the Generator needs the KV dims other than batch and time ` +
              '(head count, head size) as fixed numbers, as Optimum exports them',
          );
        }
        if (a < timeAxis) outer *= d;
        else inner *= d;
      }
      bytes += outer * inner * size;
      kv.push(Object.freeze({ layer: l, kind, past: p.name, present: out.name, dtype: p.dtype, dims: p.dims, timeAxis, outer, inner }));
    }
  }

  const logitsInfo = outputs.get('logits')!;
  if (logitsInfo.dtype !== 'float32' && logitsInfo.dtype !== 'float16' && logitsInfo.dtype !== 'bfloat16') {
    throw new OnnxError(`decoder output ${show(logitsInfo)}: logits must be float32, float16 or bfloat16, got ${logitsInfo.dtype}`);
  }
  if (logitsInfo.dims.length !== 3 && logitsInfo.dims.length !== 2) {
    throw new OnnxError(
      `decoder output ${show(logitsInfo)}: logits must be [batch, sequence, vocab] (or [batch, vocab] for the last position), got rank ${logitsInfo.dims.length}`,
    );
  }
  const vocabDim = logitsInfo.dims[logitsInfo.dims.length - 1]!;
  const maskInfo = inputs.get('attention_mask')!;
  return Object.freeze({
    inputIds,
    attentionMask,
    positionIds,
    useCacheBranch,
    layers,
    kv: Object.freeze(kv),
    logits: Object.freeze({ name: logitsInfo.name, dtype: logitsInfo.dtype, lastOnly: logitsInfo.dims.length === 2 }),
    vocabSize: typeof vocabDim === 'number' && vocabDim > 0 ? vocabDim : undefined,
    kvBytesPerToken: bytes,
    maxTotalLength: maxOfProfiles(maskInfo, 1),
    maxBatch: maxOfProfiles(inputs.get('input_ids'), 0),
    maxSequenceLength: maxOfProfiles(inputs.get('input_ids'), 1),
    positionLimit: positionLimitOf([inputs.get('input_ids'), positionInfo, maskInfo], positionInfo),
  });
}

/** What a decoder's dynamic dim means, for the engine's optimization profile. */
export type DecoderDimRole = 'batch' | 'sequence' | 'past' | 'total';

/**
 * The roles of the dynamic dims of a model's inputs when they are a decoder in Optimum's
 * convention (the names detectDecoder reads), keyed as buildEngine's `dims` takes them (the
 * symbolic name, else "input:axis"); undefined when the inputs are not such a decoder (no
 * input_ids, attention_mask and past_key_values.{i}.key/.value). A key used in two roles
 * (a model naming the past and total axes alike) is reported as the wider one.
 */
export function decoderDimRoles(inputs: readonly { readonly name: string; readonly dims: readonly Dim[] }[]): Record<string, DecoderDimRole> | undefined {
  const names = new Set(inputs.map((i) => i.name));
  if (!names.has('input_ids') || !names.has('attention_mask') || !inputs.some((i) => PAST.test(i.name))) return undefined;
  const rank: Record<DecoderDimRole, number> = { batch: 0, sequence: 1, past: 2, total: 3 };
  const roles: Record<string, DecoderDimRole> = {};
  const put = (input: string, dims: readonly Dim[], axis: number, role: DecoderDimRole): void => {
    const d = dims[axis];
    if (d === undefined || (typeof d === 'number' && d >= 0)) return;
    const key = typeof d === 'string' && d !== '' ? d : `${input}:${axis}`;
    const had = roles[key];
    if (had === undefined || rank[role] > rank[had]) roles[key] = role;
  };
  for (const i of inputs) {
    if (i.name === 'input_ids' || i.name === 'position_ids' || i.name === 'attention_mask') {
      put(i.name, i.dims, 0, 'batch');
      put(i.name, i.dims, 1, i.name === 'attention_mask' ? 'total' : 'sequence');
    } else if (PAST.test(i.name)) {
      put(i.name, i.dims, 0, 'batch');
      const t = timeAxisOf(i.dims);
      if (t >= 1) put(i.name, i.dims, t, 'past');
    }
  }
  return roles;
}
