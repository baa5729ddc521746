/**
 * The CUDA layer talks to whatever libcuda.so.1 the dynamic loader finds, loaded on first use.
 * Here that is a stand-in compiled in this test (a test double, not the full stand-in driver of
 * test/standin): it reports a CUDA 12.4 driver (or what FAKE_CUDA_VERSION says) that sees no
 * GPU, implements cuInit, cuDriverGetVersion, cuDeviceGetCount and cuCtxGetCurrent, and fails
 * every other entry point of native/cuda/driver_api.h. Put first on LD_LIBRARY_PATH of a child
 * process, it shows that `info` reports the driver's own version and "no device" cleanly, that
 * every CUDA call then fails with a clear ERR_CUDA, and that old or incomplete drivers are
 * refused by name.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const table = readFileSync(join(root, 'native', 'cuda', 'driver_api.h'), 'utf8');
const symbols = [...table.matchAll(/X\(\w+, "(\w+)"/g)].map((m) => m[1]!);

const implemented: Record<string, string> = {
  cuInit: 'int cuInit(unsigned flags) { (void)flags; const char* e = getenv("FAKE_CUINIT"); return e ? atoi(e) : 0; }',
  cuDriverGetVersion: 'int cuDriverGetVersion(int* v) { const char* e = getenv("FAKE_CUDA_VERSION"); *v = e ? atoi(e) : 12040; return 0; }',
  cuDeviceGetCount: 'int cuDeviceGetCount(int* n) { *n = 0; return 0; }',
  cuCtxGetCurrent: 'int cuCtxGetCurrent(void** ctx) { *ctx = 0; return 0; }',
};

/** A libcuda.so.1 exporting every table symbol except `omit`. */
function fakeDriver(name: string, omit: string[] = []): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'trtn-fake-cuda-')), name);
  mkdirSync(dir, { recursive: true });
  const body = symbols
    .filter((s) => !omit.includes(s))
    // 999 is CUDA_ERROR_UNKNOWN. Callers pass arguments these bodies ignore (the C ABI allows it).
    .map((s) => implemented[s] ?? `int ${s}(void) { return 999; }`);
  writeFileSync(join(dir, 'fake.c'), `#include <stdlib.h>\n${body.join('\n')}\n`);
  execFileSync('cc', ['-shared', '-fPIC', '-Wl,-soname,libcuda.so.1', '-o', join(dir, 'libcuda.so.1'), join(dir, 'fake.c')]);
  return dir;
}

function child(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  return r;
}

const CALLS = String.raw`
const cuda = await import(process.argv[1]);
const out = { deviceCount: cuda.deviceCount(), driver: cuda.cudaDriverVersion(), errors: {} };
const attempt = async (name, f) => { try { await f(); out.errors[name] = null; } catch (e) { out.errors[name] = { code: e.code, cudaError: e.cudaError, message: e.message, cls: e.constructor.name }; } };
await attempt('stream', () => new cuda.Stream(0));
await attempt('event', () => new cuda.CudaEvent(0));
await attempt('properties', () => cuda.deviceProperties(0));
await attempt('memory', () => cuda.memoryInfo(0));
await attempt('trim', () => cuda.trimMemoryPool(0));
await attempt('pinned', () => new cuda.PinnedPool().acquire(4096));
await attempt('bandwidth', () => cuda.bandwidthProbe({ bytes: 1 << 20, direction: 'h2d' }));
await attempt('device1', () => new cuda.Stream(1));
console.log(JSON.stringify(out));
`;

describe('the CUDA driver, loaded at run time', () => {
  const bin = join(root, 'bin', 'tensorrt-node.js');
  const cudaModule = join(root, 'dist', 'cuda.js');

  it.each([
    ['cuInit succeeds and the device count is 0', {}],
    ['cuInit fails with CUDA_ERROR_NO_DEVICE, as real drivers without a GPU do', { FAKE_CUINIT: '100' }],
  ])('reports the driver version and no device (%s)', (_, extra) => {
    const env = { LD_LIBRARY_PATH: fakeDriver('cuda-12.4'), ...extra };
    const json = child([bin, 'info', '--json'], env);
    expect(json.stderr).toBe('');
    expect(json.status).toBe(0);
    const info = JSON.parse(json.stdout);
    expect(info.cuda).toEqual({ driverVersion: '12.4', devices: [] });
    const text = child([bin, 'info'], env);
    expect(text.stdout).toMatch(/\n {2}driver {7}CUDA 12\.4\n {2}devices {6}none \(the driver sees no GPU; the ONNX Runtime backend still works\)\n/);

    const calls = child(['--input-type=module', '-e', CALLS, cudaModule], env);
    expect(calls.stderr).toBe('');
    const out = JSON.parse(calls.stdout) as {
      deviceCount: number;
      driver: number;
      errors: Record<string, { code: string; cudaError: string; message: string; cls: string } | null>;
    };
    expect(out.deviceCount).toBe(0);
    expect(out.driver).toBe(12040);
    for (const [name, e] of Object.entries(out.errors)) {
      const device = name === 'device1' ? 1 : 0;
      expect(e, name).toEqual({
        code: 'ERR_CUDA',
        cls: 'CudaError',
        cudaError: 'CUDA_ERROR_NO_DEVICE',
        message: `CUDA device ${device} does not exist: the driver sees no CUDA device`,
      });
    }
  });

  it('refuses a driver older than CUDA 12.0 by name and version, and still reports the version', () => {
    const env = { LD_LIBRARY_PATH: fakeDriver('cuda-11.8'), FAKE_CUDA_VERSION: '11080' };
    const info = JSON.parse(child([bin, 'info', '--json'], env).stdout);
    expect(info.cuda.driverVersion).toBe('11.8');
    expect(info.cuda.devices).toBeUndefined();
    expect(info.cuda.error).toMatchObject({ code: 'ERR_CUDA', cudaError: 'CUDA_ERROR_INSUFFICIENT_DRIVER' });
    expect(info.cuda.error.message).toMatch(
      /libcuda\.so\.1\) supports CUDA 11\.8; tensorrt-node needs a driver for CUDA 12\.0 or newer \(NVIDIA driver 525 or newer\)$/,
    );
    const text = child([bin, 'info'], env).stdout;
    expect(text).toContain('update the NVIDIA driver to one for CUDA 12.0 or newer');
  });

  it('names the entry points a driver lacks', () => {
    const env = { LD_LIBRARY_PATH: fakeDriver('incomplete', ['cuMemAllocAsync', 'cuGraphLaunch']) };
    const info = JSON.parse(child([bin, 'info', '--json'], env).stdout);
    expect(info.cuda.driverVersion).toBe('12.4');
    expect(info.cuda.error).toMatchObject({ code: 'ERR_CUDA', cudaError: 'CUDA_ERROR_INSUFFICIENT_DRIVER' });
    expect(info.cuda.error.message).toContain('lacks cuMemAllocAsync, cuGraphLaunch');
  });

  it('reports a failing cuInit with the driver error of the call', () => {
    // 3 is CUDA_ERROR_NOT_INITIALIZED; this stand-in has no cuGetErrorName, so the number is the name.
    const env = { LD_LIBRARY_PATH: fakeDriver('init-fails'), FAKE_CUINIT: '3' };
    const info = JSON.parse(child([bin, 'info', '--json'], env).stdout);
    expect(info.cuda.driverVersion).toBe('12.4');
    expect(info.cuda.error).toEqual({ code: 'ERR_CUDA', cudaError: 'CUresult 3', message: 'cuInit failed: CUresult 3 (no description from the driver)' });
  });
});
