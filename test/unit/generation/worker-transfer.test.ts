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
});
