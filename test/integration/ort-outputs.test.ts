// Caller-provided outputs on the ONNX Runtime backend (RunOptions.outputs as tensors by name),
// in both execution modes: filled in place and returned as the same objects, the same values as
// plain runs, refused before anything runs when their dtype or dims cannot be right, a
// data-dependent dim that differs after the run, and device-resident tensors refused.
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { createEncoderModel } from '../../src/onnx/encoder.js';
import { encodeModel } from '../../src/onnx/model.js';
import { OnnxRuntimeSession } from '../../src/backends/onnxruntime.js';
import { DynamicBatcher } from '../../src/batching/index.js';
import { Tensor } from '../../src/tensor.js';
import { DTypeError, InvalidArgumentError, ShapeError } from '../../src/errors.js';

// z = x · W + b (float32 [batch, 2]); h = Cast<float16>(x) (float16 [batch, 3]); nz = NonZero(x) (int64 [2, n], data-dependent)
function model(): Uint8Array {
  const g = new GraphBuilder({ opset: 17 });
  const x = g.input('x', 'float32', ['batch', 3]);
  const w = g.initializer('W', new Tensor('float32', [1, 2, 3, 4, 5, 6], [3, 2]));
  const b = g.initializer('b', new Tensor('float32', [0.5, -0.5], [2]));
  g.op('Add', [g.op('MatMul', [x, w]), b], {}, 'z');
  g.op('Cast', [x], { to: 10 }, 'h');
  g.op('NonZero', [x], {}, 'nz');
  g.output('z', 'float32', ['batch', 2]);
  g.output('h', 'float16', ['batch', 3]);
  g.output('nz', 'int64', [2, 'n']);
  return encodeModel(g.build());
}

const x = () => new Tensor('float32', [1, 0, -1, 0.5, 0.25, 2], [2, 3]);
const Z = [-3.5, -4.5, 11.75, 13.5];

