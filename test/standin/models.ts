/**
 * ONNX models for the stand-ins, written with the project's own GraphBuilder. The stand-in
 * parser reads graph inputs, outputs and node names/op types only; each output is produced by a
 * node of the custom domain "standin.test" so the graph is well formed. Markers the stand-in
 * understands (README.md, "Markers in the model"): ops ending in _TRT (TensorRT plugins), NonZero
 * producers (data-dependent shapes), integer inputs of rank <= 1 feeding a shape slot (shape
 * tensors), and metadata "standin.aliases" = "output=input,...".
 */
import { GraphBuilder, encodeModel, type ModelProto } from '../../src/onnx/index.js';
import type { Dim } from '../../src/session.js';
import { Tensor, type DataType } from '../../src/tensor.js';

export interface TensorSpec {
  name: string;
  dtype: DataType;
  dims: Dim[];
}

export interface NodeSpec {
  name: string;
  op: string;
  inputs: string[];
  outputs: string[];
  domain?: string;
}

export interface ModelSpec {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Extra nodes (markers); every output not produced by one gets a standin.test node. */
  nodes?: NodeSpec[];
  metadata?: Record<string, string>;
  /** float32 initializers of this many elements (written as external data when large enough). */
  initializers?: Array<{ name: string; elements: number }>;
}

export const STANDIN_DOMAIN = 'standin.test';

export function standinModel(spec: ModelSpec): Uint8Array {
  return encodeModel(standinModelProto(spec));
}

export function standinModelProto(spec: ModelSpec): ModelProto {
  const b = new GraphBuilder({ opset: 17, opsets: { [STANDIN_DOMAIN]: 1 } });
  for (const t of spec.inputs) b.input(t.name, t.dtype, t.dims);
  for (const w of spec.initializers ?? []) b.initializer(w.name, Tensor.zeros('float32', [w.elements]));
  const produced = new Set<string>();
  for (const n of spec.nodes ?? []) {
    b.node(n.op, n.inputs, {}, { name: n.name, outputs: n.outputs, ...(n.domain ? { domain: n.domain } : {}) });
    n.outputs.forEach((o) => produced.add(o));
  }
  const inputNames = [...spec.inputs.map((t) => t.name), ...(spec.initializers ?? []).map((w) => w.name)];
  for (const t of spec.outputs) {
    if (!produced.has(t.name)) b.node('Compute', inputNames, {}, { name: `/head/${t.name}`, outputs: [t.name], domain: STANDIN_DOMAIN });
    b.output(t.name, t.dtype, t.dims);
  }
  return b.build({ producerName: 'tensorrt-node stand-in tests', ...(spec.metadata ? { metadata: spec.metadata } : {}) });
}

/** A BERT-like encoder's I/O: token inputs [batch, sequence], per-token states and per-row logits. */
export function encoderSpec(options: { hidden?: number; labels?: number; logits?: DataType; states?: DataType } = {}): ModelSpec {
  return {
    inputs: [
      { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
      { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
    ],
    outputs: [
      { name: 'last_hidden_state', dtype: options.states ?? 'float32', dims: ['batch', 'sequence', options.hidden ?? 4] },
      { name: 'logits', dtype: options.logits ?? 'float16', dims: ['batch', options.labels ?? 3] },
    ],
  };
}
