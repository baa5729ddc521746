/**
 * buildEngine() and createSession({ backend: 'tensorrt' }) on a host without TensorRT: both
 * fail with ERR_TENSORRT_NOT_FOUND saying why (an addon built without TensorRT headers says
 * how to rebuild; one built with them lists the folders it searched and how to install), and
 * nothing is written. Option errors come first, before TensorRT is looked for.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEngine } from '../../src/build/index.js';
import { createSession } from '../../src/session.js';
import { loadAddon } from '../../src/native.js';
import { createEncoderModel, encodeModel } from '../../src/onnx/index.js';
import { probeTensorRT } from '../../src/backends/tensorrt-libs.js';

const probe = probeTensorRT();
const tensorrtPresent = probe.result?.found === true;

describe.skipIf(tensorrtPresent)('without TensorRT', () => {
  let dir: string;
  const model = encodeModel(createEncoderModel({ seed: 3 }));
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trtn-notfound-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const explains = (message: string): void => {
    if (loadAddon().buildInfo.tensorrt === null) {
      expect(message).toContain('built without TensorRT headers');
      expect(message).toContain('TENSORRT_ROOT');
    } else {
      expect(message).toMatch(/searched:\n {2}- /);
      expect(message).toContain('TENSORRT_LIB_DIR');
    }
  };

  it('buildEngine rejects with ERR_TENSORRT_NOT_FOUND and writes no cache entry', async () => {
    const cache = join(dir, 'cache');
    const err = await buildEngine(model, { dims: { batch: [1, 8], seq: [1, 128] }, cache }).then(
      () => null,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe('ERR_TENSORRT_NOT_FOUND');
    explains(err!.message);
    await expect(readdir(cache)).rejects.toThrow(/ENOENT/);
  });

  it('createSession with the tensorrt backend rejects with ERR_TENSORRT_NOT_FOUND', async () => {
    const err = await createSession(new Uint8Array([1, 2, 3]), { backend: 'tensorrt' }).then(
      () => null,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe('ERR_TENSORRT_NOT_FOUND');
    explains(err!.message);
  });

  it('reports bad options before looking for TensorRT', async () => {
    await expect(buildEngine(model, { optimizationLevel: 9 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(createSession('x.plan', { backend: 'tensorrt', contexts: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(buildEngine(model, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});
