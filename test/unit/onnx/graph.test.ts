import { describe, expect, it } from 'vitest';
import {
  GraphBuilder,
  TENSOR_TYPE,
  consumerMap,
  createEncoderModel,
  encoderParameterCount,
  exposeTensors,
  inferElemTypes,
  inspectModel,
  nameGenerator,
  producerMap,
  removeNodes,
  renameTensor,
  resolveEncoderConfig,
  sortGraph,
  topologicalOrder,
  makeNode,
  addNodes,
  setElemType,
  outerScopeInputs,
} from '../../../src/onnx/index.js';
import { Tensor } from '../../../src/tensor.js';
import { OnnxError } from '../../../src/errors.js';

function ifModel() {
  // y = If(c, then: x * w, else: x + w); w lives in the outer graph and is read by both branches.
  const then = new GraphBuilder({ name: 'then' });
  then.op('Mul', ['x', 'w'], {}, 'then_out');
  then.output('then_out', 'float32', [2]);
  const els = new GraphBuilder({ name: 'else' });
  els.op('Add', ['x', 'w'], {}, 'else_out');
  els.output('else_out', 'float32', [2]);
  const b = new GraphBuilder();
  b.input('c', 'bool', []);
  b.input('x', 'float32', [2]);
  b.initializer('w', new Tensor('float32', [2, 3]));
  b.op('If', ['c'], { then_branch: then.buildGraph(), else_branch: els.buildGraph() }, 'y');
  b.output('y', 'float32', [2]);
  return b.build();
}

describe('graph queries', () => {
  it('producer and consumer maps see uses through subgraphs', () => {
    const model = ifModel();
    const g = model.graph!;
    const consumers = consumerMap(g);
    expect(consumers.get('w')?.map((n) => n.opType)).toEqual(['If']);
    expect(consumers.get('x')?.map((n) => n.opType)).toEqual(['If']);
    expect(producerMap(g).get('y')?.opType).toBe('If');
    expect([...outerScopeInputs(g.node[0]!.attribute[0]!.g!)].sort()).toEqual(['w', 'x']);
    expect(inferElemTypes(g).get('y')).toBe(TENSOR_TYPE.FLOAT);
  });

  it('orders nodes topologically, stably, and reports cycles', () => {
    const model = createEncoderModel();
    const g = model.graph!;
    const original = g.node.map((n) => n.name);
    expect(topologicalOrder(g).map((n) => n.name)).toEqual(original);
    g.node.reverse();
    sortGraph(g);
    const pos = new Map(g.node.map((n, i) => [n, i]));
    const producers = producerMap(g);
    for (const n of g.node)
      for (const i of n.input) {
        const p = producers.get(i);
        if (p) expect(pos.get(p)!).toBeLessThan(pos.get(n)!);
      }
    const cyc = new GraphBuilder();
    cyc.input('a', 'float32', [1]);
    cyc.op('Add', ['a', 'd'], {}, 'c');
    cyc.op('Neg', ['c'], {}, 'd');
    expect(() => topologicalOrder(cyc.buildGraph())).toThrow(OnnxError);
  });

  it('infers an element type for every tensor of the encoder', () => {
    const g = createEncoderModel({ typeVocabSize: 2 }).graph!;
    const types = inferElemTypes(g);
    for (const n of g.node) for (const o of n.output) expect(types.get(o), `${n.opType} ${o}`).toBeDefined();
    const byOp = (op: string) => g.node.filter((n) => n.opType === op).map((n) => types.get(n.output[0]!));
    expect(new Set(byOp('Shape'))).toEqual(new Set([TENSOR_TYPE.INT64]));
    expect(new Set(byOp('Cast'))).toEqual(new Set([TENSOR_TYPE.FLOAT]));
    expect(new Set(byOp('MatMul'))).toEqual(new Set([TENSOR_TYPE.FLOAT]));
  });
});

