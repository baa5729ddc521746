/**
 * convertToFloat16: FP32 -> mixed FP16/FP32 ONNX conversion in the manner of NVIDIA ModelOpt
 * AutoCast, for TensorRT 11's strongly typed networks (and any runtime that takes FP16 ONNX).
 *
 * How a graph is converted:
 * 1. Every tensor's element type is inferred (value_info first, then per-op rules).
 * 2. Each node that computes on float32 is decided, in topological order:
 *    - kept FP32 by a rule: blockOps, blockNodes, initMax / initUnderflow (its constant
 *      inputs), dataMax (its activations in the calibration run), reductionDepth, or because
 *      the op or a tensor type is unknown to us (custom domains are never touched);
 *    - data-movement ops (Reshape, Transpose, Gather, Concat, Slice...) follow their inputs:
 *      between FP32 tensors they stay FP32, since converting them would only add casts;
 *    - Constant, ConstantOfShape and Casts to float, and data movement over constants only,
 *      follow their consumers (FP16 when every consumer that cares wants FP16);
 *    - everything else becomes FP16.
 * 3. Tensors are rewired: an FP16 node reads FP16 versions of its float inputs and an FP32 node
 *    FP32 versions. A version is the tensor itself when its producer already has that
 *    precision; an FP16 copy of an initializer or Constant (converted in place when no FP32
 *    reader remains); a Cast straight from the integer source of a Cast-to-float; or one Cast
 *    node, shared by every reader. Casts sit only where precision changes, and never follow a
 *    Cast (no pair that cancels).
 * 4. Graph inputs and outputs keep float32 with keepIoTypes (casts at the edges; an output
 *    keeps its name, its FP16 producer's tensor is renamed). value_info is updated for every
 *    retyped tensor and declared for the new ones.
 * 5. Subgraphs (If branches, Loop/Scan bodies) are converted the same way inside, with their
 *    interfaces (inputs, outputs and the control node's own inputs/outputs) kept float32, so
 *    loop-carried values and branch outputs keep matching types. They read enclosing tensors
 *    in whatever precision those ended up, casting locally where needed. dataMax does not see
 *    inside subgraphs (their tensors cannot be graph outputs).
 *
 * The result gives every node input of a shared type T one float type (TensorRT's strongly
 * typed mode needs explicit casts), which checkMixedPrecision() verifies.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidArgumentError, OnnxError, describe } from '../errors.js';
import { float32ToFloat16Bits } from '../tensor.js';
import { parseOptions } from '../options.js';
import type { Feeds } from '../session.js';
import { getAttribute, getIntAttribute, getIntsAttribute, makeAttribute, subgraphsOf } from '../onnx/attributes.js';
import { dimsOf, makeNode, makeValueInfo, nameGenerator, setElemType, valueInfoMap } from '../onnx/graph.js';
import { allTensors, cloneModel } from '../onnx/model.js';
import { defaultOpset } from '../onnx/inspect.js';
import { CONTROL_FLOW_OPS, OP_SIGNATURES, inferElemTypes, opSignature, topologicalOrder, type OpSignature } from '../onnx/ops.js';
import { TENSOR_TYPE, TensorProtoSchema, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/schema.js';
import { float32Values, isExternal, tensorFromProto, tensorProtoByteSize, tensorProtoDims } from '../onnx/tensor-proto.js';
import { describeCalibrationInputs, generatedCalibration, measureActivations, type TensorStats } from './calibrate.js';
import {
  DEFAULT_FP16_BLOCK_OPS,
  Fp16OptionsSchema,
  type Fp16Calibration,
  type Fp16Options,
  type Fp16Report,
  type KeepRule,
  type ResolvedFp16Options,
} from './options.js';

const { FLOAT, FLOAT16 } = TENSOR_TYPE;
type Prec = 16 | 32;

/** Inputs that take a tensor of any type, so they never need a cast. */
const ANY_TYPE_INPUTS: Readonly<Record<string, readonly number[]>> = { Shape: [0], Size: [0], Cast: [0], CastLike: [0] };
/** Ops whose float output type is set by a `dtype` attribute; left as they are. */
const DTYPE_SOURCES = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'EyeLike', 'Bernoulli', 'Multinomial']);
/** Constants this small are scalars/epsilons, where a value flushed to zero changes the math. */
const SMALL_CONSTANT = 64;
const FP16_SMALLEST_SUBNORMAL_HALF = 2 ** -25;

interface ConstInfo {
  maxAbs: number;
  underflow: boolean;
}

type Decision = { kind: 'fp16' } | { kind: 'fp32'; rule?: KeepRule; reason?: string } | { kind: 'none' } | { kind: 'follow' } | { kind: 'control' };

interface Context {
  opts: ResolvedFp16Options;
  blockOps: Map<string, string>;
  stats: Map<string, TensorStats> | undefined;
  fresh: (base: string) => string;
  report: Fp16Report;
  opset: number;
}

