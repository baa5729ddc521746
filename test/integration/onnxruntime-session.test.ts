// The ONNX Runtime backend behind the InferenceSession contract, on small models built here,
// in both execution modes (worker threads, the default, and in-thread).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/onnx/builder.js';
import { encodeModel } from '../../src/onnx/model.js';
import { createSession, type InferenceSession } from '../../src/session.js';
import { Tensor } from '../../src/tensor.js';
import { AbortError, DisposedError, DTypeError, InvalidArgumentError, OnnxRuntimeError, ShapeError } from '../../src/errors.js';

// z = x · W + b (float32 [batch, 2]); mask = (ids > 2) (bool [batch, seq]); h = Cast<float16>(x) (float16 [batch, 3])
const W = [1, 2, 3, 4, 5, 6]; // [3, 2]
function tinyModel(): Uint8Array {
  const g = new GraphBuilder({ opset: 17 });
  const x = g.input('x', 'float32', ['batch', 3]);
  const ids = g.input('ids', 'int64', ['batch', 'seq']);
  const w = g.initializer('W', new Tensor('float32', W, [3, 2]));
  const b = g.initializer('b', new Tensor('float32', [0.5, -0.5], [2]));
  g.op('Add', [g.op('MatMul', [x, w]), b], {}, 'z');
  g.op('Greater', [ids, g.ints(2)], {}, 'mask');
  g.op('Cast', [x], { to: 10 }, 'h');
  g.output('z', 'float32', ['batch', 2]);
  g.output('mask', 'bool', ['batch', 'seq']);
  g.output('h', 'float16', ['batch', 3]);
  return encodeModel(g.build());
}

const feeds = () => ({
  x: new Tensor('float32', [1, 0, -1, 0.5, 0.25, 2], [2, 3]),
  ids: new Tensor('int64', [1n, 2n, 3n, 4n, 0n, 9n], [2, 3]),
});

