/**
 * compare(): runs two sessions (any backends) on the same inputs, or one session against
 * reference outputs, and judges every output with Polygraphy's rules (see metrics.ts).
 *
 * Outputs are matched by name, walking A's outputs in order (as Polygraphy walks the first
 * runner's); outputs only one side has are listed in `skipped`. Outputs whose shapes differ,
 * or whose dtypes differ beyond float widths, fail with `error` set (code ERR_SHAPE or
 * ERR_DTYPE) instead of being compared. Float outputs of different widths (float32 against
 * float16) are compared in float64, as Polygraphy casts up. Each iteration is judged on its
 * own, like Polygraphy does; an output passes when every iteration passes, its required
 * tolerances are the largest any iteration needs, and its statistics cover all iterations'
 * elements together.
 */
import { z } from 'zod';
import { InvalidArgumentError, TensorRTNodeError, describe, type ErrorCode } from '../errors.js';
import { parseOptions } from '../options.js';
import { DATA_TYPES, type Tensor, castFloat, formatDims, isFloatType, type DataType } from '../tensor.js';
import type { BackendName, Feeds, FeedsLike, InferenceSession, Outputs, TensorInfo } from '../session.js';
import { feedValidator } from '../backends/feeds.js';
import { absError } from './elementwise.js';
import { analyze, topKAgreement, type Analysis, type Numbers, type OutputMetrics, type OutputTolerance, type TopKAgreement } from './metrics.js';
import { TOLERANCE_OPTION_FIELDS, toleranceFor, unknownToleranceKeys } from './tolerance.js';
import { GenerateInputsOptionsSchema, generateInputs, type GenerateInputsOptions } from './inputs.js';

/** Reference outputs to check one session against, one record per iteration. */
export interface ReferenceOutputs {
  reference: Outputs | readonly Outputs[];
  /** Shown in reports; default "reference". */
  label?: string;
}

const feedsSchema = z.custom<FeedsLike>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'expected an object of Tensors');

export const CompareOptionsSchema = z
  .object({
    ...TOLERANCE_OPTION_FIELDS,
    /** Explicit inputs: one feeds record, or one per iteration (Tensors, or tensors of other libraries). */
    inputs: z.union([feedsSchema, z.array(feedsSchema).min(1)]).optional(),
    /** How to generate inputs when `inputs` is absent. */
    generate: z.custom<GenerateInputsOptions>((v) => v === undefined || (v !== null && typeof v === 'object')).optional(),
    /** Compare only these outputs. */
    outputs: z.array(z.string()).min(1).optional(),
    /** k of the top-k agreement. */
    topK: z.number().int().min(1).max(1000).default(5),
    /**
     * Outputs that hold class scores (last axis = classes) and get top-1/top-k agreement.
     * Default: see isClassScores (names like logits, or a last axis that is a vocabulary or
     * label axis).
     */
    logitsOutputs: z.array(z.string()).optional(),
    /**
     * Sizes of the model's vocabulary or label axes, e.g. the rows of the embedding table its
     * token ids index (the CLI passes that): an output whose last dim has one of these sizes
     * holds class scores.
     */
    classAxisSizes: z.array(z.number().int().min(2)).default([]),
    labels: z.object({ a: z.string().optional(), b: z.string().optional() }).strict().default({}),
    signal: z.custom<AbortSignal>((v) => v === undefined || v instanceof AbortSignal, 'expected an AbortSignal').optional(),
  })
  .strict();

export type CompareOptions = z.input<typeof CompareOptionsSchema>;

export interface SideInfo {
  label: string;
  backend: BackendName | 'reference';
}

export interface IterationVerdict {
  iteration: number;
  passed: boolean;
  requiredAtol: number;
  requiredRtol: number;
  maxAbsError: number;
  maxRelError: number;
  meanAbsError: number;
  mismatchCount: number;
}