function fp16Bytes(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]!);
  return new Uint8Array(out.buffer);
}

/** An FP16 copy of a float32 TensorProto (name, dims and doc kept). */
function toFp16Proto(tp: TensorProto, name = tp.name): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: [...tp.dims],
    dataType: FLOAT16,
    rawData: fp16Bytes(float32Values(tp)),
    docString: tp.docString,
  });
}

function constInfoOf(tp: TensorProto): ConstInfo {
  const v = float32Values(tp);
  let maxAbs = 0;
  let underflow = false;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    if (a !== Infinity && a > maxAbs) maxAbs = a;
  }
  if (v.length <= SMALL_CONSTANT) {
    for (let i = 0; i < v.length; i++) {
      const a = Math.abs(v[i]!);
      if (a > 0 && a < FP16_SMALLEST_SUBNORMAL_HALF) underflow = true;
    }
  }
  return { maxAbs, underflow };
}

/** The float32 value tensor of a Constant node (value, value_float, value_floats). */
function constantValue(node: NodeProto): TensorProto | undefined {
  for (const a of node.attribute) {
    if (a.name === 'value' && a.t?.dataType === FLOAT) return a.t;
    if (a.name === 'value_float') return create(TensorProtoSchema, { dataType: FLOAT, floatData: [a.f] });
    if (a.name === 'value_floats') return create(TensorProtoSchema, { dataType: FLOAT, dims: [BigInt(a.floats.length)], floatData: [...a.floats] });
  }
  return undefined;
}

function nodeLabel(node: NodeProto, index: number): string {
  return node.name || `${node.opType}#${index}`;
}

function fmt(x: number): string {
  if (x === Infinity) return 'Inf';
  return Number.isInteger(x) && Math.abs(x) < 1e9 ? String(x) : Number(x.toPrecision(5)).toString();
}

class GraphConversion {
  readonly types: Map<string, number>;
  readonly order: NodeProto[];
  readonly producers = new Map<string, { node: NodeProto; index: number }>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly inits = new Map<string, TensorProto>();
  readonly inputs: Set<string>;
  readonly outputs: Set<string>;
  readonly decision = new Map<NodeProto, Decision>();
  readonly constInfoCache = new Map<string, ConstInfo | null>();
  readonly finalType = new Map<string, number>();
  readonly versions = new Map<string, string>();
  readonly declared: Map<string, { dims: ReturnType<typeof dimsOf> }>;
  readonly newNodes: NodeProto[] = [];

  constructor(
    readonly graph: GraphProto,
    readonly ctx: Context,
    readonly main: boolean,
    /** Element types of enclosing graphs' tensors before conversion. */
    readonly outerOriginal: ReadonlyMap<string, number>,
    /** ... and after (an enclosing float32 tensor may now be FP16). */
    readonly outerFinal: ReadonlyMap<string, number>,
  ) {
    this.order = topologicalOrder(graph);
    this.types = inferElemTypes(graph, outerOriginal);
    this.order.forEach((n) => n.output.forEach((o, index) => o && this.producers.set(o, { node: n, index })));
    for (const n of this.order) {
      for (const i of new Set(n.input)) {
        if (!i) continue;
        let list = this.consumers.get(i);
        if (!list) this.consumers.set(i, (list = []));
        list.push(n);
      }
    }
    this.inputs = new Set(graph.input.map((i) => i.name));
    this.outputs = new Set(graph.output.map((o) => o.name));
    // An initializer that is also a graph input (IR < 4 lists them all) is an input while its
    // type is kept, and just a weight once graph input types may change.
    for (const t of graph.initializer) if (!this.inputs.has(t.name) || !this.keepIo) this.inits.set(t.name, t);
    this.declared = new Map([...valueInfoMap(graph)].map(([k, v]) => [k, { dims: dimsOf(v.type) }]));
  }

  isFloat(name: string): boolean {
    return name !== '' && this.types.get(name) === FLOAT;
  }

  /** Keeping float32 graph inputs and outputs: always in subgraphs, and with keepIoTypes in the main graph. */
  get keepIo(): boolean {
    return !this.main || this.ctx.opts.keepIoTypes;
  }

  tInputs(node: NodeProto, sig: OpSignature): number[] {
    const fixed = sig.fixedInputs ?? [];
    const out: number[] = [];
    node.input.forEach((name, p) => {
      if (name !== '' && !fixed.includes(p)) out.push(p);
    });
    return out;
  }

  tOutputs(node: NodeProto, sig: OpSignature): number[] {
    const fixed = sig.fixedOutputs ?? [];
    const out: number[] = [];
    node.output.forEach((name, p) => {
      if (name !== '' && !fixed.includes(p)) out.push(p);
    });
    return out;
  }

