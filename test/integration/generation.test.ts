// The Generator on the embedded decoder in ONNX Runtime: every batched result checked token for
// token against a reference that uses no cache at all (the whole sequence recomputed per token).
import { beforeAll, describe, expect, it } from 'vitest';
import { Generator } from '../../src/generation/index.js';
import { createDecoderModel, type DecoderOptions } from '../../src/onnx/decoder.js';
import { createEncoderModel } from '../../src/onnx/encoder.js';
import { encodeModel } from '../../src/onnx/model.js';
import { Random } from '../../src/random.js';
import { createSession, type Feeds, type InferenceSession, type Outputs } from '../../src/session.js';
import { Tensor } from '../../src/tensor.js';

const VOCAB = 1024;

async function decoder(options: DecoderOptions = {}): Promise<InferenceSession> {
  return createSession(encodeModel(createDecoderModel({ preset: 'tiny', ...options })), { backend: 'onnxruntime', intraOpNumThreads: 1 });
}

/** Greedy decoding without a KV cache: the whole sequence, one row, past of length 0, every token. */
async function reference(session: InferenceSession, prompt: readonly number[], n: number): Promise<number[]> {
  const seq = [...prompt];
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const L = seq.length;
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', BigInt64Array.from(seq, BigInt), [1, L]),
      attention_mask: new Tensor('int64', new BigInt64Array(L).fill(1n), [1, L]),
    };
    for (const i of session.inputs) {
      if (i.name === 'position_ids')
        feeds[i.name] = new Tensor(
          'int64',
          BigInt64Array.from({ length: L }, (_, j) => BigInt(j)),
          [1, L],
        );
      if (i.name === 'use_cache_branch') feeds[i.name] = new Tensor('bool', [false], [1]);
      if (i.name.startsWith('past_key_values.')) feeds[i.name] = Tensor.zeros(i.dtype, [1, i.dims[1] as number, 0, i.dims[3] as number]);
    }
    const logits = (await session.run(feeds)).logits!;
    const row = logits.toFloat32().subarray((L - 1) * VOCAB, L * VOCAB);
    let best = 0;
    for (let v = 1; v < VOCAB; v++) if (row[v]! > row[best]!) best = v;
    out.push(best);
    seq.push(best);
  }
  return out;
}

/** A session that forwards to `inner` and records each run's [rows, past width, new positions]. */
function recording(inner: InferenceSession): InferenceSession & { shapes: [number, number, number][] } {
  const shapes: [number, number, number][] = [];
  return {
    backend: inner.backend,
    inputs: inner.inputs,
    outputs: inner.outputs,
    get disposed() {
      return inner.disposed;
    },
    shapes,
    run(feeds: Feeds): Promise<Outputs> {
      const past = feeds['past_key_values.0.key']!.dims;
      shapes.push([past[0]!, past[2]!, feeds.input_ids!.dims[1]!]);
      return inner.run(feeds);
    },
    dispose: () => inner.dispose(),
    [Symbol.asyncDispose]: () => inner.dispose(),
  };
}

function prompts(n: number, min: number, max: number, seed: number): number[][] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => Array.from({ length: rng.nextInt(min, max + 1) }, () => rng.nextInt(1, VOCAB)));
}

