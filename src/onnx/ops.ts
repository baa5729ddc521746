/**
 * What the converter and the type inference need to know about operators: which inputs and
 * outputs share the node's element type T (and so follow its precision), and the element
 * type of each output.
 *
 * Most standard ops constrain every float input and output to one type T; the table lists
 * the exceptions (index inputs, shape inputs, scale inputs of a fixed type, mask outputs...).
 * Ops outside the table (custom domains, rare ops) are "unknown": the converter leaves them in
 * their original precision.
 */
import { OnnxError } from '../errors.js';
import { getAttribute, getIntAttribute, subgraphsOf } from './attributes.js';
import { TENSOR_TYPE, type GraphProto, type NodeProto, type TypeProto, type ValueInfoProto } from './schema.js';

const { FLOAT, INT64, INT32, BOOL, UINT8 } = TENSOR_TYPE;

type Types = readonly (number | undefined)[];

export interface OpSignature {
  /** Input positions that are not of type T (indices, shapes, scales of a fixed type, conditions...). */
  readonly fixedInputs?: readonly number[];
  /** Output positions that are not of type T. */
  readonly fixedOutputs?: readonly number[];
  /** Output element types from the node and its input types; default: every output is T. */
  readonly outputs?: (node: NodeProto, inputs: Types) => Types;
  /**
   * `movement`: output values are input values moved around (exact in any precision), so the
   * converter lets these nodes follow their inputs' precision instead of adding casts.
   */
  readonly kind?: 'movement';
}

/** T: the type of the first input at a T position. */
function tOf(node: NodeProto, inputs: Types, sig: OpSignature): number | undefined {
  const fixed = sig.fixedInputs ?? [];
  for (let i = 0; i < node.input.length; i++) {
    if (fixed.includes(i) || node.input[i] === '') continue;
    if (inputs[i] !== undefined) return inputs[i];
  }
  return undefined;
}

const dtypeAttr = (node: NodeProto, fallback: number | undefined): number | undefined => getIntAttribute(node, 'dtype') ?? fallback;

const MOVE: OpSignature = { kind: 'movement' };
const PLAIN: OpSignature = {};

const cmp: OpSignature = { fixedOutputs: [0], outputs: () => [BOOL] };
const index64: OpSignature = { fixedOutputs: [0], outputs: () => [INT64] };
const reduce: OpSignature = { fixedInputs: [1] };

function constantType(node: NodeProto): number | undefined {
  for (const a of node.attribute) {
    switch (a.name) {
      case 'value':
        return a.t?.dataType;
      case 'sparse_value':
        return a.sparseTensor?.values?.dataType;
      case 'value_float':
      case 'value_floats':
        return FLOAT;
      case 'value_int':
      case 'value_ints':
        return INT64;
      case 'value_string':
      case 'value_strings':
        return TENSOR_TYPE.STRING;
    }
  }
  return undefined;
}

export function elemTypeOf(type: TypeProto | undefined): number | undefined {
  if (type?.value.case === 'tensorType') return type.value.value.elemType || undefined;
  return undefined;
}

function graphOutputTypes(g: GraphProto | undefined, skip = 0): Types {
  if (!g) return [];
  return g.output.slice(skip).map((o: ValueInfoProto) => elemTypeOf(o.type));
}

