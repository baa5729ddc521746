// Review findings on the Generator (issue 12 follow-up): an already-aborted signal, the model's
// position table checked at admission, faults inside the scheduling pump, isolation of a failed
// step, many concurrent generations, close({ drain: false }) settling each promise once.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as batchCache from '../../../src/generation/batch-cache.js';
import { Generator } from '../../../src/generation/index.js';
import type { TensorInfo } from '../../../src/session.js';
import { FakeDecoderSession, fakeGenerate, type FakeDecoderOptions } from './fake-decoder.js';

// Fault injection into the step preparation (decodeFeeds), the rest of the module as it is.
const fault = vi.hoisted(() => ({ decode: 0 }));
vi.mock('../../../src/generation/batch-cache.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../../src/generation/batch-cache.js')>();
  return {
    ...orig,
    decodeFeeds: (...args: Parameters<typeof orig.decodeFeeds>) => {
      if (fault.decode > 0) {
        fault.decode--;
        throw new TypeError('injected fault in decodeFeeds');
      }
      return orig.decodeFeeds(...args);
    },
  };
});

afterEach(() => {
  fault.decode = 0;
});

/** The fake decoder with a position table of `rows` reported on input_ids axis 1. */
class LimitedSession extends FakeDecoderSession {
  constructor(rows: number, o: FakeDecoderOptions = {}) {
    super(o);
    const ids = this.inputs[0]!;
    const limited: TensorInfo = { ...ids, limits: [{ axis: 1, max: rows, reason: `the model's position embedding has ${rows} rows` }] };
    this.inputs[0] = limited;
  }
}

