/**
 * createSession()'s routing without TensorRT: 'auto' (which backend, why, the fallbacks),
 * TensorRT from an ONNX model (dtype check, the build through the engine cache, the plan
 * opened with the build's sidecar) and telling ONNX from plans. TensorRT, the build and
 * ONNX Runtime are test doubles here; the engine double is test/support's.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSession, type SessionOpeners, type TensorRTProbe } from '../../../src/backends/open.js';
import { createTensorRTSession, readModelIo, TensorRTSession, type TensorRTOpeners } from '../../../src/backends/tensorrt.js';
import { looksLikeOnnx, modelKind } from '../../../src/backends/model-kind.js';
import type { BuildOptions, BuiltEngine, EngineInfo } from '../../../src/build/index.js';
import { GraphBuilder } from '../../../src/onnx/builder.js';
import { encodeModel } from '../../../src/onnx/model.js';
import { DTypeError, InvalidArgumentError, OnnxParseError, TensorRTNotFoundError, type TensorRTNodeError } from '../../../src/errors.js';
import type { InferenceSession } from '../../../src/session.js';
import { FakeEngine } from '../../support/trt-engine-double.js';

const dir = await mkdtemp(join(tmpdir(), 'trtn-open-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** An ONNX model with the engine double's I/O: input_ids, attention_mask -> logits, hidden. */
function onnxModel(idsType: 'int64' | 'float64' = 'int64'): Uint8Array {
  const g = new GraphBuilder({ opset: 17 });
  const ids = g.input('input_ids', idsType, ['batch', 'sequence']);
  g.input('attention_mask', 'int64', ['batch', 'sequence']);
  g.op('Identity', [ids], {}, 'logits');
  g.output('logits', idsType, ['batch', 'sequence']);
  return encodeModel(g.build());
}

/** A TensorRT plan's first bytes ("ftrt"), then anything. */
const PLAN = new Uint8Array([0x66, 0x74, 0x72, 0x74, 1, 2, 3, 4]);