describe('Generator on the embedded decoder (ONNX Runtime)', () => {
  let session: InferenceSession;
  beforeAll(async () => {
    session = await decoder();
  });

  it('greedy in a batch equals greedy alone, token for token, on mixed prompt lengths', async () => {
    const ps = prompts(12, 1, 40, 1);
    const ns = ps.map((_, i) => 6 + ((i * 5) % 11));
    const gen = new Generator(session, { maxBatchSize: 6 });
    const batched = await Promise.all(ps.map((p, i) => gen.generate(p, { maxNewTokens: ns[i] })));
    for (let i = 0; i < ps.length; i++) {
      expect(batched[i]).toEqual({ tokens: await reference(session, ps[i]!, ns[i]!), finishReason: 'length' });
    }
    await gen.close();
  });

  it('rows join and leave at every step, and each sequence still gets its own tokens', async () => {
    const rec = recording(session);
    const gen = new Generator(rec, { maxBatchSize: 8 });
    const ps = prompts(8, 2, 30, 2);
    // Request i starts when request i - 1 has its first token (joins at every other step, a
    // prefill); their lengths make one leave at each decode step after the last join.
    const ns = ps.map((_, i) => 16 - 2 * i);
    const results: number[][] = ps.map(() => []);
    const run = async (i: number): Promise<void> => {
      let next: Promise<void> | undefined;
      for await (const t of gen.stream(ps[i]!, { maxNewTokens: ns[i] })) {
        results[i]!.push(t);
        if (results[i]!.length === 1 && i + 1 < ps.length) next = run(i + 1);
      }
      await next;
    };
    await run(0);
    for (let i = 0; i < ps.length; i++) expect(results[i]).toEqual(await reference(session, ps[i]!, ns[i]!));
    // Every step changed the batch: a prefill (a join), or a decode with fewer rows than the
    // decode before it unless a prefill came between (a leave).
    let prevDecodeRows = Infinity;
    let joined = false;
    let prefills = 0;
    for (const [rows, past, cur] of rec.shapes) {
      if (past === 0) {
        // One request per prefill, in order.
        expect([rows, cur]).toEqual([1, ps[prefills++]!.length]);
        joined = true;
        continue;
      }
      if (!joined) expect(rows).toBeLessThan(prevDecodeRows);
      prevDecodeRows = rows;
      joined = false;
    }
    expect(rec.shapes.filter((s) => s[1] === 0)).toHaveLength(8);
    await gen.close();
  });

  it('abort mid-generation ends it with the tokens so far and frees its cache', async () => {
    const rec = recording(session);
    const gen = new Generator(rec, { maxBatchSize: 4 });
    const [pa, pb] = prompts(2, 10, 20, 3);
    const ac = new AbortController();
    const stream = gen.stream(pa!, { maxNewTokens: 200, signal: ac.signal });
    const other = gen.generate(pb!, { maxNewTokens: 30 });
    let n = 0;
    let kvBefore = 0;
    for await (const _ of stream) {
      if (++n === 6) {
        kvBefore = gen.stats().kv.real;
        ac.abort();
      }
    }
    const res = await stream.result;
    expect(res.finishReason).toBe('aborted');
    expect(res.tokens.length).toBeGreaterThanOrEqual(6);
    expect(res.tokens).toEqual(await reference(session, pa!, res.tokens.length));
    expect(await other).toEqual({ tokens: await reference(session, pb!, 30), finishReason: 'length' });
    // After the abort the batch dropped to one row and its width to the other sequence's length.
    const abortStep = rec.shapes.findIndex((s, i) => i > 0 && s[0] === 1 && rec.shapes[i - 1]![0] === 2);
    expect(abortStep).toBeGreaterThan(0);
    expect(rec.shapes[abortStep]![1]).toBeLessThan(rec.shapes[abortStep - 1]![1]! + 1);
    expect(kvBefore).toBeGreaterThan(0);
    expect(gen.stats().kv).toMatchObject({ inUse: 0, real: 0 });
    await gen.close();
  });

  it('stops at a stop token, which ends the tokens', async () => {
    const [p] = prompts(1, 5, 5, 4);
    const ref = await reference(session, p!, 20);
    const k = ref.findIndex((t, i) => i >= 3 && ref.indexOf(t) === i);
    const gen = new Generator(session);
    expect(await gen.generate(p!, { maxNewTokens: 20, stopTokens: [ref[k]!] })).toEqual({
      tokens: ref.slice(0, k + 1),
      finishReason: 'stop',
    });
    await gen.close();
  });

  it('1,000 concurrent generations: none lost or mixed up', async () => {
    const distinct = prompts(40, 1, 12, 5);
    const refs = await Promise.all(distinct.map((p) => reference(session, p, 3)));
    const gen = new Generator(session, { maxBatchSize: 64 });
    const order = Array.from({ length: 1000 }, (_, i) => (i * 7) % distinct.length);
    const results = await Promise.all(order.map((j, i) => gen.generate(distinct[j]!, { maxNewTokens: 1 + (i % 3) })));
    results.forEach((r, i) => expect(r.tokens).toEqual(refs[order[i]!]!.slice(0, 1 + (i % 3))));
    expect(gen.stats().requests).toMatchObject({ accepted: 1000, finished: { length: 1000 } });
    await gen.close();
  });

  it("a sequence that runs past the position table fails alone, with the session's error; the rest go on", async () => {
    const gen = new Generator(session, { maxBatchSize: 4 });
    const ps = prompts(3, 3, 10, 9);
    const ok = ps.map((p) => gen.generate(p, { maxNewTokens: 8 }));
    // The tiny decoder has 512 positions: 508 + 8 - 1 reaches position 515.
    const long = gen.generate(prompts(1, 508, 508, 10)[0]!, { maxNewTokens: 8 });
    // The session reads the position table's size from the graph and refuses the position.
    await expect(long).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/position_ids/) });
    for (let i = 0; i < ps.length; i++) expect((await ok[i])!.tokens).toEqual(await reference(session, ps[i]!, 8));
    await gen.close();
  });

  it('keeps the cache under maxKvTokens on the real model', async () => {
    const rec = recording(session);
    const gen = new Generator(rec, { maxBatchSize: 16, maxKvTokens: 120 });
    const ps = prompts(10, 5, 25, 6);
    const results = await Promise.all(ps.map((p) => gen.generate(p, { maxNewTokens: 8 })));
    for (let i = 0; i < ps.length; i++) expect(results[i]!.tokens).toEqual(await reference(session, ps[i]!, 8));
    for (const [rows, past, cur] of rec.shapes) expect(rows * (past + cur)).toBeLessThanOrEqual(120);
    await gen.close();
  });

  it('samples reproducibly from a seed, alone or batched in any order', async () => {
    const ps = prompts(5, 3, 15, 7);
    const opts = (i: number) => ({ maxNewTokens: 10, temperature: 0.8, topK: 50, topP: 0.95, seed: 100 + i });
    const alone = new Generator(session, { maxBatchSize: 1 });
    const a = [];
    for (let i = 0; i < ps.length; i++) a.push(await alone.generate(ps[i]!, opts(i)));
    const gen = new Generator(session, { maxBatchSize: 8 });
    const b = await Promise.all([4, 2, 0, 3, 1].map((i) => gen.generate(ps[i]!, opts(i)).then((r) => [i, r] as const)));
    for (const [i, r] of b) expect(r).toEqual(a[i]);
    expect(a[0]!.tokens).not.toEqual(await reference(session, ps[0]!, 10));
    await Promise.all([alone.close(), gen.close()]);
  });

  it('detects the variants: merged model (use_cache_branch), no position_ids, float16 KV, grouped-query attention', async () => {
    const ps = prompts(4, 1, 20, 8);
    for (const variant of [{ useCacheBranch: true }, { positionIds: false }, { kvDtype: 'float16' as const }, { kvHeads: 2 }]) {
      const s = await decoder(variant);
      const gen = new Generator(s, { maxBatchSize: 4 });
      const results = await Promise.all(ps.map((p) => gen.generate(p, { maxNewTokens: 6 })));
      for (let i = 0; i < ps.length; i++) expect(results[i]!.tokens, JSON.stringify(variant)).toEqual(await reference(s, ps[i]!, 6));
      await gen.close();
      await s.dispose();
    }
  });

  it('a model that is not a decoder gets a clear error naming what is missing', async () => {
    const encoder = await createSession(encodeModel(createEncoderModel({ preset: 'tiny' })), { backend: 'onnxruntime' });
    expect(() => new Generator(encoder)).toThrow(
      expect.objectContaining({
        code: 'ERR_ONNX',
        message: expect.stringMatching(/not a decoder with a KV cache.*no past_key_values\.\{i\}\.key \/ \.value inputs.*"last_hidden_state", "logits"/),
      }),
    );
    await encoder.dispose();
  });
});