  /** Static magnitude facts of a constant-derived float tensor, or null when it is not constant. */
  constInfo(name: string): ConstInfo | null {
    const cached = this.constInfoCache.get(name);
    if (cached !== undefined) return cached;
    let info: ConstInfo | null = null;
    const init = this.inits.get(name);
    if (init && init.dataType === FLOAT) info = constInfoOf(init);
    else {
      const p = this.producers.get(name);
      if (p && p.node.opType === 'Constant' && (p.node.domain === '' || p.node.domain === 'ai.onnx')) {
        const v = constantValue(p.node);
        if (v) info = constInfoOf(v);
      } else if (p && p.node.opType === 'ConstantOfShape') {
        const v = getAttribute(p.node, 'value')?.t;
        info = v && v.dataType === FLOAT ? constInfoOf(v) : { maxAbs: 0, underflow: false };
      } else if (p) {
        const sig = opSignature(p.node);
        if (sig?.kind === 'movement') {
          const ins = this.tInputs(p.node, sig)
            .map((k) => p.node.input[k]!)
            .filter((i) => this.isFloat(i));
          const infos = ins.map((i) => this.constInfo(i));
          if (ins.length > 0 && infos.every((x) => x !== null)) {
            info = { maxAbs: Math.max(...infos.map((x) => x!.maxAbs)), underflow: infos.some((x) => x!.underflow) };
          }
        }
      }
    }
    this.constInfoCache.set(name, info);
    return info;
  }

  isConstLike(name: string): boolean {
    if (this.inits.has(name)) return true;
    const p = this.producers.get(name);
    return p !== undefined && this.decision.get(p.node)?.kind === 'follow';
  }

  /** Known dims of a tensor: initializer, fully numeric declaration, or the calibration run. */
  shapeOf(name: string): number[] | undefined {
    const init = this.inits.get(name);
    if (init) return tensorProtoDims(init);
    const d = this.declared.get(name)?.dims;
    if (d && d.every((x) => typeof x === 'number' && x >= 0)) return d as number[];
    return this.main ? this.ctx.stats?.get(name)?.dims : undefined;
  }

  /**
   * The product of a tensor's dims from `axis` on, where those dims are known: from its
   * declaration (the leading batch/sequence dims may be symbolic), initializer or the
   * calibration run. Undefined when one of them is not known.
   */
  trailingWidth(name: string, axis: number): number | undefined {
    const known = this.shapeOf(name);
    const dims: readonly (number | string)[] | undefined = known ?? this.declared.get(name)?.dims;
    if (!dims || dims.length === 0) return undefined;
    const from = axis < 0 ? axis + dims.length : axis;
    if (from < 0 || from >= dims.length) return undefined;
    let w = 1;
    for (const d of dims.slice(from)) {
      if (typeof d !== 'number' || d < 0) return undefined;
      w *= d;
    }
    return w;
  }

  /** The block-list reason of a normalisation node, with its real normalised width. */
  normalisationReason(node: NodeProto, generic: string): string {
    const width = this.trailingWidth(node.input[0] ?? '', getIntAttribute(node, 'axis', -1));
    if (width === undefined) return `${generic} (the width is not known from the model's shapes)`;
    const sum = 100 * width;
    return (
      `mean${node.opType === 'LayerNormalization' ? ' and variance' : ' of squares'} over the normalised width of ${width} activations: ` +
      `the sum of squares of ${width} activations of magnitude 10 is ${sum}` +
      `${sum > 65504 ? ', past FP16 max 65504' : ' (below FP16 max 65504 at that magnitude; larger activations pass it)'}` +
      `${node.opType === 'LayerNormalization' ? '; TensorRT itself warns about FP16 LayerNorm overflow' : ''}`
    );
  }

  intsInput(name: string | undefined): number[] | undefined {
    if (!name) return undefined;
    const init = this.inits.get(name);
    if (!init || init.dataType !== TENSOR_TYPE.INT64) return undefined;
    return Array.from(tensorFromProto(init).data as BigInt64Array, Number);
  }

