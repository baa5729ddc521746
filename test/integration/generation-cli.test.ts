// `tensorrt-node bench-generate` end to end on the tiny embedded decoder.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/index.js';
import { createEncoderModel } from '../../src/onnx/encoder.js';
import { encodeModel } from '../../src/onnx/model.js';

const bin = join(__dirname, '..', '..', 'bin', 'tensorrt-node.js');
const dir = mkdtempSync(join(tmpdir(), 'trtn-gen-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tensorrt-node bench-generate', () => {
  it('measures the three modes side by side and writes JSON', () => {
    const json = join(dir, 'gen.json');
    const r = spawnSync(
      process.execPath,
      [
        bin,
        'bench-generate',
        '--decoder',
        'tiny',
        '--concurrency',
        '1,3',
        '--requests-per-client',
        '1',
        '--new-tokens',
        '2:5',
        '--threads',
        '1',
        '--quiet',
        '--json',
        json,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/embedded decoder "tiny"/);
    for (const line of r.stdout.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(100);
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      rows: { mode: string; concurrency: number; generatedTokens: number; tokensPerSecond: number }[];
    };
    expect(report.rows.map((x) => `${x.concurrency}:${x.mode}`)).toEqual([
      '1:sequential',
      '1:static',
      '1:continuous',
      '3:sequential',
      '3:static',
      '3:continuous',
    ]);
    // The same seeded requests in every mode: the same number of tokens.
    for (const c of [1, 3]) expect(new Set(report.rows.filter((x) => x.concurrency === c).map((x) => x.generatedTokens)).size).toBe(1);
    for (const x of report.rows) expect(x.tokensPerSecond).toBeGreaterThan(0);
  });

  it('refuses bad flags and a model that is not a decoder, with exit code 2', async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => written.push(String(chunk)) > 0);
    try {
      expect(await main(['node', 'tensorrt-node', 'bench-generate', '--new-tokens', '9:3'])).toBe(2);
      expect(await main(['node', 'tensorrt-node', 'bench-generate', '--modes', 'static,beam'])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toMatch(/ERR_INVALID_ARG: --new-tokens must be N or MIN:MAX[^]*--modes: unknown mode "beam"/);
    const encoder = join(dir, 'encoder.onnx');
    writeFileSync(encoder, encodeModel(createEncoderModel({ preset: 'tiny' })));
    const notDecoder = spawnSync(process.execPath, [bin, 'bench-generate', encoder], { encoding: 'utf8' });
    expect(notDecoder.status).toBe(2);
    expect(notDecoder.stderr).toMatch(/ERR_ONNX: the session is not a decoder with a KV cache.*past_key_values/);
  });
});