export interface OutputReport extends Partial<OutputMetrics> {
  name: string;
  passed: boolean;
  /** Set when the output could not be compared (shape or dtype mismatch). */
  error?: { code: ErrorCode; message: string };
  dtypeA: DataType;
  dtypeB: DataType;
  /** Dims of A's output in the first iteration. */
  dims: number[];
  dimsB: number[];
  tolerance: OutputTolerance;
  requiredAtol?: number;
  requiredRtol?: number;
  /** Elements failing the elemwise rule at the configured atol/rtol, all iterations. */
  mismatchCount?: number;
  /** The element with the largest absolute error. */
  worst?: { iteration: number; index: number[]; a: number; b: number; absError: number };
  topK?: TopKAgreement;
  iterations: IterationVerdict[];
}

export interface CompareResult {
  passed: boolean;
  a: SideInfo;
  b: SideInfo;
  iterations: number;
  outputs: OutputReport[];
  skipped: { name: string; reason: string }[];
  warnings: string[];
  /** The feeds every iteration ran with (A's dtypes). */
  inputs: Feeds[];
}

function isSession(v: unknown): v is InferenceSession {
  return v !== null && typeof v === 'object' && typeof (v as InferenceSession).run === 'function' && Array.isArray((v as InferenceSession).inputs);
}

/** Float widths compare with each other (in float64); other dtypes only with themselves. */
const FLOATS = new Set<DataType>(['float32', 'float16', 'bfloat16', 'float64']);

/** Converts float feeds to B's float width where B's input differs (e.g. a float16 model). */
export function adaptFeeds(feeds: Feeds, bInputs: readonly TensorInfo[]): Feeds {
  const out: Record<string, Tensor> = {};
  for (const info of bInputs) {
    const t = feeds[info.name];
    if (t === undefined) continue;
    out[info.name] = t.type !== info.dtype && isFloatType(t.type) && isFloatType(info.dtype) ? castFloat(t, info.dtype) : t;
  }
  return out;
}

function checkInputsAgree(a: InferenceSession, b: InferenceSession): void {
  const aNames = a.inputs.map((i) => i.name);
  const bNames = b.inputs.map((i) => i.name);
  const missing = aNames.filter((n) => !bNames.includes(n));
  const extra = bNames.filter((n) => !aNames.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new InvalidArgumentError(
      `the two models take different inputs: A has ${aNames.map((n) => JSON.stringify(n)).join(', ') || '(none)'}, ` +
        `B has ${bNames.map((n) => JSON.stringify(n)).join(', ') || '(none)'}`,
    );
  }
  for (const ai of a.inputs) {
    const bi = b.inputs.find((i) => i.name === ai.name)!;
    if (ai.dtype !== bi.dtype && !(FLOATS.has(ai.dtype) && FLOATS.has(bi.dtype))) {
      throw new InvalidArgumentError(`input ${JSON.stringify(ai.name)} is ${ai.dtype} in A but ${bi.dtype} in B`);
    }
  }
}

const CLASS_SCORE_NAMES = /logit|score|prob|class/i;
const CLASS_AXIS_NAMES = /vocab|label|class|categor|num_?tokens/i;

/**
 * Whether an output holds class scores, so top-k agreement means something: a float output of
 * rank >= 2 with at least 2 entries on its last axis, and
 * - a name like logits, scores, probs or class, or
 * - a last dim the model declares with a vocabulary or label name (vocab_size, num_labels,
 *   classes, ...), or
 * - a last dim of one of `classAxisSizes` (e.g. the vocabulary size).
 * Hidden states and pooled embeddings ([batch, hidden]) are none of these: their top-k says nothing.
 */
export function isClassScores(
  name: string,
  dtype: DataType,
  dims: readonly number[],
  declared: readonly (number | string)[] | undefined,
  classAxisSizes: readonly number[],
): boolean {
  if (!FLOATS.has(dtype) || dims.length < 2 || dims[dims.length - 1]! < 2) return false;
  if (CLASS_SCORE_NAMES.test(name)) return true;
  const last = declared?.[declared.length - 1];
  if (typeof last === 'string' && CLASS_AXIS_NAMES.test(last)) return true;
  return classAxisSizes.includes(dims[dims.length - 1]!);
}

