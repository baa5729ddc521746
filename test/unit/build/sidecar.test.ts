import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ENGINE_INFO_FORMAT, readSidecar, sidecarPath, writeSidecar, type EngineInfo } from '../../../src/build/sidecar.js';
import { FileError } from '../../../src/errors.js';

const digest = 'a'.repeat(64);
const sample: EngineInfo = {
  format: ENGINE_INFO_FORMAT,
  createdAt: '2026-01-01T00:00:00.000Z',
  cacheKey: 'b'.repeat(64),
  model: { sha256: digest, bytes: 1234, path: '/models/encoder.onnx' },
  options: { precision: 'fp16', fp16Mode: 'convert', versionCompatible: false, optimizationLevel: 3 },
  tensorrt: { version: '11.1.0', headers: '11.1.0' },
  gpu: { device: 0, name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' },
  plan: { bytes: 99, sha256: digest },
  inputs: [
    { name: 'input_ids', dtype: 'int64', dims: ['batch', 'seq'] },
    { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'seq'] },
  ],
  outputs: [{ name: 'logits', dtype: 'float32', dims: [-1, 2] }],
  profiles: [{ input_ids: { min: [1, 1], opt: [8, 128], max: [8, 128] } }],
  buildSeconds: 12.25,
  warnings: ['the timing cache could not be read and was replaced by an empty one: x'],
};

describe('sidecar', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trtn-sidecar-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sits next to the plan as <plan>.json', () => {
    expect(sidecarPath('/e/model.plan')).toBe('/e/model.plan.json');
  });

  it('round-trips, keeping fields it does not know', async () => {
    const path = join(dir, 'model.plan.json');
    await writeSidecar(path, { ...sample, extra: { from: 'a newer writer' } } as EngineInfo);
    const back = await readSidecar(path);
    expect(back).toEqual({ ...sample, extra: { from: 'a newer writer' } });
    expect((await readFile(path, 'utf8')).endsWith('}\n')).toBe(true);
  });

  it('gives null for a missing optional sidecar and ERR_IO otherwise', async () => {
    expect(await readSidecar(join(dir, 'none.json'), { optional: true })).toBeNull();
    await expect(readSidecar(join(dir, 'none.json'))).rejects.toThrow(FileError);
  });

  it('names the file and the problem for bad content', async () => {
    const path = join(dir, 'bad.json');
    await writeFile(path, '{not json');
    await expect(readSidecar(path, { optional: true })).rejects.toThrow(/bad\.json" is not valid JSON/);
    await writeFile(path, JSON.stringify({ ...sample, plan: { bytes: -1, sha256: 'xyz' } }));
    await expect(readSidecar(path)).rejects.toThrow(/plan\.bytes: .*; plan\.sha256: expected a sha256 hex digest/);
    await writeFile(path, JSON.stringify({ ...sample, format: 'other@2' }));
    await expect(readSidecar(path)).rejects.toThrow(/is not a tensorrt-node\/engine-info@1 file: format/);
  });
});