describe('graph edits', () => {
  it('renames a tensor everywhere, including reads inside subgraphs', () => {
    const model = ifModel();
    renameTensor(model.graph!, 'w', 'weights');
    const g = model.graph!;
    expect(g.initializer[0]!.name).toBe('weights');
    const branch = g.node[0]!.attribute.find((a) => a.name === 'then_branch')!.g!;
    expect(branch.node[0]!.input).toEqual(['x', 'weights']);
    renameTensor(g, 'y', 'out');
    expect(g.output[0]!.name).toBe('out');
    expect(g.node[0]!.output[0]).toBe('out');
  });

  it('adds and removes nodes and updates declared types', () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [2]);
    b.op('Relu', ['x'], {}, 'r');
    b.output('r', 'float32', [2]);
    const model = b.build();
    const g = model.graph!;
    const cast = makeNode({ opType: 'Cast', inputs: ['x'], outputs: ['x16'], attributes: { to: TENSOR_TYPE.FLOAT16 } });
    addNodes(g, [cast], { before: g.node[0] });
    expect(g.node.map((n) => n.opType)).toEqual(['Cast', 'Relu']);
    expect(inferElemTypes(g).get('x16')).toBe(TENSOR_TYPE.FLOAT16);
    expect(removeNodes(g, (n) => n.opType === 'Cast')).toBe(1);
    expect(setElemType(g, 'r', TENSOR_TYPE.FLOAT16)).toBe(true);
    expect(g.output[0]!.type!.value.case === 'tensorType' && g.output[0]!.type!.value.value.elemType).toBe(TENSOR_TYPE.FLOAT16);
    expect(setElemType(g, 'new', TENSOR_TYPE.FLOAT, [3])).toBe(true);
    expect(g.valueInfo.map((v) => v.name)).toEqual(['new']);
    const fresh = nameGenerator(model);
    expect(fresh('x')).toBe('x_1');
    expect(fresh('x')).toBe('x_2');
    expect(fresh('unused')).toBe('unused');
  });

  it('exposes intermediate tensors as outputs on a copy', () => {
    const model = createEncoderModel();
    const softmaxOut = model.graph!.node.filter((n) => n.opType === 'Softmax').map((n) => n.output[0]!);
    const { model: exposed, added, skipped } = exposeTensors(model, { names: [...softmaxOut, 'input_ids', 'logits'] });
    expect(added).toEqual(softmaxOut);
    expect(skipped).toEqual([{ name: 'input_ids', reason: 'not produced by a node of the main graph' }]);
    expect(exposed.graph!.output.map((o) => o.name)).toEqual(['last_hidden_state', 'logits', ...softmaxOut]);
    expect(model.graph!.output).toHaveLength(2);
    const all = exposeTensors(model, { elemTypes: [TENSOR_TYPE.FLOAT] });
    expect(all.added.length).toBeGreaterThan(50);
    expect(all.skipped.every((s) => /not requested/.test(s.reason))).toBe(true);
  });
});

describe('inspectModel', () => {
  it('describes the encoder', () => {
    const model = createEncoderModel({ layers: 3, hidden: 32, heads: 2, intermediate: 64, classes: 5, typeVocabSize: 2 });
    const info = inspectModel(model);
    expect(info.irVersion).toBe(8);
    expect(info.opsets).toEqual([{ domain: '', version: 17 }]);
    expect(info.inputs.map((i) => [i.name, i.dtype, i.dims])).toEqual([
      ['input_ids', 'int64', ['batch', 'sequence']],
      ['attention_mask', 'int64', ['batch', 'sequence']],
      ['token_type_ids', 'int64', ['batch', 'sequence']],
    ]);
    expect(info.outputs.map((o) => [o.name, o.dtype, o.dims])).toEqual([
      ['last_hidden_state', 'float32', ['batch', 'sequence', 32]],
      ['logits', 'float32', ['batch', 5]],
    ]);
    const cfg = resolveEncoderConfig({ layers: 3, hidden: 32, heads: 2, intermediate: 64, classes: 5, typeVocabSize: 2 });
    const weights = info.initializers.filter((i) => i.dtype === 'float32' && i.dims.length > 0 && !i.name.startsWith('/'));
    expect(weights.reduce((a, w) => a + w.dims.reduce((x, y) => x * y, 1), 0)).toBe(encoderParameterCount(cfg));
    expect(info.opCounts.LayerNormalization).toBe(1 + 2 * 3);
    expect(info.opCounts.Softmax).toBe(3);
    expect(info.opCounts.MatMul).toBe(3 * 8 + 2);
    expect(info.initializers.find((i) => i.name === 'embeddings.word_embeddings.weight')).toMatchObject({
      dims: [1024, 32],
      bytes: 1024 * 32 * 4,
      external: false,
    });
    expect(JSON.parse(info.metadata['tensorrt-node.encoder']!)).toMatchObject({ layers: 3, hidden: 32 });
  });
});
