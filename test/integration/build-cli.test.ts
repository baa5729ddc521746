// `tensorrt-node build` where TensorRT is absent: a clear ERR_TENSORRT_NOT_FOUND, exit 2,
// nothing written. (Where TensorRT exists, scripts/gpu-check.ts builds real engines.)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/index.js';
import { createEncoderModel } from '../../src/onnx/encoder.js';
import { encodeModel } from '../../src/onnx/model.js';
import { probeTensorRT } from '../../src/backends/tensorrt-libs.js';

const bin = join(__dirname, '..', '..', 'bin', 'tensorrt-node.js');
const trtPresent = probeTensorRT().result?.found === true;

describe.skipIf(trtPresent)('tensorrt-node build without TensorRT', () => {
  it('fails with ERR_TENSORRT_NOT_FOUND and exit code 2, having written nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trtn-build-'));
    const onnx = join(dir, 'encoder.onnx');
    writeFileSync(onnx, encodeModel(createEncoderModel()));
    const r = spawnSync(
      process.execPath,
      [bin, 'build', '--onnx', onnx, '--saveEngine', join(dir, 'out', 'e.plan'), '--fp16', '--dims', 'batch:1,8,32', '--triton-repo', join(dir, 'repo')],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ERR_TENSORRT_NOT_FOUND/);
    expect(readdirSync(dir)).toEqual(['encoder.onnx']);
    expect(existsSync(join(dir, 'repo'))).toBe(false);
  });

  it('refuses bad flags before looking for TensorRT', () => {
    const r = spawnSync(process.execPath, [bin, 'build', '--onnx', 'm.onnx', '--shapes', 'x:1/2'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ERR_INVALID_ARG: --shapes takes name:MIN\/OPT\/MAX/);
    const missing = spawnSync(process.execPath, [bin, 'build'], { encoding: 'utf8' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/required option '--onnx <file>'/);
  });
});

describe('tensorrt-node build checks its model first', () => {
  it('names a missing, empty or non-ONNX --onnx file (exit 2) instead of a missing TensorRT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trtn-build-'));
    writeFileSync(join(dir, 'empty.onnx'), new Uint8Array(0));
    writeFileSync(join(dir, 'text.onnx'), 'not a model\n');
    const cases: [string, string][] = [
      [join(dir, 'missing.onnx'), `error ERR_IO: --onnx model ${JSON.stringify(join(dir, 'missing.onnx'))} does not exist`],
      [dir, `error ERR_IO: --onnx model ${JSON.stringify(dir)} is a folder, expected a file`],
      [join(dir, 'empty.onnx'), 'error ERR_ONNX_PARSE: --onnx model'],
      [join(dir, 'text.onnx'), 'is not an ONNX model'],
    ];
    for (const [onnx, message] of cases) {
      let err = '';
      const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
      let code: number;
      try {
        code = await main(['node', 'tensorrt-node', 'build', '--onnx', onnx, '--no-progress']);
      } finally {
        spy.mockRestore();
      }
      expect(err, onnx).toContain(message);
      expect(err, onnx).not.toContain('ERR_TENSORRT');
      expect(code, onnx).toBe(2);
    }
    expect(readdirSync(dir).sort()).toEqual(['empty.onnx', 'text.onnx']);
  });
});