function unravel(index: number, dims: readonly number[]): number[] {
  const out = new Array<number>(dims.length).fill(0);
  let rest = index;
  for (let i = dims.length - 1; i >= 0; i--) {
    const d = dims[i]!;
    out[i] = d === 0 ? 0 : rest % d;
    rest = d === 0 ? 0 : Math.floor(rest / d);
  }
  return out;
}

interface Accumulator {
  report: OutputReport;
  a: Numbers[];
  b: Numbers[];
  /** The analysis of the only iteration, reused for the totals. */
  single?: Analysis;
}

/**
 * The elements as numbers, without a copy where the typed array already holds numbers (every
 * type but float16/bfloat16 bits and the 64-bit ints, which are converted to float64).
 */
export function numbersOf(t: Tensor): Numbers {
  if (t.type === 'float16' || t.type === 'bfloat16' || DATA_TYPES[t.type].bigint) return t.toFloat64();
  return t.data as Numbers;
}

function concat(parts: Numbers[]): Numbers {
  if (parts.length === 1) return parts[0]!;
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, off);
    off += p.length;
  }
  return out;
}

/**
 * Compares session `a` with session `b` (or with reference outputs) on the same inputs.
 * Throws (ERR_INVALID_ARG, ERR_SHAPE, ERR_DTYPE) for inputs that do not fit the models,
 * and when no output can be compared; reports everything else in the result.
 */
