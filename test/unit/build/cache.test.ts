import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineCache, cacheKey, defaultCacheDir, sha256, type CacheKeyParts } from '../../../src/build/cache.js';
import { BuildOptionsSchema, normaliseForKey } from '../../../src/build/options.js';
import { ENGINE_INFO_FORMAT, sidecarPath, type EngineInfo } from '../../../src/build/sidecar.js';

const options = normaliseForKey(BuildOptionsSchema.parse({ dims: { batch: [1, 8] } }));
const parts: CacheKeyParts = { modelSha256: sha256('model'), options, tensorrtVersion: '10.13.0', computeCapability: '9.0' };

function info(key: string, plan: Uint8Array): EngineInfo {
  return {
    format: ENGINE_INFO_FORMAT,
    createdAt: '2026-01-01T00:00:00.000Z',
    cacheKey: key,
    model: { sha256: parts.modelSha256, bytes: 5, path: null },
    options: options as unknown as EngineInfo['options'],
    tensorrt: { version: '10.13.0', headers: '10.13.0' },
    gpu: { device: 0, name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' },
    plan: { bytes: plan.byteLength, sha256: sha256(plan) },
    inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 4] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [-1, 2] }],
    profiles: [{ x: { min: [1, 4], opt: [8, 4], max: [8, 4] } }],
    buildSeconds: 1.5,
    warnings: [],
  };
}

describe('cacheKey', () => {
  it('is a stable sha256 of the parts', () => {
    expect(cacheKey(parts)).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKey({ ...parts })).toBe(cacheKey(parts));
  });

  it('changes with the model, the options, the TensorRT version and the compute capability', () => {
    const k = cacheKey(parts);
    expect(cacheKey({ ...parts, modelSha256: sha256('other') })).not.toBe(k);
    expect(cacheKey({ ...parts, options: { ...options, optimizationLevel: 5 } })).not.toBe(k);
    expect(cacheKey({ ...parts, tensorrtVersion: '10.13.1' })).not.toBe(k);
    expect(cacheKey({ ...parts, computeCapability: '8.9' })).not.toBe(k);
  });
});

describe('defaultCacheDir', () => {
  it('follows TENSORRT_NODE_CACHE, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultCacheDir({ TENSORRT_NODE_CACHE: '/c' }, '/home/u')).toBe('/c');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' }, '/home/u')).toBe('/x/tensorrt-node/engines');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative' }, '/home/u')).toBe('/home/u/.cache/tensorrt-node/engines');
    expect(defaultCacheDir({}, '/home/u')).toBe('/home/u/.cache/tensorrt-node/engines');
  });
});

describe('EngineCache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trtn-cache-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores a plan with its sidecar and finds it again', async () => {
    const cache = new EngineCache(join(dir, 'engines'));
    const key = cacheKey(parts);
    expect(await cache.get(key)).toBeNull();
    const plan = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const path = await cache.put(plan, info(key, plan));
    expect(path).toBe(join(dir, 'engines', `${key}.plan`));
    const hit = await cache.get(key);
    expect(hit?.path).toBe(path);
    expect([...hit!.plan]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(hit!.info.gpu.computeCapability).toBe('9.0');
    // Only the two files: the temporary names were renamed away.
    expect((await readdir(join(dir, 'engines'))).sort()).toEqual([`${key}.plan`, `${key}.plan.json`]);
  });

  it('reads a damaged or mismatched entry as a miss', async () => {
    const cache = new EngineCache(dir);
    const key = cacheKey(parts);
    const plan = new Uint8Array([9, 9, 9]);
    await cache.put(plan, info(key, plan));
    await writeFile(cache.planPath(key), new Uint8Array([9, 9, 8]));
    expect(await cache.get(key)).toBeNull();
    await writeFile(cache.planPath(key), new Uint8Array([9, 9]));
    expect(await cache.get(key)).toBeNull();
    await writeFile(cache.planPath(key), plan);
    expect(await cache.get(key)).not.toBeNull();
    await writeFile(sidecarPath(cache.planPath(key)), '{"format": "something else"}');
    expect(await cache.get(key)).toBeNull();
    const other = cacheKey({ ...parts, computeCapability: '8.0' });
    await writeFile(sidecarPath(cache.planPath(other)), JSON.stringify(info(key, plan)));
    await writeFile(cache.planPath(other), plan);
    expect(await cache.get(other)).toBeNull();
  });
});
