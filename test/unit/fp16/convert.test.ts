import { describe, expect, it } from 'vitest';
import {
  GraphBuilder,
  TENSOR_TYPE,
  createEncoderModel,
  encodeModel,
  floatAttr,
  inferElemTypes,
  makeNode,
  type ModelProto,
  type NodeProto,
} from '../../../src/onnx/index.js';
import { convertToFloat16, checkMixedPrecision, DEFAULT_FP16_BLOCK_OPS } from '../../../src/fp16/index.js';
import { Tensor } from '../../../src/tensor.js';
import { InvalidArgumentError, OnnxError } from '../../../src/errors.js';

const { FLOAT, FLOAT16 } = TENSOR_TYPE;

function weights(n: number, scale = 0.1, offset = 0): Tensor<'float32'> {
  return new Tensor(
    'float32',
    Float32Array.from({ length: n }, (_, i) => offset + scale * Math.sin(i + 1)),
    [n],
  );
}

/** x [2,4] -> MatMul(W) -> Add(b) -> Relu -> LayerNorm -> MatMul(W2) -> y */
function mlp(): ModelProto {
  const b = new GraphBuilder();
  b.input('x', 'float32', ['batch', 4]);
  const w = b.initializer('W', weights(16).reshape([4, 4]));
  const h = b.op('Add', [b.op('MatMul', ['x', w]), b.initializer('b', weights(4))]);
  const r = b.op('Relu', [h]);
  const ln = b.op('LayerNormalization', [r, b.initializer('g', weights(4, 0.01, 1)), b.initializer('beta', weights(4, 0.01))], {
    epsilon: floatAttr(1e-5),
  });
  b.op('MatMul', [ln, b.initializer('W2', weights(8).reshape([4, 2]))], {}, 'y');
  b.output('y', 'float32', ['batch', 2]);
  return b.build();
}

const typesOf = (m: ModelProto) => inferElemTypes(m.graph!);
const nodesOf = (m: ModelProto, op: string): NodeProto[] => m.graph!.node.filter((n) => n.opType === op);

