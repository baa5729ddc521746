/**
 * The ONNX Runtime backend: onnxruntime-node's CPU execution provider behind the
 * InferenceSession contract. It is the reference for accuracy checks and the backend the
 * batcher and benchmarks use where TensorRT is absent.
 *
 * onnxruntime-node runs a model synchronously on the JS thread (inside a setImmediate), so
 * concurrent run() calls execute one after another; its intra-op threads still use the cores.
 */
import { z } from 'zod';
import type * as Ort from 'onnxruntime-node';
import { DTypeError, DisposedError, InvalidArgumentError, OnnxRuntimeError, abortErrorFrom } from '../errors.js';
import { DATA_TYPES, ONNXRUNTIME_DATA_TYPES, type Tensor, asTensor, isDataType } from '../tensor.js';
import type { BackendSelection, FeedsLike, InferenceSession, Outputs, RunOptions, TensorInfo } from '../session.js';
import { RunTracker, raceAbort, selectOutputs } from './common.js';
import { FeedValidator } from './feeds.js';
import { parseOptions } from '../options.js';

export const OrtSessionOptionsSchema = z
  .object({
    backend: z.literal('onnxruntime').default('onnxruntime'),
    /** Threads ONNX Runtime uses inside one operator; 0 lets it choose (one per core). */
    intraOpNumThreads: z.number().int().min(0).max(1024).default(0),
    interOpNumThreads: z.number().int().min(0).max(1024).default(0),
    graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
    /** ONNX Runtime's log severity: 0 verbose ... 4 fatal. */
    logSeverityLevel: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3), z.literal(4)]).default(3),
  })
  .strict();

export type OrtSessionOptions = z.input<typeof OrtSessionOptionsSchema>;

let ortModule: Promise<typeof Ort> | undefined;

/**
 * onnxruntime-node, loaded on first use so the rest of the library works without it. Not
 * exported: onnxruntime-common's types must stay out of our public .d.ts (they need the DOM library).
 */
function loadOnnxRuntime(): Promise<typeof Ort> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as unknown as { default?: typeof Ort }).default ?? m) as typeof Ort,
    (e: unknown) => {
      ortModule = undefined;
      throw new OnnxRuntimeError(`onnxruntime-node could not be loaded: ${(e as Error).message}`, { cause: e });
    },
  );
  return ortModule;
}

function toTensorInfo(m: Ort.InferenceSession.ValueMetadata, kind: 'input' | 'output'): TensorInfo {
  if (!m.isTensor) {
    throw new OnnxRuntimeError(`model ${kind} ${JSON.stringify(m.name)} is not a tensor; only tensor ${kind}s are supported`);
  }
  if (!isDataType(m.type)) {
    throw new DTypeError(
      `model ${kind} ${JSON.stringify(m.name)} has element type ${m.type}, which tensorrt-node does not support` +
        `${m.type === 'string' ? ' (string tensors are not supported)' : ''}; supported: ${ONNXRUNTIME_DATA_TYPES.join(', ')}`,
    );
  }
  return Object.freeze({ name: m.name, dtype: m.type, dims: Object.freeze(m.shape.map((d) => (typeof d === 'number' ? d : d === '' ? -1 : d))) });
}

export class OnnxRuntimeSession implements InferenceSession {
  readonly backend = 'onnxruntime' as const;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly #ort: typeof Ort;
  readonly #session: Ort.InferenceSession;
  readonly #tracker = new RunTracker();
  readonly #feeds: FeedValidator;
  /** An input whose dtype onnxruntime-node cannot create a tensor of (bfloat16). */
  readonly #untakeable: TensorInfo | undefined;
  /** Set by createSession(). */
  readonly selection?: BackendSelection;

  private constructor(ort: typeof Ort, session: Ort.InferenceSession) {
    this.#ort = ort;
    this.#session = session;
    this.inputs = Object.freeze(session.inputMetadata.map((m) => toTensorInfo(m, 'input')));
    this.outputs = Object.freeze(session.outputMetadata.map((m) => toTensorInfo(m, 'output')));
    this.#feeds = new FeedValidator(this.inputs);
    this.#untakeable = this.inputs.find((i) => !DATA_TYPES[i.dtype].onnxruntime);
  }

