// The Generator's scheduling, settling and validation on a JS test double of a decoder
// (fake-decoder.ts), whose tokens are exact: any mix-up of rows, padding or positions shows.
import { describe, expect, it } from 'vitest';
import { Generator } from '../../../src/generation/index.js';
import { Random } from '../../../src/random.js';
import { FakeDecoderSession, fakeGenerate } from './fake-decoder.js';

const prompt = (rng: Random, min: number, max: number, vocab = 101): number[] => Array.from({ length: rng.nextInt(min, max + 1) }, () => rng.nextInt(0, vocab));

describe('Generator on a test-double decoder', () => {
  it('gives each sequence what it gives alone, with rows joining and leaving', async () => {
    const session = new FakeDecoderSession();
    const gen = new Generator(session, { maxBatchSize: 5 });
    const rng = new Random(1);
    const reqs = Array.from({ length: 40 }, () => ({ p: prompt(rng, 1, 12), n: rng.nextInt(1, 9) }));
    const results = await Promise.all(reqs.map((r) => gen.generate(r.p, { maxNewTokens: r.n })));
    results.forEach((res, i) => {
      expect(res).toEqual({ tokens: fakeGenerate(reqs[i]!.p, reqs[i]!.n), finishReason: 'length' });
    });
    // Batches were formed and reshaped: several rows per step, never more than maxBatchSize.
    const rows = session.shapes.map((s) => s[0]);
    expect(Math.max(...rows)).toBe(5);
    expect(new Set(rows).size).toBeGreaterThan(2);
    const s = gen.stats();
    expect(s.requests.finished.length).toBe(40);
    expect(s.tokens.generated).toBe(reqs.reduce((a, r) => a + r.n, 0));
    expect(s.kv.inUse).toBe(0);
    await gen.close();
  });

  it("works over a session that takes its inputs' buffers away (a worker session may transfer them)", async () => {
    const session = new FakeDecoderSession({ detachInputs: true });
    const gen = new Generator(session, { maxBatchSize: 4 });
    const rng = new Random(11);
    const reqs = Array.from({ length: 12 }, () => ({ p: prompt(rng, 1, 10), n: rng.nextInt(1, 8) }));
    const results = await Promise.all(reqs.map((r) => gen.generate(r.p, { maxNewTokens: r.n })));
    results.forEach((res, i) => expect(res.tokens).toEqual(fakeGenerate(reqs[i]!.p, reqs[i]!.n)));
    await gen.close();
  });

  it('keeps prefill steps under maxBatchTokens (padding counted) and decode rows under maxBatchSize', async () => {
    const session = new FakeDecoderSession();
    const gen = new Generator(session, { maxBatchSize: 8, maxBatchTokens: 24 });
    const rng = new Random(2);
    const reqs = Array.from({ length: 30 }, () => ({ p: prompt(rng, 1, 20), n: rng.nextInt(1, 6) }));
    const results = await Promise.all(reqs.map((r) => gen.generate(r.p, { maxNewTokens: r.n })));
    results.forEach((res, i) => expect(res.tokens).toEqual(fakeGenerate(reqs[i]!.p, reqs[i]!.n)));
    for (const [rows, past, cur] of session.shapes) {
      if (past === 0) expect(rows * cur).toBeLessThanOrEqual(24);
      else expect(cur).toBe(1);
      expect(rows).toBeLessThanOrEqual(8);
    }
    await expect(gen.generate(new Array(25).fill(1))).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/25 tokens, more than maxBatchTokens 24/),
    });
    await gen.close();
  });

  it('bounds the KV cache by maxKvTokens: requests wait, and one that could never fit is refused', async () => {
    let worst = 0;
    const session = new FakeDecoderSession({
      onRun: (feeds) => {
        const k = feeds['past_key_values.0.key']!;
        // The present a step makes is rows x (past + new): what the batch holds next.
        worst = Math.max(worst, k.dims[0]! * (k.dims[2]! + feeds.input_ids!.dims[1]!));
      },
    });
    const gen = new Generator(session, { maxBatchSize: 16, maxKvTokens: 60 });
    const rng = new Random(3);
    const reqs = Array.from({ length: 24 }, () => ({ p: prompt(rng, 2, 10), n: rng.nextInt(2, 10) }));
    const results = await Promise.all(reqs.map((r) => gen.generate(r.p, { maxNewTokens: r.n })));
    results.forEach((res, i) => expect(res.tokens).toEqual(fakeGenerate(reqs[i]!.p, reqs[i]!.n)));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(60);
    expect(gen.stats().kv.peak).toBeLessThanOrEqual(60);
    await expect(gen.generate([1, 2, 3], { maxNewTokens: 59 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/3 tokens\) \+ maxNewTokens \(59\) - 1 = 61 KV positions, more than maxKvTokens 60/),
    });
    await gen.close();
  });

  it('ends on a stop token (kept as the last token) and on abort (tokens so far), freeing the row', async () => {
    const session = new FakeDecoderSession({ delayMs: 1 });
    const gen = new Generator(session, { maxBatchSize: 4 });
    const p = [5, 6, 7];
    const ref = fakeGenerate(p, 20);
    const k = ref.findIndex((t, i) => i > 2 && ref.indexOf(t) === i);
    expect(await gen.generate(p, { maxNewTokens: 20, stopTokens: [ref[k]!] })).toEqual({ tokens: ref.slice(0, k + 1), finishReason: 'stop' });

    const ac = new AbortController();
    const other = gen.generate([9, 9], { maxNewTokens: 30 });
    const stream = gen.stream(p, { maxNewTokens: 1000, signal: ac.signal });
    const seen: number[] = [];
    for await (const t of stream) {
      seen.push(t);
      if (seen.length === 5) ac.abort();
    }
    const aborted = await stream.result;
    expect(aborted.finishReason).toBe('aborted');
    expect(aborted.tokens.slice(0, 5)).toEqual(ref.slice(0, 5));
    expect(aborted.tokens).toEqual(ref.slice(0, aborted.tokens.length));
    expect(seen).toEqual(aborted.tokens);
    expect(await other).toEqual({ tokens: fakeGenerate([9, 9], 30), finishReason: 'length' });
    // After the abort, no step carried the aborted row: every later step has the other row alone.
    expect(gen.stats()).toMatchObject({ running: 0, kv: { inUse: 0 }, requests: { finished: { aborted: 1, stop: 1, length: 1 } } });
    await gen.close();
  });

  it('a stream left early cancels its generation', async () => {
    const session = new FakeDecoderSession({ delayMs: 1 });
    const gen = new Generator(session);
    const stream = gen.stream([1, 2], { maxNewTokens: 500 });
    let n = 0;
    for await (const _ of stream) if (++n === 3) break;
    expect((await stream.result).finishReason).toBe('aborted');
    await gen.close();
    expect(session.calls).toBeLessThan(10);
  });

  it('settles every promise exactly once under random aborts, and 1,000 at once lose or mix nothing', async () => {
    const session = new FakeDecoderSession();
    const gen = new Generator(session, { maxBatchSize: 32 });
    const rng = new Random(4);
    const reqs = Array.from({ length: 1000 }, (_, i) => ({ p: prompt(rng, 1, 16), n: rng.nextInt(1, 5), abortAfter: i % 7 === 3 ? rng.nextInt(0, 4) : -1 }));
    const settled = new Array<number>(reqs.length).fill(0);
    const results = await Promise.all(
      reqs.map(async (r, i) => {
        const ac = new AbortController();
        if (r.abortAfter >= 0) setTimeout(() => ac.abort(), r.abortAfter);
        const res = await gen.generate(r.p, { maxNewTokens: r.n, signal: ac.signal });
        settled[i]!++;
        return res;
      }),
    );
    expect(settled.every((c) => c === 1)).toBe(true);
    results.forEach((res, i) => {
      const ref = fakeGenerate(reqs[i]!.p, reqs[i]!.n);
      if (res.finishReason === 'aborted') expect(res.tokens).toEqual(ref.slice(0, res.tokens.length));
      else expect(res).toEqual({ tokens: ref, finishReason: 'length' });
    });
    const s = gen.stats();
    expect(s.requests.finished.length + s.requests.finished.aborted).toBe(1000);
    expect(s.requests.accepted).toBe(1000);
    await gen.close();
    expect(gen.stats()).toMatchObject({ closed: true, waiting: 0, running: 0, kv: { inUse: 0 } });
  });

  it('a failed step: rows that fail alone too reject with the session error; a passing failure loses nothing', async () => {
    let failing = (_call: number): boolean => false;
    const session = new FakeDecoderSession({
      onRun: (_f, call) => {
        if (failing(call)) throw Object.assign(new Error('device lost'), { code: 'ERR_CUDA' });
      },
    });
    const gen = new Generator(session, { maxBatchSize: 4 });
    // The second decode step of the batch fails, and so does each row's run alone.
    failing = (call) => call >= 2 && call <= 5;
    const batch = [[1], [2, 3], [4, 5, 6]].map((p) => gen.generate(p, { maxNewTokens: 6 }));
    for (const r of batch) await expect(r).rejects.toThrow('device lost');
    expect(gen.stats().requests.failed).toBe(3);
    expect(await gen.generate([1, 2], { maxNewTokens: 3 })).toEqual({ tokens: fakeGenerate([1, 2], 3), finishReason: 'length' });
    // One failed run and nothing else: every row is run again alone and goes on.
    const at = session.calls + 2;
    failing = (call) => call === at;
    const again = await Promise.all([[7], [8, 9]].map((p) => gen.generate(p, { maxNewTokens: 6 })));
    expect(again).toEqual([[7], [8, 9]].map((p) => ({ tokens: fakeGenerate(p, 6), finishReason: 'length' })));
    await gen.close();
  });

  it('a request that makes its step fail ends alone: the others in the step go on', async () => {
    // Token 100 is "outside the embedding", position 24 "outside the position table".
    const session = new FakeDecoderSession({
      onRun: (feeds) => {
        if ((feeds.input_ids!.data as BigInt64Array).includes(100n)) throw new Error('Gather: index 100 out of range');
        if ((feeds.position_ids!.data as BigInt64Array).some((p) => p >= 24n)) throw new Error('Gather: position out of range');
      },
    });
    const gen = new Generator(session, { maxBatchSize: 8 });
    const rng = new Random(5);
    const good = Array.from({ length: 6 }, () => prompt(rng, 1, 8, 100));
    const results = good.map((p) => gen.generate(p, { maxNewTokens: 10 }));
    const poisoned = gen.generate([3, 100, 4], { maxNewTokens: 10 });
    const tooLong = gen.generate(prompt(rng, 18, 18, 100), { maxNewTokens: 12 });
    await expect(poisoned).rejects.toThrow('index 100 out of range');
    await expect(tooLong).rejects.toThrow('position out of range');
    for (let i = 0; i < good.length; i++) expect(await results[i]).toEqual({ tokens: fakeGenerate(good[i]!, 10), finishReason: 'length' });
    expect(gen.stats().requests).toMatchObject({ failed: 2, finished: { length: 6 } });
    expect(gen.stats().steps.failed).toBe(2);
    await gen.close();
  });

  it('close(): drains by default; drain false ends running rows as aborted and rejects queued ones', async () => {
    const session = new FakeDecoderSession({ delayMs: 2 });
    const gen = new Generator(session, { maxBatchSize: 2 });
    const a = gen.generate([1], { maxNewTokens: 4 });
    const b = gen.generate([2], { maxNewTokens: 4 });
    const closed = gen.close();
    await expect(gen.generate([3])).rejects.toMatchObject({ code: 'ERR_SHUTTING_DOWN' });
    await closed;
    expect((await a).finishReason).toBe('length');
    expect((await b).tokens).toEqual(fakeGenerate([2], 4));

    const gen2 = new Generator(new FakeDecoderSession({ delayMs: 2 }), { maxBatchSize: 1 });
    const running = gen2.generate([1], { maxNewTokens: 1000 });
    const queued = gen2.generate([2], { maxNewTokens: 5 });
    const queuedRejects = expect(queued).rejects.toMatchObject({ code: 'ERR_SHUTTING_DOWN' });
    await new Promise((r) => setTimeout(r, 10));
    await gen2.close({ drain: false });
    expect((await running).finishReason).toBe('aborted');
    await queuedRejects;
    expect(gen2.stats()).toMatchObject({ closed: true, requests: { shutDown: 1, finished: { aborted: 1 } } });
  });

  it('waits up to maxQueueDelayMs to prefill requests together', async () => {
    const session = new FakeDecoderSession();
    const gen = new Generator(session, { maxBatchSize: 8, maxQueueDelayMs: 30 });
    const first = gen.generate([1, 2], { maxNewTokens: 2 });
    await new Promise((r) => setTimeout(r, 5));
    const second = gen.generate([3], { maxNewTokens: 2 });
    await Promise.all([first, second]);
    // One prefill step of both rows, not two.
    expect(session.shapes.filter((s) => s[1] === 0)).toEqual([[2, 0, 2]]);
    await gen.close();
  });

  it('samples reproducibly from a seed, whatever it is batched with', async () => {
    const session = new FakeDecoderSession({ vocab: 50 });
    const opts = { maxNewTokens: 12, temperature: 1.5, topK: 20, topP: 0.9, seed: 42 };
    const alone = await new Generator(session).generate([1, 2, 3], opts);
    const gen = new Generator(session, { maxBatchSize: 8 });
    const others = Array.from({ length: 6 }, (_, i) => gen.generate([i + 5], { ...opts, seed: i }));
    const again = await gen.generate([1, 2, 3], opts);
    await Promise.all(others);
    expect(again).toEqual(alone);
    // The fake's logits are one-hot (1 for its next token, 0 elsewhere): at temperature 1.5 the
    // others keep most of the mass, so sampling must leave the greedy path somewhere.
    const greedy = await gen.generate([1, 2, 3], { maxNewTokens: 12 });
    expect(again.tokens).not.toEqual(greedy.tokens);
    await gen.close();
  });

  it('validates every option with a coded error naming it', async () => {
    const session = new FakeDecoderSession();
    expect(() => new Generator(session, { maxBatchSize: 0 })).toThrow(/maxBatchSize/);
    expect(() => new Generator(session, { maxBatchSize: 8, maxBatchTokens: 4 })).toThrow(/maxBatchTokens 4 must be at least maxBatchSize 8/);
    expect(() => new Generator(session, { maxKvTokens: -1 })).toThrow(/maxKvTokens/);
    expect(() => new Generator(session, { bogus: 1 } as never)).toThrow(/unknown option.*bogus/);
    expect(() => new Generator({} as never)).toThrow(/session must be an InferenceSession/);
    const gen = new Generator(session);
    const cases: [unknown, unknown, RegExp][] = [
      [[], {}, /promptIds is empty/],
      ['hello', {}, /promptIds must be an array of token ids/],
      [[1, 2.5], {}, /promptIds\[1\] must be a token id \(an integer in \[0, 101\)/],
      [[1, 101], {}, /promptIds\[1\].*got 101/],
      [[1], { maxNewTokens: 0 }, /maxNewTokens/],
      [[1], { temperature: -1 }, /temperature/],
      [[1], { topP: 0 }, /topP/],
      [[1], { topK: 1.5 }, /topK/],
      [[1], { seed: -3 }, /seed/],
      [[1], { stopTokens: [500] }, /stopTokens\[0\] is 500, not a token id/],
      [[1], { signal: 'x' }, /signal/],
      [[1], { maxTokens: 3 }, /unknown option.*maxTokens/],
    ];
    for (const [p, o, re] of cases) {
      await expect(gen.generate(p as number[], o as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(re) });
    }
    const bad = gen.stream([], {});
    await expect(bad.next()).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(gen.stats().requests.rejected.invalid).toBe(cases.length + 1);
    expect(await gen.generate(new BigInt64Array([3n, 4n]), { maxNewTokens: 2 })).toEqual({ tokens: fakeGenerate([3, 4], 2), finishReason: 'length' });
    const ac = new AbortController();
    ac.abort();
    expect(await gen.generate([1], { signal: ac.signal })).toEqual({ tokens: [], finishReason: 'aborted' });
    await gen.close();
  });

  it('reports Prometheus metrics: tokens, TTFT, inter-token latency, occupancy, KV in use', async () => {
    const gen = new Generator(new FakeDecoderSession(), { maxBatchSize: 4, metrics: { labels: { model: 'fake' } } });
    await Promise.all([gen.generate([1], { maxNewTokens: 3 }), gen.generate([2, 3], { maxNewTokens: 5 })]);
    const text = await gen.metrics();
    expect(text).toMatch(/tensorrt_node_generator_generated_tokens_total\{model="fake"\} 8/);
    expect(text).toMatch(/tensorrt_node_generator_prompt_tokens_total\{model="fake"\} 3/);
    expect(text).toMatch(/tensorrt_node_generator_requests_total\{model="fake",outcome="length"\} 2/);
    expect(text).toMatch(/tensorrt_node_generator_time_to_first_token_seconds_count\{model="fake"\} 2/);
    expect(text).toMatch(/tensorrt_node_generator_inter_token_latency_seconds_count\{model="fake"\} 6/);
    expect(text).toMatch(/tensorrt_node_generator_batch_occupancy_count\{model="fake"\} 4/);
    expect(text).toMatch(/tensorrt_node_generator_kv_tokens_in_use\{model="fake"\} 0/);
    expect(text).toMatch(/tensorrt_node_generator_tokens_per_second\{model="fake"\} [1-9]/);
    await gen.close();
  });
});