describe.each(['workers', 'in-thread'] as const)('ONNX Runtime session (%s)', (execution) => {
  const open = (): Promise<InferenceSession> => createSession(tinyModel(), { backend: 'onnxruntime', execution, intraOpNumThreads: 1 });

  it('reports I/O metadata with symbolic dims', async () => {
    const s = await open();
    expect(s.backend).toBe('onnxruntime');
    expect(s.inputs).toEqual([
      { name: 'x', dtype: 'float32', dims: ['batch', 3] },
      { name: 'ids', dtype: 'int64', dims: ['batch', 'seq'] },
    ]);
    expect(s.outputs.map((o) => [o.name, o.dtype, o.dims])).toEqual([
      ['z', 'float32', ['batch', 2]],
      ['mask', 'bool', ['batch', 'seq']],
      ['h', 'float16', ['batch', 3]],
    ]);
    await s.dispose();
  });

  it('runs and returns real values of every output type', async () => {
    const s = await open();
    const out = await s.run(feeds());
    // Row 0: [1, 0, -1]·W = [1*1 + 0*3 - 1*5, 1*2 + 0*4 - 1*6] = [-4, -4]; + b
    // Row 1: [0.5, 0.25, 2]·W = [0.5 + 0.75 + 10, 1 + 1 + 12] = [11.25, 14]; + b
    expect(out.z!.dims).toEqual([2, 2]);
    expect(Array.from(out.z!.data as Float32Array)).toEqual([-3.5, -4.5, 11.75, 13.5]);
    expect(out.mask!.type).toBe('bool');
    expect(Array.from(out.mask!.data as Uint8Array)).toEqual([0, 0, 1, 1, 0, 1]);
    expect(out.h!.type).toBe('float16');
    expect(Array.from(out.h!.toFloat32())).toEqual([1, 0, -1, 0.5, 0.25, 2]);
    const only = await s.run(feeds(), { outputs: ['mask'] });
    expect(Object.keys(only)).toEqual(['mask']);
    await s.dispose();
  });

  it('loads from a file path too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trtn-ort-'));
    const file = join(dir, 'tiny.onnx');
    writeFileSync(file, tinyModel());
    const s = await createSession(file, { backend: 'onnxruntime', execution });
    expect((await s.run(feeds())).z!.data[0]).toBe(-3.5);
    await s.dispose();
  });

  it('refuses bad feeds with typed errors before anything runs', async () => {
    const s = await open();
    const f = feeds();
    await expect(s.run({ ...f, y: f.x })).rejects.toThrow(InvalidArgumentError);
    await expect(s.run({ x: f.x })).rejects.toThrow('feeds is missing input "ids" (int64 [batch, seq])');
    await expect(s.run({ ...f, x: new Tensor('int32', [1, 2, 3], [1, 3]) })).rejects.toThrow(DTypeError);
    await expect(s.run({ ...f, x: new Tensor('float32', [1, 2, 3]) })).rejects.toThrow(/rank 2/);
    await expect(s.run({ ...f, x: new Tensor('float32', [1, 2, 3, 4], [1, 4]) })).rejects.toThrow(ShapeError);
    await expect(s.run({ ...f, x: new Tensor('float32', [1, 2, 3], [1, 3]) })).rejects.toThrow(/batch/);
    await expect(s.run(feeds(), { outputs: ['nope'] })).rejects.toThrow(/unknown output "nope"/);
    await s.dispose();
  });

  it('honours an AbortSignal before and during a run', async () => {
    const s = await open();
    const ac = new AbortController();
    ac.abort();
    await expect(s.run(feeds(), { signal: ac.signal })).rejects.toThrow(AbortError);
    const ac2 = new AbortController();
    const running = s.run(feeds(), { signal: ac2.signal });
    ac2.abort(new Error('client went away'));
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('ERR_ABORTED');
    // The session keeps serving.
    expect((await s.run(feeds())).z!.size).toBe(4);
    await s.dispose();
  });

  it('disposes idempotently, after in-flight runs, and refuses later runs', async () => {
    const s = await open();
    const inflight = [s.run(feeds()), s.run(feeds())];
    const d1 = s.dispose();
    const d2 = s.dispose();
    expect(s.disposed).toBe(true);
    const results = await Promise.all(inflight);
    expect(results.map((r) => r.z!.data[3])).toEqual([13.5, 13.5]);
    await d1;
    await d2;
    await expect(s.run(feeds())).rejects.toThrow(DisposedError);
    await expect(s[Symbol.asyncDispose]()).resolves.toBeUndefined();
  });

  it("takes onnxruntime-node's own Tensors and plain { type, data, dims } feeds", async () => {
    const ort = (await import('onnxruntime-node')).default ?? (await import('onnxruntime-node'));
    const s = await open();
    const f = feeds();
    const x = new ort.Tensor('float32', f.x.data as Float32Array, [2, 3]);
    const out = await s.run({ x, ids: { type: 'int64', data: f.ids.data, dims: [2, 3] } });
    expect(Array.from(out.z!.data as Float32Array)).toEqual([-3.5, -4.5, 11.75, 13.5]);
    expect(out.z).toBeInstanceOf(Tensor);
    await expect(s.run({ x: new ort.Tensor('float64', new Float64Array(6), [2, 3]), ids: f.ids })).rejects.toMatchObject({
      code: 'ERR_DTYPE',
      message: 'input "x" must be float32, got float64',
      input: 'x',
      expected: 'float32',
      got: 'float64',
    });
    await expect(s.run({ x: new ort.Tensor('string', ['a'], [1]), ids: f.ids })).rejects.toThrow(/string tensors are not supported/);
    await s.dispose();
  });

  it('runs float64, int16, uint16, uint32 and uint64 inputs and outputs', async () => {
    const types = ['float64', 'int16', 'uint16', 'uint32', 'uint64'] as const;
    const g = new GraphBuilder({ opset: 17 });
    for (const t of types) {
      g.op('Identity', [g.input(`in_${t}`, t, ['n'])], {}, `out_${t}`);
      g.output(`out_${t}`, t, ['n']);
    }
    const s = await createSession(encodeModel(g.build()), { backend: 'onnxruntime', intraOpNumThreads: 1 });
    const values = { float64: [0.1, -1e300], int16: [-32768, 7], uint16: [65535, 1], uint32: [4294967295, 2], uint64: [2n ** 64n - 1n, 3n] };
    const out = await s.run(Object.fromEntries(types.map((t) => [`in_${t}`, new Tensor(t, values[t] as never, [2])])));
    for (const t of types) {
      expect(out[`out_${t}`]!.type).toBe(t);
      expect(Array.from(out[`out_${t}`]!.data as ArrayLike<unknown>)).toEqual(values[t]);
    }
    await s.dispose();
  });

  it("opens with backend 'auto' and says why ONNX Runtime runs it here", async () => {
    const s = await createSession(tinyModel(), { backend: 'auto', onnxruntime: { intraOpNumThreads: 1 } });
    expect(s.backend).toBe('onnxruntime');
    expect(s.selection?.requested).toBe('auto');
    // No TensorRT on this machine (the addon may also lack TensorRT support); a GPU host gives another reason.
    expect(s.selection?.reason).toMatch(/^TensorRT is not available: /);
    expect(s.selection?.tensorrtError?.code).toMatch(/^ERR_(TENSORRT_NOT_FOUND|TENSORRT_VERSION|CUDA|ADDON_LOAD)$/);
    expect((await s.run(feeds())).z!.data[0]).toBe(-3.5);
    await s.dispose();
  });

  it('reports unloadable models and unknown backends with codes', async () => {
    await expect(createSession(new Uint8Array([1, 2, 3, 4]), { backend: 'onnxruntime', execution })).rejects.toMatchObject({
      code: 'ERR_ONNX_PARSE',
      message: expect.stringMatching(/^the model bytes \(4 bytes\) could not be decoded as an ONNX ModelProto/),
    });
    // A valid model ONNX Runtime refuses: its reason, without C++ source locations.
    const g = new GraphBuilder({ opset: 17 });
    g.op('NoSuchOp', [g.input('x', 'float32', [1])], {}, 'y');
    g.output('y', 'float32', [1]);
    const refused = await createSession(encodeModel(g.build()), { backend: 'onnxruntime', execution }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(OnnxRuntimeError);
    expect((refused as Error).message).toMatch(/^ONNX Runtime could not load the model \(\d+ bytes\): .*NoSuchOp/);
    expect((refused as Error).message).not.toMatch(/\.(cc|h):\d+/);
    await expect(createSession('/no/such/model.onnx', { backend: 'onnxruntime', execution })).rejects.toMatchObject({ code: 'ERR_IO' });
    await expect(createSession(tinyModel(), { backend: 'onnxruntime', threads: 2 } as never)).rejects.toThrow(/unknown option\(s\) "threads"/);
    await expect(createSession(tinyModel(), { backend: 'cuda' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(createSession(tinyModel(), { backend: 'tensorrt' })).rejects.toMatchObject({ code: 'ERR_TENSORRT_NOT_FOUND' });
  });
});
