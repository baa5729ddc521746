/**
 * FP16 conversion checked under ONNX Runtime (CPU). ONNX Runtime's CPU provider runs FP16
 * nodes it has no FP16 kernel for by casting around them, so what is measured here is FP16
 * storage between nodes with FP32 arithmetic inside them, which is what TensorRT's FP16
 * kernels do too (FP32 accumulation).
 *
 * Tolerances for the encoder (its outputs are O(1): LayerNorm-ed hidden states, logits of
 * spread > 0.5): FP16 rounds each tensor it stores to 11 significant bits (relative error up
 * to 2^-11 ≈ 4.9e-4 per rounding); a few roundings per layer, renormalised by every
 * LayerNorm, give errors of a few 1e-3 at magnitudes up to ~4. Measured on this model:
 * logits max |error| 7e-4 (2 layers, hidden 64) to 1.7e-3 (4 layers, hidden 128), hidden
 * states 2.4e-3 to 3.2e-3. The checks allow about 5x that: logits 1e-2, hidden 1.5e-2,
 * cosine similarity >= 0.9999, and top-1 agreement on every row whose FP32 top-2 margin is
 * larger than twice the measured logits error (a smaller margin could flip legitimately).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OnnxRuntimeSession } from '../../src/backends/onnxruntime.js';
import {
  GraphBuilder,
  TENSOR_TYPE,
  createEncoderModel,
  decodeModel,
  encodeModel,
  inferElemTypes,
  readModel,
  readTensorProto,
  type ModelProto,
} from '../../src/onnx/index.js';
import { checkMixedPrecision, convertToFloat16 } from '../../src/fp16/index.js';
import { generateInputs } from '../../src/accuracy/inputs.js';
import { inferValueRanges } from '../../src/accuracy/model-hints.js';
import { writeInputFile } from '../../src/accuracy/input-file.js';
import { main } from '../../src/cli/index.js';
import { Tensor } from '../../src/tensor.js';
import type { Feeds, Outputs } from '../../src/session.js';

interface Diff {
  maxAbs: number;
  cosine: number;
}

function diff(a: Tensor, b: Tensor): Diff {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let maxAbs = 0;
  let dot = 0;
  let nx = 0;
  let ny = 0;
  for (let i = 0; i < x.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(x[i]! - y[i]!));
    dot += x[i]! * y[i]!;
    nx += x[i]! * x[i]!;
    ny += y[i]! * y[i]!;
  }
  return { maxAbs, cosine: dot / Math.sqrt(nx * ny) };
}

function argmaxRows(t: Tensor): { arg: number[]; margin: number[] } {
  const [rows, cols] = t.dims as [number, number];
  const d = t.data as Float32Array;
  const arg: number[] = [];
  const margin: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(d.subarray(r * cols, r * cols + cols));
    const sorted = [...row].sort((p, q) => q - p);
    arg.push(row.indexOf(sorted[0]!));
    margin.push(sorted[0]! - sorted[1]!);
  }
  return { arg, margin };
}

async function runBoth(a: ModelProto, b: ModelProto, feeds: readonly Feeds[]): Promise<[Outputs, Outputs][]> {
  const [sa, sb] = [await OnnxRuntimeSession.create(encodeModel(a)), await OnnxRuntimeSession.create(encodeModel(b))];
  try {
    const out: [Outputs, Outputs][] = [];
    for (const f of feeds) out.push([await sa.run(f), await sb.run(f)]);
    return out;
  } finally {
    await sa.dispose();
    await sb.dispose();
  }
}

describe('FP16 encoder against FP32 under ONNX Runtime', () => {
  for (const cfg of [{ seed: 1 }, { seed: 2, layers: 4, hidden: 128, heads: 4, intermediate: 512 }]) {
    it(`stays within tolerance: ${JSON.stringify(cfg)}`, async () => {
      const fp32 = createEncoderModel(cfg);
      const { model: fp16, report } = await convertToFloat16(fp32);
      expect(checkMixedPrecision(fp16)).toEqual([]);
      const s = await OnnxRuntimeSession.create(encodeModel(fp32));
      const inputs = generateInputs(s.inputs, { seed: 7, iterations: 6, batch: 8, seq: 48, valueRanges: inferValueRanges(fp32) });
      await s.dispose();
      let logits: Diff = { maxAbs: 0, cosine: 1 };
      let hidden: Diff = { maxAbs: 0, cosine: 1 };
      const rows: { same: boolean; margin: number }[] = [];
      for (const [a, b] of await runBoth(fp32, fp16, inputs)) {
        expect(b.logits!.type).toBe('float32');
        expect(b.last_hidden_state!.dims).toEqual(a.last_hidden_state!.dims);
        const l = diff(a.logits!, b.logits!);
        const h = diff(a.last_hidden_state!, b.last_hidden_state!);
        logits = { maxAbs: Math.max(logits.maxAbs, l.maxAbs), cosine: Math.min(logits.cosine, l.cosine) };
        hidden = { maxAbs: Math.max(hidden.maxAbs, h.maxAbs), cosine: Math.min(hidden.cosine, h.cosine) };
        const [ra, rb] = [argmaxRows(a.logits!), argmaxRows(b.logits!)];
        ra.arg.forEach((x, i) => rows.push({ same: x === rb.arg[i], margin: ra.margin[i]! }));
      }
      expect(logits.maxAbs).toBeGreaterThan(0); // it really ran in reduced precision
      expect(logits.maxAbs).toBeLessThan(1e-2);
      expect(hidden.maxAbs).toBeLessThan(1.5e-2);
      expect(logits.cosine).toBeGreaterThanOrEqual(0.9999);
      expect(hidden.cosine).toBeGreaterThanOrEqual(0.9999);
      const decisive = rows.filter((r) => r.margin > 2 * logits.maxAbs);
      expect(decisive.length).toBeGreaterThan(rows.length * 0.9);
      expect(decisive.every((r) => r.same)).toBe(true);
      expect(report.bytesAfter / report.bytesBefore).toBeLessThan(0.51);
    });
  }

  it('keeps nodes whose calibration activations exceed dataMax, and the result runs on other shapes', async () => {
    const fp32 = createEncoderModel({ seed: 3 });
    const s = await OnnxRuntimeSession.create(encodeModel(fp32));
    const calib = generateInputs(s.inputs, { seed: 1, iterations: 2, batch: 4, seq: 32, valueRanges: inferValueRanges(fp32) });
    await s.dispose();
    const { model, report } = await convertToFloat16(fp32, { calibrationData: calib });
    expect(report.calibration).toMatchObject({ source: 'data', runs: 2, tensorsMeasured: expect.any(Number), keptByDataMax: 4, dataMax: 512 });
    expect(report.calibration.inputs.map((i) => [i.name, i.dims])).toEqual([
      ['input_ids', [4, 32]],
      ['attention_mask', [4, 32]],
    ]);
    const dataMax = report.keptFp32.filter((k) => k.rule === 'dataMax');
    // The attention-mask bias is (1 - mask) * -10000: its Mul, Unsqueeze and the Adds into the scores.
    expect(dataMax.map((k) => k.opType).sort()).toEqual(['Add', 'Add', 'Mul', 'Unsqueeze']);
    expect(dataMax[0]!.reason).toMatch(/reaches \|x\| = 10000 > dataMax 512/);
    expect(checkMixedPrecision(model)).toEqual([]);
    const other: Feeds = {
      input_ids: new Tensor(
        'int64',
        BigInt64Array.from({ length: 3 * 17 }, (_, i) => BigInt(((i * 37) % 1000) + 1)),
        [3, 17],
      ),
      attention_mask: new Tensor(
        'int64',
        BigInt64Array.from({ length: 3 * 17 }, (_, i) => (i % 17 < 17 - ((i / 17) | 0) * 4 ? 1n : 0n)),
        [3, 17],
      ),
    };
    const [[a, b]] = (await runBoth(fp32, model, [other])) as [[Outputs, Outputs]];
    expect(b.logits!.dims).toEqual([3, 4]);
    expect(diff(a.logits!, b.logits!).maxAbs).toBeLessThan(1e-2);
  });
});

describe('FP16 conversion of subgraphs', () => {
  const w = (n: number, dims: number[], s = 0.3) =>
    new Tensor(
      'float32',
      Float32Array.from({ length: n }, (_, i) => s * Math.sin(i * 1.7 + 0.3)),
      dims,
    );

  function controlFlowModel(): ModelProto {
    // h = tanh(x W); y = If(c, exp(h W) [Exp blocked inside], 2h + W_row) + h;
    // Loop 3x: v = tanh(v W) + x, with v's per-iteration values as a scan output.
    const then = new GraphBuilder({ name: 'then' });
    then.scope('then', () => then.op('Exp', [then.op('MatMul', ['h', 'W'])], {}, 't_out'));
    then.output('t_out', 'float32', [2, 4]);
    const els = new GraphBuilder({ name: 'else' });
    els.scope('else', () => els.op('Add', [els.op('Mul', ['h', els.floats(2)]), 'W_row'], {}, 'e_out'));
    els.output('e_out', 'float32', [2, 4]);
    const body = new GraphBuilder({ name: 'body' });
    body.input('iter', 'int64', []);
    body.input('cond_in', 'bool', []);
    body.input('v_in', 'float32', [2, 4]);
    body.op('Identity', ['cond_in'], {}, 'cond_out');
    body.scope('body', () => body.op('Add', [body.op('Tanh', [body.op('MatMul', ['v_in', 'W'])]), 'x'], {}, 'v_out'));
    body.op('Identity', ['v_out'], {}, 'scan_out');
    body.output('cond_out', 'bool', []);
    body.output('v_out', 'float32', [2, 4]);
    body.output('scan_out', 'float32', [2, 4]);
    const b = new GraphBuilder();
    b.input('c', 'bool', []);
    b.input('x', 'float32', [2, 4]);
    b.initializer('W', w(16, [4, 4]));
    b.initializer('W_row', w(4, [4]));
    b.op('Tanh', [b.op('MatMul', ['x', 'W'])], {}, 'h');
    const y = b.op('If', ['c'], { then_branch: then.buildGraph(), else_branch: els.buildGraph() });
    b.op('Add', [y, 'h'], {}, 'out');
    b.output('out', 'float32', [2, 4]);
    b.node('Loop', [b.ints(3), '', 'x'], { body: body.buildGraph() }, { outputs: ['v_final', 'scans'] });
    b.output('v_final', 'float32', [2, 4]);
    b.output('scans', 'float32', [3, 2, 4]);
    return b.build();
  }

  it('converts If branches and Loop bodies inside, keeping their interfaces float32', async () => {
    const fp32 = controlFlowModel();
    const { model, report } = await convertToFloat16(fp32);
    expect(checkMixedPrecision(model)).toEqual([]);
    expect(report.keptFp32).toEqual([expect.objectContaining({ opType: 'Exp', rule: 'blockOps', graph: 'then' })]);
    expect(report.convertedNodes).toMatchObject({ MatMul: 3, Tanh: 2 });
    const loop = model.graph!.node.find((n) => n.opType === 'Loop')!;
    const body = loop.attribute.find((a) => a.name === 'body')!.g!;
    const bodyTypes = inferElemTypes(body, inferElemTypes(model.graph!));
    expect(body.node.filter((n) => n.opType === 'MatMul').map((n) => bodyTypes.get(n.output[0]!))).toEqual([TENSOR_TYPE.FLOAT16]);
    expect(body.output.map((o) => bodyTypes.get(o.name))).toEqual([TENSOR_TYPE.BOOL, TENSOR_TYPE.FLOAT, TENSOR_TYPE.FLOAT]);
    for (const c of [0, 1]) {
      const feeds = { c: new Tensor('bool', [c], []), x: w(8, [2, 4], 0.8) };
      const [[a, b]] = (await runBoth(fp32, model, [feeds])) as [[Outputs, Outputs]];
      for (const name of ['out', 'v_final', 'scans']) {
        expect(b[name]!.type).toBe('float32');
        expect(b[name]!.dims).toEqual(a[name]!.dims);
        const d = diff(a[name]!, b[name]!);
        expect(d.maxAbs, `${name} c=${c}`).toBeGreaterThan(0);
        expect(d.maxAbs, `${name} c=${c}`).toBeLessThan(5e-3);
      }
    }
  });
});

describe('ONNX files exported by PyTorch (test/fixtures/fp16-pytorch)', () => {
  const root = fileURLToPath(new URL('../fixtures/fp16-pytorch/', import.meta.url));
  const cases = fs.readdirSync(root).filter((f) => f.startsWith('test_'));

  it('has the fixtures', () => {
    expect(cases.length).toBe(7);
  });

  for (const name of cases) {
    it(`${name}: round-trips byte for byte, converts to a valid mixed graph and runs close to FP32`, async () => {
      const file = path.join(root, name, 'model.onnx');
      const bytes = fs.readFileSync(file);
      expect(Buffer.from(encodeModel(decodeModel(bytes))).equals(bytes)).toBe(true);
      const fp32 = await readModel(file);
      const { model, report } = await convertToFloat16(fp32);
      expect(checkMixedPrecision(model)).toEqual([]);
      const data = path.join(root, name, 'test_data_set_0');
      const pb = (prefix: string) =>
        fs
          .readdirSync(data)
          .filter((f) => f.startsWith(prefix))
          .sort()
          .map((f) => readTensorProto(fs.readFileSync(path.join(data, f)), f).tensor);
      const s = await OnnxRuntimeSession.create(bytes);
      const feeds: Feeds = Object.fromEntries(pb('input_').map((t, i) => [s.inputs[i]!.name, t]));
      const expected = pb('output_');
      const outputs = s.outputs.map((o) => o.name);
      await s.dispose();
      const [[a, b]] = (await runBoth(fp32, model, [feeds])) as [[Outputs, Outputs]];
      outputs.forEach((o, i) => {
        const ref = expected[i]!.toFloat64();
        const x = a[o]!.toFloat64();
        const y = b[o]!.toFloat64();
        expect(b[o]!.type).toBe('float32');
        let scale = 1;
        let fp32Err = 0;
        let fp16Err = 0;
        for (let k = 0; k < ref.length; k++) {
          scale = Math.max(scale, Math.abs(ref[k]!));
          fp32Err = Math.max(fp32Err, Math.abs(x[k]! - ref[k]!));
          fp16Err = Math.max(fp16Err, Math.abs(y[k]! - x[k]!));
        }
        expect(fp32Err).toBeLessThan(1e-4 * scale);
        // FP16 rounds to 2^-11 relative; a few roundings and O(10)-term sums stay well inside 1e-2.
        expect(fp16Err, `${name} ${o}`).toBeLessThan(1e-2 * scale);
      });
      expect(Object.keys(report.convertedNodes).length + report.keptFp32.length).toBeGreaterThan(0);
    });
  }
});

describe('tensorrt-node convert-fp16', () => {
  let dir: string;
  let input: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trtn-fp16-cli-'));
    input = path.join(dir, 'encoder.onnx');
    fs.writeFileSync(input, encodeModel(createEncoderModel({ seed: 9 })));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const ow = process.stdout.write.bind(process.stdout);
    const ew = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
    try {
      const code = await main(['node', 'tensorrt-node', ...args]);
      return { code, stdout: out.join(''), stderr: err.join('') };
    } finally {
      process.stdout.write = ow;
      process.stderr.write = ew;
    }
  }

  it('writes the converted model and the JSON report', async () => {
    const out = path.join(dir, 'encoder-fp16.onnx');
    const json = path.join(dir, 'report.json');
    const r = await cli('convert-fp16', input, '-o', out, '--json', json);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/FP16 nodes\s+\d+: .*MatMul 18/);
    // Calibrated on generated inputs by default: the attention-mask bias (-10000) passes dataMax.
    expect(r.stdout).toMatch(/kept FP32\s+12: blockOps 7, dataMax 4, dataMovement 1/);
    expect(r.stdout).toMatch(
      /calibration {2}generated inputs \(seed 1, 2 batch\(es\) of 2 x 128\): input_ids int64 \[2, 128\] in \[0, 1023\], attention_mask int64 \[2, 128\] in \[0, 1\]/,
    );
    expect(r.stdout).toMatch(/\d+ float tensors measured against dataMax 512; largest \|x\| 1\.00e\+4 at "[^"]+"; 4 node\(s\) kept FP32 by it/);
    // The LayerNorm reason names this model's width (hidden 64).
    expect(r.stdout).toContain('mean and variance over the normalised width of 64 activations');
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(Object.keys(report).sort()).toEqual([
      'bytesAfter',
      'bytesBefore',
      'calibration',
      'castsAdded',
      'convertedNodes',
      'initializersConverted',
      'keptFp32',
    ]);
    expect(report.calibration).toMatchObject({ source: 'random', generated: { seed: 1, batch: 2, seq: 128, iterations: 2 }, runs: 2 });
    expect(report.keptFp32[0]).toEqual({
      node: '/embeddings/LayerNormalization',
      opType: 'LayerNormalization',
      rule: 'blockOps',
      reason: expect.any(String),
      graph: '',
    });
    const model = await readModel(out);
    expect(checkMixedPrecision(model)).toEqual([]);
    const s = await OnnxRuntimeSession.create(out);
    expect(s.outputs.map((o) => [o.name, o.dtype])).toEqual([
      ['last_hidden_state', 'float32'],
      ['logits', 'float32'],
    ]);
    await s.dispose();
  });

  it('passes its flags to the converter and calibrates on inputs from a file or generated', async () => {
    const out = path.join(dir, 'flags.onnx');
    const json = path.join(dir, 'flags.json');
    const inputs = path.join(dir, 'calib.json');
    const s = await OnnxRuntimeSession.create(input);
    await writeInputFile(inputs, generateInputs(s.inputs, { seed: 3, batch: 2, seq: 16, valueRanges: { input_ids: [1, 1000] } }));
    await s.dispose();
    const r = await cli(
      'convert-fp16',
      input,
      '-o',
      out,
      '--json',
      json,
      '--block-ops',
      'Softmax',
      '--block-ops-replace',
      '--block-nodes',
      'ffn/MatMul$',
      '--max-reduction-depth',
      'inf',
      '--calibration-data',
      inputs,
      '--no-keep-io-types',
      '-q',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    const rules = report.keptFp32.map((k: { rule: string; opType: string }) => `${k.rule}:${k.opType}`);
    expect(rules.filter((x: string) => x === 'blockOps:Softmax')).toHaveLength(2);
    expect(rules.filter((x: string) => x === 'blockNodes:MatMul')).toHaveLength(2);
    expect(rules).toContain('dataMax:Mul');
    expect(report.convertedNodes.LayerNormalization).toBe(5);
    expect(report.calibration).toMatchObject({ source: 'data', runs: 1 });
    const model = await readModel(out);
    const logits = model.graph!.output.find((o) => o.name === 'logits')!;
    expect(logits.type!.value.case === 'tensorType' && logits.type!.value.value.elemType).toBe(TENSOR_TYPE.FLOAT16);

    const gen = await cli('convert-fp16', input, '-o', out, '--calibrate', '--batch', '2', '--seq', '8', '--iterations', '1');
    expect(gen.code).toBe(0);
    expect(gen.stdout).toMatch(/calibration {2}generated inputs \(seed 1, 1 batch\(es\) of 2 x 8\)/);
    const off = await cli('convert-fp16', input, '-o', out, '--no-calibrate');
    expect(off.code).toBe(0);
    expect(off.stdout).toContain('calibration  none: calibration was turned off, so no activation range was checked');
    expect(off.stdout).not.toContain('[dataMax]');
  });

  it('--block-ops adds to the default block list; --block-ops-replace replaces it', async () => {
    const out = path.join(dir, 'blocks.onnx');
    const json = path.join(dir, 'blocks.json');
    const rules = async (...flags: string[]): Promise<string[]> => {
      const r = await cli('convert-fp16', input, '-o', out, '--json', json, '--no-calibrate', '-q', ...flags);
      expect(r.code, flags.join(' ')).toBe(0);
      const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { keptFp32: { rule: string; opType: string }[] };
      return [...new Set(report.keptFp32.filter((k) => k.rule === 'blockOps').map((k) => k.opType))].sort();
    };
    expect(await rules()).toEqual(['LayerNormalization', 'Softmax']);
    expect(await rules('--block-ops', 'Tanh')).toEqual(['LayerNormalization', 'Softmax', 'Tanh']);
    expect(await rules('--block-ops', 'Tanh', '--block-ops-replace')).toEqual(['Tanh']);
    expect(await rules('--block-ops', 'none', '--block-ops-replace')).toEqual([]);
  });

  it('refuses an output that is the input model, also through a link or another spelling, leaving it untouched', async () => {
    const before = fs.readFileSync(input);
    const link = path.join(dir, 'link.onnx');
    fs.symlinkSync(input, link);
    const relative = path.relative(process.cwd(), input);
    const spelled = path.join(dir, '..', path.basename(dir), 'encoder.onnx');
    for (const [args, message] of [
      [[input, '-o', input], `-o ${JSON.stringify(input)} is the input model`],
      [[input, '-o', relative], `-o ${JSON.stringify(relative)} is the input model`],
      [[input, '-o', spelled], 'is the input model'],
      [[input, '-o', link], `-o ${JSON.stringify(link)} is the input model (${JSON.stringify(fs.realpathSync(input))})`],
      [[link, '-o', input], 'is the input model'],
      [[input, '-o', path.join(dir, 'ok.onnx'), '--json', input], `--json ${JSON.stringify(input)} is the input model`],
    ] as [string[], string][]) {
      const r = await cli('convert-fp16', ...args);
      expect(r.stderr, args.join(' ')).toContain('error ERR_INVALID_ARG: ');
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect(fs.readFileSync(input).equals(before)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'ok.onnx'))).toBe(false);
  });

  it('exits 2 and writes nothing on bad input or flags', async () => {
    const garbage = path.join(dir, 'garbage.onnx');
    fs.writeFileSync(garbage, Buffer.from('this is not an onnx model at all, just text'));
    const cases: [string[], RegExp][] = [
      [[garbage], /ERR_ONNX_PARSE/],
      [[path.join(dir, 'missing.onnx')], /ERR_IO/],
      [[input, '--init-max', '-3'], /--init-max must be a positive number/],
      [[input, '--block-nodes', '(('], /invalid regular expression/],
      [[input, '--batch', '4', '--no-calibrate'], /do not go with --no-calibrate/],
      [[input, '--block-ops', 'NoSuchOp,Softmax'], /ERR_INVALID_ARG: unknown op type "NoSuchOp" in the block list/],
      [[input, '--block-ops', 'none'], /add --block-ops-replace to block no op type/],
      [[input, '--block-ops-replace'], /--block-ops-replace needs --block-ops LIST/],
    ];
    for (const [args, message] of cases) {
      const out = path.join(dir, 'never.onnx');
      const json = path.join(dir, 'never.json');
      const r = await cli('convert-fp16', ...args, '-o', out, '--json', json);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.existsSync(json)).toBe(false);
    }
    const usage = await cli('convert-fp16', input);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--output/);
  });
});
