/**
 * Bisection: where do two versions of a model (typically FP32 and its FP16 conversion) part
 * ways? Every intermediate tensor of both models is made a graph output (ONNX Runtime
 * returns it), both run on the same inputs, tensors are matched by name (the FP16 converter
 * keeps the original tensor names and only adds Casts around them, whose tensors B alone has
 * and which are ignored), and A's nodes are walked in topological order. The first node
 * with an output beyond tolerance is reported: all the compared tensors it reads were still
 * within tolerance, so the error starts there.
 *
 * Tolerances follow compare(): Polygraphy's rules, per tensor name with "" as the default.
 * Equal infinities agree by default (infinitiesCompareEqual), so a node whose output holds
 * the same -inf in both models (a mask bias, a Constant) is not blamed; a NaN is an error on
 * either side, as in Polygraphy, so the first node that produces one is.
 * ONNX Runtime runs with graph optimizations disabled so each node is evaluated as written
 * (fusions would hide the intermediate tensors anyway).
 */
import { z } from 'zod';
import { InvalidArgumentError, OnnxError, describe } from '../errors.js';
import { parseOptions } from '../options.js';
import { OnnxRuntimeSession } from '../backends/onnxruntime.js';
import { feedValidator } from '../backends/feeds.js';
import { TENSOR_TYPE, encodeModel, exposeTensors, readModel, topologicalOrder, type ModelProto } from '../onnx/index.js';
import type { Feeds, FeedsLike, Outputs } from '../session.js';
import { type Tensor, castFloat, isFloatType } from '../tensor.js';
import { analyze } from './metrics.js';
import { TOLERANCE_OPTION_FIELDS, toleranceFor } from './tolerance.js';
import { GenerateInputsOptionsSchema, generateInputs } from './inputs.js';
import { inferValueRanges } from './model-hints.js';
import { numbersOf } from './compare.js';
import type { BisectInputStatus, BisectResult, BisectTensorReport } from './bisect-types.js';

export type { BisectResult, BisectTensorReport, BisectDivergence, BisectInputStatus } from './bisect-types.js';

export const BisectOptionsSchema = z
  .object({
    ...TOLERANCE_OPTION_FIELDS,
    /** The feeds to run (one iteration); generated from A's inputs when absent. */
    inputs: z.custom<FeedsLike>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'expected an object of Tensors').optional(),
    generate: z.custom<z.input<typeof GenerateInputsOptionsSchema>>((v) => v === undefined || (v !== null && typeof v === 'object')).optional(),
    intraOpNumThreads: z.number().int().min(0).max(1024).default(0),
  })
  .strict();

export type BisectOptions = z.input<typeof BisectOptionsSchema>;

/** Element types our sessions can return (ONNX Runtime's CPU provider has no bfloat16 outputs here). */
const EXPOSABLE = [
  TENSOR_TYPE.FLOAT,
  TENSOR_TYPE.FLOAT16,
  TENSOR_TYPE.DOUBLE,
  TENSOR_TYPE.INT64,
  TENSOR_TYPE.UINT64,
  TENSOR_TYPE.INT32,
  TENSOR_TYPE.UINT32,
  TENSOR_TYPE.INT16,
  TENSOR_TYPE.UINT16,
  TENSOR_TYPE.INT8,
  TENSOR_TYPE.UINT8,
  TENSOR_TYPE.BOOL,
];

const FLOATS = new Set(['float32', 'float16', 'bfloat16', 'float64']);

async function toModel(m: ModelProto | string | Uint8Array, what: string): Promise<ModelProto> {
  if (typeof m === 'string' || m instanceof Uint8Array) return readModel(m);
  if (m === null || typeof m !== 'object' || !('graph' in m)) {
    throw new InvalidArgumentError(`bisect(): ${what} must be an ONNX model (path, bytes or ModelProto), got ${describe(m)}`);
  }
  return m;
}

async function openExposed(model: ModelProto, threads: number): Promise<OnnxRuntimeSession> {
  const { model: exposed } = exposeTensors(model, { elemTypes: EXPOSABLE });
  return OnnxRuntimeSession.create(encodeModel(exposed), { graphOptimizationLevel: 'disabled', intraOpNumThreads: threads });
}

/** The bisection result and the feeds it ran with. */
export interface BisectRun extends BisectResult {
  inputs: Feeds;
}

/**
 * Runs A and B with every intermediate tensor exposed and finds the first node (in A's
 * topological order) whose output diverges beyond tolerance.
 */
