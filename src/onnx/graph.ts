/**
 * Graph edits: producer/consumer maps, adding and removing nodes, renaming tensors, value_info
 * updates, exposing intermediate tensors as graph outputs, fresh names.
 *
 * All edits work in place on protobuf-es messages; use cloneModel() first to keep the original.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidArgumentError, OnnxError } from '../errors.js';
import type { Dim } from '../session.js';
import { makeAttribute, subgraphsOf, type AttributeValue } from './attributes.js';
import { cloneModel } from './model.js';
import { elemTypeOf, inferElemTypes, outerScopeInputs, topologicalOrder } from './ops.js';
import {
  NodeProtoSchema,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TypeProto,
  type ValueInfoProto,
} from './schema.js';
import { onnxTypeName } from './tensor-proto.js';

export { topologicalOrder, inferElemTypes, outerScopeInputs } from './ops.js';

/** Sorts `graph.node` (in place) so producers come before consumers. */
export function sortGraph(graph: GraphProto): void {
  graph.node = topologicalOrder(graph);
}

/** tensor name -> the node producing it (in this graph only). */
export function producerMap(graph: GraphProto): Map<string, NodeProto> {
  const map = new Map<string, NodeProto>();
  for (const n of graph.node) for (const o of n.output) if (o) map.set(o, n);
  return map;
}

/**
 * tensor name -> the nodes reading it, in node order, each node once. A node whose subgraph
 * reads the tensor from the outer scope counts as a consumer.
 */
export function consumerMap(graph: GraphProto): Map<string, NodeProto[]> {
  const map = new Map<string, NodeProto[]>();
  for (const n of graph.node) {
    const names = new Set(n.input.filter((i) => i !== ''));
    for (const g of subgraphsOf(n)) for (const i of outerScopeInputs(g)) names.add(i);
    for (const name of names) {
      let list = map.get(name);
      if (!list) map.set(name, (list = []));
      list.push(n);
    }
  }
  return map;
}

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attributes?: Readonly<Record<string, AttributeValue>>;
}

export function makeNode(spec: NodeSpec): NodeProto {
  return create(NodeProtoSchema, {
    opType: spec.opType,
    input: [...spec.inputs],
    output: [...spec.outputs],
    name: spec.name ?? '',
    domain: spec.domain ?? '',
    attribute: Object.entries(spec.attributes ?? {}).map(([k, v]) => makeAttribute(k, v)),
  });
}

/**
 * Inserts nodes into `graph`: before `before` when given, else at the end. The graph stays
 * valid only if the caller keeps producers before consumers (or calls sortGraph after).
 */
export function addNodes(graph: GraphProto, nodes: readonly NodeProto[], options: { before?: NodeProto } = {}): void {
  if (options.before) {
    const at = graph.node.indexOf(options.before);
    if (at < 0) throw new InvalidArgumentError('addNodes: options.before is not a node of this graph');
    graph.node.splice(at, 0, ...nodes);
  } else {
    graph.node.push(...nodes);
  }
}

/** Removes the given nodes (or those matching a predicate) from `graph`; returns how many were removed. */
export function removeNodes(graph: GraphProto, which: Iterable<NodeProto> | ((node: NodeProto) => boolean)): number {
  const drop =
    typeof which === 'function'
      ? which
      : (
          (set) => (n: NodeProto) =>
            set.has(n)
        )(new Set(which));
  const before = graph.node.length;
  graph.node = graph.node.filter((n) => !drop(n));
  return before - graph.node.length;
}

/**
 * Renames tensor `from` to `to` everywhere in `graph`: node inputs and outputs, graph inputs,
 * outputs, initializers, value_info, and reads from nested subgraphs that do not define a
 * tensor of that name themselves.
 */
export function renameTensor(graph: GraphProto, from: string, to: string): void {
  if (from === to) return;
  for (const n of graph.node) {
    n.input = n.input.map((i) => (i === from ? to : i));
    n.output = n.output.map((o) => (o === from ? to : o));
    for (const g of subgraphsOf(n)) renameOuterUse(g, from, to);
  }
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) if (v.name === from) v.name = to;
  for (const t of graph.initializer) if (t.name === from) t.name = to;
}

/** Renames reads of an outer-scope tensor inside a subgraph (not where the subgraph shadows it). */
export function renameOuterUse(graph: GraphProto, from: string, to: string): void {
  if (!outerScopeInputs(graph).has(from)) return;
  for (const n of graph.node) {
    n.input = n.input.map((i) => (i === from ? to : i));
    for (const g of subgraphsOf(n)) renameOuterUse(g, from, to);
  }
  for (const o of graph.output) if (o.name === from) o.name = to;
}

/** A tensor type: element type and dims (numbers, symbolic names, -1 unknown); dims undefined means unknown rank. */
export function makeTensorType(elemType: number, dims?: readonly Dim[]): TypeProto {
  const tensor = create(TypeProto_TensorSchema, { elemType });
  if (dims) {
    tensor.shape = create(TensorShapeProtoSchema, {
      dim: dims.map((d) =>
        typeof d === 'string'
          ? create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: d } })
          : d >= 0
            ? create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: BigInt(d) } })
            : create(TensorShapeProto_DimensionSchema, {}),
      ),
    });
  }
  return create(TypeProtoSchema, { value: { case: 'tensorType', value: tensor } });
}

