/**
 * `tensorrt-node bench` for real: the embedded tiny encoder on ONNX Runtime (CPU), short
 * windows, every report format. The assertions are about what was measured being present
 * and consistent, never about how fast it was.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/index.js';
import { BenchReportSchema } from '../../src/bench/report-schema.js';
import { requireTensorRT } from '../../src/backends/tensorrt-libs.js';

const trtAvailable = ((): boolean => {
  try {
    requireTensorRT();
    return true;
  } catch {
    return false;
  }
})();

let dir: string;

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
  dir = await mkdtemp(join(tmpdir(), 'trtn-bench-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tensorrt-node bench on the tiny encoder (ONNX Runtime)', () => {
  it('measures closed and open loop, direct and batcher, and writes JSON, markdown and HTML', async () => {
    const json = join(dir, 'bench.json');
    const md = join(dir, 'bench.md');
    const html = join(dir, 'bench.html');
    const r = await cli(
      'bench',
      '--concurrency',
      '1,4',
      '--rate',
      '50%',
      '--duration',
      '0.6',
      '--warmup',
      '0.2',
      '--seq',
      '16:64',
      '--batch',
      '2',
      '--threads',
      '1',
      '--json',
      json,
      '--markdown',
      md,
      '--html',
      html,
    );
    expect(r.err).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const report = BenchReportSchema.parse(JSON.parse(await readFile(json, 'utf8')));

    const ort = report.records.filter((x) => x.backend === 'onnxruntime');
    // (2 concurrencies + 1 rate) x (direct, batcher)
    expect(ort).toHaveLength(6);
    for (const rec of ort) {
      expect(rec.requests).toBeGreaterThan(0);
      expect(rec.throughput).toBeGreaterThan(0);
      expect(rec.samplesPerSecond).toBeCloseTo(rec.throughput * 2, 9);
      expect(rec.rowsPerRequest).toBe(2);
      expect(rec.p50).toBeGreaterThan(0);
      expect(rec.p99!).toBeGreaterThanOrEqual(rec.p50!);
      expect(rec.latencyMs.max!).toBeGreaterThanOrEqual(rec.p99!);
      expect(rec.latencyMs.min!).toBeLessThanOrEqual(rec.p50!);
      expect(rec.errors).toBe(0);
      expect(rec.stages).toBeNull(); // ONNX Runtime reports no device stages
      if (rec.batcher) {
        expect(rec.meanBatchSize!).toBeGreaterThanOrEqual(2);
        expect(rec.batches!).toBeGreaterThan(0);
        expect(rec.computeMs!).toBeGreaterThan(0);
        expect(rec.queueMs!).toBeGreaterThanOrEqual(0);
        expect(rec.paddingRatio!).toBeGreaterThanOrEqual(0);
      } else {
        expect(rec.meanBatchSize).toBe(2);
        expect(rec.queueMs).toBeNull();
      }
    }
    const closed = ort.filter((x) => x.mode === 'closed-loop');
    expect(closed.map((x) => [x.concurrency, x.batcher])).toEqual([
      [1, false],
      [1, true],
      [4, false],
      [4, true],
    ]);
    // The open-loop rate is 50% of the best closed-loop throughput measured in this run.
    const best = Math.max(...closed.map((x) => x.throughput));
    const open = ort.filter((x) => x.mode === 'open-loop');
    expect(open).toHaveLength(2);
    for (const rec of open) {
      expect(rec.rateSpec).toBe('50%');
      expect(rec.rate).toBeCloseTo(best / 2, 6);
      expect(rec.offeredRate!).toBeGreaterThan(0);
      expect(rec.sendLagMs).not.toBeNull();
      expect(rec.distribution).toBe('poisson');
    }

    // TensorRT: measured where it is installed, otherwise skipped with the reason.
    if (!trtAvailable) {
      expect(report.records.some((x) => x.backend === 'tensorrt')).toBe(false);
      expect(report.skipped).toEqual([expect.objectContaining({ backend: 'tensorrt', reason: expect.stringMatching(/^ERR_TENSORRT_(NOT_FOUND|VERSION)/) })]);
      expect(r.out).toMatch(/tensorrt: skipped, not measured\. ERR_TENSORRT_(NOT_FOUND|VERSION)/);
    }

    expect(r.out).toContain('=== onnxruntime | batcher | closed-loop, concurrency 4 | 2 row(s) per request ===');
    expect(r.out).toContain('percentile(99%)');
    expect(r.err).toContain('[bench 1/'); // plain progress lines when stderr is not a terminal
    expect(await readFile(md, 'utf8')).toContain('| onnxruntime | batcher | concurrency 4 |');
    const page = await readFile(html, 'utf8');
    expect(page).toContain('<svg');
    expect(page).toContain('onnxruntime: latency vs throughput');
  });

  it('exits 2 with the reason on bad input, writing nothing', async () => {
    const json = join(dir, 'never.json');
    const bad = await cli('bench', '--concurrency', '0', '--json', json);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--concurrency entries must be an integer from 1 to 4096, got "0"');
    const both = await cli('bench', 'model.onnx', '--encoder', 'tiny');
    expect(both.code).toBe(2);
    expect(both.err).toContain('give a model file or --encoder, not both');
    const missing = await cli('bench', join(dir, 'missing.onnx'));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain(`error ERR_IO: model ${JSON.stringify(join(dir, 'missing.onnx'))} does not exist`);
    const percent = await cli('bench', '--concurrency', 'none', '--rate', '50%', '--json', json);
    expect(percent.code).toBe(2);
    expect(percent.err).toContain('need at least one concurrency');
    await expect(readFile(json)).rejects.toThrow();
  });

  it('exits 1 when a configuration served nothing, summarising the errors by message, and still writes the report', async () => {
    // 1000 tokens into an encoder with 512 positions: every request fails.
    const json = join(dir, 'failed.json');
    const r = await cli(
      'bench',
      '--backend',
      'onnxruntime',
      '--batcher',
      'off',
      '--concurrency',
      '1',
      '--rate',
      'none',
      '--seq',
      '1000',
      '--pool',
      '2',
      '--duration',
      '0.15',
      '--warmup',
      '0',
      '--threads',
      '1',
      '--quiet',
      '--json',
      json,
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /error: 1 of 1 configuration\(s\) failed \(exit 1\):\n {2}onnxruntime direct concurrency 1: served nothing: no request completed in the 0\.15 s window, \d+ failed; errors: \d+ × ERR_/,
    );
    const rec = BenchReportSchema.parse(JSON.parse(await readFile(json, 'utf8'))).records[0]!;
    expect(rec.requests).toBe(0);
    expect(rec.errors).toBeGreaterThan(0);
    expect(rec.errorSummary.reduce((n, k) => n + k.count, 0)).toBe(rec.errors);
    expect(rec.errorSummary.length).toBeLessThanOrEqual(6);
    // One summary line per message in the text report, not one line per failed request.
    expect(r.out.split('\n').filter((l) => l.startsWith('Errors: ')).length).toBe(1);
  });

  it.skipIf(trtAvailable)('exits 2 when only TensorRT is asked for and it is absent', async () => {
    const r = await cli('bench', '--backend', 'tensorrt', '--duration', '0.1');
    expect(r.code).toBe(2);
    expect(r.err).toContain('no backend could run, nothing measured');
    expect(r.err).toMatch(/tensorrt: ERR_TENSORRT_(NOT_FOUND|VERSION)/);
  });
});
