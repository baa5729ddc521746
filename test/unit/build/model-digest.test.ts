import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelDigest } from '../../../src/build/build-engine.js';
import { sha256 } from '../../../src/build/cache.js';
import { createEncoderModel, encodeModel, writeModel } from '../../../src/onnx/index.js';
import { InvalidArgumentError, OnnxParseError } from '../../../src/errors.js';

describe('modelDigest (the model part of the engine cache key)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trtn-digest-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the sha256 of a self-contained model', async () => {
    const bytes = encodeModel(createEncoderModel({ seed: 1 }));
    expect(await modelDigest(bytes, null)).toBe(sha256(bytes));
  });

  it('covers external data files, so new weights give a new key', async () => {
    const file = join(dir, 'encoder.onnx');
    await writeModel(createEncoderModel({ seed: 2 }), file, { externalData: { threshold: 256 } });
    const data = (await readdir(dir)).find((n) => n !== 'encoder.onnx')!;
    const bytes = await readFile(file);
    const before = await modelDigest(bytes, file);
    expect(before).not.toBe(sha256(bytes));
    expect(await modelDigest(bytes, file)).toBe(before);
    const weights = await readFile(join(dir, data));
    weights[weights.length - 1] = weights[weights.length - 1]! ^ 0xff;
    await writeFile(join(dir, data), weights);
    expect(await modelDigest(bytes, file)).not.toBe(before);
    await expect(modelDigest(bytes, null)).rejects.toThrow(InvalidArgumentError);
    await expect(modelDigest(bytes, null)).rejects.toThrow(/external data files; pass its path/);
  });

  it('refuses bytes that are not an ONNX model', async () => {
    await expect(modelDigest(new Uint8Array([1, 2, 3]), null)).rejects.toThrow(OnnxParseError);
  });
});