describe('convertToFloat16: options', () => {
  it('refuses bad options with InvalidArgumentError naming them', async () => {
    const m = mlp();
    await expect(convertToFloat16(m, { initMax: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(convertToFloat16(m, { initMax: -1 })).rejects.toThrow(/initMax/);
    await expect(convertToFloat16(m, { blockNodes: ['(unclosed'] })).rejects.toThrow(/blockNodes\.0: invalid regular expression/);
    await expect(convertToFloat16(m, { keepIOTypes: true } as never)).rejects.toThrow(/unknown option/);
    await expect(convertToFloat16(m, { calibrationData: [] })).rejects.toThrow(/calibrationData/);
    await expect(convertToFloat16({} as never)).rejects.toThrow(/must be a ModelProto/);
    await expect(convertToFloat16(m, { maxReductionDepth: 0 })).rejects.toThrow(/maxReductionDepth/);
    await expect(convertToFloat16(m, { maxReductionDepth: Infinity })).resolves.toBeDefined();
  });

  it('refuses op types in the block lists that neither ONNX nor the model has, naming them', async () => {
    const m = mlp();
    await expect(convertToFloat16(m, { extraBlockOps: ['NoSuchOp'] })).rejects.toThrow(InvalidArgumentError);
    await expect(convertToFloat16(m, { blockOps: ['Softmax', 'NoSuchOp', 'layernorm'] })).rejects.toThrow(
      /unknown op types "NoSuchOp", "layernorm" in the block list/,
    );
    // Known ONNX op types that this model lacks are fine, and so are the model's own (custom) ones.
    await expect(convertToFloat16(m, { extraBlockOps: ['Softmax', 'Gelu'] })).resolves.toBeDefined();
  });

  it('calibrates on generated inputs by default and says what it checked on what', async () => {
    const { report } = await convertToFloat16(mlp());
    const c = report.calibration;
    expect(c).toMatchObject({ source: 'random', generated: { seed: 1, batch: 2, seq: 128, iterations: 2 }, runs: 2, dataMax: 512, keptByDataMax: 0 });
    expect(c.inputs).toEqual([{ name: 'x', dtype: 'float32', dims: [2, 4], min: expect.any(Number), max: expect.any(Number) }]);
    expect(c.inputs[0]!.min).toBeGreaterThanOrEqual(0);
    expect(c.inputs[0]!.max).toBeLessThanOrEqual(1);
    expect(c.tensorsMeasured).toBeGreaterThan(3);
    expect(c.largest!.maxAbs).toBeGreaterThan(0);
    const small = await convertToFloat16(mlp(), { calibrate: { batch: 3, seq: 4, seed: 9, iterations: 1 } });
    expect(small.report.calibration).toMatchObject({ source: 'random', generated: { seed: 9, batch: 3, seq: 4, iterations: 1 }, runs: 1 });
    expect(small.report.calibration.inputs[0]!.dims).toEqual([3, 4]);
    await expect(convertToFloat16(mlp(), { calibrate: false, calibrationData: [{ x: new Tensor('float32', new Float32Array(4), [1, 4]) }] })).rejects.toThrow(
      /contradict/,
    );
  });

  it('keeps the op after an activation of ~4e6 in FP32 without any calibration data given', async () => {
    // x in [0, 1] -> x * 4000 * 1000 reaches ~4e6, far past FP16 max (65504), from constants
    // that all fit FP16: only the activation ranges show it. FP16 there is finite on a CPU
    // and infinity on a GPU.
    const b = new GraphBuilder();
    b.input('x', 'float32', ['batch', 4]);
    const h = b.op('Mul', ['x', b.floats(4000, 'a')]);
    const big = b.op('Mul', [h, b.floats(1000, 'b')], {}, 'big');
    b.node('Add', [big, b.floats(1, 'one')], {}, { name: 'after_big', outputs: ['y'] });
    b.output('y', 'float32', ['batch', 4]);
    const { report } = await convertToFloat16(b.build());
    const after = report.keptFp32.find((k) => k.node === 'after_big')!;
    expect(after).toMatchObject({ opType: 'Add', rule: 'dataMax' });
    expect(after.reason).toMatch(/activation "big" reaches \|x\| = [34]\d{6}(\.\d+)? > dataMax 512 in the calibration run/);
    expect(report.calibration.largest!.maxAbs).toBeGreaterThan(3e6);
    expect(report.calibration.keptByDataMax).toBe(3);
    // Turned off, nothing sees it: the Add goes to FP16.
    const unchecked = await convertToFloat16(b.build(), { calibrate: false });
    expect(unchecked.report.keptFp32).toEqual([]);
    expect(unchecked.report.convertedNodes.Add).toBe(1);
  });

  it('documents a reason for every default blocked op', () => {
    for (const [op, reason] of Object.entries(DEFAULT_FP16_BLOCK_OPS)) {
      expect(reason.length, op).toBeGreaterThan(20);
    }
    expect(Object.keys(DEFAULT_FP16_BLOCK_OPS)).toEqual(expect.arrayContaining(['LayerNormalization', 'Softmax', 'Exp', 'Pow', 'ReduceMean']));
  });
});

describe('convertToFloat16: structure', () => {
  it('converts compute to FP16, keeps blocked ops FP32, and casts only at boundaries', async () => {
    const m = mlp();
    const before = encodeModel(m);
    const { model, report } = await convertToFloat16(m);
    expect(Buffer.from(encodeModel(m)).equals(Buffer.from(before))).toBe(true); // input untouched
    expect(report.convertedNodes).toEqual({ MatMul: 2, Add: 1, Relu: 1 });
    expect(report.keptFp32).toEqual([
      expect.objectContaining({
        opType: 'LayerNormalization',
        rule: 'blockOps',
        // The real width of this model's LayerNorm (4), not BERT-base's 768.
        reason: expect.stringMatching(
          /^mean and variance over the normalised width of 4 activations: the sum of squares of 4 activations of magnitude 10 is 400 \(below FP16 max/,
        ),
      }),
    ]);
    const t = typesOf(model);
    // x -> Cast(fp16) ... Relu -> Cast(fp32) -> LN -> Cast(fp16) -> MatMul -> Cast(fp32) -> y
    expect(nodesOf(model, 'Cast').map((n) => Number(n.attribute[0]!.i))).toEqual([FLOAT16, FLOAT, FLOAT16, FLOAT]);
    expect(report.castsAdded).toBe(4);
    expect(t.get('W')).toBe(FLOAT16);
    expect(t.get('g')).toBe(FLOAT);
    expect(t.get('y')).toBe(FLOAT);
    expect(model.graph!.output[0]!.name).toBe('y');
    expect(checkMixedPrecision(model)).toEqual([]);
    expect(report.bytesBefore).toBe((16 + 4 + 4 + 4 + 8) * 4);
    expect(report.bytesAfter).toBe((16 + 4 + 8) * 2 + 8 * 4);
  });

  it('with keepIoTypes false, converts graph inputs and outputs and adds no edge casts', async () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [3]);
    b.op('Tanh', [b.op('Mul', ['x', b.floats(2)])], {}, 'y');
    b.output('y', 'float32', [3]);
    const { model, report } = await convertToFloat16(b.build(), { keepIoTypes: false });
    expect(report.castsAdded).toBe(0);
    expect(nodesOf(model, 'Cast')).toHaveLength(0);
    const io = [...model.graph!.input, ...model.graph!.output].map((v) => v.type!.value.case === 'tensorType' && v.type!.value.value.elemType);
    expect(io).toEqual([FLOAT16, FLOAT16]);
    expect(checkMixedPrecision(model)).toEqual([]);
  });

  it('applies blockNodes, extraBlockOps and a replaced blockOps list', async () => {
    const byName = await convertToFloat16(mlp(), { blockNodes: [/^\/Relu$/] });
    expect(byName.report.keptFp32.map((k) => [k.node, k.rule])).toEqual([
      ['/Relu', 'blockNodes'],
      ['/LayerNormalization', 'blockOps'],
    ]);
    const none = await convertToFloat16(mlp(), { blockOps: [] });
    expect(none.report.keptFp32).toEqual([]);
    expect(none.report.convertedNodes.LayerNormalization).toBe(1);
    expect(checkMixedPrecision(none.model)).toEqual([]);
    const extra = await convertToFloat16(mlp(), { extraBlockOps: ['Relu'] });
    expect(extra.report.keptFp32.map((k) => k.opType)).toEqual(['Relu', 'LayerNormalization']);
  });

  it('keeps nodes whose constants exceed initMax or flush to zero, without clamping', async () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [2]);
    const big = b.op('Mul', ['x', b.floats([70000, 1], 'big')]);
    const tiny = b.op('Add', [big, b.floats(1e-9, 'eps')]);
    b.op('Sub', [tiny, b.floats(0.5, 'half')], {}, 'y');
    b.output('y', 'float32', [2]);
    // Without calibration only the constants decide; with it (the default) the activation of
    // up to 70000 that the Mul makes also keeps the Sub FP32.
    const { model, report } = await convertToFloat16(b.build(), { calibrate: false });
    expect(report.keptFp32.map((k) => [k.opType, k.rule])).toEqual([
      ['Mul', 'initMax'],
      ['Add', 'initUnderflow'],
    ]);
    expect(report.keptFp32[0]!.reason).toMatch(/\|x\| = 70000 > initMax 65504/);
    expect(report.convertedNodes).toEqual({ Sub: 1 });
    expect(report.calibration).toMatchObject({ source: 'none', reason: expect.stringContaining('calibration was turned off') });
    const calibrated = await convertToFloat16(b.build());
    expect(calibrated.report.keptFp32.map((k) => [k.opType, k.rule])).toEqual([
      ['Mul', 'initMax'],
      ['Add', 'initUnderflow'],
      ['Sub', 'dataMax'],
    ]);
    const big32 = model.graph!.initializer.find((t) => t.name === '/big')!;
    expect(big32.dataType).toBe(FLOAT);
    expect(Array.from(new Float32Array(big32.rawData.slice().buffer))).toEqual([70000, 1]);
    const relaxed = await convertToFloat16(b.build(), { initMax: 1e6, checkUnderflow: false, calibrate: false });
    expect(relaxed.report.keptFp32).toEqual([]);
  });

  it('applies the reduction-depth rule from static shapes', async () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [1, 64]);
    const h = b.op('MatMul', ['x', b.initializer('W1', new Tensor('float32', new Float32Array(64 * 32), [64, 32]))]);
    b.op('MatMul', [h, b.initializer('W2', new Tensor('float32', new Float32Array(32 * 8), [32, 8]))], {}, 'y');
    b.output('y', 'float32', [1, 8]);
    const { report } = await convertToFloat16(b.build(), { maxReductionDepth: 48 });
    expect(report.keptFp32.map((k) => [k.node, k.rule, k.reason])).toEqual([['/MatMul', 'reductionDepth', 'sums 64 terms per output > maxReductionDepth 48']]);
    expect(report.convertedNodes).toEqual({ MatMul: 1 });
  });

  it('shares one Cast per tensor and precision, and lets Casts to float absorb the boundary', async () => {
    const b = new GraphBuilder();
    b.input('ids', 'int64', [4]);
    b.input('x', 'float32', [4]);
    const f = b.op('Cast', ['ids'], { to: FLOAT });
    const a = b.op('Mul', [f, 'x']);
    const c = b.op('Add', [f, 'x']);
    const e = b.op('Exp', [f]); // blocked: reads f in FP32
    b.op('Sum', [a, c], {}, 'y');
    b.output('y', 'float32', [4]);
    b.output(e, 'float32', [4]);
    const { model, report } = await convertToFloat16(b.build());
    const casts = nodesOf(model, 'Cast');
    // The original Cast stays float32 for Exp; FP16 readers get a Cast from ids itself; x is cast once for Mul and Add.
    expect(casts.map((n) => `${n.input[0]}:${Number(n.attribute.find((x) => x.name === 'to')!.i)}`).sort()).toEqual(
      ['ids:1', 'ids:10', 'x:10', 'y_fp16:1'].sort(),
    );
    expect(report.keptFp32.map((k) => [k.opType, k.rule])).toEqual([
      ['Cast', 'consumers'],
      ['Exp', 'blockOps'],
    ]);
    expect(checkMixedPrecision(model)).toEqual([]);
  });

  it('converts Constant nodes, duplicating them when FP32 readers remain', async () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [2]);
    const k = b.node('Constant', [], { value: new Tensor('float32', [3, 4], [2]) })[0]!;
    const s = b.node('Constant', [], { value_float: floatAttr(0.5) })[0]!;
    const m = b.op('Mul', ['x', k]);
    const p = b.op('Pow', [m, k]); // blocked: needs k in FP32
    b.op('Add', [b.op('Mul', [m, s]), p], {}, 'y');
    b.output('y', 'float32', [2]);
    const { model, report } = await convertToFloat16(b.build());
    const consts = nodesOf(model, 'Constant');
    const valueTypes = consts.map((n) => n.attribute.find((a) => a.name === 'value')!.t!.dataType).sort();
    expect(valueTypes).toEqual([FLOAT, FLOAT16, FLOAT16]);
    expect(report.convertedNodes.Constant).toBe(2);
    expect(checkMixedPrecision(model)).toEqual([]);
  });

  it('leaves ops of unknown domains in FP32 with casts around them', async () => {
    const b = new GraphBuilder({ opsets: { 'com.example': 1 } });
    b.input('x', 'float32', [2]);
    const m = b.op('Mul', ['x', b.floats(2)]);
    const [c] = b.node('Custom', [m], {}, { domain: 'com.example' });
    b.valueInfo(c!, 'float32', [2]);
    b.op('Add', [c!, b.floats(1)], {}, 'y');
    b.output('y', 'float32', [2]);
    const { model, report } = await convertToFloat16(b.build());
    expect(report.keptFp32.map((k) => [k.opType, k.rule])).toEqual([['Custom', 'unknownOp']]);
    const custom = model.graph!.node.find((n) => n.opType === 'Custom')!;
    expect(typesOf(model).get(custom.input[0]!)).toBe(FLOAT);
    expect(checkMixedPrecision(model)).toEqual([]);
  });

  it('keeps a graph output float32 when FP16 nodes also read it', async () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [2]);
    const h = b.op('Mul', ['x', b.floats(3)], {}, 'h');
    b.op('Add', [h, b.floats(1)], {}, 'y');
    b.output('h', 'float32', [2]);
    b.output('y', 'float32', [2]);
    const { model } = await convertToFloat16(b.build());
    const t = typesOf(model);
    expect(t.get('h')).toBe(FLOAT);
    expect(t.get('y')).toBe(FLOAT);
    const add = nodesOf(model, 'Add')[0]!;
    expect(t.get(add.input[0]!)).toBe(FLOAT16);
    expect(add.input[0]).toBe('h_fp16');
    expect(checkMixedPrecision(model)).toEqual([]);
  });

  it('updates value_info for retyped tensors', async () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [2]);
    const h = b.op('Mul', ['x', b.floats(3)]);
    b.valueInfo(h, 'float32', [2]);
    b.op('Exp', [h], {}, 'y');
    b.output('y', 'float32', [2]);
    const { model } = await convertToFloat16(b.build());
    const vi = model.graph!.valueInfo.find((v) => v.name === h)!;
    expect(vi.type!.value.case === 'tensorType' && vi.type!.value.value.elemType).toBe(FLOAT16);
    // The new cast output is declared too, with the dims of its source.
    const cast = nodesOf(model, 'Cast').find((n) => n.input[0] === h)!;
    const decl = model.graph!.valueInfo.find((v) => v.name === cast.output[0])!;
    expect(decl.type!.value.case === 'tensorType' && decl.type!.value.value.elemType).toBe(FLOAT);
    expect(checkMixedPrecision(model)).toEqual([]);
  });

  it('treats initializers listed as graph inputs (IR < 4) as inputs or as weights by keepIoTypes', async () => {
    const build = () => {
      const b = new GraphBuilder();
      b.input('x', 'float32', [2]);
      b.input('w', 'float32', [2]);
      b.initializer('w', weights(2));
      b.op('Mul', ['x', 'w'], {}, 'y');
      b.output('y', 'float32', [2]);
      return b.build();
    };
    const kept = await convertToFloat16(build());
    expect(kept.model.graph!.initializer[0]!.dataType).toBe(FLOAT);
    expect(checkMixedPrecision(kept.model)).toEqual([]);
    const free = await convertToFloat16(build(), { keepIoTypes: false });
    const g = free.model.graph!;
    expect(g.initializer[0]!.dataType).toBe(FLOAT16);
    expect(g.input.map((i) => i.type!.value.case === 'tensorType' && i.type!.value.value.elemType)).toEqual([FLOAT16, FLOAT16]);
    expect(free.report.castsAdded).toBe(0);
    expect(checkMixedPrecision(free.model)).toEqual([]);
  });

  it('leaves a Constant without a dense float value alone', async () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [2]);
    const [c] = b.node('Constant', [], { value_ints: [1, 2] });
    b.op('Add', ['x', b.op('Cast', [c!], { to: FLOAT })], {}, 'y');
    b.output('y', 'float32', [2]);
    const { model } = await convertToFloat16(b.build());
    expect(checkMixedPrecision(model)).toEqual([]);
    expect(nodesOf(model, 'Constant')[0]!.attribute[0]!.name).toBe('value_ints');
  });

  it('refuses models with external data that was not loaded', async () => {
    const m = mlp();
    m.graph!.initializer[0]!.dataLocation = 1;
    await expect(convertToFloat16(m)).rejects.toBeInstanceOf(OnnxError);
  });

  it('converts the encoder into a valid strongly typed graph', async () => {
    const { model, report } = await convertToFloat16(createEncoderModel());
    expect(checkMixedPrecision(model)).toEqual([]);
    expect(report.convertedNodes.MatMul).toBe(18);
    expect(
      report.keptFp32
        .filter((k) => k.rule === 'blockOps')
        .map((k) => k.opType)
        .sort(),
    ).toEqual([...Array(5).fill('LayerNormalization'), 'Softmax', 'Softmax'].sort());
    // Every tensor has a type, every MatMul/Add is FP16 in and out, every LayerNorm FP32.
    const t = typesOf(model);
    for (const n of model.graph!.node) {
      for (const o of n.output) expect(t.get(o), o).toBeDefined();
      if (n.opType === 'MatMul') expect(n.input.map((i) => t.get(i))).toEqual([FLOAT16, FLOAT16]);
      if (n.opType === 'LayerNormalization') expect(n.input.map((i) => t.get(i))).toEqual([FLOAT, FLOAT, FLOAT]);
    }
    expect(report.bytesAfter / report.bytesBefore).toBeLessThan(0.51);
    // A mixed-precision graph fails the check when a cast is removed.
    const broken = (await convertToFloat16(createEncoderModel())).model;
    const cast = broken.graph!.node.find((n) => n.opType === 'Cast' && n.output[0]!.endsWith('_fp32'))!;
    for (const n of broken.graph!.node) n.input = n.input.map((i) => (i === cast.output[0] ? cast.input[0]! : i));
    broken.graph!.node = broken.graph!.node.filter((n) => n !== cast);
    expect(checkMixedPrecision(broken).map((p) => p.kind)).toContain('mixed');
  });

  it('reports cancelling cast pairs', () => {
    const b = new GraphBuilder();
    b.input('x', 'float32', [2]);
    const h = b.op('Cast', ['x'], { to: FLOAT16 });
    b.op('Cast', [h], { to: FLOAT }, 'y');
    b.output('y', 'float32', [2]);
    expect(checkMixedPrecision(b.build()).map((p) => p.kind)).toEqual(['cancelling-casts']);
    const g = b.build().graph!;
    g.node.push(makeNode({ opType: 'Neg', inputs: ['zz'], outputs: ['q'] }));
    expect(checkMixedPrecision(b.build()).length).toBe(1);
  });
});
