/**
 * Caller-provided outputs, pinned tensors and stage totals in the TensorRT session's
 * TypeScript half, over the test double of the addon (test/support/trt-engine-double.ts): what
 * is checked before anything reaches the addon, and what the addon is handed. The native half
 * (the copies, the checks of dims TypeScript cannot know) runs on the stand-ins
 * (test/standin/api/io-scenarios.ts).
 */
import { describe, expect, it } from 'vitest';
import { TensorRTSession, TensorRTSessionOptionsSchema, stageTimings } from '../../../src/backends/tensorrt.js';
import { Tensor } from '../../../src/tensor.js';
import { FakeEngine } from '../../support/trt-engine-double.js';

async function open(options: Record<string, unknown> = {}) {
  const engine = new FakeEngine();
  const session = await TensorRTSession.fromEngine(engine, TensorRTSessionOptionsSchema.parse(options), null);
  return { engine, session };
}

function feeds(batch: number, seq: number) {
  return {
    input_ids: new Tensor(
      'int64',
      new BigInt64Array(batch * seq).map((_, i) => BigInt(i + 1)),
      [batch, seq],
    ),
    attention_mask: new Tensor('int64', new BigInt64Array(batch * seq).fill(1n), [batch, seq]),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('caller-provided outputs on a TensorRT session (test double)', () => {
  it('hands the targets and their dims to the addon and resolves to the same tensors, filled', async () => {
    const { engine, session } = await open({ contexts: 1 });
    const logits = Tensor.zeros('float32', [2, 2]);
    const hidden = Tensor.zeros('float16', [2, 4]);
    const p = session.run(feeds(2, 4), { outputs: { hidden, logits } });
    await tick();
    const call = engine.calls[0]!;
    // In the order asked for: hidden (engine output 1), then logits (0).
    expect(call.wanted).toEqual([1, 0]);
    call.finish();
    const out = await p;
    expect(Object.keys(out)).toEqual(['hidden', 'logits']);
    expect(out.hidden).toBe(hidden);
    expect(out.logits).toBe(logits);
    expect(engine.contexts[0]!.targetDims).toEqual([2, 4, 2, 2]);
    // logits[b] = [sum of row b of input_ids, profile]
    expect([...logits.data]).toEqual([10, 0, 26, 0]);
    expect([...hidden.data]).toEqual(new Array(8).fill(0x3c00));
    await session.dispose();
  });

  it('refuses a wrong dtype, rank or shared memory before the addon sees the run', async () => {
    const { engine, session } = await open({ contexts: 1 });
    const f = feeds(2, 4);
    await expect(session.run(f, { outputs: { logits: Tensor.zeros('float16', [2, 2]) } })).rejects.toMatchObject({
      code: 'ERR_DTYPE',
      message: expect.stringContaining('options.outputs["logits"] is a float16 tensor but output "logits" is float32'),
    });
    await expect(session.run(f, { outputs: { logits: Tensor.zeros('float32', [4]) } })).rejects.toMatchObject({ code: 'ERR_SHAPE' });
    const shared = new Float32Array(8);
    await expect(
      session.run(f, {
        outputs: { logits: new Tensor('float32', shared.subarray(0, 4), [2, 2]), hidden: new Tensor('float16', new Uint16Array(shared.buffer, 8, 8), [2, 4]) },
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('share memory') });
    expect(engine.calls).toHaveLength(0);
    expect(session.load.busy).toBe(0);
    await session.dispose();
  });

  it('refuses a target whose ArrayBuffer was transferred, naming it', async () => {
    const { engine, session } = await open({ contexts: 1 });
    const logits = Tensor.zeros('float32', [2, 2]);
    structuredClone(logits.data.buffer, { transfer: [logits.data.buffer as ArrayBuffer] });
    await expect(session.run(feeds(2, 4), { outputs: { logits } })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringContaining('options.outputs["logits"]\'s data was detached'),
    });
    expect(engine.calls).toHaveLength(0);
    await session.dispose();
  });

  it('an array of names still selects outputs (new tensors)', async () => {
    const { engine, session } = await open({ contexts: 1 });
    const p = session.run(feeds(1, 2), { outputs: ['logits'] });
    await tick();
    expect(engine.calls[0]!.wanted).toEqual([0]);
    engine.calls[0]!.finish();
    const out = await p;
    expect(Object.keys(out)).toEqual(['logits']);
    expect(out.logits!.dims).toEqual([1, 2]);
    expect(stageTimings(out)).toBeUndefined();
    await session.dispose();
  });
});

describe('abort on a TensorRT session (test double)', () => {
  const settled = (p: Promise<unknown>) => {
    const state = { done: false };
    p.then(
      () => (state.done = true),
      () => (state.done = true),
    );
    return state;
  };

  it('a run writing caller-provided outputs rejects on abort only once the addon is done with them', async () => {
    const { engine, session } = await open({ contexts: 1 });
    const logits = Tensor.zeros('float32', [2, 2]);
    const ac = new AbortController();
    const p = session.run(feeds(2, 4), { outputs: { logits }, signal: ac.signal });
    await tick();
    expect(engine.calls).toHaveLength(1);
    ac.abort();
    const state = settled(p);
    await tick();
    // The stream may still write `logits`: the caller must not have it back yet.
    expect(state.done).toBe(false);
    engine.calls[0]!.finish();
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    // Once rejected, nothing writes the target any more; the next run works.
    const q = session.run(feeds(2, 4), { outputs: { logits } });
    await tick();
    engine.calls[1]!.finish();
    await expect(q).resolves.toMatchObject({ logits });
    await session.dispose();
  });

  it('a plain run rejects at once, and a run aborted while it waits for a context never reaches the addon', async () => {
    const { engine, session } = await open({ contexts: 1 });
    const ac = new AbortController();
    const first = session.run(feeds(1, 2), { signal: ac.signal });
    const logits = Tensor.zeros('float32', [1, 2]);
    const waiting = session.run(feeds(1, 2), { outputs: { logits }, signal: ac.signal });
    await tick();
    expect(engine.calls).toHaveLength(1);
    ac.abort();
    await expect(first).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    engine.calls[0]!.finish();
    await tick();
    expect(engine.calls).toHaveLength(1);
    await session.dispose();
  });

  it('outputs handed over as pinned blocks say cpu-pinned, and fed back they hold an abort until the run is done', async () => {
    const { engine, session } = await open({ contexts: 1 });
    engine.contexts[0]!.pinnedOutputs = true;
    const p = session.run(feeds(1, 2));
    await tick();
    engine.calls[0]!.finish();
    const out = await p;
    expect(out.hidden!.location).toBe('cpu-pinned');
    expect(out.logits!.location).toBe('cpu-pinned');
    // A feed the stream reads in place (here: a pinned one) keeps the run until the addon is done.
    const ids = session.allocPinned('int64', [1, 2]);
    ids.data.set([1n, 2n]);
    const ac = new AbortController();
    const q = session.run({ input_ids: ids, attention_mask: new Tensor('int64', [1n, 1n], [1, 2]) }, { signal: ac.signal });
    await tick();
    ac.abort();
    const state = settled(q);
    await tick();
    expect(state.done).toBe(false);
    engine.calls[1]!.finish();
    await expect(q).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await session.dispose();
  });
});

describe('pinned tensors and stage totals (test double)', () => {
  it('allocPinned() gives a zero-filled tensor of the type and dims; refuses types TensorRT does not exchange', async () => {
    const { session } = await open({ contexts: 1 });
    const t = session.allocPinned('int64', [2, 3]);
    expect(t.type).toBe('int64');
    expect(t.dims).toEqual([2, 3]);
    expect([...t.data]).toEqual(new Array(6).fill(0n));
    expect(t.location).toBe('cpu-pinned');
    expect(() => session.allocPinned('float64' as never, [2])).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
    expect(() => session.allocPinned('float32', [-1])).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    await session.dispose();
    expect(() => session.allocPinned('float32', [1])).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  });

  it('stats() and stageTotals() start at zero timed runs', async () => {
    const { session } = await open({ contexts: 1 });
    expect(session.stageTotals()).toEqual({ runs: 0, h2dMs: 0, computeMs: 0, d2hMs: 0 });
    expect(session.stats().map((s) => s.timings.runs)).toEqual([0, 0]);
    await session.dispose();
  });
});