  /** How many terms are summed into one output element; undefined when unknown. */
  reductionDepth(node: NodeProto): number | undefined {
    const prod = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);
    const axisOf = (rank: number, a: number): number => (a < 0 ? a + rank : a);
    switch (node.opType) {
      case 'MatMul': {
        const b = this.shapeOf(node.input[1]!);
        if (b && b.length >= 2) return b[b.length - 2];
        const a = this.shapeOf(node.input[0]!);
        return a && a.length >= 1 ? a[a.length - 1] : undefined;
      }
      case 'Gemm': {
        const a = this.shapeOf(node.input[0]!);
        if (a?.length === 2) return getIntAttribute(node, 'transA', 0) ? a[0] : a[1];
        const b = this.shapeOf(node.input[1]!);
        if (b?.length === 2) return getIntAttribute(node, 'transB', 0) ? b[1] : b[0];
        return undefined;
      }
      case 'Conv': {
        const w = this.shapeOf(node.input[1]!);
        return w && w.length >= 3 ? w[1]! * prod(w.slice(2)) : undefined;
      }
      case 'ConvTranspose': {
        const w = this.shapeOf(node.input[1]!);
        const group = getIntAttribute(node, 'group', 1);
        return w && w.length >= 3 ? (w[0]! / group) * prod(w.slice(2)) : undefined;
      }
      case 'Softmax':
      case 'LogSoftmax':
      case 'Hardmax': {
        const x = this.shapeOf(node.input[0]!);
        if (!x) return undefined;
        if (this.ctx.opset >= 13) return x[axisOf(x.length, getIntAttribute(node, 'axis', -1))];
        return prod(x.slice(axisOf(x.length, getIntAttribute(node, 'axis', 1))));
      }
      case 'LayerNormalization': {
        const x = this.shapeOf(node.input[0]!);
        return x ? prod(x.slice(axisOf(x.length, getIntAttribute(node, 'axis', -1)))) : undefined;
      }
      case 'CumSum': {
        const x = this.shapeOf(node.input[0]!);
        const axis = this.intsInput(node.input[1]);
        return x && axis?.length === 1 ? x[axisOf(x.length, axis[0]!)] : undefined;
      }
      case 'ReduceSum':
      case 'ReduceMean':
      case 'ReduceProd':
      case 'ReduceL1':
      case 'ReduceL2':
      case 'ReduceLogSum':
      case 'ReduceLogSumExp':
      case 'ReduceSumSquare': {
        const x = this.shapeOf(node.input[0]!);
        if (!x) return undefined;
        const axes = getIntsAttribute(node, 'axes') ?? this.intsInput(node.input[1]);
        if (axes === undefined && node.input[1]) return undefined;
        if (!axes || axes.length === 0) return getIntAttribute(node, 'noop_with_empty_axes', 0) ? 1 : prod(x);
        return prod(axes.map((a) => x[axisOf(x.length, a)] ?? 1));
      }
      default:
        return undefined;
    }
  }

  /** Precision a tensor has before any cast, as the forward pass sees it (undefined: constant-like, undecided). */
  forwardHome(name: string): Prec | undefined {
    if (this.inits.has(name)) return undefined;
    if (this.inputs.has(name)) return this.keepIo ? 32 : 16;
    const p = this.producers.get(name);
    if (!p) return this.outerFinal.get(name) === FLOAT16 ? 16 : 32;
    const d = this.decision.get(p.node);
    if (d?.kind === 'follow') return undefined;
    if (d?.kind === 'fp16') {
      const sig = opSignature(p.node);
      return sig && this.tOutputs(p.node, sig).includes(p.index) ? 16 : 32;
    }
    return 32;
  }

  decide(node: NodeProto): Decision {
    const { opts } = this.ctx;
    const sig = opSignature(node);
    const hasFloat = [...node.input, ...node.output].some((n) => this.isFloat(n));
    if (!sig) {
      if (!hasFloat) return { kind: 'none' };
      const domain = node.domain && node.domain !== 'ai.onnx' ? ` (domain ${node.domain})` : '';
      return { kind: 'fp32', rule: 'unknownOp', reason: `op ${node.opType}${domain} is unknown to the converter, so its type constraints are too` };
    }
    if (CONTROL_FLOW_OPS.has(node.opType)) return { kind: 'control' };
    if (node.opType === 'Cast') return getIntAttribute(node, 'to') === FLOAT ? { kind: 'follow' } : { kind: 'none' };
    if (node.opType === 'Constant') return this.isFloat(node.output[0]!) && constantValue(node) ? { kind: 'follow' } : { kind: 'none' };
    if (node.opType === 'ConstantOfShape') return this.isFloat(node.output[0]!) ? { kind: 'follow' } : { kind: 'none' };
    if (DTYPE_SOURCES.has(node.opType)) return { kind: 'none' };
    const tin = this.tInputs(node, sig);
    const tout = this.tOutputs(node, sig);
    const tNames = [...tin.map((p) => node.input[p]!), ...tout.map((p) => node.output[p]!)];
    if (!tNames.some((n) => this.isFloat(n))) return { kind: 'none' };
    const unknown = tNames.filter((n) => this.types.get(n) === undefined);
    if (unknown.length > 0) {
      return { kind: 'fp32', rule: 'unknownType', reason: `element type of ${unknown.map((u) => JSON.stringify(u)).join(', ')} is unknown` };
    }
    const name = node.name;
    const re = opts.blockNodes.find((r) => r.test(name));
    if (re) return { kind: 'fp32', rule: 'blockNodes', reason: `node name matches ${re}` };
    const blocked = this.ctx.blockOps.get(node.opType);
    if (blocked !== undefined) {
      const normalisation = node.opType === 'LayerNormalization' || node.opType === 'RMSNormalization';
      return {
        kind: 'fp32',
        rule: 'blockOps',
        reason: normalisation && blocked === DEFAULT_FP16_BLOCK_OPS[node.opType] ? this.normalisationReason(node, blocked) : blocked,
      };
    }
    const floatIns = tin.map((p) => node.input[p]!).filter((n) => this.isFloat(n));
    for (const i of floatIns) {
      const ci = this.constInfo(i);
      if (ci && ci.maxAbs > opts.initMax) {
        return { kind: 'fp32', rule: 'initMax', reason: `constant input ${JSON.stringify(i)} holds |x| = ${fmt(ci.maxAbs)} > initMax ${fmt(opts.initMax)}` };
      }
      if (ci && opts.checkUnderflow && ci.underflow) {
        return { kind: 'fp32', rule: 'initUnderflow', reason: `small constant input ${JSON.stringify(i)} has nonzero values that are 0 in FP16 (|x| < 2^-25)` };
      }
    }
    if (this.main && this.ctx.stats) {
      const acts = [...floatIns.filter((i) => this.constInfo(i) === null), ...tout.map((p) => node.output[p]!).filter((o) => this.isFloat(o))];
      for (const a of acts) {
        const s = this.ctx.stats.get(a);
        if (s && s.maxAbs > opts.dataMax) {
          return {
            kind: 'fp32',
            rule: 'dataMax',
            reason: `activation ${JSON.stringify(a)} reaches |x| = ${fmt(s.maxAbs)} > dataMax ${fmt(opts.dataMax)} in the calibration run`,
          };
        }
      }
    }
    const depth = this.reductionDepth(node);
    if (depth !== undefined && depth > opts.maxReductionDepth) {
      return { kind: 'fp32', rule: 'reductionDepth', reason: `sums ${depth} terms per output > maxReductionDepth ${opts.maxReductionDepth}` };
    }
    if (sig.kind === 'movement') {
      const live = floatIns.filter((i) => !this.isConstLike(i));
      if (live.length === 0) return { kind: 'follow' };
      if (live.every((i) => this.forwardHome(i) === 32)) {
        return { kind: 'fp32', rule: 'dataMovement', reason: 'moves data between FP32 tensors; converting it would only add casts' };
      }
    }
    return { kind: 'fp16' };
  }

  /** What precision `node` needs at input position `p` (undefined: any, or not float32). */
  demandAt(node: NodeProto, p: number): Prec | undefined {
    const name = node.input[p]!;
    if (!this.isFloat(name)) return undefined;
    if (ANY_TYPE_INPUTS[node.opType]?.includes(p) && (node.domain === '' || node.domain === 'ai.onnx')) return undefined;
    const d = this.decision.get(node);
    if (d?.kind === 'fp16') {
      const sig = opSignature(node)!;
      return (sig.fixedInputs ?? []).includes(p) ? 32 : 16;
    }
    return 32;
  }

  /** Precisions requested of `name` by its readers in this graph and by the graph's outputs. */
  demands(name: string): Set<Prec> {
    const out = new Set<Prec>();
    for (const c of this.consumers.get(name) ?? []) {
      c.input.forEach((x, p) => {
        if (x !== name) return;
        const d = this.demandAt(c, p);
        if (d !== undefined) out.add(d);
      });
    }
    if (this.outputs.has(name) && this.keepIo) out.add(32);
    return out;
  }

  keep(node: NodeProto, index: number, rule: KeepRule, reason: string): void {
    this.ctx.report.keptFp32.push({ node: nodeLabel(node, index), opType: node.opType, reason, rule, graph: this.main ? '' : this.graph.name });
  }

  run(): void {
    // Forward pass.
    for (const node of this.order) this.decision.set(node, this.decide(node));
    // Backward pass: followers take their consumers' precision.
    for (let i = this.order.length - 1; i >= 0; i--) {
      const node = this.order[i]!;
      if (this.decision.get(node)?.kind !== 'follow') continue;
      const wants = new Set<Prec>();
      for (const o of node.output) if (this.isFloat(o)) for (const d of this.demands(o)) wants.add(d);
      if (this.outputs.has(node.output[0]!) && !this.keepIo) wants.add(16);
      if (wants.has(32)) {
        this.decision.set(node, { kind: 'fp32', rule: wants.has(16) ? 'consumers' : undefined });
      } else if (wants.has(16)) {
        this.decision.set(node, { kind: 'fp16' });
      } else {
        this.decision.set(node, { kind: 'none' });
      }
    }
    this.report();
    this.computeFinalTypes();
    this.renameFp16Outputs();
    this.rewrite();
    if (!this.main) this.castSubgraphOutputs();
    this.updateValueInfo();
    this.graph.node.push(...this.newNodes);
    this.graph.node = topologicalOrder(this.graph);
    this.convertSubgraphs();
  }

  report(): void {
    const { report } = this.ctx;
    this.order.forEach((node, index) => {
      const d = this.decision.get(node)!;
      if (d.kind === 'fp16') report.convertedNodes[node.opType] = (report.convertedNodes[node.opType] ?? 0) + 1;
      else if (d.kind === 'fp32' && d.rule === 'consumers') {
        this.keep(node, index, 'consumers', 'feeds both FP32 and FP16 nodes; kept FP32, its FP16 readers get a converted copy or a cast');
      } else if (d.kind === 'fp32' && d.rule) this.keep(node, index, d.rule, d.reason ?? '');
    });
  }

  computeFinalTypes(): void {
    for (const [k, v] of this.types) this.finalType.set(k, v);
    for (const [k, v] of this.outerFinal) this.finalType.set(k, v);
    if (!this.keepIo) for (const i of this.graph.input) if (this.isFloat(i.name) && !this.inits.has(i.name)) this.finalType.set(i.name, FLOAT16);
    for (const [name] of this.inits) {
      if (!this.isFloat(name)) continue;
      const d = this.demands(name);
      if (d.has(16) && !d.has(32) && !this.outputs.has(name)) this.finalType.set(name, FLOAT16);
    }
    for (const node of this.order) {
      if (this.decision.get(node)?.kind !== 'fp16') continue;
      const sig = opSignature(node)!;
      for (const p of this.tOutputs(node, sig)) if (this.isFloat(node.output[p]!)) this.finalType.set(node.output[p]!, FLOAT16);
    }
  }

  /** Graph outputs that must stay float32 but come out of FP16 nodes: the producer writes a renamed tensor, a Cast restores the name. */
  renameFp16Outputs(): void {
    if (!this.keepIo || !this.main) return;
    for (const o of this.outputs) {
      if (this.finalType.get(o) !== FLOAT16 || !this.producers.has(o) || this.inits.has(o)) continue;
      const { node, index } = this.producers.get(o)!;
      const renamed = this.ctx.fresh(`${o}_fp16`);
      node.output[index] = renamed;
      for (const c of this.consumers.get(o) ?? []) c.input = c.input.map((x) => (x === o ? renamed : x));
      this.consumers.set(renamed, this.consumers.get(o) ?? []);
      this.consumers.delete(o);
      this.producers.set(renamed, { node, index });
      this.producers.delete(o);
      this.types.set(renamed, FLOAT);
      this.finalType.set(renamed, FLOAT16);
      this.finalType.set(o, FLOAT);
      this.addCast(renamed, o, FLOAT);
      this.versions.set(`${renamed}|32`, o);
      this.declareLike(renamed, o, FLOAT16);
    }
  }

  addCast(from: string, to: string, type: number): void {
    this.newNodes.push(makeNode({ opType: 'Cast', name: this.ctx.fresh(`${to}/Cast`), inputs: [from], outputs: [to], attributes: { to: type } }));
    this.ctx.report.castsAdded++;
  }

  /**
   * Declares `name` with element type `type` and the dims declared for `like` (or an
   * initializer's dims). Never the calibration run's dims: they hold for that batch only.
   */
  declareLike(name: string, like: string, type: number): void {
    const init = this.inits.get(like);
    const dims = this.declared.get(like)?.dims ?? (init ? tensorProtoDims(init) : undefined);
    if (dims) this.graph.valueInfo.push(makeValueInfo(name, type, dims));
  }

  /** The name of `name` in precision `want`, creating it (copy, Constant or Cast) on first use. */
  version(name: string, want: Prec): string {
    const have = this.finalType.get(name) === FLOAT16 ? 16 : 32;
    if (have === want) return name;
    const key = `${name}|${want}`;
    const cached = this.versions.get(key);
    if (cached) return cached;
    let out: string;
    const init = this.inits.get(name);
    const p = this.producers.get(name);
    if (init && want === 16) {
      out = this.ctx.fresh(`${name}_fp16`);
      this.graph.initializer.push(toFp16Proto(init, out));
      this.ctx.report.initializersConverted++;
    } else if (p && want === 16 && p.node.opType === 'Constant' && constantValue(p.node)) {
      out = this.ctx.fresh(`${name}_fp16`);
      const value = toFp16Proto(constantValue(p.node)!, '');
      this.newNodes.push(makeNode({ opType: 'Constant', name: this.ctx.fresh(`${out}/Constant`), inputs: [], outputs: [out], attributes: { value } }));
      this.ctx.report.convertedNodes.Constant = (this.ctx.report.convertedNodes.Constant ?? 0) + 1;
    } else if (p && want === 16 && p.node.opType === 'Cast' && getIntAttribute(p.node, 'to') === FLOAT) {
      // Cast the Cast's own source straight to FP16 rather than chaining two casts.
      out = this.ctx.fresh(`${name}_fp16`);
      this.addCast(p.node.input[0]!, out, FLOAT16);
    } else {
      out = this.ctx.fresh(`${name}_${want === 16 ? 'fp16' : 'fp32'}`);
      this.addCast(name, out, want === 16 ? FLOAT16 : FLOAT);
    }
    this.finalType.set(out, want === 16 ? FLOAT16 : FLOAT);
    this.declareLike(out, name, want === 16 ? FLOAT16 : FLOAT);
    this.versions.set(key, out);
    return out;
  }

  rewrite(): void {
    // Initializers read only in FP16 are converted in place.
    for (const [name, tp] of this.inits) {
      if (this.finalType.get(name) !== FLOAT16 || tp.dataType !== FLOAT) continue;
      tp.rawData = fp16Bytes(float32Values(tp));
      tp.floatData = [];
      tp.dataType = FLOAT16;
      this.ctx.report.initializersConverted++;
    }
    for (const node of this.order) {
      const d = this.decision.get(node)!;
      if (d.kind === 'fp16') this.retypeNode(node);
      node.input = node.input.map((name, p) => {
        const want = this.demandAt(node, p);
        return want === undefined ? name : this.version(name, want);
      });
    }
  }

  /** Attribute changes of nodes whose output type is set by an attribute. */
  retypeNode(node: NodeProto): void {
    if (node.opType === 'Cast') {
      node.attribute = node.attribute.filter((a) => a.name !== 'to');
      node.attribute.push(makeAttribute('to', FLOAT16));
    } else if (node.opType === 'Constant') {
      const v = constantValue(node)!;
      node.attribute = [makeAttribute('value', toFp16Proto(v, v.name))];
    } else if (node.opType === 'ConstantOfShape') {
      const v = getAttribute(node, 'value')?.t ?? create(TensorProtoSchema, { dataType: FLOAT, dims: [1n], floatData: [0] });
      node.attribute = node.attribute.filter((a) => a.name !== 'value');
      node.attribute.push(makeAttribute('value', toFp16Proto(v, v.name)));
    }
  }

  /** A subgraph's outputs are matched by position, so an FP16 one is replaced by its float32 version. */
  castSubgraphOutputs(): void {
    for (const out of this.graph.output) {
      if (this.isFloat(out.name) && this.finalType.get(out.name) === FLOAT16) {
        const v = this.version(out.name, 32);
        out.name = v;
      }
    }
  }

  updateValueInfo(): void {
    for (const [name, t] of this.finalType) {
      if (t === FLOAT16 && this.types.get(name) === FLOAT) setElemType(this.graph, name, FLOAT16);
    }
  }

  convertSubgraphs(): void {
    const original = new Map([...this.outerOriginal, ...this.types]);
    const final = new Map(this.finalType);
    for (const node of this.graph.node) {
      if (!CONTROL_FLOW_OPS.has(node.opType) || (node.domain !== '' && node.domain !== 'ai.onnx')) continue;
      for (const g of subgraphsOf(node)) new GraphConversion(g, this.ctx, false, original, final).run();
    }
  }
}

