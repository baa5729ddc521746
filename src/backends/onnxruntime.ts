/**
 * The ONNX Runtime backend: onnxruntime-node's CPU execution provider behind the
 * InferenceSession contract. It is the reference for accuracy checks and the backend the
 * batcher and benchmarks use where TensorRT is absent.
 *
 * onnxruntime-node runs a model synchronously on the JS thread (inside a setImmediate), so the
 * event loop stalls for the whole inference. By default the session therefore runs in worker
 * threads (`execution: 'workers'`, ort-pool.ts): `contexts` workers, each with its own session
 * over the model loaded once here, so `contexts` runs execute at once and the event loop stays
 * free. `execution: 'in-thread'` keeps onnxruntime-node as it is (no threads started; runs
 * execute one after another on this thread).
 *
 * Threads: in-thread, ONNX Runtime picks its intra-op threads (one per physical core). In
 * worker mode each of the n sessions gets max(1, floor(min(cores - 1, physical cores) / n)):
 * one core is left to the event loop (on a 2-core machine ONNX Runtime's own count held the
 * loop for up to 0.46x a run, one thread 0.24x; docs/io.md) and workers x threads fit the
 * cores. `intraOpNumThreads` overrides both. In worker mode the intra-op threads do not spin
 * while they wait for work (`allowSpinning`, default false there): spinning threads take the
 * cores the event loop and the other workers need (measured on a 2-core machine under load:
 * 1.5-2x the runs/s without spinning, and a shorter event-loop delay).
 *
 * Logs: ONNX Runtime logs warnings and up by default (`logSeverityLevel` 2), at load and in the
 * workers. A failed run is not logged by ONNX Runtime (below verbose/info): it reaches the
 * caller once, as the run's rejection, in our words (ort-errors.ts).
 *
 * Outputs: `run(feeds, { outputs: { name: tensor } })` fills the given host tensors in place
 * and returns them (the same objects); their dtype, rank and the dims the model and the feeds
 * fix are checked before anything runs (ERR_DTYPE, ERR_SHAPE), a data-dependent dim after
 * (ERR_SHAPE). How each mode writes them: ort-execution.ts. Device-resident tensors (a
 * `location` other than 'cpu' or 'cpu-pinned') are refused as feeds and outputs (ERR_INVALID_ARG).
 *
 * Limits: before anything runs, feeds are checked against what the graph makes knowable
 * (input-limits.ts: position tables, vocabularies); single-dim limits appear in
 * `inputs[i].limits`.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import type * as Ort from 'onnxruntime-node';
import { DTypeError, DisposedError, InvalidArgumentError, OnnxRuntimeError, abortErrorFrom } from '../errors.js';
import { DATA_TYPES, ONNXRUNTIME_DATA_TYPES, type Tensor, asTensor, isDataType } from '../tensor.js';
import type { BackendSelection, DimLimit, FeedsLike, InferenceSession, Outputs, RunOptions, TensorInfo, ValueRange } from '../session.js';
import { RunTracker, checkTargetDims, resolveOutputs } from './common.js';
import { FeedValidator } from './feeds.js';
import { parseOptions } from '../options.js';
import { decodeModel } from '../onnx/model.js';
import { isExternal } from '../onnx/tensor-proto.js';
import type { ModelProto } from '../onnx/schema.js';
import { checkInputLimits, findInputLimits, splitInputLimits, type InputLimits } from './input-limits.js';
import { ortLoadError, ortRunError } from './ort-errors.js';
import { OrtRunFailure, intraOpThreadsFor, loadModel, physicalCores, startInThread, startWorkers, type OrtExecution } from './ort-execution.js';
import type { WireTensor, WireValueMetadata } from './ort-worker.js';

export const OrtSessionOptionsSchema = z
  .object({
    backend: z.literal('onnxruntime').default('onnxruntime'),
    /**
     * Where inferences execute: 'workers' (worker threads; the event loop stays free) or
     * 'in-thread' (onnxruntime-node as it is: each run holds the event loop).
     */
    execution: z.enum(['workers', 'in-thread']).default('workers'),
    /** Worker threads, each with its own session: runs that execute at once ('workers' only). */
    contexts: z.number().int().min(1).max(64).default(1),
    /** Runs allowed to wait for a worker; more are refused with ERR_QUEUE_FULL ('workers' only). 0: no queue, runs are accepted only while a worker is free. */
    maxQueue: z.number().int().min(0).optional(),
    /** Threads ONNX Runtime uses inside one operator; 0: see the module comment. */
    intraOpNumThreads: z.number().int().min(0).max(1024).default(0),
    interOpNumThreads: z.number().int().min(0).max(1024).default(0),
    /** Whether idle intra-op threads spin; default false with workers, ONNX Runtime's own (true) in-thread. */
    allowSpinning: z.boolean().optional(),
    graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
    /** ONNX Runtime's log severity: 0 verbose, 1 info, 2 warning (default), 3 error, 4 fatal. */
    logSeverityLevel: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3), z.literal(4)]).default(2),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.execution === 'in-thread' && o.contexts > 1) {
      ctx.addIssue({ code: 'custom', path: ['contexts'], message: `contexts > 1 needs execution: 'workers' (in-thread runs execute one at a time)` });
    }
    if (o.execution === 'in-thread' && o.maxQueue !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['maxQueue'], message: `maxQueue needs execution: 'workers'` });
    }
  });