export async function bisect(
  modelA: ModelProto | string | Uint8Array,
  modelB: ModelProto | string | Uint8Array,
  options: BisectOptions = {},
): Promise<BisectRun> {
  const opts = parseOptions(BisectOptionsSchema, options, 'bisect options');
  const a = await toModel(modelA, 'model A');
  const b = await toModel(modelB, 'model B');
  const graphA = a.graph;
  if (!graphA) throw new OnnxError('model A has no graph');
  const sessionA = await openExposed(a, opts.intraOpNumThreads);
  let sessionB: OnnxRuntimeSession | undefined;
  try {
    sessionB = await openExposed(b, opts.intraOpNumThreads);
    let given: FeedsLike;
    if (opts.inputs !== undefined) given = opts.inputs;
    else {
      const gen = parseOptions(GenerateInputsOptionsSchema, opts.generate ?? {}, 'bisect options.generate');
      gen.valueRanges = { ...inferValueRanges(a), ...gen.valueRanges };
      given = generateInputs(sessionA.inputs, { ...gen, iterations: 1 })[0]!;
    }
    const validator = feedValidator(sessionA.inputs);
    const feeds: Feeds = validator.feedsOf(validator.check(given));
    const feedsB: Record<string, Tensor> = {};
    for (const info of sessionB.inputs) {
      const t = feeds[info.name];
      if (t === undefined) throw new InvalidArgumentError(`model B has input ${JSON.stringify(info.name)}, which model A does not have`);
      feedsB[info.name] = t.type !== info.dtype && isFloatType(t.type) && isFloatType(info.dtype) ? castFloat(t, info.dtype) : t;
    }
    const outA = await sessionA.run(feeds);
    const outB = await sessionB.run(feedsB);
    return { ...walk(graphA, outA, outB, opts), inputs: feeds };
  } finally {
    await sessionA.dispose();
    await sessionB?.dispose();
  }
}

function walk(graph: NonNullable<ModelProto['graph']>, outA: Outputs, outB: Outputs, opts: z.output<typeof BisectOptionsSchema>): BisectResult {
  const graphInputs = new Set(graph.input.map((i) => i.name));
  const initializers = new Set(graph.initializer.map((t) => t.name));
  const status = new Map<string, BisectTensorReport>();
  const nodes: BisectTensorReport[] = [];
  let unmatched = 0;
  let first: BisectResult['firstDivergence'];
  const indexOf = new Map(graph.node.map((n, i) => [n, i]));
  topologicalOrder(graph).forEach((node) => {
    const nodeIndex = indexOf.get(node)!;
    const label = node.name || `#${nodeIndex}`;
    for (const tensor of node.output) {
      if (!tensor) continue;
      const ta = outA[tensor];
      const tb = outB[tensor];
      if (ta === undefined) continue; // not exposable (type unsupported or unknown)
      if (tb === undefined) {
        unmatched++;
        continue;
      }
      const report = compareTensor(label, node.opType, nodeIndex, tensor, ta, tb, opts);
      status.set(tensor, report);
      nodes.push(report);
      if (!report.passed && first === undefined) {
        const inputs: BisectInputStatus[] = node.input
          .filter((n) => n !== '')
          .map((name) => {
            const s = status.get(name);
            if (s) return { name, status: s.passed ? 'passed' : 'diverged', maxAbsError: s.maxAbsError };
            if (initializers.has(name)) return { name, status: 'initializer' };
            if (graphInputs.has(name)) return { name, status: 'graph input' };
            return { name, status: 'not compared' };
          });
        first = { ...report, inputs };
      }
    }
  });
  return {
    ...(first ? { firstDivergence: first } : {}),
    checkedTensors: nodes.length,
    unmatchedTensors: unmatched,
    nodes,
    infinitiesCompareEqual: opts.infinitiesCompareEqual,
  };
}

function compareTensor(
  node: string,
  opType: string,
  nodeIndex: number,
  tensor: string,
  ta: Tensor,
  tb: Tensor,
  opts: z.output<typeof BisectOptionsSchema>,
): BisectTensorReport {
  const base = { node, opType, nodeIndex, tensor, dtypeA: ta.type, dtypeB: tb.type, elementCount: ta.size };
  const sameKind = ta.type === tb.type || (FLOATS.has(ta.type) && FLOATS.has(tb.type));
  const sameShape = ta.dims.length === tb.dims.length && ta.dims.every((d, i) => d === tb.dims[i]);
  if (!sameKind || !sameShape) {
    return {
      ...base,
      passed: false,
      error: !sameKind ? `dtype ${ta.type} in A but ${tb.type} in B` : `shape [${ta.dims.join(', ')}] in A but [${tb.dims.join(', ')}] in B`,
      maxAbsError: NaN,
      meanAbsError: NaN,
      medianAbsError: NaN,
      p99AbsError: NaN,
      maxRelError: NaN,
      cosineSimilarity: NaN,
      relativeL2Error: NaN,
      nanCount: 0,
      nanCountA: 0,
      nanCountB: 0,
      infCount: 0,
      infCountA: 0,
      infCountB: 0,
      requiredAtol: Infinity,
      requiredRtol: Infinity,
    };
  }
  const tol = toleranceFor(opts, tensor);
  const { metrics: m, verdict: v } = analyze(numbersOf(ta), numbersOf(tb), tol, {
    bool: ta.type === 'bool',
    infinitiesCompareEqual: opts.infinitiesCompareEqual,
  });
  return {
    ...base,
    passed: v.passed,
    maxAbsError: m.maxAbsError,
    meanAbsError: m.meanAbsError,
    medianAbsError: m.medianAbsError,
    p99AbsError: m.p99AbsError,
    maxRelError: m.maxRelError,
    cosineSimilarity: m.cosineSimilarity,
    relativeL2Error: m.relativeL2Error,
    nanCount: m.nanCount,
    nanCountA: m.nanCountA,
    nanCountB: m.nanCountB,
    infCount: m.infCount,
    infCountA: m.infCountA,
    infCountB: m.infCountB,
    requiredAtol: v.requiredAtol,
    requiredRtol: v.requiredRtol,
  };
}