export const OP_SIGNATURES: Readonly<Record<string, OpSignature>> = Object.freeze({
  // element-wise and other ops whose float inputs and outputs all share T
  ...Object.fromEntries(
    [
      'Abs',
      'Acos',
      'Acosh',
      'Add',
      'Asin',
      'Asinh',
      'Atan',
      'Atanh',
      'AveragePool',
      'BatchNormalization',
      'Ceil',
      'Celu',
      'Clip',
      'Conv',
      'ConvTranspose',
      'Cos',
      'Cosh',
      'Div',
      'Einsum',
      'Elu',
      'Erf',
      'Exp',
      'Floor',
      'Gelu',
      'Gemm',
      'GlobalAveragePool',
      'GlobalLpPool',
      'GroupNormalization',
      'HardSigmoid',
      'HardSwish',
      'Hardmax',
      'InstanceNormalization',
      'LRN',
      'LeakyRelu',
      'Log',
      'LogSoftmax',
      'LpNormalization',
      'LpPool',
      'MatMul',
      'Mean',
      'MeanVarianceNormalization',
      'Mish',
      'Mod',
      'Mul',
      'PRelu',
      'Pow',
      'Range',
      'Reciprocal',
      'RMSNormalization',
      'Round',
      'Selu',
      'Shrink',
      'Sigmoid',
      'Sign',
      'Sin',
      'Sinh',
      'Softmax',
      'Softplus',
      'Softsign',
      'Sqrt',
      'Sub',
      'Sum',
      'Tan',
      'Tanh',
      'ThresholdedRelu',
      'Not',
      'And',
      'Or',
      'Xor',
      'BitShift',
      'Det',
      'Swish',
    ].map((op) => [op, PLAIN]),
  ),
  // pure data movement (and exact selections)
  ...Object.fromEntries(
    ['Identity', 'Transpose', 'Flatten', 'Concat', 'DepthToSpace', 'SpaceToDepth', 'Max', 'Min', 'Neg', 'Relu', 'GlobalMaxPool'].map((op) => [op, MOVE]),
  ),
  Reshape: { fixedInputs: [1], kind: 'movement' },
  Expand: { fixedInputs: [1], kind: 'movement' },
  Tile: { fixedInputs: [1], kind: 'movement' },
  Gather: { fixedInputs: [1], kind: 'movement' },
  GatherElements: { fixedInputs: [1], kind: 'movement' },
  GatherND: { fixedInputs: [1], kind: 'movement' },
  ScatterElements: { fixedInputs: [1], kind: 'movement' },
  ScatterND: { fixedInputs: [1], kind: 'movement' },
  Slice: { fixedInputs: [1, 2, 3, 4], kind: 'movement' },
  Squeeze: { fixedInputs: [1], kind: 'movement' },
  Unsqueeze: { fixedInputs: [1], kind: 'movement' },
  Split: { fixedInputs: [1], kind: 'movement' },
  Pad: { fixedInputs: [1, 3], kind: 'movement' },
  Trilu: { fixedInputs: [1], kind: 'movement' },
  Where: { fixedInputs: [0], kind: 'movement', outputs: (_n, t) => [t[1] ?? t[2]] },
  ReverseSequence: { fixedInputs: [1], kind: 'movement' },
  Compress: { fixedInputs: [1], kind: 'movement' },
  ReduceMax: { fixedInputs: [1], kind: 'movement' },
  ReduceMin: { fixedInputs: [1], kind: 'movement' },
  MaxPool: { fixedOutputs: [1], kind: 'movement', outputs: (n, t) => [t[0], INT64].slice(0, n.output.length) },
  Dropout: { fixedInputs: [1, 2], fixedOutputs: [1], kind: 'movement', outputs: (n, t) => [t[0], BOOL].slice(0, n.output.length) },
  // reductions with an axes input (opset 13/18)
  ReduceSum: reduce,
  ReduceMean: reduce,
  ReduceProd: reduce,
  ReduceL1: reduce,
  ReduceL2: reduce,
  ReduceLogSum: reduce,
  ReduceLogSumExp: reduce,
  ReduceSumSquare: reduce,
  CumSum: { fixedInputs: [1] },
  // outputs of other types
  Shape: { fixedInputs: [0], fixedOutputs: [0], outputs: () => [INT64] },
  Size: { fixedInputs: [0], fixedOutputs: [0], outputs: () => [INT64] },
  NonZero: index64,
  ArgMax: index64,
  ArgMin: index64,
  Equal: cmp,
  Less: cmp,
  LessOrEqual: cmp,
  Greater: cmp,
  GreaterOrEqual: cmp,
  IsNaN: cmp,
  IsInf: cmp,
  TopK: { fixedInputs: [1], fixedOutputs: [1], outputs: (_n, t) => [t[0], INT64] },
  Unique: { fixedOutputs: [1, 2, 3], outputs: (n, t) => [t[0], INT64, INT64, INT64].slice(0, n.output.length) },
  LayerNormalization: {
    fixedOutputs: [1, 2],
    outputs: (n, t) => {
      const stash = getIntAttribute(n, 'stash_type', FLOAT);
      return [t[0], stash, stash].slice(0, n.output.length);
    },
  },
  Resize: { fixedInputs: [1, 2, 3] },
  Upsample: { fixedInputs: [1] },
  RoiAlign: { fixedInputs: [2] },
  GridSample: { fixedInputs: [1] },
  AffineGrid: { fixedInputs: [1] },
  OneHot: { fixedInputs: [0, 1], outputs: (_n, t) => [t[2]] },
  NonMaxSuppression: { fixedInputs: [0, 1, 2, 3, 4], fixedOutputs: [0], outputs: () => [INT64] },
  DequantizeLinear: { fixedInputs: [0, 2], outputs: (n, t) => [getIntAttribute(n, 'output_dtype') || t[1]] },
  QuantizeLinear: { fixedInputs: [2], fixedOutputs: [0], outputs: (n, t) => [t[2] ?? (getIntAttribute(n, 'output_dtype') || UINT8)] },
  MatMulInteger: { fixedInputs: [0, 1, 2, 3], fixedOutputs: [0], outputs: () => [INT32] },
  ConvInteger: { fixedInputs: [0, 1, 2, 3], fixedOutputs: [0], outputs: () => [INT32] },
  // type set by an attribute
  Cast: { fixedInputs: [0], outputs: (n) => [getIntAttribute(n, 'to')] },
  CastLike: { fixedInputs: [0], outputs: (_n, t) => [t[1]] },
  Constant: { outputs: (n) => [constantType(n)] },
  ConstantOfShape: { fixedInputs: [0], outputs: (n) => [getAttribute(n, 'value')?.t?.dataType ?? FLOAT] },
  EyeLike: { fixedInputs: [0], outputs: (n, t) => [dtypeAttr(n, t[0])] },
  RandomNormal: { outputs: (n) => [dtypeAttr(n, FLOAT)] },
  RandomUniform: { outputs: (n) => [dtypeAttr(n, FLOAT)] },
  RandomNormalLike: { fixedInputs: [0], outputs: (n, t) => [dtypeAttr(n, t[0])] },
  RandomUniformLike: { fixedInputs: [0], outputs: (n, t) => [dtypeAttr(n, t[0])] },
  Bernoulli: { fixedInputs: [0], outputs: (n, t) => [dtypeAttr(n, t[0])] },
  Multinomial: { fixedInputs: [0], fixedOutputs: [0], outputs: (n) => [dtypeAttr(n, INT32)] },
  // control flow: the outputs' types are the bodies' output types
  If: { fixedInputs: [0], outputs: (n) => graphOutputTypes(getAttribute(n, 'then_branch')?.g) },
  Loop: { fixedInputs: [0, 1], outputs: (n) => graphOutputTypes(getAttribute(n, 'body')?.g, 1) },
  Scan: { outputs: (n) => graphOutputTypes(getAttribute(n, 'body')?.g) },
});