describe('Generator: review fixes', () => {
  it('an already-aborted signal finishes at once as aborted and leaves the counters right (P0-2)', async () => {
    const gen = new Generator(new FakeDecoderSession(), { maxBatchSize: 4 });
    const signal = AbortSignal.abort();
    expect(await gen.generate([1, 2], { maxNewTokens: 5, signal })).toEqual({ tokens: [], finishReason: 'aborted' });
    expect(gen.stats()).toMatchObject({ waiting: 0, running: 0, requests: { accepted: 1, finished: { aborted: 1 } } });
    const stream = gen.stream([3], { maxNewTokens: 5, signal });
    const got: number[] = [];
    for await (const t of stream) got.push(t);
    expect(got).toEqual([]);
    expect((await stream.result).finishReason).toBe('aborted');
    expect(gen.stats().waiting).toBe(0);
    // A later generation runs, and close resolves (it waits for waiting === 0).
    expect(await gen.generate([1, 2], { maxNewTokens: 3 })).toEqual({ tokens: fakeGenerate([1, 2], 3), finishReason: 'length' });
    await gen.close();
    expect(gen.stats().closed).toBe(true);
  });

  it('refuses at generate() a request beyond the position table the session reports (P1-5)', async () => {
    const session = new LimitedSession(16);
    const gen = new Generator(session, { maxBatchSize: 4 });
    expect(gen.config.decoder.positionLimit).toMatchObject({ max: 16, input: 'input_ids' });
    const calls = session.calls;
    await expect(gen.generate(new Array(10).fill(1), { maxNewTokens: 8 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/17 positions.*"input_ids" axis 1 at most 16 \(the model's position embedding has 16 rows\)/),
    });
    await expect(gen.generate([1], { maxNewTokens: 17 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(session.calls).toBe(calls);
    expect(gen.stats().requests.rejected.invalid).toBe(2);
    // Exactly at the limit: positions 0..15.
    const p = new Array(10).fill(2);
    expect(await gen.generate(p, { maxNewTokens: 7 })).toEqual({ tokens: fakeGenerate(p, 7), finishReason: 'length' });
    await gen.close();
  });

  it('a fault inside the scheduling pump fails the affected sequences with ERR_INTERNAL; the generator goes on (P2-7)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    try {
      const gen = new Generator(new FakeDecoderSession(), { maxBatchSize: 4 });
      fault.decode = 1;
      const a = gen.generate([1, 2], { maxNewTokens: 4 });
      const b = gen.generate([3], { maxNewTokens: 4 });
      for (const r of [a, b]) {
        await expect(r).rejects.toMatchObject({ code: 'ERR_INTERNAL', message: expect.stringMatching(/preparing a decode step failed.*injected fault/) });
      }
      expect(gen.stats()).toMatchObject({ running: 0, waiting: 0, requests: { failed: 2 } });
      expect(await gen.generate([5, 6], { maxNewTokens: 4 })).toEqual({ tokens: fakeGenerate([5, 6], 4), finishReason: 'length' });
      await gen.close();
      await new Promise((r) => setTimeout(r, 5));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
    }
    expect(batchCache.decodeFeeds).toBeTypeOf('function');
  });

  it('a row that fails alone again ends alone, once; no endless retry; the others go on (P2-10)', async () => {
    // Token 99 in a decode step fails the step, and fails the row when it runs alone.
    const session = new FakeDecoderSession({
      onRun: (feeds) => {
        const ids = feeds.input_ids!;
        if (ids.dims[1] === 1 && (ids.data as BigInt64Array).includes(99n)) throw new Error('bad token 99');
      },
    });
    const gen = new Generator(session, { maxBatchSize: 8 });
    // A prompt whose first generated token is 99 (the fake's hash, searched for).
    let bad: number[] | undefined;
    for (let t = 0; t < 5000 && bad === undefined; t++) if (fakeGenerate([t % 97, 1 + ((t / 97) | 0)], 1)[0] === 99) bad = [t % 97, 1 + ((t / 97) | 0)];
    expect(bad).toBeDefined();
    const good = [[1], [2, 3], [4, 5, 6]];
    const results = good.map((p) => gen.generate(p, { maxNewTokens: 6 }));
    const poisoned = gen.generate(bad!, { maxNewTokens: 6 });
    await expect(poisoned).rejects.toThrow('bad token 99');
    for (let i = 0; i < good.length; i++) expect(await results[i]).toEqual({ tokens: fakeGenerate(good[i]!, 6), finishReason: 'length' });
    // 1 prefill + 1 failed decode + 4 alone + 4 more decodes of the 3 left: bounded, no loop.
    expect(session.calls).toBeLessThanOrEqual(1 + 1 + 4 + 5);
    expect(gen.stats().requests).toMatchObject({ failed: 1, finished: { length: 3 } });
    await gen.close();
  });

  it('1,000 concurrent generations: none lost or mixed up', async () => {
    const gen = new Generator(new FakeDecoderSession(), { maxBatchSize: 32 });
    const prompts = Array.from({ length: 1000 }, (_, i) => [i % 89, (i * 7) % 83, 1 + (i % 5)].slice(0, 1 + (i % 3)));
    const results = await Promise.all(prompts.map((p, i) => gen.generate(p, { maxNewTokens: 1 + (i % 4) })));
    for (let i = 0; i < prompts.length; i++) expect(results[i]).toEqual({ tokens: fakeGenerate(prompts[i]!, 1 + (i % 4)), finishReason: 'length' });
    expect(gen.stats()).toMatchObject({ waiting: 0, running: 0, requests: { accepted: 1000, finished: { length: 1000 } } });
    await gen.close();
  });

  it('close({ drain: false }) under load settles every promise exactly once', async () => {
    const gen = new Generator(new FakeDecoderSession({ delayMs: 1 }), { maxBatchSize: 8 });
    const settled = new Array<number>(200).fill(0);
    const outcomes: string[] = [];
    const all = Array.from({ length: 200 }, (_, i) =>
      gen.generate([1 + (i % 50)], { maxNewTokens: 50 }).then(
        (r) => {
          settled[i]!++;
          outcomes.push(r.finishReason);
        },
        (e: { code?: string }) => {
          settled[i]!++;
          outcomes.push(e.code ?? 'unknown');
        },
      ),
    );
    await new Promise((r) => setTimeout(r, 15));
    await Promise.all([gen.close({ drain: false }), gen.close({ drain: false })]);
    await Promise.all(all);
    expect(settled.every((n) => n === 1)).toBe(true);
    const s = gen.stats();
    expect(s).toMatchObject({ closed: true, waiting: 0, running: 0 });
    expect(s.requests.finished.aborted + s.requests.finished.length + s.requests.shutDown).toBe(200);
    expect(outcomes.filter((o) => o === 'ERR_SHUTTING_DOWN').length).toBe(s.requests.shutDown);
  });
});
