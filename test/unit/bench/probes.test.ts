import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { DynamicBatcher } from '../../../src/batching/index.js';
import { batcherWindow, readBatcherCounters, type BatcherCounters } from '../../../src/bench/probes.js';
import { Tensor } from '../../../src/tensor.js';
import type { Feeds } from '../../../src/session.js';
import { EncoderDouble } from '../../support/doubles.js';

function request(len: number, seed: number): Feeds {
  const ids = BigInt64Array.from({ length: len }, (_, i) => BigInt(1 + ((seed * 31 + i) % 50)));
  return {
    input_ids: new Tensor('int64', ids, [1, len]),
    attention_mask: new Tensor('int64', new BigInt64Array(len).fill(1n), [1, len]),
  };
}

describe('batcher counters', () => {
  it('read the batcher histograms so that they agree with stats()', async () => {
    const registry = new Registry();
    const b = new DynamicBatcher(new EncoderDouble(), { maxBatchSize: 4, metrics: { registry } });
    const zero = await readBatcherCounters(registry);
    expect(zero.queueCount).toBe(0);
    expect(zero.batchCount).toBe(0);
    await Promise.all(Array.from({ length: 23 }, (_, k) => b.run(request(3 + (k % 5), k))));
    const mid = await readBatcherCounters(registry);
    await Promise.all(Array.from({ length: 9 }, (_, k) => b.run(request(6, 100 + k))));
    const end = await readBatcherCounters(registry);
    const st = b.stats();
    await b.close();

    expect(end.queueCount).toBe(32);
    expect(end.batchCount).toBe(st.batches.succeeded);
    expect(end.computeCount).toBe(st.batches.succeeded);
    expect(end.batchSizeSum).toBe(st.batches.samples);
    expect(end.paddedElements).toBe(st.padding.paddedElements);
    expect(end.realElements).toBe(st.padding.realElements);
    expect(end.queueSeconds * 1000).toBeCloseTo(st.queueTimeMs.mean * 32, 6);

    // The second window alone: 9 requests of one length, so no padding in it.
    const w = batcherWindow(mid, end);
    expect(w.batches).toBe(end.batchCount - mid.batchCount);
    expect(w.meanBatchSize).toBeCloseTo(9 / w.batches, 12);
    expect(w.paddingRatio).toBe(0);
    expect(w.queueMs).not.toBeNull();
    expect(w.computeMs).not.toBeNull();
  });

  it('give null means for a window with nothing in it', () => {
    const c: BatcherCounters = { queueSeconds: 1, queueCount: 2, computeSeconds: 3, computeCount: 4, batchSizeSum: 5, batchCount: 4, paddedElements: 6, realElements: 7 };
    expect(batcherWindow(c, c)).toEqual({ queueMs: null, computeMs: null, meanBatchSize: null, batches: 0, paddingRatio: null });
  });

  it('turn totals into per-request and per-batch means', () => {
    const a: BatcherCounters = { queueSeconds: 0.5, queueCount: 10, computeSeconds: 1, computeCount: 4, batchSizeSum: 10, batchCount: 4, paddedElements: 0, realElements: 100 };
    const b: BatcherCounters = { queueSeconds: 0.7, queueCount: 30, computeSeconds: 1.3, computeCount: 9, batchSizeSum: 30, batchCount: 9, paddedElements: 50, realElements: 300 };
    const w = batcherWindow(a, b);
    expect(w.queueMs).toBeCloseTo(10, 9); // 0.2 s over 20 requests
    expect(w.computeMs).toBeCloseTo(60, 9); // 0.3 s over 5 batches
    expect(w.meanBatchSize).toBe(4);
    expect(w.batches).toBe(5);
    expect(w.paddingRatio).toBe(0.25);
  });
});
