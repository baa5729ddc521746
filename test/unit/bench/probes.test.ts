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
  it('come from stats().totals and agree with the Prometheus histograms', async () => {
    const registry = new Registry();
    const b = new DynamicBatcher(new EncoderDouble(), { maxBatchSize: 4, metrics: { registry } });
    const zero = readBatcherCounters(b);
    expect(zero.dispatched).toBe(0);
    expect(zero.batches).toBe(0);
    await Promise.all(Array.from({ length: 23 }, (_, k) => b.run(request(3 + (k % 5), k))));
    const mid = readBatcherCounters(b);
    await Promise.all(Array.from({ length: 9 }, (_, k) => b.run(request(6, 100 + k))));
    const end = readBatcherCounters(b);
    const st = b.stats();
    const text = await b.metrics();
    await b.close();

    const metric = (name: string): number => Number(new RegExp(`^tensorrt_node_batcher_${name} (\\S+)$`, 'm').exec(text)![1]);
    expect(end.dispatched).toBe(32);
    expect(end.dispatched).toBe(metric('queue_duration_seconds_count'));
    expect(end.batches).toBe(st.batches.succeeded);
    expect(end.batches).toBe(metric('batch_size_count'));
    expect(end.rows).toBe(metric('batch_size_sum'));
    expect(end.computeMs / 1000).toBeCloseTo(metric('compute_duration_seconds_sum'), 6);
    expect(end.queueMs / 1000).toBeCloseTo(metric('queue_duration_seconds_sum'), 6);
    expect(end.paddedElements).toBe(metric('padded_elements_total'));
    expect(end.realElements).toBe(metric('real_elements_total'));
    // One row per request: real tokens are the requests' lengths; padded ones rows x padded length.
    const lens = [...Array.from({ length: 23 }, (_, k) => 3 + (k % 5)), ...Array.from({ length: 9 }, () => 6)];
    expect(end.realTokens).toBe(lens.reduce((a, l) => a + l, 0));
    expect(end.paddedTokens - end.realTokens).toBe(end.paddedElements / 2); // two padded inputs

    // The second window alone: 9 requests of one length, so no padding in it.
    const w = batcherWindow(mid, end);
    expect(w.batches).toBe(end.batches - mid.batches);
    expect(w.meanBatchSize).toBeCloseTo(9 / w.batches, 12);
    expect(w.paddingRatio).toBe(0);
    expect(w.queueMs).not.toBeNull();
    expect(w.computeMs).not.toBeNull();
  });

  const totals = (t: Partial<BatcherCounters>): BatcherCounters => ({
    dispatched: 0,
    queueMs: 0,
    batches: 0,
    rows: 0,
    computeMs: 0,
    realElements: 0,
    paddedElements: 0,
    realTokens: 0,
    paddedTokens: 0,
    ...t,
  });

  it('give null means for a window with nothing in it', () => {
    const c = totals({ dispatched: 2, queueMs: 1000, batches: 4, rows: 5, computeMs: 3000, realElements: 7, paddedElements: 6 });
    expect(batcherWindow(c, c)).toEqual({ queueMs: null, computeMs: null, meanBatchSize: null, batches: 0, paddingRatio: null });
  });

  it('turn totals into per-request and per-batch means', () => {
    const a = totals({ dispatched: 10, queueMs: 500, batches: 4, rows: 10, computeMs: 1000, realElements: 100 });
    const b = totals({ dispatched: 30, queueMs: 700, batches: 9, rows: 30, computeMs: 1300, paddedElements: 50, realElements: 300 });
    const w = batcherWindow(a, b);
    expect(w.queueMs).toBeCloseTo(10, 9); // 200 ms over 20 requests
    expect(w.computeMs).toBeCloseTo(60, 9); // 300 ms over 5 batches
    expect(w.meanBatchSize).toBe(4);
    expect(w.batches).toBe(5);
    expect(w.paddingRatio).toBe(0.25);
  });
});