export async function compare(a: InferenceSession, b: InferenceSession | ReferenceOutputs, options: CompareOptions = {}): Promise<CompareResult> {
  if (!isSession(a)) throw new InvalidArgumentError(`compare(a, b): a must be an InferenceSession, got ${describe(a)}`);
  const opts = parseOptions(CompareOptionsSchema, options, 'compare options');
  const bSession = isSession(b) ? b : undefined;
  let references: readonly Outputs[] | undefined;
  if (bSession === undefined) {
    if (b === null || typeof b !== 'object' || !('reference' in b)) {
      throw new InvalidArgumentError(`compare(a, b): b must be an InferenceSession or { reference: outputs }, got ${describe(b)}`);
    }
    const ref = (b as ReferenceOutputs).reference;
    references = Array.isArray(ref) ? (ref as readonly Outputs[]) : [ref as Outputs];
    if (opts.inputs === undefined) {
      throw new InvalidArgumentError(
        'compare(a, { reference }) needs options.inputs: reference outputs only mean something with the inputs that produced them',
      );
    }
  } else {
    checkInputsAgree(a, bSession);
  }

  let given: FeedsLike[] | undefined;
  let inputs: Feeds[];
  if (opts.inputs !== undefined) {
    given = Array.isArray(opts.inputs) ? [...(opts.inputs as FeedsLike[])] : [opts.inputs as FeedsLike];
    inputs = [];
  } else {
    const gen = parseOptions(GenerateInputsOptionsSchema, opts.generate ?? {}, 'compare options.generate');
    inputs = generateInputs(a.inputs, gen);
  }
  const iterations = given?.length ?? inputs.length;
  if (references !== undefined && references.length !== iterations) {
    throw new InvalidArgumentError(`compare: ${iterations} iteration(s) of inputs but ${references.length} of reference outputs; they must pair up`);
  }
  // Checked once here against A's inputs, and kept as our Tensors (tensors of other libraries wrapped).
  const validator = feedValidator(a.inputs);
  inputs = (given ?? inputs).map((feeds, i) => {
    try {
      return validator.feedsOf(validator.check(feeds));
    } catch (e) {
      if (e instanceof TensorRTNodeError) {
        (e as { message: string }).message = `inputs${iterations > 1 ? ` (iteration ${i})` : ''}: ${e.message}`;
      }
      throw e;
    }
  });

  const aLabel = opts.labels.a ?? `A (${a.backend})`;
  const bInfo: SideInfo = bSession
    ? { label: opts.labels.b ?? `B (${bSession.backend})`, backend: bSession.backend }
    : { label: opts.labels.b ?? (b as ReferenceOutputs).label ?? 'reference', backend: 'reference' };
  const warnings: string[] = [];
  const outputNames = opts.outputs;
  const runOptions = { ...(opts.signal ? { signal: opts.signal } : {}), ...(outputNames ? { outputs: outputNames } : {}) };

  const acc = new Map<string, Accumulator>();
  const skipped = new Map<string, string>();
  for (let it = 0; it < inputs.length; it++) {
    const feeds = inputs[it]!;
    const outA = await a.run(feeds, runOptions);
    let outB: Outputs;
    if (bSession) {
      const bRunOptions = { ...(opts.signal ? { signal: opts.signal } : {}) } as { signal?: AbortSignal; outputs?: string[] };
      if (outputNames) bRunOptions.outputs = outputNames.filter((n) => bSession.outputs.some((o) => o.name === n));
      if (outputNames && bRunOptions.outputs!.length === 0) delete bRunOptions.outputs;
      outB = await bSession.run(adaptFeeds(feeds, bSession.inputs), bRunOptions);
    } else {
      outB = references![it]!;
    }
    for (const name of Object.keys(outB)) {
      if (!(name in outA) && (outputNames === undefined || outputNames.includes(name))) skipped.set(name, `only ${bInfo.label} has it`);
    }
    for (const [name, ta] of Object.entries(outA)) {
      const tb = outB[name];
      if (tb === undefined) {
        skipped.set(name, `only ${aLabel} has it`);
        continue;
      }
      compareOne(acc, name, it, ta, tb, opts, inputs.length);
    }
  }

  const outputs: OutputReport[] = [];
  const declared = new Map(a.outputs.map((o) => [o.name, o.dims]));
  for (const entry of acc.values()) {
    const r = entry.report;
    const classScores = opts.logitsOutputs
      ? opts.logitsOutputs.includes(r.name)
      : isClassScores(r.name, r.dtypeA, r.dims, declared.get(r.name), opts.classAxisSizes);
    outputs.push(finish(entry, classScores ? opts.topK : undefined, opts.infinitiesCompareEqual));
  }
  if (outputs.length === 0) {
    throw new InvalidArgumentError(
      `no output could be compared: ${aLabel} and ${bInfo.label} have no output name in common ` +
        `(${[...skipped].map(([n, why]) => `${JSON.stringify(n)}: ${why}`).join('; ') || 'no outputs'})`,
    );
  }
  for (const key of unknownToleranceKeys(
    opts,
    outputs.map((o) => o.name),
  )) {
    warnings.push(`a per-output setting names ${JSON.stringify(key)}, which is not a compared output`);
  }
  for (const [name, why] of skipped) warnings.push(`output ${JSON.stringify(name)} skipped: ${why}`);
  return {
    passed: outputs.every((o) => o.passed),
    a: { label: aLabel, backend: a.backend },
    b: bInfo,
    iterations: inputs.length,
    outputs,
    skipped: [...skipped].map(([name, reason]) => ({ name, reason })),
    warnings,
    inputs,
  };
}

