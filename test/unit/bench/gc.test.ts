import { describe, expect, it } from 'vitest';
import { countGcs } from '../../../src/bench/gc.js';

describe('countGcs', () => {
  it('counts the collections that allocation pressure causes and passes the value through', async () => {
    const r = await countGcs(async () => {
      let keep = 0;
      // ~256 MiB of short-lived JS objects: more than any young generation holds.
      for (let i = 0; i < 4096; i++) keep += new Array(8192).fill(i).length;
      return keep;
    });
    expect(r.value).toBe(4096 * 8192);
    expect(r.gcs).toBeGreaterThan(0);
    expect(r.majorGcs).toBeLessThanOrEqual(r.gcs);
    expect(r.gcMs).toBeGreaterThan(0);
    expect(Number.isFinite(r.heapGrowthMiB)).toBe(true);
  });

  it('stops observing when the work throws', async () => {
    await expect(
      countGcs(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
  });
});