function tensorBytes(model: ModelProto): number {
  let total = 0;
  for (const tp of allTensors(model)) total += tensorProtoByteSize(tp) ?? tp.rawData.byteLength;
  return total;
}

/**
 * Converts a float32 ONNX model to mixed FP16/FP32 (see the module comment for the rules).
 * `model` is not changed; the result shares unchanged tensor bytes with it. Returns the new
 * model and a report of what changed. ONNX Runtime first runs the model to measure its
 * activations for the dataMax rule: on `calibrationData`, or else on generated inputs (unless
 * `calibrate: false`); report.calibration says which ranges were checked on what.
 * Errors: InvalidArgumentError for bad options, OnnxError for a model that cannot be converted
 * (external data not loaded, a cycle), OnnxRuntimeError when the calibration run fails.
 */
export async function convertToFloat16(model: ModelProto, options: Fp16Options = {}): Promise<{ model: ModelProto; report: Fp16Report }> {
  const opts = parseOptions(Fp16OptionsSchema, options, 'convertToFloat16 options');
  if (typeof model !== 'object' || model === null || (model as { $typeName?: string }).$typeName !== 'onnx.ModelProto') {
    throw new InvalidArgumentError(`convertToFloat16: model must be a ModelProto (from readModel or decodeModel), got ${describe(model)}`);
  }
  if (!model.graph) throw new OnnxError('convertToFloat16: the model has no graph');
  for (const tp of allTensors(model)) {
    if (isExternal(tp)) {
      throw new OnnxError(`convertToFloat16: tensor ${JSON.stringify(tp.name)} is in external data that was not loaded; read the model with loadExternalData`, {
        reason: 'external-data-missing',
      });
    }
  }
  const blockOps = new Map<string, string>();
  for (const op of opts.blockOps ?? Object.keys(DEFAULT_FP16_BLOCK_OPS)) {
    blockOps.set(op, DEFAULT_FP16_BLOCK_OPS[op] ?? 'listed in blockOps');
  }
  for (const op of opts.extraBlockOps) blockOps.set(op, DEFAULT_FP16_BLOCK_OPS[op] ?? 'listed in extraBlockOps');
  checkOpTypes(model, [...(opts.blockOps ?? []), ...opts.extraBlockOps]);
  if (opts.calibrate === false && opts.calibrationData) {
    throw new InvalidArgumentError('convertToFloat16: calibrate: false and calibrationData contradict each other; give one');
  }
  const { stats, calibration } = await calibrate(model, opts);

  const out = cloneModel(model);
  const report: Fp16Report = {
    convertedNodes: {},
    keptFp32: [],
    bytesBefore: tensorBytes(model),
    bytesAfter: 0,
    castsAdded: 0,
    initializersConverted: 0,
    calibration,
  };
  const ctx: Context = { opts, blockOps, stats, fresh: nameGenerator(out), report, opset: defaultOpset(model) };
  new GraphConversion(out.graph!, ctx, true, new Map(), new Map()).run();
  // Initializers no node reads any more (all readers moved to an FP16 copy) are dropped.
  dropUnusedInitializers(out.graph!);
  report.bytesAfter = tensorBytes(out);
  calibration.keptByDataMax = report.keptFp32.filter((k) => k.rule === 'dataMax').length;
  return { model: out, report };
}