const sidecar = {
  inputs: [
    { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
    { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
  ],
  outputs: [],
  options: { versionCompatible: false },
} as unknown as EngineInfo;

function trtOpeners(built: Partial<BuiltEngine> = {}) {
  const builds: { model: string | Uint8Array; options: BuildOptions }[] = [];
  const opened: { plan: Uint8Array; info: EngineInfo | null; where: string }[] = [];
  const openers: TensorRTOpeners = {
    buildEngine: async (model, options) => {
      builds.push({ model, options });
      return { plan: PLAN, info: sidecar, fromCache: false, cachePath: '/cache/abc.plan', ...built };
    },
    deserialize: async (plan, info, where, opts) => {
      opened.push({ plan, info, where });
      return TensorRTSession.fromEngine(new FakeEngine(), opts, info);
    },
    modelIo: readModelIo,
  };
  return { openers, builds, opened };
}

describe('TensorRT from an ONNX model', () => {
  it('builds through the engine cache on the session device and opens the plan with the build sidecar', async () => {
    const { openers, builds, opened } = trtOpeners({ fromCache: true });
    const model = onnxModel();
    const session = await createTensorRTSession(model, { device: 0, contexts: 1, build: { precision: 'fp16', dims: { sequence: [1, 64] } } }, openers);
    try {
      expect(builds).toHaveLength(1);
      expect(builds[0]!.model).toBe(model);
      // The dims not given get the default ranges.
      expect(builds[0]!.options).toEqual({ cache: true, precision: 'fp16', dims: { batch: { min: 1, opt: 64, max: 64 }, sequence: [1, 64] }, device: 0 });
      expect(opened[0]!.plan).toBe(PLAN);
      expect(opened[0]!.info).toBe(sidecar);
      expect(opened[0]!.where).toBe(`built from ${model.byteLength} bytes of ONNX`);
      // The sidecar's symbolic names reach the session's TensorInfo.
      expect(session.inputs[0]!.dims).toEqual(['batch', 'sequence']);
      expect(session.selection).toEqual({
        requested: 'tensorrt',
        reason: 'requested; engine from the engine cache (/cache/abc.plan)',
        engine: { fromCache: true, cachePath: '/cache/abc.plan' },
      });
    } finally {
      await session.dispose();
    }
  });

  it('builds with default profile ranges unless told, and lets build.cache turn the cache off', async () => {
    const { openers, builds } = trtOpeners({ cachePath: null });
    const s = await createTensorRTSession(onnxModel(), { build: { cache: false } }, openers);
    await s.dispose();
    expect(builds[0]!.options).toEqual({
      cache: false,
      device: 0,
      dims: { batch: { min: 1, opt: 64, max: 64 }, sequence: { min: 1, opt: 512, max: 512 } },
    });
    expect(s.selection?.reason).toBe('requested; engine built');
    const p = await createTensorRTSession(onnxModel(), { build: { profiles: [{ dims: { batch: 1, sequence: [1, 8] } }] } }, openers);
    await p.dispose();
    expect(builds[1]!.options.dims).toBeUndefined();
  });

  it('refuses a dtype TensorRT does not exchange before building, naming it and what TensorRT takes', async () => {
    const { openers, builds } = trtOpeners();
    const err = (await createTensorRTSession(onnxModel('float64'), {}, openers).catch((e: unknown) => e)) as TensorRTNodeError;
    expect(err).toBeInstanceOf(DTypeError);
    expect(err.message).toBe(
      'TensorRT cannot run this model: input "input_ids" is float64, output "logits" is float64; TensorRT exchanges ' +
        "float32, float16, bfloat16, int8, uint8, int32, int64, bool. Use backend 'onnxruntime' (it runs every dtype onnxruntime-node does), " +
        "or cast the model's inputs and outputs",
    );
    expect(builds).toHaveLength(0);
  });

  it('deserializes plans (bytes or path) and refuses build options for them', async () => {
    const { openers, builds, opened } = trtOpeners();
    const s = await createTensorRTSession(PLAN, {}, openers);
    await s.dispose();
    expect(opened[0]!.plan).toBe(PLAN);
    expect(opened[0]!.info).toBeNull();
    const path = join(dir, 'model.engine');
    await writeFile(path, PLAN);
    const p = await createTensorRTSession(path, {}, openers);
    await p.dispose();
    expect(Array.from(opened[1]!.plan)).toEqual(Array.from(PLAN));
    expect(opened[1]!.where).toBe(JSON.stringify(path));
    expect(builds).toHaveLength(0);
    await expect(createTensorRTSession(PLAN, { build: { precision: 'fp16' } }, openers)).rejects.toThrow(
      'options.build applies to ONNX models, but the model is a TensorRT plan (already built)',
    );
    await expect(createTensorRTSession(onnxModel(), { device: 1, build: { device: 0 } }, openers)).rejects.toThrow(
      /options.build.device \(0\) differs from options.device \(1\)/,
    );
    await expect(createTensorRTSession(join(dir, 'missing.plan'), {}, openers)).rejects.toMatchObject({ code: 'ERR_IO' });
  });
});

describe("backend 'auto'", () => {
  const made: { backend: string; options: Record<string, unknown> }[] = [];
  const fakeSession = (backend: 'onnxruntime' | 'tensorrt', selection?: InferenceSession['selection']): InferenceSession =>
    ({ backend, inputs: [], outputs: [], disposed: false, ...(selection ? { selection } : {}) }) as unknown as InferenceSession;

  function openers(probe: TensorRTProbe, tensorrt: () => Promise<InferenceSession> = async () => fakeSession('tensorrt')): SessionOpeners {
    made.length = 0;
    return {
      onnxruntime: async (_model, options) => {
        made.push({ backend: 'onnxruntime', options });
        return fakeSession('onnxruntime');
      },
      tensorrt: async (_model, options) => {
        made.push({ backend: 'tensorrt', options });
        return tensorrt();
      },
      probe: async () => probe,
      modelKind,
    };
  }
  const missing = new TensorRTNotFoundError('TensorRT is not available: libnvinfer.so.10 not found; searched:\n  - /usr/lib: no');
  const absent: TensorRTProbe = { ok: false, reason: 'TensorRT is not available: libnvinfer.so.10 not found; searched:', error: missing };
  const present: TensorRTProbe = { ok: true, reason: 'TensorRT 10.16.0 loaded (/usr/lib/libnvinfer.so.10) and CUDA device 0 is present' };

  it('uses ONNX Runtime where TensorRT is absent, saying why', async () => {
    const s = await openSession(onnxModel(), { backend: 'auto', onnxruntime: { intraOpNumThreads: 2 } }, openers(absent));
    expect(s.backend).toBe('onnxruntime');
    expect(made).toEqual([{ backend: 'onnxruntime', options: { intraOpNumThreads: 2, backend: 'onnxruntime' } }]);
    expect(s.selection).toEqual({
      requested: 'auto',
      reason: 'TensorRT is not available: TensorRT is not available: libnvinfer.so.10 not found; searched:',
      tensorrtError: { code: 'ERR_TENSORRT_NOT_FOUND', message: missing.message },
    });
  });

  it('uses TensorRT where it loads, with its options, and says where the engine came from', async () => {
    const engine = { fromCache: false, cachePath: '/c/k.plan' };
    const s = await openSession(
      onnxModel(),
      { backend: 'auto', tensorrt: { contexts: 4 } },
      openers(present, async () => fakeSession('tensorrt', { requested: 'tensorrt', reason: 'requested', engine })),
    );
    expect(s.backend).toBe('tensorrt');
    expect(made).toEqual([{ backend: 'tensorrt', options: { contexts: 4, backend: 'tensorrt' } }]);
    expect(s.selection).toEqual({ requested: 'auto', reason: `${present.reason}; engine built (/c/k.plan)`, engine });
  });

  it('falls back to ONNX Runtime when TensorRT cannot take an ONNX model, but not for bad options', async () => {
    const parse = new OnnxParseError("TensorRT's ONNX parser refused the model:\n  node 3 (NonZero): unsupported");
    const s = await openSession(
      onnxModel(),
      { backend: 'auto' },
      openers(present, () => Promise.reject(parse)),
    );
    expect(s.backend).toBe('onnxruntime');
    expect(s.selection?.reason).toBe("TensorRT could not take the model (ERR_ONNX_PARSE: TensorRT's ONNX parser refused the model:)");
    expect(s.selection?.tensorrtError?.code).toBe('ERR_ONNX_PARSE');
    const dtype = new DTypeError('TensorRT cannot run this model: input "x" is float64');
    expect(
      (
        await openSession(
          onnxModel(),
          { backend: 'auto' },
          openers(present, () => Promise.reject(dtype)),
        )
      ).backend,
    ).toBe('onnxruntime');
    const bad = new InvalidArgumentError('invalid tensorrt session options: contexts: too small');
    await expect(
      openSession(
        onnxModel(),
        { backend: 'auto' },
        openers(present, () => Promise.reject(bad)),
      ),
    ).rejects.toBe(bad);
  });

  it('has no fallback for a plan: TensorRT runs it or the error says why not', async () => {
    const err = (await openSession(PLAN, { backend: 'auto' }, openers(absent)).catch((e: unknown) => e)) as TensorRTNodeError;
    expect(err).toBeInstanceOf(TensorRTNotFoundError);
    expect(err.message).toMatch(/^the model is a TensorRT plan, which only TensorRT runs: TensorRT is not available/);
    expect(made).toEqual([]);
    const parse = new OnnxParseError('x');
    await expect(
      openSession(
        PLAN,
        { backend: 'auto' },
        openers(present, () => Promise.reject(parse)),
      ),
    ).rejects.toBe(parse);
    const s = await openSession(PLAN, { backend: 'auto' }, openers(present));
    expect(s.selection?.reason).toBe(`${present.reason}; the model is a TensorRT plan`);
  });

  it('checks its options strictly', async () => {
    await expect(openSession(onnxModel(), { backend: 'auto', onnxruntim: {} } as never, openers(absent))).rejects.toThrow(/unknown option\(s\) "onnxruntim"/);
    await expect(openSession(onnxModel(), { backend: 'auto', tensorrt: 3 } as never, openers(absent))).rejects.toThrow(/tensorrt: expected an object/);
  });

  it('marks sessions of a named backend as requested', async () => {
    const s = await openSession(onnxModel(), { backend: 'onnxruntime' }, openers(absent));
    expect(s.selection).toEqual({ requested: 'onnxruntime', reason: 'requested' });
  });
});

describe('modelKind', () => {
  it('tells ONNX from plans by extension or by the first bytes', async () => {
    expect(looksLikeOnnx(onnxModel())).toBe(true);
    expect(looksLikeOnnx(PLAN)).toBe(false);
    expect(looksLikeOnnx(new Uint8Array(0))).toBe(true);
    expect(looksLikeOnnx(new Uint8Array([0xca, 0x01]))).toBe(true);
    expect(await modelKind('a/b.ONNX')).toBe('onnx');
    expect(await modelKind('a/b.plan')).toBe('plan');
    const noExt = join(dir, 'model-file');
    await writeFile(noExt, onnxModel());
    expect(await modelKind(noExt)).toBe('onnx');
    await writeFile(noExt, PLAN);
    expect(await modelKind(noExt)).toBe('plan');
    await expect(modelKind(join(dir, 'nope'))).rejects.toMatchObject({ code: 'ERR_IO', message: expect.stringMatching(/cannot read the model/) });
  });
});