export const CONTROL_FLOW_OPS: ReadonlySet<string> = new Set(['If', 'Loop', 'Scan']);

/** The signature of `node`'s op, or undefined for ops outside the standard domain or unknown here. */
export function opSignature(node: NodeProto): OpSignature | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  return OP_SIGNATURES[node.opType];
}

/** Element types of `node`'s outputs given its input types (undefined where unknown). */
export function inferOutputTypes(node: NodeProto, inputs: Types): Types {
  const sig = opSignature(node);
  if (!sig) return node.output.map(() => undefined);
  if (sig.outputs) {
    const out = sig.outputs(node, inputs);
    return node.output.map((_, i) => out[i]);
  }
  const t = tOf(node, inputs, sig);
  return node.output.map((_, i) => ((sig.fixedOutputs ?? []).includes(i) ? undefined : t));
}

/** Names a graph reads from enclosing scopes: used by its nodes (or nested graphs) but defined nowhere inside. */
export function outerScopeInputs(graph: GraphProto): Set<string> {
  const defined = new Set<string>();
  for (const i of graph.input) defined.add(i.name);
  for (const t of graph.initializer) defined.add(t.name);
  for (const s of graph.sparseInitializer) if (s.values) defined.add(s.values.name);
  for (const n of graph.node) for (const o of n.output) if (o) defined.add(o);
  const used = new Set<string>();
  for (const n of graph.node) {
    for (const i of n.input) if (i) used.add(i);
    for (const g of subgraphsOf(n)) for (const i of outerScopeInputs(g)) used.add(i);
  }
  for (const o of graph.output) used.add(o.name);
  const out = new Set<string>();
  for (const u of used) if (!defined.has(u)) out.add(u);
  return out;
}

