// The CUDA layer on a real GPU; skipped where there is none (CI). scripts/gpu-check.ts runs
// the same checks on the lent GPU machine and prints them as a table.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/native.js';
import { allocFreeCycles, eventTiming, pinnedBandwidth, pinnedPoolReuse, roundTrips, workerTermination, type CheckRow } from './cuda-checks.js';

function gpuPresent(): boolean {
  try {
    return loadAddon().cudaDeviceCount() > 0;
  } catch {
    return false;
  }
}

function expectAllOk(rows: CheckRow[]): void {
  for (const r of rows) expect(r, `${r.check}: ${r.detail}`).toMatchObject({ ok: true });
}

describe.skipIf(!gpuPresent())('CUDA layer on a GPU', () => {
  it('round-trips 1 KiB to 256 MiB through device memory on two streams, byte for byte', async () => {
    expectAllOk(await roundTrips());
  });
  it('reuses pinned blocks and never reuses one a copy still uses', async () => {
    expectAllOk(await pinnedPoolReuse());
  });
  it('times events', async () => {
    expectAllOk(await eventTiming());
  });
  it('returns free memory to its baseline after 1000 alloc/free cycles', async () => {
    expectAllOk(await allocFreeCycles());
  });
  it('copies through the pinned pool at a measurable rate', async () => {
    const results = await pinnedBandwidth(64 * 1024 * 1024, 5);
    for (const r of results) expect(r.poolGBps).toBeGreaterThan(0);
  });
  it('survives workers terminated with GPU work in flight', async () => {
    expectAllOk(await workerTermination(join(__dirname, '..', 'native', 'fixtures', 'hammer-worker.cjs')));
  });
});
