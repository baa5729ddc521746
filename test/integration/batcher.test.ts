/**
 * The DynamicBatcher on ONNX Runtime (CPU) with the embedded encoder (the "tiny" preset: 2
 * layers, hidden 64), zero-config: input_ids and attention_mask padded along "sequence",
 * last_hidden_state trimmed back, logits split. No test doubles here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxRuntimeSession } from '../../src/backends/onnxruntime.js';
import { createEncoderModel, encodeModel, Xoshiro128 } from '../../src/onnx/index.js';
import { DynamicBatcher } from '../../src/batching/index.js';
import { Tensor } from '../../src/tensor.js';
import type { Feeds, Outputs } from '../../src/session.js';

const VOCAB = 1024;
const TOL = 1e-5;

/** One request: `batch` rows of `len` random tokens, all attended. */
function requestFeeds(batch: number, len: number, seed: number): Feeds {
  const rng = Xoshiro128.forStream(seed, 'batcher-request');
  const ids = new BigInt64Array(batch * len);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(rng.nextInt(1, VOCAB));
  return {
    input_ids: new Tensor('int64', ids, [batch, len]),
    attention_mask: new Tensor('int64', new BigInt64Array(batch * len).fill(1n), [batch, len]),
  };
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.dims).toEqual(b.dims);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

function worstDiff(got: Outputs, want: Outputs): number {
  return Math.max(maxAbsDiff(got.last_hidden_state!, want.last_hidden_state!), maxAbsDiff(got.logits!, want.logits!));
}