/**
 * Element types of every tensor `graph` names (inputs, initializers, value_info, node outputs),
 * seeded with `outer` (types from enclosing graphs). Declared types (value_info, inputs,
 * outputs) win over inferred ones unless `trustValueInfo` is false (then only graph inputs
 * are taken as declared). Types that cannot be found are absent from the map.
 */
export function inferElemTypes(graph: GraphProto, outer?: ReadonlyMap<string, number>, options: { trustValueInfo?: boolean } = {}): Map<string, number> {
  const types = new Map<string, number>(outer ?? []);
  for (const t of graph.initializer) types.set(t.name, t.dataType);
  for (const s of graph.sparseInitializer) if (s.values) types.set(s.values.name, s.values.dataType);
  const declared = new Map<string, number>();
  const sources = options.trustValueInfo === false ? graph.input : [...graph.input, ...graph.valueInfo, ...graph.output];
  for (const v of sources) {
    const t = elemTypeOf(v.type);
    if (t !== undefined) declared.set(v.name, t);
  }
  for (const i of graph.input) {
    const t = declared.get(i.name);
    if (t !== undefined) types.set(i.name, t);
  }
  for (const node of topologicalOrder(graph)) {
    const inputs = node.input.map((i) => (i === '' ? undefined : types.get(i)));
    const out = inferOutputTypes(node, inputs);
    node.output.forEach((o, k) => {
      if (!o) return;
      const t = declared.get(o) ?? out[k];
      if (t !== undefined) types.set(o, t);
    });
  }
  return types;
}

/**
 * Nodes in an order where every producer comes before its consumers (Kahn's algorithm, stable:
 * nodes already in order keep their order). Uses through subgraphs count as uses by the node
 * holding the subgraph. Names produced by no node (graph inputs, initializers, outer scope) are
 * available from the start. Throws on a cycle.
 */
export function topologicalOrder(graph: GraphProto): NodeProto[] {
  const nodes = graph.node;
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output) if (o) producer.set(o, i);
  });
  const deps: number[][] = nodes.map(() => []);
  const pending = new Int32Array(nodes.length);
  const users: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    const names = new Set<string>(n.input.filter((x) => x !== ''));
    for (const g of subgraphsOf(n)) for (const x of outerScopeInputs(g)) names.add(x);
    for (const name of names) {
      const p = producer.get(name);
      if (p === undefined || p === i) continue;
      deps[i]!.push(p);
      users[p]!.push(i);
      pending[i]!++;
    }
  });
  // A min-heap on the original index keeps the order stable.
  const heap: number[] = [];
  const push = (v: number): void => {
    heap.push(v);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]! <= heap[i]!) break;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]! < heap[m]!) m = l;
        if (r < heap.length && heap[r]! < heap[m]!) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  for (let i = 0; i < nodes.length; i++) if (pending[i] === 0) push(i);
  const order: NodeProto[] = [];
  while (heap.length > 0) {
    const i = pop();
    order.push(nodes[i]!);
    for (const u of users[i]!) if (--pending[u]! === 0) push(u);
  }
  if (order.length !== nodes.length) {
    const stuck = nodes
      .filter((_, i) => pending[i]! > 0)
      .slice(0, 5)
      .map((n) => JSON.stringify(n.name || n.opType));
    throw new OnnxError(`graph ${JSON.stringify(graph.name)} has a cycle (or a node consuming its own output); involved: ${stuck.join(', ')}`, {
      reason: 'cycle',
    });
  }
  return order;
}
