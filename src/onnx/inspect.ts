/**
 * inspectModel(): what a model takes and gives, which opsets it needs, its weights and ops.
 */
import { isDataType, type DataType } from '../tensor.js';
import type { Dim } from '../session.js';
import { subgraphsOf } from './attributes.js';
import { dimsOf } from './graph.js';
import type { GraphProto, ModelProto, TypeProto, ValueInfoProto } from './schema.js';
import { isExternal, onnxTypeName, tensorProtoByteSize, tensorProtoDims } from './tensor-proto.js';

export interface OnnxValueInfo {
  name: string;
  /** Our DataType name where supported, else the ONNX type name (e.g. "double"); "" for non-tensors. */
  dtype: DataType | string;
  /** The ONNX TensorProto.DataType number (0 when unknown or not a tensor). */
  elemType: number;
  /** Dims: numbers, symbolic names (e.g. "batch"), -1 when unknown; null when the rank is unknown. */
  dims: Dim[] | null;
  /** "tensor" or the kind of a non-tensor value (sequence, map, optional, sparse_tensor), "unknown" without a type. */
  kind: 'tensor' | 'sequence' | 'map' | 'optional' | 'sparse_tensor' | 'unknown';
  /** Whether `dtype` is one of our DataTypes (usable with Tensor and the sessions). */
  supported: boolean;
}

export interface OnnxInitializerInfo {
  name: string;
  dtype: DataType | string;
  elemType: number;
  dims: number[];
  /** Bytes of the elements (whether inline or external); 0 for strings. */
  bytes: number;
  /** The data is in an external file that was not loaded. */
  external: boolean;
}

export interface ModelInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graphName: string;
  /** Opset imports; domain "" is the default ai.onnx domain. */
  opsets: { domain: string; version: number }[];
  /** Graph inputs that are not initializers. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** Initializers of the main graph. */
  initializers: OnnxInitializerInfo[];
  /** Nodes of the main graph. */
  nodeCount: number;
  /** Nodes per op type over all graphs (subgraphs included); ops of other domains as "domain:Op". */
  opCounts: Record<string, number>;
  /** Elements over all initializers of the main graph. */
  parameterCount: number;
  initializerBytes: number;
  metadata: Record<string, string>;
}

function describeValue(v: ValueInfoProto): OnnxValueInfo {
  const type: TypeProto | undefined = v.type;
  const kinds: Record<string, OnnxValueInfo['kind']> = {
    tensorType: 'tensor',
    sequenceType: 'sequence',
    mapType: 'map',
    optionalType: 'optional',
    sparseTensorType: 'sparse_tensor',
  };
  const kind = type?.value.case ? kinds[type.value.case]! : 'unknown';
  const elemType = type?.value.case === 'tensorType' || type?.value.case === 'sparseTensorType' ? type.value.value.elemType : 0;
  const dtype = elemType ? onnxTypeName(elemType) : '';
  return {
    name: v.name,
    dtype,
    elemType,
    dims: dimsOf(type) ?? null,
    kind,
    supported: kind === 'tensor' && isDataType(dtype),
  };
}

function countOps(graph: GraphProto, counts: Record<string, number>): void {
  for (const n of graph.node) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.opType}` : n.opType;
    counts[key] = (counts[key] ?? 0) + 1;
    for (const g of subgraphsOf(n)) countOps(g, counts);
  }
}

export function inspectModel(model: ModelProto): ModelInfo {
  const graph = model.graph;
  const initNames = new Set(graph?.initializer.map((t) => t.name) ?? []);
  const initializers: OnnxInitializerInfo[] = (graph?.initializer ?? []).map((t) => ({
    name: t.name,
    dtype: onnxTypeName(t.dataType),
    elemType: t.dataType,
    dims: tensorProtoDims(t),
    bytes: tensorProtoByteSize(t) ?? 0,
    external: isExternal(t),
  }));
  const opCounts: Record<string, number> = {};
  if (graph) countOps(graph, opCounts);
  return {
    irVersion: Number(model.irVersion),
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    domain: model.domain,
    modelVersion: Number(model.modelVersion),
    docString: model.docString,
    graphName: graph?.name ?? '',
    opsets: model.opsetImport.map((o) => ({ domain: o.domain === 'ai.onnx' ? '' : o.domain, version: Number(o.version) })),
    inputs: (graph?.input ?? []).filter((i) => !initNames.has(i.name)).map(describeValue),
    outputs: (graph?.output ?? []).map(describeValue),
    initializers,
    nodeCount: graph?.node.length ?? 0,
    opCounts,
    parameterCount: initializers.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0),
    initializerBytes: initializers.reduce((a, t) => a + t.bytes, 0),
    metadata: Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value])),
  };
}

/** The ai.onnx opset version the model imports (0 when it imports none). */
export function defaultOpset(model: ModelProto): number {
  const o = model.opsetImport.find((x) => x.domain === '' || x.domain === 'ai.onnx');
  return o ? Number(o.version) : 0;
}