export type OrtSessionOptions = z.input<typeof OrtSessionOptionsSchema>;

export interface OrtRunOptions extends RunOptions {
  /**
   * Worker mode: move the feeds' buffers to the worker instead of copying them. The feeds'
   * typed arrays are detached (length 0) once a free worker takes the run; a run that waits
   * behind another at a busy worker has them copied (so it can be re-posted if that worker
   * dies), and feeds that view part of a larger buffer are copied anyway. Ignored in-thread.
   */
  transferFeeds?: boolean;
}

function toTensorInfo(m: WireValueMetadata, kind: 'input' | 'output', limits?: readonly DimLimit[], valueRange?: ValueRange): TensorInfo {
  if (!m.isTensor) {
    throw new OnnxRuntimeError(`model ${kind} ${JSON.stringify(m.name)} is not a tensor; only tensor ${kind}s are supported`);
  }
  if (!isDataType(m.type)) {
    throw new DTypeError(
      `model ${kind} ${JSON.stringify(m.name)} has element type ${m.type}, which tensorrt-node does not support` +
        `${m.type === 'string' ? ' (string tensors are not supported)' : ''}; supported: ${ONNXRUNTIME_DATA_TYPES.join(', ')}`,
    );
  }
  const dims = Object.freeze(m.shape!.map((d) => (typeof d === 'number' ? d : d === '' ? -1 : d)));
  return Object.freeze({
    name: m.name,
    dtype: m.type,
    dims,
    ...(limits && limits.length > 0 ? { limits: Object.freeze([...limits]) } : {}),
    ...(valueRange ? { valueRange } : {}),
  });
}

/** The decoded graph (for its limits), or why it does not decode. ONNX Runtime may still load what we cannot (ORT format). */
function decodeForLimits(bytes: Uint8Array, where: string): { proto: ModelProto; error?: undefined } | { proto?: undefined; error: Error } {
  try {
    return { proto: decodeModel(bytes, where) };
  } catch (e) {
    return { error: e as Error };
  }
}

export class OnnxRuntimeSession implements InferenceSession {
  readonly backend = 'onnxruntime' as const;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Where inferences execute (see the module comment). */
  readonly execution: 'workers' | 'in-thread';
  /** Set by createSession(). */
  readonly selection?: BackendSelection;
  readonly #exec: OrtExecution;
  readonly #runLogSeverityLevel: number;
  readonly #tracker = new RunTracker();
  readonly #feeds: FeedValidator;
  /** Limits the feed validator does not take (sums of dims, values); checked after it. */
  readonly #limits: InputLimits;
  /** An input whose dtype onnxruntime-node cannot create a tensor of (bfloat16). */
  readonly #untakeable: TensorInfo | undefined;

