import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { addonStatus, loadAddon } from '../../src/native.js';
import * as cuda from '../../src/cuda.js';
import { runtimeInfo } from '../../src/info.js';
import { CudaError, TensorRTNodeError } from '../../src/errors.js';

const root = join(__dirname, '..', '..');

function hasGpu(): boolean {
  try {
    return loadAddon().cudaDeviceCount() > 0;
  } catch {
    return false;
  }
}
const gpu = hasGpu();
const driverPresent = (() => {
  try {
    loadAddon().cudaDriverVersion();
    return true;
  } catch {
    return false;
  }
})();

function expectCudaError(fn: () => unknown): CudaError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CudaError);
  const err = caught as CudaError;
  expect(err.code).toBe('ERR_CUDA');
  expect(err.cudaError).toMatch(/^CUDA_ERROR_[A-Z_]+$/);
  return err;
}

describe('the native addon', () => {
  it('loads in the main thread with build information', () => {
    const status = addonStatus();
    expect(status.error).toBeNull();
    expect(status.loaded).toBe(true);
    // Without TensorRT libraries the newest variant of the local build is chosen.
    expect(status.path).toMatch(/build[/\\]Release[/\\]tensorrt_node(-trt\d+)?\.node$/);
    const info = loadAddon().buildInfo;
    expect(info.cuda).toMatch(/^1[23]\.\d+$/);
    expect(info.napiVersion).toBeGreaterThanOrEqual(8);
    expect(loadAddon().cudaHeaderVersion()).toBe(Number(info.cuda.split('.')[0]) * 1000 + Number(info.cuda.split('.')[1]) * 10);
  });

  it.skipIf(gpu || driverPresent)('fails every CUDA entry point with ERR_CUDA and CUDA_ERROR_NO_DRIVER where there is no libcuda.so.1', async () => {
    const first = expectCudaError(() => cuda.cudaDriverVersion());
    expect(first.cudaError).toBe('CUDA_ERROR_NO_DRIVER');
    expect(first.message).toMatch(/^no NVIDIA driver: libcuda\.so\.1 could not be loaded: .+/);
    expect(first.sticky).toBe(false);
    for (const e of [expectCudaError(() => cuda.deviceCount()), expectCudaError(() => new cuda.Stream(0))]) expect(e.message).toBe(first.message);
    expectCudaError(() => cuda.devices());
    expectCudaError(() => cuda.deviceProperties(0));
    expectCudaError(() => cuda.memoryInfo(0));
    expectCudaError(() => new cuda.Stream(0));
    expectCudaError(() => new cuda.CudaEvent(0, { timing: true }));
    const pool = new cuda.PinnedPool({ maxCachedBytes: 1 << 20 });
    expectCudaError(() => pool.acquire(4096));
    expect(pool.stats()).toMatchObject({ allocations: 0, reuses: 0, inUseBytes: 0 });
    const probe = await cuda.bandwidthProbe({ bytes: 1 << 20, direction: 'h2d' }).catch((e: unknown) => e);
    expect(probe).toBeInstanceOf(CudaError);
    expect((probe as CudaError).code).toBe('ERR_CUDA');
  });

  it('validates arguments in TypeScript before the addon sees them', async () => {
    expect(() => new cuda.Stream(-1)).toThrow(/device must be a device index/);
    expect(() => new cuda.Stream(1.5)).toThrow(TensorRTNodeError);
    expect(() => new cuda.DeviceBuffer(16, { stream: {} as cuda.Stream })).toThrow(/options.stream must be a Stream/);
    await expect(cuda.copy(new Uint8Array(4), 'x' as never, { stream: {} as cuda.Stream })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(cuda.bandwidthProbe({ bytes: 1, direction: 'up' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(() => new cuda.PinnedPool({ maxCachedBytes: -1 })).toThrow(/maxCachedBytes/);
  });

  it('refuses bad arguments to the raw binding with ERR_INVALID_ARG instead of crashing', () => {
    const addon = loadAddon();
    const raw = addon as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => raw.copyAsync!(1, 2, 3)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => raw.cudaDeviceProperties!('0')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => raw.cudaMemGetInfo!(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => raw.memsetAsync!({}, 0, 0, 0, {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => new (addon.PinnedBuffer as unknown as new () => unknown)()).toThrow(/created by PinnedPool.acquire/);
  });

  it('loads in worker threads that are terminated mid-call, and the process carries on', async () => {
    const addonPath = addonStatus().path!;
    for (let round = 0; round < 4; round++) {
      const worker = new Worker(join(__dirname, 'fixtures', 'hammer-worker.cjs'), { workerData: { addonPath } });
      const ready = await new Promise<{ ready: boolean; gpu: boolean }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(ready.ready).toBe(true);
      expect(ready.gpu).toBe(gpu);
      // Terminate while the worker is inside its call loop with async work in flight.
      await new Promise((r) => setTimeout(r, 10 + round * 15));
      const code = await worker.terminate();
      expect(code).toBe(1);
    }
    // The main thread's instance is untouched.
    expect(loadAddon().cudaHeaderVersion()).toBeGreaterThan(0);
  });

  it('lets the process exit with native async work in flight', () => {
    const script = `
      const addon = require(${JSON.stringify(addonStatus().path)});
      addon.init({ makeError: (c, m) => Object.assign(new Error(m), { code: c }) });
      for (let i = 0; i < 8; i++) addon.bandwidthProbe(0, 1 << 22, 4, 'd2h').catch(() => {});
      try { const s = new addon.Stream(0); s.synchronize(); } catch {}
      setImmediate(() => process.exit(0));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('runtimeInfo and `tensorrt-node info`', () => {
  it('reports the addon, CUDA and TensorRT in the documented shape', () => {
    const info = runtimeInfo();
    expect(Object.keys(info)).toEqual(['package', 'node', 'addon', 'cuda', 'tensorrt']);
    expect(info.addon).toMatchObject({ loaded: true, error: null, builtWith: { cuda: expect.stringMatching(/^1[23]\./) } });
    expect(info.addon.path).toBe(addonStatus().path);
    if (gpu) {
      expect(info.cuda.devices!.length).toBeGreaterThan(0);
      expect(info.cuda.devices![0]).toMatchObject({ name: expect.any(String), computeCapability: expect.stringMatching(/^\d+\.\d+$/) });
    } else if (!driverPresent) {
      expect(info.cuda.devices).toBeUndefined();
      expect(info.cuda.driverVersion).toBeNull();
      expect(info.cuda.error).toMatchObject({ code: 'ERR_CUDA', cudaError: 'CUDA_ERROR_NO_DRIVER' });
    }
    expect(typeof info.tensorrt.found).toBe('boolean');
    if (info.addon.builtWith.tensorrt.length === 0) {
      expect(info.tensorrt.found).toBe(false);
      expect(info.tensorrt.error).toMatchObject({ code: 'ERR_TENSORRT_NOT_FOUND', message: expect.stringMatching(/built without TensorRT headers/) });
    } else if (!info.tensorrt.found) {
      // Every path tried for every major this install drives, also when nothing is found.
      for (const version of info.addon.builtWith.tensorrt) {
        const file = `libnvinfer.so.${version.split('.')[0]}`;
        expect(info.tensorrt.searched.some((s) => s.path.includes(file) && s.error !== null)).toBe(true);
      }
      expect(info.tensorrt.error).toMatchObject({ code: expect.stringMatching(/^ERR_TENSORRT_(NOT_FOUND|VERSION)$/) });
    }
    expect(JSON.parse(JSON.stringify(info))).toEqual(info);
  });

  it('prints JSON and a readable report from the CLI', () => {
    const bin = join(root, 'bin', 'tensorrt-node.js');
    const json = spawnSync(process.execPath, [bin, 'info', '--json'], { encoding: 'utf8' });
    expect(json.status).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.addon.loaded).toBe(true);
    expect(parsed.tensorrt).toHaveProperty('searched');
    const text = spawnSync(process.execPath, [bin, 'info'], { encoding: 'utf8' });
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/Native addon\n {2}loaded from/);
    expect(text.stdout).toMatch(/\nCUDA\n/);
    expect(text.stdout).toMatch(/\nTensorRT\n/);
    const bad = spawnSync(process.execPath, [bin, 'info', '--nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown option '--nope'/);
  });
});
