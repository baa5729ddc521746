import { describe, expect, it } from 'vitest';
import { compare, isClassScores } from '../../../src/accuracy/compare.js';
import { compareHtml, compareJson, formatCompareText } from '../../../src/accuracy/report.js';
import { parseErrorStat, parseNamedValues, parseNonNegative, toleranceFor } from '../../../src/accuracy/tolerance.js';
import { Tensor } from '../../../src/tensor.js';
import { InvalidArgumentError, ShapeError } from '../../../src/errors.js';
import type { Feeds, InferenceSession, Outputs, RunOptions, TensorInfo } from '../../../src/session.js';

/** A test double: computes its outputs from the feeds with a plain function. */
class FnSession implements InferenceSession {
  readonly backend = 'onnxruntime' as const;
  disposed = false;
  runs: Feeds[] = [];
  constructor(
    readonly inputs: TensorInfo[],
    readonly outputs: TensorInfo[],
    private readonly fn: (feeds: Feeds) => Outputs,
  ) {}
  async run(feeds: Feeds, options: RunOptions = {}): Promise<Outputs> {
    this.runs.push(feeds);
    const all = this.fn(feeds);
    return Object.fromEntries(Object.entries(all).filter(([k]) => !Array.isArray(options.outputs) || options.outputs.includes(k)));
  }
  async dispose(): Promise<void> {
    this.disposed = true;
  }
  async [Symbol.asyncDispose](): Promise<void> {}
}

const xInfo: TensorInfo[] = [{ name: 'x', dtype: 'float32', dims: ['batch', 4] }];
const outInfo: TensorInfo[] = [
  { name: 'logits', dtype: 'float32', dims: ['batch', 4] },
  { name: 'sum', dtype: 'float32', dims: ['batch'] },
];
function model(scale = 1, bias = 0): FnSession {
  return new FnSession(xInfo, outInfo, (f) => {
    const x = f.x!.data as Float32Array;
    const rows = f.x!.dims[0]!;
    const logits = x.map((v) => v * scale + bias);
    const sum = new Float32Array(rows);
    for (let r = 0; r < rows; r++) for (let c = 0; c < 4; c++) sum[r]! += x[r * 4 + c]!;
    return { logits: new Tensor('float32', logits, [rows, 4]), sum: new Tensor('float32', sum, [rows]) };
  });
}

describe('tolerance settings', () => {
  it('parses Polygraphy-style per-output values, splitting at the last colon', () => {
    expect(parseNamedValues(['1e-3'], '--atol', parseNonNegative, 'a number')).toBe(1e-3);
    expect(parseNamedValues(['1e-3', 'logits:0.5', 'Identity:0:2'], '--atol', parseNonNegative, 'a number')).toEqual({
      '': 1e-3,
      logits: 0.5,
      'Identity:0': 2,
    });
    expect(parseNamedValues(['out:mean'], '--check-error-stat', parseErrorStat, 'a stat')).toEqual({ out: 'mean' });
    expect(() => parseNamedValues(['-1'], '--atol', parseNonNegative, 'a number')).toThrow('--atol "-1": expected a number or NAME:a number, got "-1"');
    expect(() => parseNamedValues(['x:1', 'x:2'], '--atol', parseNonNegative, 'a number')).toThrow('--atol gives output "x" twice');
    expect(parseNamedValues([], '--atol', parseNonNegative, 'a number')).toBeUndefined();
  });

  it('resolves per-output values with "" as default and Polygraphy defaults beyond', () => {
    expect(toleranceFor({ atol: { '': 1, a: 2 }, rtol: { b: 3 } }, 'a')).toEqual({ atol: 2, rtol: 1e-5, checkErrorStat: 'elemwise', errorQuantile: 0.99 });
    expect(toleranceFor({ atol: { '': 1, a: 2 }, rtol: { b: 3 } }, 'b')).toEqual({ atol: 1, rtol: 3, checkErrorStat: 'elemwise', errorQuantile: 0.99 });
  });
});