  /** Loads `model` (a path or the model's bytes) into ONNX Runtime's CPU execution provider. */
  static async create(model: string | Uint8Array, options: OrtSessionOptions = {}): Promise<OnnxRuntimeSession> {
    const opts = parseOptions(OrtSessionOptionsSchema, options, 'onnxruntime session options');
    if (typeof model !== 'string' && !(model instanceof Uint8Array)) {
      throw new InvalidArgumentError(`model must be a file path or a Uint8Array of ONNX bytes`);
    }
    const ort = await loadOnnxRuntime();
    let session: Ort.InferenceSession;
    try {
      const sessionOptions: Ort.InferenceSession.SessionOptions = {
        executionProviders: ['cpu'],
        graphOptimizationLevel: opts.graphOptimizationLevel,
        logSeverityLevel: opts.logSeverityLevel,
        ...(opts.intraOpNumThreads > 0 ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
        ...(opts.interOpNumThreads > 0 ? { interOpNumThreads: opts.interOpNumThreads } : {}),
      };
      session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, sessionOptions)
          : await ort.InferenceSession.create(model, sessionOptions);
    } catch (e) {
      const where = typeof model === 'string' ? JSON.stringify(model) : `${model.byteLength} bytes`;
      throw new OnnxRuntimeError(`ONNX Runtime could not load the model (${where}): ${(e as Error).message}`, { cause: e });
    }
    try {
      return new OnnxRuntimeSession(ort, session);
    } catch (e) {
      await session.release().catch(() => undefined);
      throw e;
    }
  }

  get disposed(): boolean {
    return this.#tracker.disposed;
  }

  run(feeds: FeedsLike, options: RunOptions = {}): Promise<Outputs> {
    try {
      if (this.#tracker.disposed) {
        throw new DisposedError('run() on a disposed onnxruntime session');
      }
      const { tensors } = this.#feeds.check(feeds);
      const fetches = selectOutputs(this.outputs, options.outputs);
      if (this.#untakeable !== undefined) {
        const u = this.#untakeable;
        throw new DTypeError(
          `input ${JSON.stringify(u.name)} is ${u.dtype}, which onnxruntime-node cannot pass to ONNX Runtime; it takes ${ONNXRUNTIME_DATA_TYPES.join(', ')}`,
        );
      }
      if (options.signal?.aborted) throw abortErrorFrom(options.signal, 'run()');
      const ortFeeds: Record<string, Ort.Tensor> = {};
      for (let k = 0; k < tensors.length; k++) {
        const t = tensors[k]!;
        ortFeeds[this.inputs[k]!.name] = new this.#ort.Tensor(t.type as Ort.Tensor.Type, t.data as Ort.Tensor.DataType, t.dims);
      }
      const work = this.#session.run(ortFeeds, fetches).then(
        (result) => {
          const out: Outputs = {};
          for (const name of fetches) out[name] = fromOrtTensor(name, result[name] as Ort.Tensor);
          return out;
        },
        (e: unknown) => {
          throw new OnnxRuntimeError(`ONNX Runtime run failed: ${(e as Error).message}`, { cause: e });
        },
      );
      return raceAbort(this.#tracker.track(work), options.signal, 'run()');
    } catch (e) {
      return Promise.reject(e);
    }
  }

  dispose(): Promise<void> {
    return this.#tracker.dispose(() => this.#session.release());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

function fromOrtTensor(name: string, t: Ort.Tensor | undefined): Tensor {
  if (t === undefined) throw new OnnxRuntimeError(`ONNX Runtime returned no value for output ${JSON.stringify(name)}`);
  // Wraps the output's typed array (no copy); a float16 output may come as a Float16Array where Node has one.
  return asTensor(t, `output ${JSON.stringify(name)}`);
}