/** Op types named in the block lists must be ones the converter knows or the model holds: a typo would silently block nothing. */
function checkOpTypes(model: ModelProto, ops: readonly string[]): void {
  const inModel = new Set<string>();
  const visit = (g: GraphProto): void => {
    for (const n of g.node) {
      inModel.add(n.opType);
      for (const sg of subgraphsOf(n)) visit(sg);
    }
  };
  if (model.graph) visit(model.graph);
  const unknown = [...new Set(ops.filter((op) => !Object.prototype.hasOwnProperty.call(OP_SIGNATURES, op) && !inModel.has(op)))];
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown op type${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => JSON.stringify(u)).join(', ')} in the block list: ` +
        `expected ONNX op types (e.g. ${Object.keys(DEFAULT_FP16_BLOCK_OPS).slice(0, 3).join(', ')}) or op types of this model, spelled as ONNX spells them`,
    );
  }
}

/** The activation ranges for the dataMax rule: from calibrationData, from generated inputs, or none. */
async function calibrate(model: ModelProto, opts: ResolvedFp16Options): Promise<{ stats: Map<string, TensorStats> | undefined; calibration: Fp16Calibration }> {
  const none = (reason: string): { stats: undefined; calibration: Fp16Calibration } => ({
    stats: undefined,
    calibration: { source: 'none', reason, runs: 0, inputs: [], tensorsMeasured: 0, dataMax: opts.dataMax, keptByDataMax: 0 },
  });
  let feeds: Feeds[];
  let generated: Fp16Calibration['generated'];
  if (opts.calibrationData) {
    feeds = Array.isArray(opts.calibrationData) ? opts.calibrationData : [opts.calibrationData];
  } else if (opts.calibrate === false) {
    return none('calibration was turned off, so no activation range was checked: an activation past FP16 max goes to FP16 undetected');
  } else {
    const g = opts.calibrate === true ? { batch: 2, seq: 128, seed: 1, iterations: 2, dims: {} } : opts.calibrate;
    generated = { seed: g.seed, batch: g.batch, seq: g.seq, iterations: g.iterations };
    try {
      feeds = generatedCalibration(model, g);
    } catch (e) {
      return none(`no calibration inputs could be generated (${(e as Error).message}); give calibrationData to check activation ranges`);
    }
  }
  let measured: Awaited<ReturnType<typeof measureActivations>>;
  try {
    measured = await measureActivations(model, feeds, { threads: opts.calibrationThreads });
  } catch (e) {
    if (!generated) throw e;
    return none(`ONNX Runtime could not run the model on generated inputs (${(e as Error).message}); give calibrationData to check activation ranges`);
  }
  let largest: Fp16Calibration['largest'];
  for (const [tensor, st] of measured.stats) if (largest === undefined || st.maxAbs > largest.maxAbs) largest = { tensor, maxAbs: st.maxAbs };
  return {
    stats: measured.stats,
    calibration: {
      source: generated ? 'random' : 'data',
      ...(generated ? { generated } : {}),
      runs: measured.runs,
      inputs: describeCalibrationInputs(feeds),
      tensorsMeasured: measured.stats.size,
      ...(largest ? { largest } : {}),
      dataMax: opts.dataMax,
      keptByDataMax: 0,
    },
  };
}

function dropUnusedInitializers(graph: GraphProto): void {
  const used = new Set<string>();
  const collect = (g: GraphProto): void => {
    for (const n of g.node) {
      for (const i of n.input) used.add(i);
      for (const sg of subgraphsOf(n)) collect(sg);
    }
    for (const o of g.output) used.add(o.name);
  };
  collect(graph);
  const inputs = new Set(graph.input.map((i) => i.name));
  graph.initializer = graph.initializer.filter((t) => used.has(t.name) || inputs.has(t.name));
}
