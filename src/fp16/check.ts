/**
 * Structural checks of a mixed-precision model, as a strongly typed TensorRT network needs it:
 * every tensor's element type is determined, no node mixes float types among inputs and
 * outputs that share its type T (TensorRT 11 inserts no casts), declared value_info agrees
 * with the types, and no Cast undoes the Cast before it.
 */
import { subgraphsOf } from '../onnx/attributes.js';
import { elemTypeOf, inferElemTypes, opSignature } from '../onnx/ops.js';
import { TENSOR_TYPE, type GraphProto, type ModelProto } from '../onnx/schema.js';
import { onnxTypeName } from '../onnx/tensor-proto.js';
import { getIntAttribute } from '../onnx/attributes.js';

const FLOATS = new Set<number>([TENSOR_TYPE.FLOAT, TENSOR_TYPE.FLOAT16, TENSOR_TYPE.BFLOAT16, TENSOR_TYPE.DOUBLE]);

export interface PrecisionProblem {
  kind: 'untyped' | 'mixed' | 'value-info' | 'cancelling-casts';
  /** The node (name or op#index) or tensor concerned. */
  where: string;
  message: string;
}

/** Lists the problems found (empty when the model passes). Ops unknown to the converter are only checked for typed outputs. */
export function checkMixedPrecision(model: ModelProto): PrecisionProblem[] {
  const problems: PrecisionProblem[] = [];
  const visit = (graph: GraphProto, outer: Map<string, number>): void => {
    const types = inferElemTypes(graph, outer);
    const inferred = inferElemTypes(graph, outer, { trustValueInfo: false });
    for (const v of [...graph.valueInfo, ...graph.output]) {
      const declared = elemTypeOf(v.type);
      const got = inferred.get(v.name);
      if (declared !== undefined && got !== undefined && declared !== got) {
        problems.push({
          kind: 'value-info',
          where: v.name,
          message: `${v.name} is declared ${onnxTypeName(declared)} but its producer gives ${onnxTypeName(got)}`,
        });
      }
    }
    const producer = new Map<string, { op: string; to?: number; input: string }>();
    graph.node.forEach((n) => {
      for (const o of n.output) if (o) producer.set(o, { op: n.opType, to: getIntAttribute(n, 'to'), input: n.input[0] ?? '' });
    });
    graph.node.forEach((n, i) => {
      const where = n.name || `${n.opType}#${i}`;
      for (const o of n.output) {
        if (o && types.get(o) === undefined)
          problems.push({ kind: 'untyped', where, message: `output ${JSON.stringify(o)} of ${where} has no determinable type` });
      }
      const sig = opSignature(n);
      if (sig) {
        const fixedIn = sig.fixedInputs ?? [];
        const fixedOut = sig.fixedOutputs ?? [];
        const seen = new Map<number, string>();
        n.input.forEach((x, p) => {
          const t = types.get(x);
          if (x && !fixedIn.includes(p) && t !== undefined && FLOATS.has(t)) seen.set(t, x);
        });
        n.output.forEach((x, p) => {
          const t = types.get(x);
          if (x && !fixedOut.includes(p) && !sig.outputs && t !== undefined && FLOATS.has(t)) seen.set(t, x);
        });
        if (seen.size > 1) {
          problems.push({
            kind: 'mixed',
            where,
            message: `${where} (${n.opType}) mixes ${[...seen].map(([t, x]) => `${onnxTypeName(t)} (${x})`).join(' and ')}`,
          });
        }
      }
      if (n.opType === 'Cast') {
        const p = producer.get(n.input[0]!);
        if (p?.op === 'Cast' && types.get(p.input) === getIntAttribute(n, 'to')) {
          problems.push({
            kind: 'cancelling-casts',
            where,
            message: `${where} casts ${JSON.stringify(p.input)} back to the type it had before the Cast that feeds it`,
          });
        }
      }
      for (const g of subgraphsOf(n)) visit(g, types);
    });
  };
  if (model.graph) visit(model.graph, new Map());
  return problems;
}