  private constructor(exec: OrtExecution, execution: 'workers' | 'in-thread', limits: InputLimits, logSeverityLevel: number) {
    this.#exec = exec;
    this.execution = execution;
    // Failures come back as rejections; ONNX Runtime logs them too only when asked for verbose/info.
    this.#runLogSeverityLevel = logSeverityLevel <= 1 ? logSeverityLevel : 4;
    const { perInput, valueRanges, rest } = splitInputLimits(limits);
    this.#limits = rest;
    this.inputs = Object.freeze(exec.inputs.map((m) => toTensorInfo(m, 'input', perInput[m.name], valueRanges[m.name])));
    this.outputs = Object.freeze(exec.outputs.map((m) => toTensorInfo(m, 'output')));
    this.#feeds = new FeedValidator(this.inputs);
    this.#untakeable = this.inputs.find((i) => !DATA_TYPES[i.dtype].onnxruntime);
  }

  /** Loads `model` (a path or the model's bytes) into ONNX Runtime's CPU execution provider. */
  static async create(model: string | Uint8Array, options: OrtSessionOptions = {}): Promise<OnnxRuntimeSession> {
    const opts = parseOptions(OrtSessionOptionsSchema, options, 'onnxruntime session options');
    if (typeof model !== 'string' && !(model instanceof Uint8Array)) {
      throw new InvalidArgumentError(`model must be a file path or a Uint8Array of ONNX bytes`);
    }
    const workers = opts.execution === 'workers';
    const loaded = await loadModel(model, workers);
    const { proto, error: decodeError } = decodeForLimits(loaded.bytes, typeof model === 'string' ? `the ONNX model ${loaded.where}` : 'the model bytes');
    const limits = proto ? findInputLimits(proto) : { dims: [], values: [] };
    // ONNX Runtime finds external data beside the model file only when it opens the file itself.
    const external = typeof model === 'string' && proto?.graph?.initializer.some(isExternal) === true;
    const source = external ? { ...loaded, path: model } : loaded;
    const intraOp = workers ? intraOpThreadsFor(opts.contexts, opts.intraOpNumThreads, availableParallelism(), await physicalCores()) : opts.intraOpNumThreads;
    const spinning = opts.allowSpinning ?? (workers ? false : undefined);
    const sessionOptions: Ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: opts.graphOptimizationLevel,
      logSeverityLevel: opts.logSeverityLevel,
      ...(intraOp > 0 ? { intraOpNumThreads: intraOp } : {}),
      ...(opts.interOpNumThreads > 0 ? { interOpNumThreads: opts.interOpNumThreads } : {}),
      ...(spinning !== undefined ? { extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } } } : {}),
    };
    let exec: OrtExecution;
    try {
      exec = workers
        ? await startWorkers(source, { contexts: opts.contexts, maxQueue: opts.maxQueue, sessionOptions, logSeverityLevel: opts.logSeverityLevel })
        : await startInThread(source, { sessionOptions, logSeverityLevel: opts.logSeverityLevel });
    } catch (e) {
      if (!(e instanceof OrtRunFailure)) throw e;
      // Bytes that are no ONNX model: our decoder's words say why better than ONNX Runtime's.
      if (decodeError) throw Object.assign(decodeError, { cause: e.cause ?? e });
      throw ortLoadError(e.message, loaded.where, e.cause ?? e);
    }
    try {
      return new OnnxRuntimeSession(exec, opts.execution, limits, opts.logSeverityLevel);
    } catch (e) {
      await exec.release().catch(() => undefined);
      throw e;
    }
  }

  get disposed(): boolean {
    return this.#tracker.disposed;
  }

  /** Worker mode: the runs that execute at once (the DynamicBatcher keeps that many batches in flight). */
  get contexts(): number | undefined {
    return this.#exec.contexts;
  }

  /** Worker mode: runs waiting for a worker and workers running; undefined in-thread. */
  get load(): { queued: number; busy: number; contexts: number } | undefined {
    return this.#exec.load;
  }

  run(feeds: FeedsLike, options: OrtRunOptions = {}): Promise<Outputs> {
    try {
      if (this.#tracker.disposed) {
        throw new DisposedError('run() on a disposed onnxruntime session');
      }
      refuseDeviceTensors(feeds, 'feeds');
      refuseDeviceTensors(options.outputs, 'options.outputs');
      const checked = this.#feeds.check(feeds);
      const { tensors } = checked;
      const { names: fetches, targets } = resolveOutputs(this.outputs, options.outputs);
      if (targets !== undefined) {
        const byInput: Record<string, Tensor> = {};
        for (let k = 0; k < tensors.length; k++) byInput[this.inputs[k]!.name] = tensors[k]!;
        checkTargetDims(this.outputs, targets, (symbol) => this.#feeds.symbolSize(checked, symbol), byInput);
      }
      if (this.#untakeable !== undefined) {
        const u = this.#untakeable;
        throw new DTypeError(
          `input ${JSON.stringify(u.name)} is ${u.dtype}, which onnxruntime-node cannot pass to ONNX Runtime; it takes ${ONNXRUNTIME_DATA_TYPES.join(', ')}`,
        );
      }
      const wire: WireTensor[] = tensors.map((t, k) => ({ name: this.inputs[k]!.name, type: t.type, dims: [...t.dims], data: t.data }));
      checkInputLimits(this.#limits, wire);
      if (options.signal?.aborted) throw abortErrorFrom(options.signal, 'run()');
      const shapes = wire.map(({ name, dims }) => ({ name, dims }));
      const runOptions = { signal: options.signal, transfer: options.transferFeeds, targets, logSeverityLevel: this.#runLogSeverityLevel };
      const work = this.#exec.run(wire, fetches, runOptions).then(
        (outputs) => {
          const out: Outputs = {};
          // Caller-provided outputs come back as the very tensors given, now filled.
          for (const o of outputs) out[o.name] = targets?.get(o.name) ?? fromOrtTensor(o.name, o);
          return out;
        },
        (e: unknown) => {
          throw e instanceof OrtRunFailure ? ortRunError(e.message, shapes, e.cause ?? e) : e;
        },
      );
      return this.#tracker.track(work);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  dispose(): Promise<void> {
    return this.#tracker.dispose(() => this.#exec.release());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** Where a tensor's data may live for ONNX Runtime's CPU provider (onnxruntime-node's names). */
const HOST_LOCATIONS: ReadonlySet<unknown> = new Set(['cpu', 'cpu-pinned']);

/**
 * Refuses a device-resident tensor (one whose `location` says its data is on a GPU, e.g. a
 * TensorRT session's 'gpu-buffer' output or onnxruntime-web's 'gpu-buffer'/'texture') among
 * `record`'s values before anything else looks at them.
 */
function refuseDeviceTensors(record: unknown, what: string): void {
  if (record === null || typeof record !== 'object' || Array.isArray(record) || ArrayBuffer.isView(record)) return;
  for (const name in record) {
    const value = (record as Record<string, unknown>)[name];
    if (value === null || typeof value !== 'object') continue;
    const location = (value as { location?: unknown }).location;
    if (location !== undefined && !HOST_LOCATIONS.has(location)) {
      throw new InvalidArgumentError(
        `${what}[${JSON.stringify(name)}] is a device-resident tensor (location ${JSON.stringify(location)}); ` +
          `ONNX Runtime on the CPU takes host tensors only ('cpu' or 'cpu-pinned'): copy it to the host first` +
          `${typeof (value as { toHost?: unknown }).toHost === 'function' ? ' (await tensor.toHost())' : ''}`,
        { tensor: `${what}[${JSON.stringify(name)}]`, location: String(location) },
      );
    }
  }
}

function fromOrtTensor(name: string, t: WireTensor | undefined): Tensor {
  if (t === undefined) throw new OnnxRuntimeError(`ONNX Runtime returned no value for output ${JSON.stringify(name)}`);
  // Wraps the output's typed array (no copy); a float16 output may come as a Float16Array where Node has one.
  return asTensor(t, `output ${JSON.stringify(name)}`);
}
