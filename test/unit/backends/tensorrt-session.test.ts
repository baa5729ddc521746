/**
 * The TensorRT session's TypeScript half over a test double of the addon's engine and
 * contexts (no TensorRT here): validation before anything runs, context routing and queueing,
 * outputs as Tensors, sticky CUDA errors, dispose.
 */
import { describe, expect, it } from 'vitest';
import { TensorRTSession, TensorRTSessionOptionsSchema } from '../../../src/backends/tensorrt.js';
import { CudaError } from '../../../src/errors.js';
import { Tensor } from '../../../src/tensor.js';
import { FakeEngine, large, small } from '../../support/trt-engine-double.js';

async function open(options: Record<string, unknown> = {}) {
  const engine = new FakeEngine();
  const opts = TensorRTSessionOptionsSchema.parse(options);
  const session = await TensorRTSession.fromEngine(engine, opts, null);
  return { engine, session };
}

function feeds(batch: number, seq: number, base = 1n) {
  const ids = new BigInt64Array(batch * seq).map((_, i) => base + BigInt(i));
  return {
    input_ids: new Tensor('int64', ids, [batch, seq]),
    attention_mask: new Tensor('int64', new BigInt64Array(batch * seq).fill(1n), [batch, seq]),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('TensorRTSession over a test double', () => {
  it('creates `contexts` contexts per profile with buffers for the profile max', async () => {
    const { engine, session } = await open({ contexts: 3 });
    expect(engine.contexts.map((c) => c.profile)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(engine.contexts[0]!.spec).toEqual({ profile: 0, inputBytes: [4 * 16 * 8, 4 * 16 * 8], cudaGraphs: true, spinWaitMicros: 0 });
    expect(engine.contexts[3]!.spec.inputBytes).toEqual([8 * 64 * 8, 8 * 64 * 8]);
    expect(session.inputs[0]).toEqual({ name: 'input_ids', dtype: 'int64', dims: [-1, -1], profiles: [small, large] });
    expect(session.outputs.map((o) => [o.name, o.dtype])).toEqual([
      ['logits', 'float32'],
      ['hidden', 'float16'],
    ]);
    expect(session.load).toEqual({ queued: 0, busy: 0, contexts: 6 });
    expect(session.contexts).toBe(6);
    await session.dispose();
  });

  it('limits contexts to options.profiles and passes cudaGraphs on (false turns the default off)', async () => {
    const off = await open({ contexts: 1, cudaGraphs: false });
    expect(off.engine.contexts.map((c) => c.spec.cudaGraphs)).toEqual([false, false]);
    await off.session.dispose();
    const { engine, session } = await open({ profiles: [1], contexts: 1, cudaGraphs: true });
    expect(engine.contexts.map((c) => [c.profile, c.spec.cudaGraphs])).toEqual([[1, true]]);
    await expect(session.run(feeds(2, 4))).rejects.toThrow(
      /the feeds fit optimization profile\(s\) 0, but this session has execution contexts for profile\(s\) 1 only/,
    );
    await session.dispose();
  });

  it('runs on the context of the profile the feeds fit and returns Tensors with the dims the engine gave', async () => {
    const { engine, session } = await open();
    const small1 = session.run(feeds(2, 4));
    const large1 = session.run(feeds(1, 20));
    await tick();
    expect(engine.calls.map((c) => c.context.profile)).toEqual([0, 1]);
    expect(engine.calls[0]!.dims).toEqual([2, 4, 2, 4]);
    expect(engine.calls[0]!.inputs[0]).toBeInstanceOf(BigInt64Array);
    engine.calls[0]!.finish();
    engine.calls[1]!.finish();
    const out = await small1;
    expect(out.logits).toBeInstanceOf(Tensor);
    expect(out.logits!.dims).toEqual([2, 2]);
    expect([...(out.logits!.data as Float32Array)]).toEqual([10, 0, 26, 0]);
    expect(out.hidden!.type).toBe('float16');
    expect(out.hidden!.dims).toEqual([2, 4]);
    expect((await large1).logits!.data[1]).toBe(1);
    await session.dispose();
  });

  it('fetches only the outputs asked for', async () => {
    const { engine, session } = await open();
    const p = session.run(feeds(1, 2), { outputs: ['hidden'] });
    await tick();
    expect(engine.calls[0]!.wanted).toEqual([1]);
    engine.calls[0]!.finish();
    expect(Object.keys(await p)).toEqual(['hidden']);
    await session.dispose();
  });

  it('validates feeds before anything reaches the engine', async () => {
    const { engine, session } = await open();
    await expect(session.run({ input_ids: feeds(1, 2).input_ids })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(session.run({ ...feeds(1, 2), attention_mask: new Tensor('int32', new Int32Array(2), [1, 2]) })).rejects.toMatchObject({ code: 'ERR_DTYPE' });
    await expect(session.run(feeds(9, 4))).rejects.toMatchObject({
      code: 'ERR_PROFILE_RANGE',
      message: expect.stringContaining('input "input_ids" dims [9, 4]') as string,
    });
    await expect(session.run(feeds(1, 65))).rejects.toMatchObject({ code: 'ERR_PROFILE_RANGE' });
    await expect(session.run(feeds(1, 2), { outputs: ['nope'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(engine.calls).toHaveLength(0);
    await session.dispose();
  });

  it('queues runs beyond the free contexts and starts them as contexts come free', async () => {
    const { engine, session } = await open({ contexts: 2 });
    const runs = [session.run(feeds(1, 2, 1n)), session.run(feeds(1, 2, 10n)), session.run(feeds(1, 2, 100n))];
    await tick();
    expect(engine.calls).toHaveLength(2);
    expect(session.load.queued).toBe(1);
    engine.calls[1]!.finish();
    await runs[1];
    await tick();
    expect(engine.calls).toHaveLength(3);
    expect(engine.calls[2]!.context).toBe(engine.calls[1]!.context);
    engine.calls[0]!.finish();
    engine.calls[2]!.finish();
    expect((await runs[2]!).logits!.data[0]).toBe(201);
    await session.dispose();
  });

  it('drops a queued run on abort without using a context', async () => {
    const { engine, session } = await open({ contexts: 1, profiles: [0] });
    const first = session.run(feeds(1, 2));
    const ac = new AbortController();
    const second = session.run(feeds(1, 2), { signal: ac.signal });
    ac.abort();
    await expect(second).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await tick();
    expect(engine.calls).toHaveLength(1);
    engine.calls[0]!.finish();
    await first;
    await expect(session.run(feeds(1, 2), { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await session.dispose();
  });

  it('marks the session lost after a sticky CUDA error', async () => {
    const { engine, session } = await open();
    const p = session.run(feeds(1, 2));
    await tick();
    engine.calls[0]!.finish(
      new CudaError('cudaEventSynchronize failed: cudaErrorIllegalAddress (an illegal memory access was encountered)', {
        cudaError: 'cudaErrorIllegalAddress',
        sticky: true,
      }),
    );
    await expect(p).rejects.toMatchObject({ code: 'ERR_CUDA', cudaError: 'cudaErrorIllegalAddress' });
    const next = session.run(feeds(1, 2));
    await expect(next).rejects.toMatchObject({ code: 'ERR_CUDA', sticky: true });
    await expect(next).rejects.toThrow(/the CUDA context is lost/);
    expect(engine.calls).toHaveLength(1);
    await session.dispose();
  });

  it('keeps going after a CUDA error that is not sticky', async () => {
    const { engine, session } = await open();
    const p = session.run(feeds(1, 2));
    await tick();
    engine.calls[0]!.finish(new CudaError('enqueueV3 failed: cudaErrorInvalidValue', { cudaError: 'cudaErrorInvalidValue', sticky: false }));
    await expect(p).rejects.toMatchObject({ code: 'ERR_CUDA' });
    const q = session.run(feeds(1, 2));
    await tick();
    engine.calls[1]!.finish();
    await expect(q).resolves.toHaveProperty('logits');
    await session.dispose();
  });

  it('refuses to run once the engine reports it is lost', async () => {
    const { engine, session } = await open();
    engine.lost = true;
    await expect(session.run(feeds(1, 2))).rejects.toThrow(/the CUDA context is lost/);
    await session.dispose();
  });

  it('dispose waits for runs in flight, frees contexts then the engine, and is idempotent', async () => {
    const { engine, session } = await open({ contexts: 1 });
    const running = session.run(feeds(1, 2));
    await tick();
    const d1 = session.dispose();
    const d2 = session.dispose();
    expect(session.disposed).toBe(true);
    await expect(session.run(feeds(1, 2))).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    await tick();
    expect(engine.disposed).toBe(false);
    engine.calls[0]!.finish();
    await expect(running).resolves.toHaveProperty('logits');
    await Promise.all([d1, d2]);
    expect(engine.contexts.every((c) => c.disposed)).toBe(true);
    expect(engine.disposed).toBe(true);
    await session[Symbol.asyncDispose]();
  });

  it('frees the engine when its contexts cannot be created', async () => {
    const engine = new FakeEngine();
    engine.failContexts = true;
    await expect(TensorRTSession.fromEngine(engine, TensorRTSessionOptionsSchema.parse({}), null)).rejects.toMatchObject({
      code: 'ERR_CUDA_OOM',
    });
    expect(engine.disposed).toBe(true);
  });

  it('passes spinWait to every context as a spin budget in microseconds (true: 200)', async () => {
    for (const [spinWait, micros] of [
      [true, 200],
      [false, 0],
      [50, 50],
    ] as const) {
      const { engine, session } = await open({ contexts: 1, spinWait });
      expect(engine.contexts.map((c) => c.spec.spinWaitMicros)).toEqual([micros, micros]);
      await session.dispose();
    }
  });

  it('validates its options', () => {
    expect(TensorRTSessionOptionsSchema.parse({ backend: 'tensorrt' })).toMatchObject({ device: 0, contexts: 2, cudaGraphs: true, spinWait: false });
    expect(() => TensorRTSessionOptionsSchema.parse({ spinWait: -1 })).toThrow();
    expect(() => TensorRTSessionOptionsSchema.parse({ spinWait: 1.5 })).toThrow();
    expect(() => TensorRTSessionOptionsSchema.parse({ spinWait: 'yes' })).toThrow();
    expect(() => TensorRTSessionOptionsSchema.parse({ contexts: 0 })).toThrow();
    expect(() => TensorRTSessionOptionsSchema.parse({ graphs: true })).toThrow();
  });
});