describe('DynamicBatcher on ONNX Runtime with the embedded encoder', () => {
  let session: OnnxRuntimeSession;
  beforeAll(async () => {
    // Severity 4 (fatal only): the failing-batch test makes ONNX Runtime log an error line.
    session = await OnnxRuntimeSession.create(encodeModel(createEncoderModel({ seed: 3 })), { intraOpNumThreads: 2, logSeverityLevel: 4 });
  });
  afterAll(async () => {
    await session.dispose();
  });

  it('configures itself from the model: pads input_ids/attention_mask along "sequence", trims last_hidden_state', async () => {
    const b = new DynamicBatcher(session);
    expect(b.config.inputs.map((i) => [i.name, i.padAxes, i.padValue])).toEqual([
      ['input_ids', [{ axis: 1, dim: 'sequence' }], 0n],
      ['attention_mask', [{ axis: 1, dim: 'sequence' }], 0n],
    ]);
    expect(b.config.outputs.map((o) => [o.name, o.trimAxes])).toEqual([
      ['last_hidden_state', [{ axis: 1, dim: 'sequence' }]],
      ['logits', []],
    ]);
    expect(b.config.maxInflightBatches).toBe(1);
    await b.close();
  });

  for (const variant of [
    { name: 'padding to the longest request', options: {} },
    { name: 'length buckets', options: { buckets: [8, 16, 32, 64] } },
  ]) {
    it(`batched outputs equal unbatched ones within ${TOL} for mixed lengths (${variant.name})`, async () => {
      const shapes = [
        [1, 5], [2, 17], [1, 1], [3, 9], [1, 33], [2, 2], [1, 64], [1, 12], [2, 30], [1, 7], [1, 16], [2, 3],
      ] as const;
      const feeds = shapes.map(([batch, len], k) => requestFeeds(batch, len, 100 + k));
      const want: Outputs[] = [];
      for (const f of feeds) want.push(await session.run(f));
      const b = new DynamicBatcher(session, { ...variant.options, maxBatchSize: 16 });
      const got = await Promise.all(feeds.map((f) => b.run(f)));
      let worst = 0;
      got.forEach((g, k) => (worst = Math.max(worst, worstDiff(g, want[k]!))));
      expect(worst).toBeLessThanOrEqual(TOL);
      const st = b.stats();
      expect(st.requests.succeeded).toBe(shapes.length);
      expect(st.batches.succeeded).toBeLessThan(shapes.length); // requests really were batched
      expect(st.padding.paddedElements).toBeGreaterThan(0); // and really were padded
      await b.close();
    });
  }

  it('10,000 concurrent requests of mixed lengths and batch sizes: none lost, none mixed', async () => {
    // 400 distinct inputs (each its own tokens, length 1..48, batch 1..3), each with its
    // unbatched reference; 10,000 requests cycle through them in a scrambled order. A result
    // delivered to the wrong request would match another input's reference, not its own.
    const DISTINCT = 400;
    const inputs = Array.from({ length: DISTINCT }, (_, k) => requestFeeds(1 + (k % 3), 1 + ((k * 37) % 48), 10_000 + k));
    const refs: Outputs[] = [];
    for (const f of inputs) refs.push(await session.run(f));
    const b = new DynamicBatcher(session, { maxBatchSize: 32, buckets: [8, 16, 32, 48] });
    const N = 10_000;
    const which = Array.from({ length: N }, (_, i) => (i * 7919) % DISTINCT);
    const settled = await Promise.allSettled(which.map((k) => b.run(inputs[k]!)));
    let worst = 0;
    let fulfilled = 0;
    settled.forEach((s, i) => {
      if (s.status !== 'fulfilled') throw new Error(`request ${i} was rejected: ${String(s.reason)}`);
      fulfilled++;
      worst = Math.max(worst, worstDiff(s.value, refs[which[i]!]!));
    });
    expect(fulfilled).toBe(N);
    expect(worst).toBeLessThanOrEqual(TOL);
    const st = b.stats();
    expect(st.requests).toMatchObject({ accepted: N, succeeded: N, failed: 0, timedOut: 0, aborted: 0 });
    expect(st.queued).toBe(0);
    const samples = which.reduce((a, k) => a + inputs[k]!.input_ids!.dims[0]!, 0);
    expect(st.batches.samples).toBe(samples);
    expect(st.batches.meanSize).toBeGreaterThan(8);
    await b.close();
  });

  it('a batch that ONNX Runtime fails rejects its requests with the cause; the batcher keeps serving', async () => {
    const b = new DynamicBatcher(session, { maxBatchSize: 8, maxQueueDelayMs: 50 });
    const good = requestFeeds(1, 6, 1);
    const bad = requestFeeds(1, 6, 2);
    (bad.input_ids!.data as BigInt64Array)[3] = BigInt(VOCAB + 5); // out of the embedding table: the session refuses the batch
    const first = await Promise.allSettled([b.run(good), b.run(bad), b.run(good)]);
    for (const s of first) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_INVALID_ARG' });
    }
    // The same error object (the cause) for every request of that batch.
    expect((first[0] as PromiseRejectedResult).reason).toBe((first[2] as PromiseRejectedResult).reason);
    const after = await b.run(good);
    expect(worstDiff(after, await session.run(good))).toBeLessThanOrEqual(TOL);
    expect(b.stats()).toMatchObject({ requests: { failed: 3, succeeded: 1 }, batches: { failed: 1, succeeded: 1 } });
    await b.close();
  });

  it('reports Prometheus metrics for real batches', async () => {
    const b = new DynamicBatcher(session, { metrics: { labels: { model: 'tiny-encoder' } } });
    await Promise.all([requestFeeds(1, 4, 1), requestFeeds(2, 9, 2), requestFeeds(1, 20, 3)].map((f) => b.run(f)));
    const text = await b.metrics();
    expect(text).toContain('tensorrt_node_batcher_requests_total{model="tiny-encoder",outcome="success"} 3');
    expect(text).toMatch(/tensorrt_node_batcher_compute_duration_seconds_count\{model="tiny-encoder"\} [1-3]\n/);
    expect(text).toMatch(/tensorrt_node_batcher_padded_elements_total\{model="tiny-encoder"\} [1-9]/);
    await b.close();
  });
});
