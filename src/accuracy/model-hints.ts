/**
 * What an ONNX graph says about sensible input values. Token ids index an embedding table:
 * an integer graph input used as the indices of a Gather over an initializer of V rows takes
 * values in [0, V - 1]; anything larger makes ONNX Runtime fail (or TensorRT read out of
 * bounds), so the generator should not draw them.
 */
import type { ModelProto } from '../onnx/index.js';
import { getIntAttribute, tensorProtoDims } from '../onnx/index.js';

const INTEGER_TYPES = new Set([2, 3, 4, 5, 6, 7, 12, 13]); // uint8 int8 uint16 int16 int32 int64 uint32 uint64

/** Inclusive value ranges for graph inputs that index embedding tables, by input name. */
export function inferValueRanges(model: ModelProto): Record<string, [number, number]> {
  const graph = model.graph;
  if (!graph) return {};
  const shapes = new Map<string, number[]>(graph.initializer.map((t) => [t.name, tensorProtoDims(t)]));
  const inits = new Set(graph.initializer.map((t) => t.name));
  const intInputs = new Set(
    graph.input.filter((i) => !inits.has(i.name) && i.type?.value.case === 'tensorType' && INTEGER_TYPES.has(i.type.value.value.elemType)).map((i) => i.name),
  );
  const out: Record<string, [number, number]> = {};
  for (const node of graph.node) {
    if (node.opType !== 'Gather' || node.domain !== '' || node.input.length < 2) continue;
    const [data, indices] = node.input as [string, string];
    const dims = shapes.get(data);
    if (dims === undefined || dims.length === 0 || !intInputs.has(indices)) continue;
    let axis = getIntAttribute(node, 'axis', 0);
    if (axis < 0) axis += dims.length;
    const v = dims[axis];
    if (v === undefined || v < 1) continue;
    const prev = out[indices];
    out[indices] = [0, prev === undefined ? v - 1 : Math.min(prev[1], v - 1)];
  }
  return out;
}