describe('isClassScores (which outputs get top-k agreement)', () => {
  it('takes logits-like names, vocabulary or label axes, and leaves pooled and hidden states out', () => {
    expect(isClassScores('logits', 'float32', [2, 4], ['batch', 4], [])).toBe(true);
    expect(isClassScores('start_scores', 'float16', [2, 128], ['batch', 'sequence'], [])).toBe(true);
    expect(isClassScores('pooler_output', 'float32', [2, 768], ['batch', 768], [])).toBe(false);
    expect(isClassScores('last_hidden_state', 'float32', [2, 16, 768], ['batch', 'sequence', 768], [])).toBe(false);
    // A last axis named like a vocabulary or label axis, or of the vocabulary's size.
    expect(isClassScores('output_0', 'float32', [2, 16, 30522], ['batch', 'sequence', 'vocab_size'], [])).toBe(true);
    expect(isClassScores('output_0', 'float32', [2, 3], ['batch', 'num_labels'], [])).toBe(true);
    expect(isClassScores('output_0', 'float32', [2, 16, 30522], ['batch', 'sequence', 30522], [30522])).toBe(true);
    expect(isClassScores('output_0', 'float32', [2, 768], ['batch', 768], [30522])).toBe(false);
    // Not float, rank 1, or a single class: no top-k.
    expect(isClassScores('logits', 'int64', [2, 4], undefined, [])).toBe(false);
    expect(isClassScores('logits', 'float32', [4], undefined, [])).toBe(false);
    expect(isClassScores('logits', 'float32', [4, 1], undefined, [])).toBe(false);
  });

  it('gives no top-k agreement to a pooled output through compare()', async () => {
    const pooled = new FnSession(
      [{ name: 'x', dtype: 'float32', dims: ['batch', 4] }],
      [{ name: 'pooler_output', dtype: 'float32', dims: ['batch', 4] }],
      (f) => ({
        pooler_output: new Tensor('float32', Float32Array.from(f.x!.data as Float32Array), f.x!.dims),
      }),
    );
    const r = await compare(pooled, pooled, { generate: { seed: 1, batch: 3 } });
    expect(r.outputs[0]!.topK).toBeUndefined();
    const asked = await compare(pooled, pooled, { generate: { seed: 1, batch: 3 }, logitsOutputs: ['pooler_output'] });
    expect(asked.outputs[0]!.topK?.classes).toBe(4);
  });
});

