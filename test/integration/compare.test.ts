/**
 * The accuracy harness on real ONNX Runtime sessions: the embedded encoder, small models
 * built with the graph builder, ONNX's own backend node tests, bisection and the CLI.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OnnxRuntimeSession } from '../../src/backends/onnxruntime.js';
import { GraphBuilder, createEncoderModel, encodeModel, encodeTensorProto, readTensorProto, writeModel, type ModelProto } from '../../src/onnx/index.js';
import { bisect, compare, formatBisectText, readInputFile, readRefData } from '../../src/accuracy/index.js';
import { main } from '../../src/cli/index.js';
import { convertToFloat16 } from '../../src/fp16/index.js';
import { Tensor } from '../../src/tensor.js';
import { Random } from '../../src/random.js';

const NODE_TESTS = fileURLToPath(new URL('../fixtures/accuracy/onnx-node/', import.meta.url));
let dir: string;
let encoderPath: string;
let encoder16Path: string;
let fp16Converted: Record<string, number>;

/** x [batch, 8] -> MatMul -> Add -> Relu -> Mul(scale) -> MatMul -> Add -> logits [batch, 4]; `scale` breaks the Mul node. */
function mlp(scale = 1): ModelProto {
  const rng = new Random(17);
  const w = (n: number) => Float32Array.from({ length: n }, () => rng.nextFloat() - 0.5);
  const g = new GraphBuilder({ opset: 17 });
  const x = g.input('x', 'float32', ['batch', 8]);
  let h = g.op('MatMul', [x, g.constant(new Tensor('float32', w(8 * 16), [8, 16]), 'w1')]);
  h = g.op('Add', [h, g.constant(new Tensor('float32', w(16), [16]), 'b1')]);
  h = g.op('Relu', [h]);
  h = g.node('Mul', [h, g.floats(scale, 'scale')], {}, { name: 'scale_node' })[0]!;
  h = g.op('MatMul', [h, g.constant(new Tensor('float32', w(16 * 4), [16, 4]), 'w2')]);
  g.op('Add', [h, g.constant(new Tensor('float32', w(4), [4]), 'b2')], {}, 'logits');
  g.output('logits', 'float32', ['batch', 4]);
  return g.build();
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await main(['node', 'tensorrt-node', ...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trtn-compare-'));
  encoderPath = join(dir, 'encoder.onnx');
  await writeModel(createEncoderModel({ seed: 1 }), encoderPath);
  await writeModel(mlp(), join(dir, 'mlp.onnx'));
  await writeModel(mlp(1.5), join(dir, 'mlp-broken.onnx'));
  const fp16 = await convertToFloat16(createEncoderModel({ seed: 1 }));
  fp16Converted = fp16.report.convertedNodes;
  encoder16Path = join(dir, 'encoder-fp16.onnx');
  await writeModel(fp16.model, encoder16Path);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('compare() on ONNX Runtime sessions', () => {
  it('passes the encoder against itself with exactly zero error', async () => {
    const a = await OnnxRuntimeSession.create(encoderPath, { intraOpNumThreads: 1 });
    const b = await OnnxRuntimeSession.create(encoderPath, { intraOpNumThreads: 1 });
    try {
      const r = await compare(a, b, { generate: { seed: 3, batch: 3, seq: 12, valueRanges: { input_ids: [0, 1023] } }, atol: 0, rtol: 0 });
      expect(r.passed).toBe(true);
      expect(r.outputs.map((o) => [o.name, o.dims])).toEqual([
        ['last_hidden_state', [3, 12, 64]],
        ['logits', [3, 4]],
      ]);
      for (const o of r.outputs) {
        expect(o.maxAbsError).toBe(0);
        expect(o.requiredAtol).toBe(0);
        expect(o.cosineSimilarity).toBe(1);
        expect(o.nanCount).toBe(0);
      }
      expect(r.outputs[1]!.topK!.top1Agreement).toBe(1);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('fails a perturbed model and names the output that moved', async () => {
    const a = await OnnxRuntimeSession.create(join(dir, 'mlp.onnx'));
    const b = await OnnxRuntimeSession.create(join(dir, 'mlp-broken.onnx'));
    try {
      const r = await compare(a, b, { generate: { seed: 1, batch: 5 } });
      expect(r.passed).toBe(false);
      expect(r.outputs.map((o) => [o.name, o.passed])).toEqual([['logits', false]]);
      const o = r.outputs[0]!;
      expect(o.maxAbsError).toBeGreaterThan(1e-3);
      expect(o.requiredAtol).toBe(o.maxAbsError);
      expect(o.elementCount).toBe(20);
      // Scaling the hidden layer by 1.5 keeps its direction: cosine stays high, L2 error does not.
      expect(o.relativeL2Error).toBeGreaterThan(0.05);
      // The same outputs pass once the tolerance covers the measured error.
      const again = await compare(a, b, { generate: { seed: 1, batch: 5 }, atol: o.requiredAtol! });
      expect(again.passed).toBe(true);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });
});

describe('the encoder against its FP16 conversion', () => {
  // FP16 keeps 11 significant bits: one rounding moves a value by up to 2^-11 (4.9e-4)
  // relative. The encoder's activations are O(1)-O(10) after LayerNorm and pass through ~40
  // FP16 ops in 2 layers; measured max errors are ~2e-3 (hidden states) and ~5e-4 (logits),
  // so atol = rtol = 1e-2 leaves a 5x margin while still catching a broken conversion, whose
  // errors are O(0.1) or more.
  it("passes with atol = rtol = 1e-2, fails Polygraphy's default 1e-5 naming both outputs", async () => {
    const a = await OnnxRuntimeSession.create(encoderPath);
    const b = await OnnxRuntimeSession.create(encoder16Path);
    try {
      const generate = { seed: 11, batch: 4, seq: 32, iterations: 2, valueRanges: { input_ids: [0, 1023] as [number, number] } };
      const r = await compare(a, b, { generate, atol: 1e-2, rtol: 1e-2 });
      expect(r.passed).toBe(true);
      const [hidden, logits] = r.outputs;
      expect(hidden!.maxAbsError).toBeGreaterThan(0);
      expect(hidden!.maxAbsError).toBeLessThan(5e-3);
      expect(hidden!.cosineSimilarity).toBeGreaterThan(0.9999);
      expect(logits!.maxAbsError).toBeLessThan(2e-3);
      expect(logits!.topK!.top1Agreement).toBe(1);
      const strict = await compare(a, b, { generate });
      expect(strict.passed).toBe(false);
      expect(strict.outputs.filter((o) => !o.passed).map((o) => o.name)).toEqual(['last_hidden_state', 'logits']);
      // The tolerance a Polygraphy user would need is the measured maximum.
      expect(strict.outputs[0]!.requiredAtol).toBeCloseTo(hidden!.maxAbsError!, 12);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('bisects: tensors match by name across the inserted Casts; the first divergence is a converted node', async () => {
    const r = await bisect(encoderPath, encoder16Path, { generate: { seed: 5, batch: 2, seq: 16 }, atol: 0, rtol: 0 });
    // Every node output of A that has a supported type is found in B under its own name.
    expect(r.unmatchedTensors).toBe(0);
    expect(r.checkedTensors).toBeGreaterThan(50);
    const d = r.firstDivergence!;
    expect(d.maxAbsError).toBeGreaterThan(0);
    expect(Object.keys(fp16Converted)).toContain(d.opType);
    const before = r.nodes.filter((n) => n.nodeIndex < d.nodeIndex);
    expect(before.every((n) => n.passed && n.maxAbsError === 0)).toBe(true);
    // With FP16-sized tolerances the walk gets further into the graph.
    const loose = await bisect(encoderPath, encoder16Path, { generate: { seed: 5, batch: 2, seq: 16 }, atol: 1e-3, rtol: 1e-3 });
    expect(loose.firstDivergence!.nodeIndex).toBeGreaterThan(d.nodeIndex);
  });
});

describe('ONNX backend node tests (--ref-data)', () => {
  const cases = ['test_add', 'test_relu', 'test_softmax_axis_1', 'test_matmul_2d', 'test_gather_0', 'test_equal', 'test_layer_normalization_2d_axis0'];
  // float64, int16, uint16, uint32 and uint64 models: every dtype onnxruntime-node runs.
  const dtypeCases = ['test_einsum_batch_matmul', 'test_mod_mixed_sign_int16', 'test_mod_uint16', 'test_bitshift_left_uint32', 'test_max_uint64'];

  it.each(cases)('%s passes against its expected outputs', async (name) => {
    const { code, out } = await cli(
      'compare',
      join(NODE_TESTS, name, 'model.onnx'),
      '--ref-data',
      join(NODE_TESTS, name),
      '--atol',
      '1e-5',
      '--rtol',
      '1e-3',
      '--threads',
      '1',
    );
    expect(out).toContain('PASSED');
    expect(code).toBe(0);
  });

  it.each(dtypeCases)('%s (beyond float32/int64) passes against its expected outputs', async (name) => {
    const { code, out } = await cli(
      'compare',
      join(NODE_TESTS, name, 'model.onnx'),
      '--ref-data',
      join(NODE_TESTS, name),
      '--atol',
      '1e-12',
      '--rtol',
      '0',
      '--threads',
      '1',
    );
    expect(out).toContain('PASSED');
    expect(code).toBe(0);
  });

  it('checks a float64 model in float64: a perturbation float32 cannot hold is caught', async () => {
    const a = await OnnxRuntimeSession.create(join(NODE_TESTS, 'test_einsum_batch_matmul', 'model.onnx'), { intraOpNumThreads: 1 });
    try {
      expect(a.inputs.map((i) => i.dtype)).toEqual(['float64', 'float64']);
      const [set] = await readRefData(join(NODE_TESTS, 'test_einsum_batch_matmul'), a.inputs, a.outputs);
      const ref = set!.outputs.z!;
      expect(ref.type).toBe('float64');
      const good = await compare(a, { reference: set!.outputs }, { inputs: set!.inputs, atol: 1e-12, rtol: 0 });
      expect(good.passed).toBe(true);
      expect(good.outputs[0]).toMatchObject({ dtypeA: 'float64', dtypeB: 'float64' });
      expect(good.outputs[0]!.maxAbsError).toBeLessThan(1e-14);
      // 1e-9 relative: far below float32's resolution, so only a float64 comparison sees it.
      const data = Float64Array.from(ref.data as Float64Array);
      data[3] = data[3]! * (1 + 1e-9);
      const bad = await compare(a, { reference: { z: new Tensor('float64', data, ref.dims) } }, { inputs: set!.inputs, atol: 1e-12, rtol: 0 });
      expect(bad.passed).toBe(false);
      expect(bad.outputs[0]!.worst!.iteration).toBe(0);
      expect(bad.outputs[0]!.maxAbsError).toBeGreaterThan(1e-12);
      // Generated inputs take the model's dtype.
      const generated = await compare(a, a, { generate: { seed: 3 }, atol: 0, rtol: 0 });
      expect(generated.passed).toBe(true);
      expect(generated.inputs[0]!.x!.type).toBe('float64');
    } finally {
      await a.dispose();
    }
  });

  it("compares a float32 model with its float64 twin (built here), casting the feeds to B's width", async () => {
    const rng = new Random(5);
    const weights = Array.from({ length: 12 }, () => rng.nextFloat() - 0.5);
    const model = (dtype: 'float32' | 'float64') => {
      const g = new GraphBuilder({ opset: 17 });
      const x = g.input('x', dtype, ['batch', 4]);
      g.op('MatMul', [x, g.constant(new Tensor(dtype, weights, [4, 3]), 'w')], {}, 'y');
      g.output('y', dtype, ['batch', 3]);
      return encodeModel(g.build());
    };
    const a = await OnnxRuntimeSession.create(model('float32'), { intraOpNumThreads: 1 });
    const b = await OnnxRuntimeSession.create(model('float64'), { intraOpNumThreads: 1 });
    try {
      const r = await compare(a, b, { generate: { seed: 2, batch: 3 }, atol: 1e-6, rtol: 1e-6 });
      expect(r.passed).toBe(true);
      expect(r.outputs[0]).toMatchObject({ name: 'y', dtypeA: 'float32', dtypeB: 'float64' });
      // float32 rounding of the weights and the sums, seen in float64.
      expect(r.outputs[0]!.maxAbsError).toBeGreaterThan(0);
      expect(r.outputs[0]!.maxAbsError).toBeLessThan(1e-6);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('fails when one expected output is perturbed, naming that output', async () => {
    const work = join(dir, 'ln');
    await cp(join(NODE_TESTS, 'test_layer_normalization_2d_axis0'), work, { recursive: true });
    const file = join(work, 'test_data_set_0', 'output_1.pb');
    const { name, tensor } = readTensorProto(await readFile(file));
    const values = tensor.toFloat32().slice();
    values[0]! += 0.01;
    await writeFile(file, encodeTensorProto(new Tensor('float32', values, tensor.dims), name));
    const json = join(dir, 'ln.json');
    const { code, out } = await cli('compare', join(work, 'model.onnx'), '--ref-data', work, '--json', json);
    expect(code).toBe(1);
    expect(out).toContain(`FAILED: mismatched output(s): ${name}`);
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.passed).toBe(false);
    const failed = report.outputs.filter((o: { passed: boolean }) => !o.passed);
    expect(failed.map((o: { name: string }) => o.name)).toEqual([name]);
    expect(failed[0].maxAbsError).toBeCloseTo(0.01, 6);
    expect(failed[0].requiredAtol).toBeCloseTo(0.01, 6);
  });

  it("matches .pb tensors by position when their names are not the model's", async () => {
    const a = await OnnxRuntimeSession.create(join(NODE_TESTS, 'test_add', 'model.onnx'));
    try {
      const [set] = await readRefData(join(NODE_TESTS, 'test_add'), a.inputs, a.outputs);
      expect(Object.keys(set!.inputs)).toEqual(a.inputs.map((i) => i.name));
      expect(Object.keys(set!.outputs)).toEqual(a.outputs.map((o) => o.name));
      const r = await compare(a, { reference: set!.outputs }, { inputs: set!.inputs, atol: 0, rtol: 0 });
      expect(r.passed).toBe(true);
      expect(r.outputs[0]!.maxAbsError).toBe(0);
    } finally {
      await a.dispose();
    }
  });
});

describe('bisect()', () => {
  it('finds the deliberately broken node, with its inputs still within tolerance', async () => {
    const r = await bisect(mlp(), mlp(1.5), { generate: { seed: 2, batch: 3 }, atol: 1e-5, rtol: 1e-5 });
    const d = r.firstDivergence!;
    expect(d.node).toBe('scale_node');
    expect(d.opType).toBe('Mul');
    expect(d.nodeIndex).toBe(3);
    expect(d.passed).toBe(false);
    expect(d.maxAbsError).toBeGreaterThan(0);
    // A = Relu(h), B = 1.5 Relu(h); relative to B: |1 - 1.5| / 1.5 = 1/3 wherever Relu > 0.
    expect(d.maxRelError).toBeCloseTo(1 / 3, 6);
    expect(d.inputs).toEqual([
      { name: expect.stringContaining('Relu'), status: 'passed', maxAbsError: 0 },
      { name: expect.stringContaining('scale'), status: 'initializer' },
    ]);
    // Every node before it matched exactly; every node from it on diverges.
    expect(r.nodes.map((n) => [n.opType, n.passed])).toEqual([
      ['MatMul', true],
      ['Add', true],
      ['Relu', true],
      ['Mul', false],
      ['MatMul', false],
      ['Add', false],
    ]);
    expect(r.checkedTensors).toBe(6);
    expect(r.unmatchedTensors).toBe(0);
  });

  it('does not blame a Constant of -inf that both models hold (equal infinities agree by default)', async () => {
    // x + [0, -inf, 0, -inf] (a mask bias, as Hugging Face exports hold it) -> Softmax -> Mul(scale):
    // the models differ only in scale, so the Mul is where they part ways.
    const masked = (scale: number): ModelProto => {
      const g = new GraphBuilder({ opset: 17 });
      const x = g.input('x', 'float32', ['batch', 4]);
      const [bias] = g.node('Constant', [], { value: new Tensor('float32', Float32Array.of(0, -Infinity, 0, -Infinity), [4]) }, { name: 'mask_bias' });
      const h = g.node('Add', [x, bias!], {}, { name: 'masked' })[0]!;
      const p = g.node('Softmax', [h], { axis: -1 }, { name: 'softmax' })[0]!;
      g.node('Mul', [p, g.floats(scale, 'scale')], {}, { name: 'scale_node', outputs: ['y'] });
      g.output('y', 'float32', ['batch', 4]);
      return g.build();
    };
    const r = await bisect(masked(1), masked(1.5), { generate: { seed: 3, batch: 2 } });
    expect(r.infinitiesCompareEqual).toBe(true);
    expect(r.firstDivergence?.node).toBe('scale_node');
    const constant = r.nodes.find((n) => n.node === 'mask_bias')!;
    expect(constant).toMatchObject({ passed: true, maxAbsError: 0, infCountA: 2, infCountB: 2, nanCount: 0 });
    expect(r.nodes.find((n) => n.node === 'masked')).toMatchObject({ passed: true, infCountA: 4, infCountB: 4 });
    // Polygraphy's default (equal infinities are a NaN error) blames the Constant instead.
    const strict = await bisect(masked(1), masked(1.5), { generate: { seed: 3, batch: 2 }, infinitiesCompareEqual: false });
    expect(strict.firstDivergence?.node).toBe('mask_bias');
    const text = formatBisectText(strict);
    expect(text).toContain('non-finite of 4: NaN 0 in A, 0 in B; Inf 2 in A, 2 in B (equal infinities are NaN errors)');
    expect(formatBisectText(r)).toContain('First divergence: node "scale_node"');

    // A NaN is an error on either side, also NaN against NaN (Polygraphy): -inf - -inf is NaN in both.
    const nanModel = (scale: number): ModelProto => {
      const g = new GraphBuilder({ opset: 17 });
      const x = g.input('x', 'float32', ['batch', 4]);
      const [bias] = g.node('Constant', [], { value: new Tensor('float32', Float32Array.of(0, -Infinity, 0, 0), [4]) }, { name: 'bias' });
      const h = g.node('Add', [x, bias!], {}, { name: 'with_inf' })[0]!;
      const d = g.node('Sub', [h, h], {}, { name: 'nan_maker' })[0]!;
      g.node('Mul', [d, g.floats(scale, 'scale')], {}, { name: 'scale_node', outputs: ['y'] });
      g.output('y', 'float32', ['batch', 4]);
      return g.build();
    };
    const nan = await bisect(nanModel(1), nanModel(1), { generate: { seed: 3, batch: 2 } });
    expect(nan.firstDivergence).toMatchObject({ node: 'nan_maker', nanCountA: 2, nanCountB: 2 });
    expect(formatBisectText(nan)).toContain('NaN 2 in A, 2 in B; Inf 0 in A, 0 in B (a NaN is an error on either side)');
  });

  it('compare --bisect: equal infinities agree unless --no-infinities-compare-equal', async () => {
    const g = (scale: number): ModelProto => {
      const b = new GraphBuilder({ opset: 17 });
      const x = b.input('x', 'float32', ['batch', 4]);
      const [bias] = b.node('Constant', [], { value: new Tensor('float32', Float32Array.of(0, -Infinity, 0, 0), [4]) }, { name: 'mask_bias' });
      const h = b.node('Add', [x, bias!], {}, { name: 'masked' })[0]!;
      b.node('Mul', [h, b.floats(scale, 'scale')], {}, { name: 'scale_node', outputs: ['y'] });
      b.output('y', 'float32', ['batch', 4]);
      return b.build();
    };
    await writeModel(g(1), join(dir, 'inf-a.onnx'));
    await writeModel(g(1.01), join(dir, 'inf-b.onnx'));
    const byDefault = await cli('compare', join(dir, 'inf-a.onnx'), join(dir, 'inf-b.onnx'), '--bisect');
    expect(byDefault.code).toBe(1);
    expect(byDefault.out).toContain('First divergence: node "scale_node"');
    expect(byDefault.out).toContain('Inf 2 in A, 2 in B (equal infinities agree)');
    const strict = await cli('compare', join(dir, 'inf-a.onnx'), join(dir, 'inf-b.onnx'), '--bisect', '--no-infinities-compare-equal');
    expect(strict.out).toContain('First divergence: node "mask_bias"');
  });

  it('reports no divergence for identical models', async () => {
    const r = await bisect(mlp(), mlp(), { generate: { seed: 2 } });
    expect(r.firstDivergence).toBeUndefined();
    expect(r.nodes.every((n) => n.maxAbsError === 0)).toBe(true);
  });

  it('walks the encoder: every intermediate tensor of a model against itself', async () => {
    const model = createEncoderModel({ seed: 1 });
    const r = await bisect(model, encodeModel(model), { generate: { seed: 4, batch: 2, seq: 8 }, atol: 0, rtol: 0 });
    expect(r.firstDivergence).toBeUndefined();
    expect(r.checkedTensors).toBeGreaterThan(50);
  });
});

describe('tensorrt-node compare', () => {
  it('compares a model with itself, writes JSON, HTML and the inputs, exit 0', async () => {
    const json = join(dir, 'self.json');
    const html = join(dir, 'self.html');
    const saved = join(dir, 'inputs.json');
    const { code, out } = await cli(
      'compare',
      encoderPath,
      '--b-backend',
      'onnxruntime',
      '--seed',
      '7',
      '--batch',
      '3',
      '--seq',
      '10',
      '--iterations',
      '2',
      '--json',
      json,
      '--html',
      html,
      '--save-inputs',
      saved,
    );
    expect(code).toBe(0);
    expect(out).toContain('Comparing encoder.onnx (onnxruntime) against encoder.onnx (onnxruntime) (2 iterations)');
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.passed).toBe(true);
    expect(report.outputs.map((o: { name: string; maxAbsError: number }) => [o.name, o.maxAbsError])).toEqual([
      ['last_hidden_state', 0],
      ['logits', 0],
    ]);
    expect(await readFile(html, 'utf8')).toContain('<svg');
    const inputs = await readInputFile(saved);
    expect(inputs).toHaveLength(2);
    expect(inputs[0]!.input_ids!.dims).toEqual([3, 10]);
    // Token ids were kept inside the model's 1024-row embedding table.
    expect(Math.max(...[...(inputs[0]!.input_ids!.data as BigInt64Array)].map(Number))).toBeLessThan(1024);
    // The saved inputs replay to the same verdict.
    const replay = await cli('compare', encoderPath, '--b-backend', 'onnxruntime', '--inputs', saved);
    expect(replay.code).toBe(0);
  });

  it('exits 1 with the failing output named for a perturbed model, and --bisect names the node', async () => {
    const json = join(dir, 'broken.json');
    const { code, out } = await cli('compare', join(dir, 'mlp.onnx'), join(dir, 'mlp-broken.onnx'), '--bisect', '--json', json);
    expect(code).toBe(1);
    expect(out).toContain('FAIL logits');
    expect(out).toContain('First divergence: node "scale_node" (op Mul, node #3)');
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.bisect.firstDivergence.node).toBe('scale_node');
    expect(report.outputs[0].requiredAtol).toBeGreaterThan(0);
  });

  it('passes with tolerances that cover the error, per output', async () => {
    const first = await cli('compare', join(dir, 'mlp.onnx'), join(dir, 'mlp-broken.onnx'), '--json', join(dir, 'need.json'));
    expect(first.code).toBe(1);
    const need = JSON.parse(await readFile(join(dir, 'need.json'), 'utf8')).outputs[0].requiredAtol as number;
    const { code } = await cli('compare', join(dir, 'mlp.onnx'), join(dir, 'mlp-broken.onnx'), '--atol', `logits:${need}`);
    expect(code).toBe(0);
    const median = await cli('compare', join(dir, 'mlp.onnx'), join(dir, 'mlp-broken.onnx'), '--atol', `${need}`, '--check-error-stat', 'median');
    expect(median.code).toBe(0);
  });

  it('exits 2 with a clear error for usage and input problems, writing nothing', async () => {
    const json = join(dir, 'never.json');
    const cases: [string[], string][] = [
      [['compare', encoderPath], 'error ERR_TENSORRT_NOT_FOUND'],
      [['compare', encoderPath, '--b-backend', 'onnxruntime', '--atol', 'x', '--json', json], '--atol "x": expected a number >= 0'],
      [['compare', encoderPath, '--b-backend', 'onnxruntime', '--check-error-stat', 'p50', '--json', json], 'elemwise|max|mean|median|quantile'],
      [['compare', encoderPath, '--bisect', '--json', json], '--bisect needs two models'],
      [['compare', encoderPath, '--b-backend', 'gpu'], '--b-backend must be onnxruntime or tensorrt'],
      [
        ['compare', encoderPath, '--b-backend', 'onnxruntime', '--val-range', 'input_ids:5', '--json', json],
        '--val-range "input_ids:5": expected NAME:MIN,MAX',
      ],
      [
        ['compare', encoderPath, '--b-backend', 'onnxruntime', '--val-range', 'nope:0,1', '--json', json],
        'input "nope" (given a value range or shape) is not an input',
      ],
      [['compare', join(dir, 'missing.onnx'), '--b-backend', 'onnxruntime', '--json', json], 'error ERR_IO'],
      [['compare', encoderPath, join(dir, 'mlp.onnx'), '--json', json], 'the two models take different inputs'],
      [['compare', encoderPath, '--b-backend', 'onnxruntime', '--inputs', join(NODE_TESTS, 'README.md'), '--json', json], 'is not valid JSON'],
      [['compare', encoderPath, '--ref-data', dir, '--json', json], 'holds no reference data'],
    ];
    for (const [args, message] of cases) {
      const { code, err } = await cli(...args);
      expect(err, args.join(' ')).toContain(message);
      expect(code, args.join(' ')).toBe(2);
    }
    expect((await readdir(dir)).includes('never.json')).toBe(false);
  });

  it('reports file problems of either model and of --ref-data in our words, before any session, exit 2', async () => {
    const empty = join(dir, 'empty.onnx');
    await writeFile(empty, new Uint8Array(0));
    const notOnnx = join(NODE_TESTS, 'README.md');
    const missing = join(dir, 'missing.onnx');
    const json = join(dir, 'never2.json');
    const cases: [string[], string][] = [
      [['compare', missing, encoderPath], `error ERR_IO: model A ${JSON.stringify(missing)} does not exist`],
      [['compare', encoderPath, missing], `error ERR_IO: model B ${JSON.stringify(missing)} does not exist`],
      [['compare', missing], `error ERR_IO: model A ${JSON.stringify(missing)} does not exist`], // before TensorRT is looked for
      [['compare', empty, encoderPath], `error ERR_ONNX_PARSE: model A ${JSON.stringify(empty)} is empty (0 bytes)`],
      [['compare', encoderPath, dir], `error ERR_IO: model B ${JSON.stringify(dir)} is a folder, expected a file`],
      [['compare', encoderPath, notOnnx], `error ERR_ONNX_PARSE: model B ${JSON.stringify(notOnnx)} is not an ONNX model`],
      [
        ['compare', encoderPath, '--ref-data', join(dir, 'no-such-set')],
        `error ERR_IO: --ref-data folder ${JSON.stringify(join(dir, 'no-such-set'))} does not exist`,
      ],
      [['compare', encoderPath, '--ref-data', encoderPath], `error ERR_IO: --ref-data folder ${JSON.stringify(encoderPath)} is not a folder`],
      [
        ['compare', encoderPath, encoderPath, '--inputs', join(dir, 'no-inputs.json')],
        `error ERR_IO: --inputs ${JSON.stringify(join(dir, 'no-inputs.json'))} does not exist`,
      ],
    ];
    for (const [args, message] of cases) {
      const { code, err } = await cli(...args, '--json', json);
      expect(err, args.join(' ')).toContain(message);
      expect(err, args.join(' ')).not.toMatch(/onnxruntime|\.cc:|ModelProto does not|ERR_TENSORRT/i);
      expect(code, args.join(' ')).toBe(2);
    }
    expect((await readdir(dir)).includes('never2.json')).toBe(false);
  });

  it('exits 2 when saved inputs have the wrong dtype, and when output shapes differ', async () => {
    const saved = join(dir, 'wrong-dtype.json');
    await writeFile(saved, JSON.stringify({ iterations: [{ x: { dtype: 'int32', dims: [1, 8], data: [0, 0, 0, 0, 0, 0, 0, 0] } }] }));
    const wrong = await cli('compare', join(dir, 'mlp.onnx'), join(dir, 'mlp.onnx'), '--inputs', saved);
    expect(wrong.err).toContain('error ERR_DTYPE: inputs: input "x" must be float32, got int32');
    expect(wrong.code).toBe(2);

    // A reference output of another shape: ERR_SHAPE, no report.
    const set = join(dir, 'shape-set');
    const x = new Tensor('float32', new Float32Array(8), [1, 8]);
    await mkdir(set);
    await writeFile(join(set, 'input_0.pb'), encodeTensorProto(x, 'x'));
    await writeFile(join(set, 'output_0.pb'), encodeTensorProto(new Tensor('float32', new Float32Array(3), [1, 3]), 'logits'));
    const json = join(dir, 'shape.json');
    const shape = await cli('compare', join(dir, 'mlp.onnx'), '--ref-data', set, '--json', json);
    expect(shape.err).toContain('error ERR_SHAPE');
    expect(shape.err).toContain('output "logits" has shape [1, 4] in A but [1, 3] in B');
    expect(shape.code).toBe(2);
    expect((await readdir(dir)).includes('shape.json')).toBe(false);
  });
});
