/**
 * The CUDA driver stand-in (build/standin/libcuda.so.1) on its own, through the probe program
 * that loads it as the addon does: dlopen("libcuda.so.1") and dlsym of every entry point of
 * native/cuda/driver_api.h. These check the test double itself, not CUDA.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureStandins, repoRoot, runProbe, standinDir, tempDir } from './helpers.js';

const skip = ensureStandins();
if (skip) console.warn(`stand-in driver tests skipped: ${skip}`);

const probe = (scenario: string, env: Record<string, string> = {}) => {
  const r = runProbe('standin-driver-probe', [scenario], env);
  expect(r.status, `${scenario}: ${r.stderr}`).toBe(0);
  return r.json;
};

function tableSymbols(file: string, macro: string): string[] {
  const text = readFileSync(file, 'utf8');
  const body = text.slice(text.indexOf(`#define ${macro}`));
  return [...body.matchAll(/X\(\w+,\s*"(\w+)"/g)].map((m) => m[1]!);
}

describe.skipIf(skip !== '')(`CUDA driver stand-in${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(() => {
    expect(existsSync(join(standinDir, 'libcuda.so.1'))).toBe(true);
  });

  it('exports exactly the entry points of native/cuda/driver_api.h and driver/extra_api.h', () => {
    const wanted = [
      ...tableSymbols(join(repoRoot, 'native', 'cuda', 'driver_api.h'), 'TRTN_CUDA_DRIVER_FUNCTIONS'),
      ...tableSymbols(join(repoRoot, 'test', 'standin', 'driver', 'extra_api.h'), 'TRTN_STANDIN_EXTRA_DRIVER_FUNCTIONS'),
    ].sort();
    expect(wanted.length).toBeGreaterThan(40);
    const exported = execFileSync('nm', ['-D', '--defined-only', join(standinDir, 'libcuda.so.1')], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[2])
      .filter((s): s is string => s !== undefined)
      .sort();
    expect(exported).toEqual(wanted);
    // No RUNPATH: the loader finds the stand-in the way it finds the real driver.
    expect(execFileSync('readelf', ['-d', join(standinDir, 'libcuda.so.1')], { encoding: 'utf8' })).not.toMatch(/RUNPATH|RPATH/);
  });

  it('reports the devices and driver version it is configured with', () => {
    const info = probe('info', {
      TRTN_STANDIN_DRIVER_VERSION: '12.4',
      TRTN_STANDIN_DEVICES:
        'name=NVIDIA H100 80GB HBM3,cc=9.0,sms=132,memory=80GiB,pci=0000:65:00,uuid=GPU-0123456789abcdef0123456789abcdef;name=Small,cc=7.5,memory=512M',
    });
    expect(info).toMatchObject({ driverVersion: 12040, countBeforeInit: 'CUDA_ERROR_NOT_INITIALIZED', init: 'CUDA_SUCCESS', count: 2 });
    expect(info.devices[0]).toMatchObject({
      name: 'NVIDIA H100 80GB HBM3',
      ccMajor: 9,
      ccMinor: 0,
      sms: 132,
      totalMemory: 80 * 2 ** 30,
      pci: '0000:65:00.0',
      uuid: 'GPU-01234567-89ab-cdef-0123-456789abcdef',
      unifiedAddressing: 1,
      memoryPools: 1,
    });
    expect(info.devices[1]).toMatchObject({ name: 'Small', ccMajor: 7, ccMinor: 5, totalMemory: 512 * 2 ** 20 });
    expect(info.devices[1].uuid).not.toBe(info.devices[0].uuid);
    expect(info.badOrdinal).toBe('CUDA_ERROR_INVALID_DEVICE');
  });

  it('defaults to one device and CUDA 13.0, and needs a current context where the driver does', () => {
    const info = probe('info');
    expect(info).toMatchObject({ driverVersion: 13000, count: 1, currentBeforeRetain: 'null' });
    expect(info.withoutContext).toEqual({
      cuMemAlloc: 'CUDA_ERROR_INVALID_CONTEXT',
      cuStreamCreate: 'CUDA_ERROR_INVALID_CONTEXT',
      cuMemGetInfo: 'CUDA_ERROR_INVALID_CONTEXT',
    });
    expect(info.illegalAddressText).toBe('an illegal memory access was encountered');
  });

  it('has no device when told so, and cuInit fails as on a driver without GPUs', () => {
    const info = probe('info', { TRTN_STANDIN_DEVICES: '0', TRTN_STANDIN_DRIVER_VERSION: '12080' });
    expect(info).toMatchObject({ driverVersion: 12080, init: 'CUDA_ERROR_NO_DEVICE' });
    const broken = probe('info', { TRTN_STANDIN_FAULTS: 'cuda.init_error=CUDA_ERROR_SYSTEM_DRIVER_MISMATCH' });
    expect(broken.init).toBe('CUDA_ERROR_SYSTEM_DRIVER_MISMATCH');
  });

  it('tracks device memory: pointer attributes, free memory, copies of every direction, the default pool', () => {
    const m = probe('memory');
    expect(m).toMatchObject({
      total: 16 * 2 ** 30,
      freeDropOnAlloc: 2 ** 20,
      aligned256: true,
      device: { type: 2, ordinal: 0, startIsBase: true, range: 2 ** 20 },
      pinnedType: 1,
      pageableAttribute: 'CUDA_ERROR_INVALID_VALUE',
      freeUnknown: 'CUDA_ERROR_INVALID_VALUE',
      roundTrip: true,
      pageableStaged: true,
      copyOutOfRange: 'CUDA_ERROR_INVALID_VALUE',
      memsetHost: 'CUDA_ERROR_INVALID_VALUE',
      doubleFreeAsync: 'CUDA_ERROR_INVALID_VALUE',
      freeRestored: true,
      useAfterDestroy: 'CUDA_ERROR_INVALID_HANDLE',
    });
    // cuMemFreeAsync returns memory to the pool; cuMemPoolTrimTo and synchronization release it.
    expect(m.pool).toEqual({ heldAfterFree: 8 * 2 ** 20, heldAfterTrim: 2 * 2 ** 20, heldAfterSync: 0 });
    expect(m.counters.counters).toMatchObject({ 'cuda.memcpy.HtoD': 2, 'cuda.memcpy.DtoD': 1, 'cuda.memcpy.DtoH': 2, 'cuda.live.deviceAllocations': 0 });
  });

  it('runs each stream on its own thread: work completes after the call returns, in order, across streams by events', () => {
    const a = probe('async');
    expect(a).toMatchObject({
      queryUnrecorded: 'CUDA_SUCCESS',
      streamQueryAfterEnqueue: 'CUDA_ERROR_NOT_READY',
      eventQueryAfterEnqueue: 'CUDA_ERROR_NOT_READY',
      hostFunctionRanBeforeSync: false,
      elapsedBeforeDone: 'CUDA_ERROR_NOT_READY',
      waitingStreamQuery: 'CUDA_ERROR_NOT_READY',
      orderedAcrossStreams: true,
      hostFunctionRan: 1,
      hostFunctionOnStreamThread: true,
      hostFunctionApiCall: 'CUDA_ERROR_NOT_PERMITTED',
      elapsedWithoutTiming: 'CUDA_ERROR_INVALID_HANDLE',
      pendingAfterDestroy: true,
      workAfterDestroyRan: true,
      legacyWaitedForBlocking: true,
    });
    // The timed span holds a 30 ms sleep on the stream.
    expect(a.elapsedMs).toBeGreaterThanOrEqual(29);
  });

  it('records captured work into a graph that replays it, and invalidates captures as the driver does', () => {
    const c = probe('capture');
    expect(c).toMatchObject({
      capturing: true,
      otherThreadAllocDuringThreadLocalCapture: 'CUDA_SUCCESS',
      ranDuringCapture: false,
      afterThreeLaunches: 3,
      graphsInstantiated: 1,
      graphsLaunched: 3,
      endFromOtherThread: 'CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD',
      emptyGraph: true,
      legacyCapture: 'CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED',
    });
    const invalidated = 'CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED/CUDA_ERROR_STREAM_CAPTURE_INVALIDATED';
    expect(c.illegal).toEqual({
      streamSynchronize: invalidated,
      streamQuery: invalidated,
      memAllocThreadLocal: invalidated,
      pageableCopy: invalidated,
      otherThreadAllocGlobal: invalidated,
      relaxedAlloc: 'CUDA_SUCCESS/CUDA_SUCCESS',
      capturedEventQuery: invalidated,
    });
    expect(c.invalidations).toBe(6);
  });

  it('injects out-of-memory and sticky errors by a control call; only a fresh primary context recovers', () => {
    const f = probe('faults');
    expect(f).toMatchObject({
      nth: ['CUDA_SUCCESS', 'CUDA_ERROR_OUT_OF_MEMORY', 'CUDA_SUCCESS'],
      small: 'CUDA_SUCCESS',
      large: 'CUDA_ERROR_OUT_OF_MEMORY',
      hostAlloc: 'CUDA_ERROR_OUT_OF_MEMORY',
      badSpec: -1,
      afterReset: 'CUDA_SUCCESS',
      faultsFired: 4,
    });
    expect(f.sticky).toEqual({
      recordAfterFault: true,
      eventSynchronize: 'CUDA_ERROR_ILLEGAL_ADDRESS',
      eventQuery: 'CUDA_ERROR_ILLEGAL_ADDRESS',
      streamQuery: 'CUDA_ERROR_ILLEGAL_ADDRESS',
      memAlloc: 'CUDA_ERROR_ILLEGAL_ADDRESS',
      streamCreate: 'CUDA_ERROR_ILLEGAL_ADDRESS',
      driverGetVersion: 'CUDA_SUCCESS',
    });
  });

  it('injects faults from TRTN_STANDIN_FAULTS and refuses a spec it cannot read', () => {
    const r = runProbe('standin-driver-probe', ['info'], { TRTN_STANDIN_FAULTS: 'cuda.oom_alloc=1,cuda.typo=3' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('unknown fault "cuda.typo"');
  });

  it('serves many threads with their own streams, every value right and every allocation freed', () => {
    const t = probe('threads');
    expect(t).toMatchObject({ hostFunctions: 1600, mismatches: 0, liveDeviceAllocations: 0 });
  });

  it('writes its counters to $TRTN_STANDIN_COUNTERS at exit (%p is the pid)', () => {
    const dir = tempDir('counters');
    const m = probe('memory', { TRTN_STANDIN_COUNTERS: join(dir, 'counters-%p.json') });
    const file = join(dir, `counters-${m.counters.pid}.json`);
    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written).toMatchObject({ format: 'trtn-standin-counters', version: 1, pid: m.counters.pid });
    expect(written.counters['cuda.memAlloc']).toBe(m.counters.counters['cuda.memAlloc']);
    expect(written.counters['cuda.memHostAlloc']).toBeGreaterThan(0);
    expect(written.counters['cuda.live.streams']).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });
});