describe('compare() over sessions', () => {
  it('passes a model against itself with zero error, on generated inputs shared by both', async () => {
    const a = model();
    const b = model();
    const r = await compare(a, b, { generate: { seed: 3, batch: 3, iterations: 2 } });
    expect(r.passed).toBe(true);
    expect(r.iterations).toBe(2);
    expect(r.outputs.map((o) => o.name)).toEqual(['logits', 'sum']);
    for (const o of r.outputs) {
      expect(o.maxAbsError).toBe(0);
      expect(o.requiredAtol).toBe(0);
      expect(o.requiredRtol).toBe(0);
      expect(o.cosineSimilarity).toBe(1);
      expect(o.iterations).toHaveLength(2);
    }
    expect(r.outputs[0]!.topK).toEqual({ classes: 4, rows: 6, k: 3, top1Agreement: 1, topKAgreement: 1 });
    expect(r.outputs[1]!.topK).toBeUndefined();
    expect(a.runs[1]!.x).toBe(b.runs[1]!.x);
  });

  it('fails the perturbed output, names it, and reports the error it needs', async () => {
    const x = new Tensor('float32', Float32Array.from([1, 2, 3, 4, 0, 0, 0, 0.5]), [2, 4]);
    const r = await compare(model(), model(1, 0.01), { inputs: { x } });
    expect(r.passed).toBe(false);
    const logits = r.outputs.find((o) => o.name === 'logits')!;
    const sum = r.outputs.find((o) => o.name === 'sum')!;
    expect(sum.passed).toBe(true);
    expect(logits.passed).toBe(false);
    expect(logits.maxAbsError).toBeCloseTo(0.01, 6);
    expect(logits.mismatchCount).toBe(8);
    // rtol 1e-5 fixed: every element exceeds it, so atol must cover the largest error.
    expect(logits.requiredAtol).toBe(logits.maxAbsError);
    // atol 1e-5 fixed: the element with b = 0.01 (x = 0) has relative error 1.
    expect(logits.requiredRtol).toBeCloseTo(1, 5);
    expect(logits.worst!.index.length).toBe(2);
    expect(formatCompareText(r)).toContain('FAILED: mismatched output(s): logits');
    const loose = await compare(model(), model(1, 0.01), { inputs: { x }, atol: { logits: 0.0101 } });
    expect(loose.passed).toBe(true);
    const median = await compare(model(), model(1, 0.01), { inputs: { x }, atol: 0.02, checkErrorStat: 'median' });
    expect(median.passed).toBe(true);
  });

  it('checks one session against reference outputs on the given inputs', async () => {
    const x = new Tensor('float32', Float32Array.from([1, 2, 3, 4]), [1, 4]);
    const reference = { logits: new Tensor('float32', Float32Array.from([1, 2, 3, 4.5]), [1, 4]) };
    const r = await compare(model(), { reference }, { inputs: [{ x }] });
    expect(r.b).toEqual({ label: 'reference', backend: 'reference' });
    expect(r.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(r.skipped).toEqual([{ name: 'sum', reason: 'only A (onnxruntime) has it' }]);
    expect(r.outputs[0]!.maxAbsError).toBe(0.5);
    expect(r.outputs[0]!.maxRelError).toBeCloseTo(0.5 / 4.5, 12);
    await expect(compare(model(), { reference })).rejects.toThrow('needs options.inputs');
    await expect(compare(model(), { reference: [reference, reference] }, { inputs: { x } })).rejects.toThrow(
      '1 iteration(s) of inputs but 2 of reference outputs',
    );
  });

  it('reports shape and dtype mismatches as failed outputs with codes, not crashes', async () => {
    const x = new Tensor('float32', Float32Array.from([1, 2, 3, 4]), [1, 4]);
    const r = await compare(
      model(),
      {
        reference: {
          logits: new Tensor('float32', new Float32Array(3), [1, 3]),
          sum: new Tensor('int32', new Int32Array(1), [1]),
        },
      },
      { inputs: { x } },
    );
    expect(r.passed).toBe(false);
    expect(r.outputs[0]!.error).toEqual({
      code: 'ERR_SHAPE',
      message: 'output "logits" has shape [1, 4] in A but [1, 3] in B; outputs of different shapes are not compared',
    });
    expect(r.outputs[1]!.error!.code).toBe('ERR_DTYPE');
    const json = JSON.parse(JSON.stringify(compareJson(r)));
    expect(json.outputs[0]).toMatchObject({ name: 'logits', passed: false, error: { code: 'ERR_SHAPE' } });
    expect(formatCompareText(r)).toContain('ERROR logits: ERR_SHAPE');
  });

  it('compares float16 against float32 outputs in float64, like Polygraphy casts up', async () => {
    const x = new Tensor('float32', Float32Array.from([1, 2, 3, 4]), [1, 4]);
    const half = new Tensor('float16', new Uint16Array(4), [1, 4]);
    const ref = Tensor.fromFloat32('float16', Float32Array.from([1, 2, 3, 4.001]), [1, 4]);
    const r = await compare(model(), { reference: { logits: ref } }, { inputs: { x } });
    expect(half.type).toBe('float16');
    expect(r.outputs[0]!.dtypeB).toBe('float16');
    expect(r.outputs[0]!.maxAbsError).toBe(Math.abs(4 - ref.toFloat32()[3]!));
  });

  it('refuses inputs that do not fit, with the input named', async () => {
    await expect(compare(model(), model(), { inputs: { x: new Tensor('int32', new Int32Array(4), [1, 4]) } })).rejects.toMatchObject({
      code: 'ERR_DTYPE',
      message: 'inputs: input "x" must be float32, got int32',
    });
    await expect(compare(model(), model(), { inputs: { y: new Tensor('float32', new Float32Array(4), [1, 4]) } })).rejects.toThrow(InvalidArgumentError);
    await expect(compare(model(), model(), { inputs: { x: new Tensor('float32', new Float32Array(3), [1, 3]) } })).rejects.toThrow(ShapeError);
    const other = new FnSession([{ name: 'z', dtype: 'float32', dims: [1] }], outInfo, () => ({}));
    await expect(compare(model(), other)).rejects.toThrow('the two models take different inputs: A has "x", B has "z"');
    await expect(compare(model(), model(), { atol: -1 })).rejects.toThrow(InvalidArgumentError);
    await expect(compare(model(), model(), { checkErrorStat: 'p50' as never })).rejects.toThrow(InvalidArgumentError);
  });

  it('produces JSON with the documented names and a self-contained HTML page', async () => {
    const r = await compare(model(), model(1.001), { generate: { seed: 1 } });
    const json = JSON.parse(JSON.stringify(compareJson(r)));
    expect(json.passed).toBe(false);
    for (const key of [
      'name',
      'passed',
      'maxAbsError',
      'meanAbsError',
      'medianAbsError',
      'p99AbsError',
      'maxRelError',
      'cosineSimilarity',
      'relativeL2Error',
      'nanCount',
      'infCount',
      'requiredAtol',
      'requiredRtol',
    ]) {
      expect(json.outputs[0]).toHaveProperty(key);
    }
    // Relative to B: |x - 1.001x| / |1.001x|.
    expect(json.outputs[0].maxRelError).toBeCloseTo(0.001 / 1.001, 5);
    expect(json.outputs[0].requiredRtol).toBeCloseTo(0.001 / 1.001, 5);
    const html = compareHtml(r);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/(src|href)=["']https?:/);
    expect(html.match(/<section>/g)).toHaveLength(2);
  });
});