describe.each(['workers', 'in-thread'] as const)('caller-provided outputs (%s)', (execution) => {
  const open = (): Promise<OnnxRuntimeSession> => OnnxRuntimeSession.create(model(), { execution, intraOpNumThreads: 1 });

  it('fills the given tensors in place and returns the same objects, run after run', async () => {
    const s = await open();
    const z = Tensor.zeros('float32', [2, 2]);
    const h = Tensor.zeros('float16', [2, 3]);
    for (let i = 0; i < 3; i++) {
      z.data.fill(NaN);
      const out = await s.run({ x: x() }, { outputs: { z, h } });
      expect(Object.keys(out)).toEqual(['z', 'h']);
      expect(out.z).toBe(z);
      expect(out.h).toBe(h);
      expect(Array.from(z.data)).toEqual(Z);
    }
    const plain = await s.run({ x: x() }, { outputs: ['h'] });
    expect(Array.from(h.toFloat64())).toEqual(Array.from(plain.h!.toFloat64()));
    await s.dispose();
  });

  it('writes into a view of part of a larger buffer, a SharedArrayBuffer and a tensor-like, leaving the rest alone', async () => {
    const s = await open();
    const big = new Float32Array(10).fill(7);
    const view = new Tensor('float32', big.subarray(3, 7), [2, 2]);
    let out = await s.run({ x: x() }, { outputs: { z: view } });
    expect(Array.from(big)).toEqual([7, 7, 7, ...Z, 7, 7, 7]);
    expect(out.z).toBe(view);

    const shared = new Tensor('float32', new Float32Array(new SharedArrayBuffer(16)), [2, 2]);
    out = await s.run({ x: x() }, { outputs: { z: shared } });
    expect(out.z).toBe(shared);
    expect(Array.from(shared.data)).toEqual(Z);

    const like = new ort.Tensor('float32', new Float32Array(4), [2, 2]);
    out = await s.run({ x: x() }, { outputs: { z: like } });
    expect(out.z!.data).toBe(like.data);
    expect(Array.from(like.data as Float32Array)).toEqual(Z);
    await s.dispose();
  });

  it('refuses a wrong dtype, rank or dim before anything runs; the feeds are kept and the session serves on', async () => {
    const s = await open();
    const feed = x();
    const data = feed.data;
    const refusals: [unknown, new (...a: never[]) => Error, RegExp][] = [
      [{ z: Tensor.zeros('float64', [2, 2]) }, DTypeError, /options\.outputs\["z"\] is a float64 tensor but output "z" is float32/],
      [{ z: Tensor.zeros('float32', [4]) }, ShapeError, /rank 1\) but output "z" has rank 2/],
      [{ z: Tensor.zeros('float32', [2, 3]) }, ShapeError, /has 2 at axis 1/],
      [{ z: Tensor.zeros('float32', [3, 2]) }, ShapeError, /this run's output "z" has 2 at axis 0 \("batch", bound by the feeds\)/],
      [{ y: Tensor.zeros('float32', [2, 2]) }, InvalidArgumentError, /unknown output "y"/],
      [{ z: new Tensor('float32', data.subarray(0, 4), [2, 2]) }, InvalidArgumentError, /shares memory with feeds\["x"\]/],
      [{}, InvalidArgumentError, /empty object/],
    ];
    for (const [outputs, kind, message] of refusals) {
      const err = await s.run({ x: feed }, { outputs: outputs as never, transferFeeds: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(kind);
      expect((err as Error).message).toMatch(message);
    }
    // transferFeeds would have detached the feed had anything run.
    expect(feed.data.byteLength).toBe(24);
    expect(Array.from((await s.run({ x: feed })).z!.toFloat64())).toEqual(Z);
    await s.dispose();
  });

  it('rejects with ERR_SHAPE when a data-dependent dim differs from the target, and serves on', async () => {
    const s = await open();
    // x has 5 non-zero elements: nz is [2, 5].
    const small = Tensor.zeros('int64', [2, 4]);
    const err = await s.run({ x: x() }, { outputs: { nz: small } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShapeError);
    expect((err as Error).message).toMatch(/options\.outputs\["nz"\] has dims \[2, 4\] but this run produced output "nz" with dims \[2, 5\]/);
    const right = Tensor.zeros('int64', [2, 5]);
    const out = await s.run({ x: x() }, { outputs: { nz: right } });
    expect(out.nz).toBe(right);
    expect(Array.from(right.data)).toEqual([0n, 0n, 1n, 1n, 1n, 0n, 2n, 0n, 1n, 2n]);
    await s.dispose();
  });

  it("writes no target of a run refused after it ran (another target's dim differs), and refuses a detached target up front", async () => {
    const s = await open();
    const z = Tensor.zeros('float32', [2, 2]);
    z.data.fill(9);
    const err = await s.run({ x: x() }, { outputs: { z, nz: Tensor.zeros('int64', [2, 4]) } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShapeError);
    // In worker mode every output is checked before any target is written. In-thread, ONNX
    // Runtime writes the preallocated fetches itself while it runs (docs/io.md: unspecified).
    if (execution === 'workers') expect(Array.from(z.data)).toEqual([9, 9, 9, 9]);
    const gone = Tensor.zeros('float32', [2, 2]);
    structuredClone(gone.data.buffer, { transfer: [gone.data.buffer as ArrayBuffer] });
    await expect(s.run({ x: x() }, { outputs: { z: gone } })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringContaining('options.outputs["z"]\'s data was detached'),
    });
    expect(Array.from((await s.run({ x: x() }, { outputs: { z } })).z!.toFloat64())).toEqual(Z);
    await s.dispose();
  });

  it('refuses device-resident tensors as feeds and as outputs, naming them', async () => {
    const s = await open();
    // Tensor-likes with onnxruntime's `location` (a DeviceTensor has 'gpu-buffer' and toHost()).
    const onDevice = { type: 'float32', data: new Float32Array(4), dims: [2, 2], location: 'gpu-buffer' };
    const feedOnDevice = { type: 'float32', data: x().data, dims: [2, 3], location: 'gpu-buffer', toHost: () => Promise.resolve(x()) };
    const e1 = await s.run({ x: x() }, { outputs: { z: onDevice as never } }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(InvalidArgumentError);
    expect((e1 as Error).message).toMatch(
      /options\.outputs\["z"\] is a device-resident tensor \(location "gpu-buffer"\); ONNX Runtime on the CPU takes host tensors only/,
    );
    const e2 = await s.run({ x: feedOnDevice }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(InvalidArgumentError);
    expect((e2 as Error).message).toMatch(/feeds\["x"\] is a device-resident tensor .*copy it to the host first \(await tensor\.toHost\(\)\)/);
    const pinned = { type: 'float32', data: new Float32Array(4), dims: [2, 2], location: 'cpu-pinned' };
    expect((await s.run({ x: x() }, { outputs: { z: pinned as never } })).z!.data).toBe(pinned.data);
    expect(Array.from(pinned.data)).toEqual(Z);
    await s.dispose();
  });
});

describe('caller-provided outputs on the encoder, both modes', () => {
  it('give the bytes of plain runs, over many runs and shapes', async () => {
    const bytes = encodeModel(createEncoderModel({ preset: 'tiny', seed: 5 }));
    const workers = await OnnxRuntimeSession.create(bytes, { execution: 'workers', contexts: 2, intraOpNumThreads: 1 });
    const inThread = await OnnxRuntimeSession.create(bytes, { execution: 'in-thread', intraOpNumThreads: 1 });
    const name = workers.outputs[0]!.name;
    for (const seq of [3, 8, 3]) {
      const ids = new BigInt64Array(2 * seq).map((_, i) => BigInt(1 + ((i * 37) % 500)));
      const feeds = { input_ids: new Tensor('int64', ids, [2, seq]), attention_mask: new Tensor('int64', new BigInt64Array(2 * seq).fill(1n), [2, seq]) };
      const plain = await inThread.run(feeds);
      const want = plain[name]!;
      const targets = [Tensor.zeros('float32', want.dims), Tensor.zeros('float32', want.dims), Tensor.zeros('float32', want.dims)];
      const results = await Promise.all([
        workers.run(feeds, { outputs: { [name]: targets[0]! } }),
        workers.run(feeds, { outputs: { [name]: targets[1]! } }),
        inThread.run(feeds, { outputs: { [name]: targets[2]! } }),
      ]);
      results.forEach((r, i) => {
        expect(r[name]).toBe(targets[i]);
        expect(Buffer.from(targets[i]!.data.buffer).equals(Buffer.from(want.data.buffer, want.data.byteOffset, want.data.byteLength))).toBe(true);
      });
    }
    await Promise.all([workers.dispose(), inThread.dispose()]);
  });
});

/** A session of the tiny encoder with feeds of 16 x 128 tokens (a run long enough to abort), its first output and that output's dims. */
async function encoderRun(execution: 'workers' | 'in-thread') {
  const bytes = encodeModel(createEncoderModel({ preset: 'tiny', seed: 5 }));
  const s = await OnnxRuntimeSession.create(bytes, { execution, intraOpNumThreads: 1 });
  const [batch, seq] = [16, 128];
  const feeds = {
    input_ids: new Tensor('int64', new BigInt64Array(batch * seq).fill(7n), [batch, seq]),
    attention_mask: new Tensor('int64', new BigInt64Array(batch * seq).fill(1n), [batch, seq]),
  };
  const info = s.outputs[0]!;
  const dims = info.dims.map((d) => (d === 'batch' ? batch : d === 'sequence' ? seq : (d as number)));
  return { s, feeds, info, dims };
}

describe('caller-provided outputs of aborted runs (workers)', () => {
  it('are never written, also in a SharedArrayBuffer, while the worker finishes the run', async () => {
    const { s, feeds, info, dims } = await encoderRun('workers');
    const size = dims.reduce((a, b) => a * b, 1);
    const targets = [Tensor.zeros('float32', dims), new Tensor('float32', new Float32Array(new SharedArrayBuffer(size * 4)), dims)];
    for (const target of targets) {
      const ac = new AbortController();
      const aborted = s.run(feeds, { outputs: { [info.name]: target }, signal: ac.signal }).catch((e: unknown) => e);
      setTimeout(() => ac.abort(), 2);
      expect(await aborted).toMatchObject({ code: 'ERR_ABORTED' });
      // The worker runs one at a time: once this run is done, the aborted one is too.
      await s.run(feeds, { outputs: [info.name] });
      expect(target.data.every((v) => v === 0)).toBe(true);
    }
    await s.dispose();
  });
});

describe('caller-provided outputs of aborted runs (in-thread)', () => {
  it('reject only once ONNX Runtime is done writing them', async () => {
    const { s, feeds, info, dims } = await encoderRun('in-thread');
    const want = (await s.run(feeds, { outputs: [info.name] }))[info.name]!;
    const target = Tensor.zeros('float32', dims);
    const ac = new AbortController();
    const aborted = s.run(feeds, { outputs: { [info.name]: target }, signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    // Rejected after ONNX Runtime wrote the target: nothing writes it any more.
    const snapshot = Float32Array.from(target.data as Float32Array);
    await new Promise((r) => setTimeout(r, 20));
    expect(Array.from(target.data as Float32Array)).toEqual(Array.from(snapshot));
    expect(Array.from(snapshot)).toEqual(Array.from(want.data as Float32Array));
    await s.dispose();
  });
});

describe('caller-provided outputs through the DynamicBatcher on ONNX Runtime', () => {
  it('fill each request its rows of a shared batch, equal to plain runs', async () => {
    const s = await OnnxRuntimeSession.create(model(), { execution: 'workers', intraOpNumThreads: 1 });
    const b = new DynamicBatcher(s, { outputs: ['z', 'h'] });
    const rows = [
      [1, 2, 3],
      [-1, 0.5, 4],
      [0, 0, 1],
    ];
    const targets = rows.map(() => ({ z: Tensor.zeros('float32', [1, 2]), h: Tensor.zeros('float16', [1, 3]) }));
    const outs = await Promise.all(rows.map((r, i) => b.run({ x: new Tensor('float32', r, [1, 3]) }, { outputs: targets[i]! })));
    const plain = await s.run({ x: new Tensor('float32', rows.flat(), [3, 3]) }, { outputs: ['z', 'h'] });
    outs.forEach((o, i) => {
      expect(o.z).toBe(targets[i]!.z);
      expect(Array.from(o.z!.toFloat64())).toEqual(Array.from(plain.z!.toFloat64().subarray(2 * i, 2 * i + 2)));
      expect(Array.from(o.h!.toFloat64())).toEqual(Array.from(plain.h!.toFloat64().subarray(3 * i, 3 * i + 3)));
    });
    await b.close();
    await s.dispose();
  });
});