export function makeValueInfo(name: string, elemType: number, dims?: readonly Dim[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, { name, type: makeTensorType(elemType, dims) });
}

/** Dims of a tensor type: numbers, symbolic names, -1 for unknown; undefined when the rank is unknown. */
export function dimsOf(type: TypeProto | undefined): Dim[] | undefined {
  if (type?.value.case !== 'tensorType' || !type.value.value.shape) return undefined;
  return type.value.value.shape.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : -1));
}

/** name -> ValueInfoProto over the graph's inputs, outputs and value_info (value_info last wins). */
export function valueInfoMap(graph: GraphProto): Map<string, ValueInfoProto> {
  const map = new Map<string, ValueInfoProto>();
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) map.set(v.name, v);
  return map;
}

/**
 * Sets the element type of `name` wherever the graph declares it (inputs, outputs, value_info);
 * with `dims`, also adds a value_info entry when there is none. Returns whether a declaration changed or was added.
 */
export function setElemType(graph: GraphProto, name: string, elemType: number, dims?: readonly Dim[]): boolean {
  let found = false;
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) {
    if (v.name !== name) continue;
    found = true;
    if (v.type?.value.case === 'tensorType') v.type.value.value.elemType = elemType;
    else v.type = makeTensorType(elemType, dims);
  }
  if (!found && dims !== undefined) {
    graph.valueInfo.push(makeValueInfo(name, elemType, dims));
    return true;
  }
  return found;
}

/** Every tensor name used anywhere in the model, including subgraphs and functions. */
export function allNames(model: ModelProto): Set<string> {
  const names = new Set<string>();
  const visit = (g: GraphProto): void => {
    for (const v of [...g.input, ...g.output, ...g.valueInfo]) names.add(v.name);
    for (const t of g.initializer) names.add(t.name);
    for (const n of g.node) {
      for (const x of [...n.input, ...n.output]) if (x) names.add(x);
      if (n.name) names.add(n.name);
      for (const sg of subgraphsOf(n)) visit(sg);
    }
  };
  if (model.graph) visit(model.graph);
  return names;
}

/** A function returning names that are not yet used in `model` (nor returned before): `base`, `base_1`, ... */
export function nameGenerator(model: ModelProto): (base: string) => string {
  const used = allNames(model);
  return (base: string) => {
    let name = base;
    for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };
}

export interface ExposeResult {
  /** A copy of the model with the extra outputs (tensor bytes shared with the original). */
  model: ModelProto;
  /** Tensors added as graph outputs, in topological order. */
  added: string[];
  /** Tensors that could not be added and why (unknown type, not a tensor of the main graph...). */
  skipped: { name: string; reason: string }[];
}

/**
 * Makes intermediate tensors of the main graph graph outputs, so a runtime returns them
 * (accuracy bisection, FP16 calibration). `names` defaults to every node output; `filter`
 * narrows by element type (e.g. only float32). Types come from value_info, else from type
 * inference; tensors whose type is unknown are skipped. The original model is not changed.
 */
export function exposeTensors(model: ModelProto, options: { names?: readonly string[]; elemTypes?: readonly number[] } = {}): ExposeResult {
  const graph = model.graph;
  if (!graph) throw new OnnxError('the model has no graph');
  const types = inferElemTypes(graph);
  const existing = new Set(graph.output.map((o) => o.name));
  const produced: string[] = [];
  for (const n of topologicalOrder(graph)) for (const o of n.output) if (o) produced.push(o);
  const producedSet = new Set(produced);
  const wanted = options.names ?? produced;
  const declared = valueInfoMap(graph);
  const added: string[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const outputs: ValueInfoProto[] = [];
  const order = new Map(produced.map((n, i) => [n, i]));
  const sorted = [...new Set(wanted)].sort((a, b) => (order.get(a) ?? -1) - (order.get(b) ?? -1));
  for (const name of sorted) {
    if (existing.has(name)) continue;
    if (!producedSet.has(name)) {
      skipped.push({ name, reason: 'not produced by a node of the main graph' });
      continue;
    }
    const t = types.get(name);
    if (t === undefined) {
      skipped.push({ name, reason: 'element type unknown (no value_info and not inferable)' });
      continue;
    }
    if (options.elemTypes && !options.elemTypes.includes(t)) {
      skipped.push({ name, reason: `element type ${onnxTypeName(t)} not requested` });
      continue;
    }
    const v = declared.get(name);
    outputs.push(makeValueInfo(name, t, v ? dimsOf(v.type) : undefined));
    added.push(name);
  }
  const copy = cloneModel(model);
  copy.graph!.output.push(...outputs);
  return { model: copy, added, skipped };
}

export { elemTypeOf };