function compareOne(
  acc: Map<string, Accumulator>,
  name: string,
  iteration: number,
  ta: Tensor,
  tb: Tensor,
  opts: z.output<typeof CompareOptionsSchema>,
  totalIterations: number,
): void {
  let entry = acc.get(name);
  const tol = toleranceFor(opts, name);
  if (entry === undefined) {
    entry = {
      report: { name, passed: true, dtypeA: ta.type, dtypeB: tb.type, dims: [...ta.dims], dimsB: [...tb.dims], tolerance: tol, iterations: [] },
      a: [],
      b: [],
    };
    acc.set(name, entry);
  }
  const report = entry.report;
  if (report.error) return;
  const sameKind = ta.type === tb.type || (FLOATS.has(ta.type) && FLOATS.has(tb.type));
  if (!sameKind) {
    report.passed = false;
    report.error = {
      code: 'ERR_DTYPE',
      message: `output ${JSON.stringify(name)} is ${ta.type} in A but ${tb.type} in B; only float widths (float32/float16/bfloat16/float64) compare across dtypes`,
    };
    return;
  }
  const sameShape = ta.dims.length === tb.dims.length && ta.dims.every((d, i) => d === tb.dims[i]);
  if (!sameShape) {
    report.passed = false;
    report.dimsB = [...tb.dims];
    report.error = {
      code: 'ERR_SHAPE',
      message: `output ${JSON.stringify(name)} has shape ${formatDims(ta.dims)} in A but ${formatDims(tb.dims)} in B${iteration > 0 ? ` (iteration ${iteration})` : ''}; outputs of different shapes are not compared`,
    };
    return;
  }
  const a = numbersOf(ta);
  const b = numbersOf(tb);
  const analysis = analyze(a, b, tol, { bool: ta.type === 'bool' && tb.type === 'bool', infinitiesCompareEqual: opts.infinitiesCompareEqual });
  const { metrics, verdict } = analysis;
  const boolData = ta.type === 'bool' && tb.type === 'bool';
  report.iterations.push({
    iteration,
    passed: verdict.passed,
    requiredAtol: verdict.requiredAtol,
    requiredRtol: verdict.requiredRtol,
    maxAbsError: metrics.maxAbsError,
    maxRelError: metrics.maxRelError,
    meanAbsError: metrics.meanAbsError,
    mismatchCount: verdict.mismatchCount,
  });
  if (verdict.worstIndex >= 0) {
    const w = verdict.worstIndex;
    const e = absError(a[w]!, b[w]!, boolData, opts.infinitiesCompareEqual);
    const prev = report.worst?.absError ?? -1;
    if (report.worst === undefined || e > prev || (e !== e && prev === prev)) {
      report.worst = { iteration, index: unravel(verdict.worstIndex, ta.dims), a: a[verdict.worstIndex]!, b: b[verdict.worstIndex]!, absError: e };
    }
  }
  if (totalIterations === 1) entry.single = analysis;
  // Totals over all iterations and the top-k agreement need the values; the errors are not kept.
  entry.a.push(a);
  entry.b.push(b);
}

/** The totals of one output; top-k agreement with `topK` set (class-score outputs only). */
function finish(entry: Accumulator, topK: number | undefined, infinitiesCompareEqual: boolean): OutputReport {
  const report = entry.report;
  if (report.error) return report;
  let analysis = entry.single;
  let a: Numbers;
  let b: Numbers;
  if (analysis === undefined) {
    a = concat(entry.a);
    b = concat(entry.b);
    analysis = analyze(a, b, report.tolerance, { bool: report.dtypeA === 'bool' && report.dtypeB === 'bool', infinitiesCompareEqual });
  } else {
    a = entry.a[0]!;
    b = entry.b[0]!;
  }
  Object.assign(report, analysis.metrics);
  const its = report.iterations;
  report.passed = its.every((i) => i.passed);
  report.requiredAtol = Math.max(...its.map((i) => i.requiredAtol));
  report.requiredRtol = Math.max(...its.map((i) => i.requiredRtol));
  report.mismatchCount = its.reduce((n, i) => n + i.mismatchCount, 0);
  if (topK !== undefined) {
    // Rows of every iteration together: each iteration's tensor is a whole number of rows.
    const agreement = topKAgreement(a, b, report.dims, topK);
    if (agreement) report.topK = agreement;
  }
  return report;
}
