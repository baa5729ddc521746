// The demo end to end on the tiny encoder with ONNX Runtime (the backend this machine has).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDemo, runDemo } from '../../src/demo.js';

describe('demo', () => {
  it('converts, checks accuracy, serves a burst and generates text, with real figures, in 100 columns', async () => {
    const s = await runDemo({ encoder: 'tiny', requests: 48, maxSeq: 32, backend: 'onnxruntime', generations: 6, maxNewTokens: 12 });
    expect(s.backend).toMatchObject({ name: 'onnxruntime', servedPrecision: 'fp32' });
    expect(s.model).toMatchObject({ layers: 2, hidden: 64 });
    expect(s.fp16.convertedNodes).toBeGreaterThan(0);
    expect(s.fp16.bytesAfter).toBeLessThan(s.fp16.bytesBefore);
    expect(s.accuracy.passed).toBe(true);
    expect(s.accuracy.outputs.map((o) => o.name).sort()).toEqual(['last_hidden_state', 'logits']);
    for (const o of s.accuracy.outputs) {
      expect(o.maxAbsError).toBeGreaterThan(0); // FP16 is not bit-identical
      expect(o.maxAbsError).toBeLessThan(1e-2);
      expect(o.cosineSimilarity).toBeGreaterThan(0.9999);
    }
    for (const f of [s.batcher, s.direct]) {
      expect(f.requests).toBe(48);
      expect(f.throughput).toBeGreaterThan(0);
      expect(f.p99Ms).toBeGreaterThanOrEqual(f.p50Ms);
    }
    expect(s.batcher.meanBatchSize).toBeGreaterThan(1);
    const g = s.generation!;
    expect(g).toMatchObject({ backend: 'onnxruntime', prompts: 6, identical: 6, model: { preset: 'tiny', layers: 2 } });
    expect(g.oneAtATime.tokens).toBe(g.continuous.tokens);
    expect(g.continuous.meanBatch).toBeGreaterThan(1);
    for (const f of [g.oneAtATime, g.continuous]) expect(f.tokensPerSecond).toBeGreaterThan(0);
    const text = formatDemo(s);
    expect(text).toMatch(/backend +\| onnxruntime/);
    expect(text).toMatch(/FP16 vs FP32: logits +\| pass/);
    expect(text).toMatch(/greedy tokens identical for 6 of 6 prompts/);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });

  it('refuses bad options with exit code 2 from the CLI', () => {
    const bin = join(__dirname, '..', '..', 'bin', 'tensorrt-node.js');
    const r = spawnSync(process.execPath, [bin, 'demo', '--seq', 'long'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ERR_INVALID_ARG.*--seq must be min:max/);
    const ok = spawnSync(process.execPath, [bin, 'demo', '--encoder', 'tiny', '--requests', '16', '--seq', '4:16', '--json'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout).accuracy.passed).toBe(true);
  });
});
