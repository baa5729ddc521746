// P1-6: a decode step's past (the batch's whole KV cache) is moved to an ONNX Runtime worker,
// not cloned on the main thread every step; prefill feeds are still copied. Tokens are the same
// as in-thread, where nothing moves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Generator } from '../../../src/generation/generator.js';
import { createDecoderModel } from '../../../src/onnx/decoder.js';
import { encodeModel } from '../../../src/onnx/model.js';
import { createSession, type FeedsLike, type InferenceSession, type RunOptions } from '../../../src/session.js';
import type { Tensor } from '../../../src/tensor.js';

interface Seen {
  decode: boolean;
  transfer: boolean;
  pastBytesBefore: number;
  pastBytesAfter: number;
}

/** The session, recording each run's options and whether its past left this thread. */
function recording(session: InferenceSession, seen: Seen[]): InferenceSession {
  return new Proxy(session, {
    get(target, key, receiver) {
      if (key !== 'run') return Reflect.get(target, key, receiver) as unknown;
      return async (feeds: FeedsLike, options?: RunOptions & { transferFeeds?: boolean }) => {
        const f = feeds as Record<string, Tensor>;
        const past = Object.keys(f)
          .filter((k) => k.startsWith('past_key_values.'))
          .map((k) => f[k]!);
        const entry: Seen = {
          decode: f.input_ids!.dims[1] === 1 && past[0]!.dims[2]! > 0,
          transfer: options?.transferFeeds === true,
          pastBytesBefore: past.reduce((a, t) => a + t.data.byteLength, 0),
          pastBytesAfter: -1,
        };
        seen.push(entry);
        try {
          return await target.run(feeds, options);
        } finally {
          entry.pastBytesAfter = past.reduce((a, t) => a + t.data.byteLength, 0);
        }
      };
    },
  });
}

describe('Generator over ONNX Runtime in worker mode', () => {
  const model = encodeModel(createDecoderModel({ preset: 'tiny' }));
  let workers: InferenceSession;
  let inThread: InferenceSession;
  beforeAll(async () => {
    workers = await createSession(model, { backend: 'onnxruntime', execution: 'workers', contexts: 1 });
    inThread = await createSession(model, { backend: 'onnxruntime', execution: 'in-thread' });
  });
  afterAll(async () => {
    await workers?.dispose();
    await inThread?.dispose();
  });

  it('moves each decode step past to the worker (no clone on this thread), copies prefills, and gives the in-thread tokens', async () => {
    const prompts = [[5], [9, 3, 7, 1, 2, 8, 4], [11, 12], [40, 41, 42, 43], [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7], [3, 1]];
    const newTokens = [9, 4, 12, 6, 3, 8];
    const generate = async (session: InferenceSession): Promise<number[][]> => {
      const gen = new Generator(session, { maxBatchSize: 4 });
      const results = await Promise.all(prompts.map((p, i) => gen.generate(p, { maxNewTokens: newTokens[i]! })));
      await gen.close();
      return results.map((r) => r.tokens);
    };
    const seen: Seen[] = [];
    const moved = await generate(recording(workers, seen));
    const copied = await generate(inThread);
    expect(moved).toEqual(copied);
    expect(moved.map((t) => t.length)).toEqual(newTokens);

    const decodes = seen.filter((s) => s.decode);
    const prefills = seen.filter((s) => !s.decode);
    expect(decodes.length).toBeGreaterThan(5);
    expect(prefills.length).toBeGreaterThan(0);
    for (const d of decodes) {
      expect(d.transfer).toBe(true);
      expect(d.pastBytesBefore).toBeGreaterThan(0);
    }
    // Right after a join or a leave the past is assembled into pooled memory, which may be a view
    // of a larger buffer (copied, not moved); every other step's past is the last present and moves.
    const detached = decodes.filter((d) => d.pastBytesAfter === 0).length;
    expect(detached).toBeGreaterThan(decodes.length / 2);
    for (const p of prefills) {
      expect(p.transfer).toBe(false);
      expect(p.pastBytesAfter).toBe(p.pastBytesBefore);
    }
  });

  it('a decode step that fails after its past moved is retried row by row from each history; generation goes on', async () => {
    const prompts = [[5, 6], [9, 3, 7, 1], [11], [40, 41, 42]];
    let decodes = 0;
    const retried: number[] = [];
    const failing = new Proxy(workers, {
      get(target, key, receiver) {
        if (key !== 'run') return Reflect.get(target, key, receiver) as unknown;
        return async (feeds: FeedsLike, options?: RunOptions) => {
          const f = feeds as Record<string, Tensor>;
          const decode = f.input_ids!.dims[1] === 1 && f['past_key_values.0.key']!.dims[2]! > 0;
          if (!decode && decodes === 3) retried.push(f.input_ids!.dims[1]!);
          const out = await target.run(feeds, options);
          // The third decode step fails once its past is gone (moved to the worker).
          if (decode && ++decodes === 3) throw new Error('injected failure after the run');
          return out;
        };
      },
    });
    const run = async (session: InferenceSession) => {
      const gen = new Generator(session, { maxBatchSize: 4 });
      const results = await Promise.all(prompts.map((p) => gen.generate(p, { maxNewTokens: 6 })));
      const stats = gen.stats();
      await gen.close();
      return { tokens: results.map((r) => r.tokens), reasons: results.map((r) => r.finishReason), failed: stats.steps.failed };
    };
    const got = await run(failing);
    const want = await run(inThread);
    expect(got.reasons).toEqual(['length', 'length', 'length', 'length']);
    expect(got.failed).toBe(1);
    // One prefill per row of its whole history: prompt + the 3 tokens made before the failed step.
    expect(retried.sort((a, b) => a - b)).toEqual(prompts.map((p) => p.length + 3).sort((a, b) => a - b));
    expect(got.tokens).toEqual(want.tokens);
  });
});
