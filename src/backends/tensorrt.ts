/**
 * The TensorRT backend: a deserialized plan behind the InferenceSession contract.
 *
 * The session holds `contexts` execution contexts per optimization profile (default 2), each
 * with its own CUDA stream, device buffers sized for its profile's max shapes and pinned
 * staging buffers. run() validates the feeds here first (names, dtypes, ranks, dims inside a
 * profile), takes a free context of a profile the feeds fit (or waits, first come first
 * served), and the addon copies the feeds into pinned staging, enqueues H2D, setInputShape,
 * enqueueV3 and D2H on the context's stream; the completion thread resolves the promise once
 * the stream is done. The event loop never waits on the GPU.
 *
 * `cudaGraphs: true` captures, per context and per set of input shapes, the kernels of
 * enqueueV3 into a CUDA graph and replays it. Constraints: a context's first run is never
 * captured (TensorRT loads kernels and allocates lazily on it, which stream capture forbids;
 * trtexec warms up the same way); a graph is captured on the second back-to-back run of a
 * shape on a context and replayed only while that context keeps running that shape (the first
 * run after a shape change is a plain enqueueV3, which brings TensorRT's shape-dependent state
 * back in line with the graph); each context keeps the graphs of its 64 most recently run
 * shapes (shapes run once take no slot); a shape whose capture fails (layers TensorRT cannot
 * run under capture) runs plainly and is tried again after 2, 4, 8, ... up to 1024 runs (see
 * stats().graphFailures). Batching to a few padded shapes (the DynamicBatcher's buckets) is
 * what makes graphs pay off.
 *
 * An output that TensorRT aliases to an input (getAliasedInputTensor, e.g. a KV-cache update
 * in place) is written into that input's device buffer, which each run fills from the feeds
 * first; the output comes back as its own tensor.
 *
 * I/O (docs/io-tensorrt.md): RunOptions.outputs may give, by output name, the tensors to fill:
 * host Tensors (checked before anything is enqueued, staged D2H then one memcpy), pinned
 * tensors from allocPinned() (copied to and from straight, no staging) and DeviceTensors from
 * allocDevice() or DeviceTensor.fromBuffer()/fromPointer() (device to device, so sessions chain
 * on the GPU); run() then resolves to those tensors. `timings` records CUDA events around the
 * H2D, compute and D2H stages of each run (stageTimings(result), stageTotals()).
 *
 * A sticky CUDA error (illegal address, launch failure, ...) marks the session lost: later
 * runs fail at once with ERR_CUDA "the CUDA context is lost" instead of at random later.
 *
 * createTensorRTSession() also takes an ONNX model: it checks the model's I/O dtypes against
 * what TensorRT exchanges, builds the engine through the engine cache (buildEngine) and
 * opens the plan with the build's sidecar, as onnxruntime's TensorRT provider does.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import {
  CudaError,
  DTypeError,
  DisposedError,
  FileError,
  InvalidArgumentError,
  ProfileRangeError,
  ShapeError,
  TensorRTNodeError,
  TensorRTVersionError,
  abortErrorFrom,
  describe,
} from '../errors.js';
import { loadAddon, type NativeDeviceBuffer, type NativeTrtContext, type NativeTrtEngine } from '../native.js';
import { DeviceTensor } from '../device-tensor.js';
import { DeviceBuffer, Stream } from '../cuda.js';
import { parseOptions } from '../options.js';
import type { BackendSelection, FeedsLike, InferenceSession, Outputs, RunOptions, TensorInfo } from '../session.js';
import {
  DATA_TYPES,
  TENSORRT_DATA_TYPES,
  Tensor,
  elementCount,
  formatDims,
  isDataType,
  markPinned,
  type DataType,
  type TensorData,
  type TensorLike,
  type TypedArrayFor,
} from '../tensor.js';
import { readSidecar, sidecarInputLimits, sidecarPath, type EngineInfo } from '../build/sidecar.js';
import { engineDimRanges } from '../build/generation.js';
import type { BuildOptions, BuiltEngine } from '../build/index.js';
import { RunTracker, checkTargetDims, raceAbort, resolveOutputs } from './common.js';
import { FeedValidator, type CheckedFeeds } from './feeds.js';
import { modelKind } from './model-kind.js';
import { ContextPool } from './context-pool.js';
import { requireTensorRT } from './tensorrt-libs.js';
import { engineMeta, profileInputBytes, selectProfiles, tensorInfo, type EngineMeta } from './tensorrt-io.js';

export const TensorRTSessionOptionsSchema = z
  .object({
    backend: z.literal('tensorrt').default('tensorrt'),
    /** CUDA device index. */
    device: z.number().int().min(0).max(65535).default(0),
    /** Execution contexts per optimization profile: concurrent runs the engine takes. */
    contexts: z.number().int().min(1).max(64).default(2),
    /** Optimization profiles that get contexts; all when omitted. */
    profiles: z.array(z.number().int().min(0)).min(1).optional(),
    /**
     * Capture and replay CUDA graphs per input shape (see the module comment). On by default,
     * as in trtexec 11: a shape's graph is captured on its second back-to-back run on a context
     * (after the warm-up run), and a shape whose capture fails runs plainly (counted in
     * stats().graphFailures) and is tried again later. false: plain enqueueV3 on every run.
     */
    cudaGraphs: z.boolean().default(true),
    /**
     * Time every run's H2D copies, inference and D2H copies with CUDA events (stageTimings(result),
     * stats()). Off by default: four event records per run; RunOptions.timings turns it on per run.
     */
    timings: z.boolean().default(false),
    /**
     * Spin-wait for completions (trtexec's --useSpinWait): the completion thread polls a run's
     * CUDA event without sleeping for up to this many microseconds (true: 200) before it blocks.
     * Lower completion latency for a busy CPU core; off by default.
     */
    spinWait: z.union([z.boolean(), z.number().int().min(0).max(1_000_000)]).default(false),
    /** Runs allowed to wait for a context; more are refused with ERR_QUEUE_FULL. */
    maxQueue: z.number().int().min(0).optional(),
    /**
     * Let TensorRT run the lean runtime a version-compatible plan embeds (host code from the
     * plan file). Defaults to what the plan's sidecar says; enable only for plans you trust.
     */
    allowHostCode: z.boolean().optional(),
    /**
     * Deserialize through TensorRT's lean runtime (libnvinfer_lean beside libnvinfer, loaded
     * with IRuntime::loadRuntime): what plans built with versionCompatible and
     * excludeLeanRuntime (trtexec --versionCompatible --excludeLeanRuntime) need, as they carry
     * no runtime of their own. Defaults to what the plan's sidecar says.
     */
    leanRuntime: z.boolean().optional(),
    /**
     * buildEngine() options for an ONNX model (createSession only); `cache` defaults to true
     * (the default cache folder), `device` to this session's device.
     */
    build: z
      .custom<Omit<BuildOptions, 'device'> & { device?: number }>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), {
        message: 'expected an object of buildEngine options',
      })
      .optional(),
  })
  .strict();

export type TensorRTSessionOptions = z.input<typeof TensorRTSessionOptionsSchema>;

/** Feeds of a TensorRT session: host tensors (ours or tensor-likes) and DeviceTensors. */
export type TensorRTFeeds = Readonly<Record<string, Tensor | TensorLike | DeviceTensor>>;

/** Caller-provided outputs of a TensorRT session: host Tensors (pinned or not) and DeviceTensors. */
export type TensorRTOutputTargets = Readonly<Record<string, Tensor | DeviceTensor>>;

/**
 * RunOptions, with DeviceTensors allowed among the caller-provided outputs, and `timings` (this
 * run's stage times, see stageTimings(); defaults to the session's `timings` option).
 */
export type TensorRTRunOptions = Omit<RunOptions, 'outputs'> & { outputs?: readonly string[] | TensorRTOutputTargets; timings?: boolean };

/** One run's device stages in milliseconds, from CUDA events on the run's stream. */
export interface StageTimings {
  /** From before the first input copy to after the last (host to device). */
  readonly h2dMs: number;
  /** The inference (enqueueV3 or the CUDA graph's launch). */
  readonly computeMs: number;
  /** The output copies (device to host, or device to device for DeviceTensor outputs). */
  readonly d2hMs: number;
}

/** Stage timings summed over timed runs (stats(), stageTotals()). */
export interface StageTotals {
  runs: number;
  h2dMs: number;
  computeMs: number;
  d2hMs: number;
}

const runTimings = new WeakMap<object, StageTimings>();

/**
 * The stage timings of the run that resolved to `outputs` (a TensorRT session's run with
 * timings on), or undefined. Each run has its own, so concurrent runs never mix them.
 */
export function stageTimings(outputs: object): StageTimings | undefined {
  return runTimings.get(outputs);
}

/** What run() with caller-provided outputs resolves to: those same tensors, by output name. */
export type TensorRTOutputs = Record<string, Tensor | DeviceTensor>;

type RunData = TensorData | NativeDeviceBuffer;

interface Member {
  readonly profile: number;
  readonly native: NativeTrtContext;
  readonly totals: StageTotals;
}

/** The spin budget of TensorRTSessionOptions.spinWait: true is 200 us, false 0. */
export function spinWaitMicros(spinWait: boolean | number): number {
  return spinWait === true ? SPIN_WAIT_DEFAULT_MICROS : spinWait === false ? 0 : spinWait;
}
export const SPIN_WAIT_DEFAULT_MICROS = 200;

function lostError(cause?: unknown): CudaError {
  return new CudaError(
    'the CUDA context is lost: an earlier CUDA error (e.g. an illegal memory access) left the GPU unusable for this ' +
      'process; the session cannot run again, restart the process',
    { sticky: true, cudaError: (cause as { cudaError?: string } | undefined)?.cudaError, ...(cause ? { cause } : {}) },
  );
}

async function loadPlan(planOrPath: string | Uint8Array): Promise<{ plan: Uint8Array; info: EngineInfo | null; where: string }> {
  if (typeof planOrPath === 'string') {
    let plan: Uint8Array;
    try {
      plan = await readFile(planOrPath);
    } catch (e) {
      throw new FileError(`cannot read the engine plan ${JSON.stringify(planOrPath)}: ${(e as Error).message}`, { cause: e });
    }
    // The sidecar is optional (plans from trtexec have none); a broken one is reported.
    const info = await readSidecar(sidecarPath(planOrPath), { optional: true });
    return { plan, info, where: JSON.stringify(planOrPath) };
  }
  if (planOrPath instanceof Uint8Array) return { plan: planOrPath, info: null, where: `a plan of ${planOrPath.byteLength} bytes` };
  throw new InvalidArgumentError(`model must be a plan file path or a Uint8Array of plan bytes, got ${describe(planOrPath)}`);
}

export class TensorRTSession implements InferenceSession {
  readonly backend = 'tensorrt' as const;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** The build's sidecar, when the plan was opened from a file that has one. */
  readonly info: EngineInfo | null;
  readonly #meta: EngineMeta;
  readonly #engine: NativeTrtEngine;
  readonly #members: readonly Member[];
  readonly #pool: ContextPool<Member>;
  readonly #served: readonly number[];
  readonly #tracker = new RunTracker();
  readonly #feeds: FeedValidator;
  #lost: CudaError | undefined;
  readonly #device: number;
  readonly #timings: boolean;
  #allocStream: Stream | undefined;
  /** Set by createSession(). */
  readonly selection?: BackendSelection;

  private constructor(
    meta: EngineMeta,
    engine: NativeTrtEngine,
    members: Member[],
    info: EngineInfo | null,
    maxQueue: number | undefined,
    device: number,
    timings: boolean,
  ) {
    this.#meta = meta;
    this.#device = device;
    this.#timings = timings;
    this.#engine = engine;
    this.#members = members;
    this.#pool = new ContextPool(members, maxQueue === undefined ? {} : { maxQueue });
    this.#served = this.#pool.profiles;
    this.info = info;
    const named = (name: string, list: EngineInfo['inputs'] | undefined) => list?.find((t) => t.name === name)?.dims;
    this.inputs = Object.freeze(meta.inputs.map((m) => Object.freeze({ ...tensorInfo(m, named(m.name, info?.inputs)), ...sidecarInputLimits(info, m.name) })));
    this.outputs = Object.freeze(meta.outputs.map((m) => tensorInfo(m, named(m.name, info?.outputs))));
    this.#feeds = new FeedValidator(this.inputs, { deviceTensors: true });
  }

  /** Deserializes `planOrPath` (a plan file or its bytes) and creates the execution contexts. */
  static async create(planOrPath: string | Uint8Array, options: TensorRTSessionOptions = {}): Promise<TensorRTSession> {
    const opts = parseOptions(TensorRTSessionOptionsSchema, options, 'tensorrt session options');
    if (opts.build !== undefined) {
      throw new InvalidArgumentError('options.build applies to ONNX models opened with createSession(); TensorRTSession.create() takes a plan');
    }
    const { plan, info, where } = await loadPlan(planOrPath);
    return TensorRTSession.deserialize(plan, info, where, opts);
  }

  /**
   * The session over a plan already in memory, with its sidecar when known (internal:
   * create() and createTensorRTSession() call it).
   * @internal
   */
  static async deserialize(
    plan: Uint8Array,
    info: EngineInfo | null,
    where: string,
    opts: z.output<typeof TensorRTSessionOptionsSchema>,
  ): Promise<TensorRTSession> {
    const runtime = requireTensorRT();
    const addon = loadAddon();
    if (addon.trtDeserialize === undefined) throw new TensorRTNodeError('ERR_TENSORRT_NOT_FOUND', 'this build of the addon has no TensorRT support');
    const leanRuntime = opts.leanRuntime ?? (info?.options as { excludeLeanRuntime?: boolean } | undefined)?.excludeLeanRuntime === true;
    // A plan without its runtime runs no embedded host code.
    const allowHostCode = opts.allowHostCode ?? (info?.options.versionCompatible === true && !leanRuntime);
    let engine: NativeTrtEngine;
    try {
      engine = await addon.trtDeserialize(plan, { device: opts.device, allowHostCode, leanRuntime });
    } catch (e) {
      const built = info?.tensorrt.version;
      if (built !== undefined && built !== runtime.version && !info?.options.versionCompatible) {
        throw new TensorRTVersionError(
          `the engine ${where} was built with TensorRT ${built} but TensorRT ${runtime.version} is loaded ` +
            `(${runtime.libraryPath}); plans only load in the TensorRT version that built them unless built version-compatible. ` +
            `Rebuild the engine here. (${(e as Error).message})`,
          { cause: e },
        );
      }
      throw e;
    }
    return TensorRTSession.fromEngine(engine, opts, info);
  }

  /**
   * The session over an already deserialized engine (internal: create() calls it; unit tests
   * pass a test double). Creates the contexts; on failure frees them and the engine.
   * @internal
   */
  static async fromEngine(engine: NativeTrtEngine, opts: z.output<typeof TensorRTSessionOptionsSchema>, info: EngineInfo | null): Promise<TensorRTSession> {
    const members: Member[] = [];
    try {
      const meta = engineMeta(engine.describe());
      const profiles = opts.profiles ?? Array.from({ length: meta.profiles }, (_, i) => i);
      for (const p of profiles) {
        if (p >= meta.profiles) {
          throw new InvalidArgumentError(`options.profiles names profile ${p}, but the engine has ${meta.profiles} optimization profile(s)`);
        }
      }
      const specs = profiles.flatMap((profile) =>
        Array.from({ length: opts.contexts }, () => ({
          profile,
          inputBytes: profileInputBytes(meta, profile),
          cudaGraphs: opts.cudaGraphs,
          spinWaitMicros: spinWaitMicros(opts.spinWait),
        })),
      );
      const contexts = await engine.createContexts(specs);
      for (const c of contexts) members.push({ profile: c.profile, native: c, totals: { runs: 0, h2dMs: 0, computeMs: 0, d2hMs: 0 } });
      return new TensorRTSession(meta, engine, members, info, opts.maxQueue, opts.device, opts.timings);
    } catch (e) {
      for (const m of members) m.native.dispose();
      engine.dispose();
      throw e;
    }
  }

  get disposed(): boolean {
    return this.#tracker.disposed;
  }

  /** Runs that execute at once: the execution contexts, over all profiles served. */
  get contexts(): number {
    return this.#pool.size;
  }

  /** Runs waiting for a context, and contexts running. */
  get load(): { queued: number; busy: number; contexts: number } {
    return { queued: this.#pool.queued, busy: this.#pool.busy, contexts: this.#pool.size };
  }

  /** Per context: CUDA-graph counts, and the stage timings summed over its timed runs (diagnostics). */
  /**
   * Per context: its CUDA-graph counts and summed stage timings; `spin` is the process's (this
   * thread's) completion queue, shared by every context: completions it found while
   * spin-waiting (options.spinWait) and after blocking.
   */
  stats(): { profile: number; graphs: number; graphFailures: number; timings: StageTotals; spin: { spinHits: number; waitHits: number } }[] {
    return this.#members.map((m) => {
      const s = m.native.stats();
      return {
        profile: m.profile,
        graphs: s.graphs,
        graphFailures: s.graphFailures,
        timings: { ...m.totals },
        spin: { spinHits: s.queueSpinHits ?? 0, waitHits: s.queueWaitHits ?? 0 },
      };
    });
  }

  /** The stage timings of every timed run so far, summed over the contexts. */
  stageTotals(): StageTotals {
    const t: StageTotals = { runs: 0, h2dMs: 0, computeMs: 0, d2hMs: 0 };
    for (const m of this.#members) {
      t.runs += m.totals.runs;
      t.h2dMs += m.totals.h2dMs;
      t.computeMs += m.totals.computeMs;
      t.d2hMs += m.totals.d2hMs;
    }
    return t;
  }

  /**
   * A zero-filled tensor of `type` and `dims` over page-locked host memory of the session's
   * pinned pool (`location: 'cpu-pinned'`). As a feed it is copied to the device straight from
   * there, and as a caller-provided output (RunOptions.outputs) the device copies straight into
   * it: no staging copy on the JavaScript thread. Do not write a pinned feed, or read a pinned
   * target, until its run settles. The memory goes back to the pool when the tensor is
   * garbage-collected.
   */
  allocPinned<T extends DataType>(type: T, dims: readonly number[]): Tensor<T> {
    if (this.#tracker.disposed) throw new DisposedError('allocPinned() on a disposed tensorrt session');
    if (!isDataType(type) || !DATA_TYPES[type].tensorrt) {
      throw new DTypeError(`allocPinned() type must be one of ${TENSORRT_DATA_TYPES.join(', ')} (what TensorRT exchanges), got ${describe(type)}`);
    }
    const count = elementCount(dims, 'allocPinned() dims');
    const info = DATA_TYPES[type];
    const buffer = this.#engine.allocPinned(count * info.bytesPerElement);
    markPinned(buffer);
    // Pinned blocks are reused: zero them as a new typed array would be.
    const data = new info.array(buffer, 0, count) as TypedArrayFor<T>;
    data.fill(info.bigint ? (0n as never) : (0 as never));
    return new Tensor(type, data, dims);
  }

  /**
   * Allocates a zero-filled DeviceTensor of `type` and `dims` on the session's GPU (the device's
   * stream-ordered pool). Feed it, or give it in RunOptions.outputs to have an output written
   * there (device to device on the run's stream): sessions chain without host copies. Read it
   * with `await t.toHost()`; free it with `t.dispose()` (or let it be collected).
   */
  async allocDevice<T extends DataType>(type: T, dims: readonly number[]): Promise<DeviceTensor<T>> {
    if (this.#tracker.disposed) throw new DisposedError('allocDevice() on a disposed tensorrt session');
    if (!isDataType(type) || !DATA_TYPES[type].tensorrt) {
      throw new DTypeError(`allocDevice() type must be one of ${TENSORRT_DATA_TYPES.join(', ')} (what TensorRT exchanges), got ${describe(type)}`);
    }
    const bytes = elementCount(dims, 'allocDevice() dims') * DATA_TYPES[type].bytesPerElement;
    this.#allocStream ??= new Stream(this.#device);
    const buffer = new DeviceBuffer(bytes, { stream: this.#allocStream });
    if (bytes > 0) buffer.fill(0, { stream: this.#allocStream });
    // Stream-ordered: the allocation and the fill are done before any context's stream uses it.
    await this.#allocStream.synchronize();
    return DeviceTensor.owning(buffer, type, dims);
  }

  run<O extends TensorRTOutputTargets>(feeds: TensorRTFeeds, options: TensorRTRunOptions & { outputs: O }): Promise<{ -readonly [K in keyof O]: O[K] }>;
  run(feeds: FeedsLike | TensorRTFeeds, options?: TensorRTRunOptions): Promise<Outputs>;
  run(feeds: FeedsLike | TensorRTFeeds, options: TensorRTRunOptions = {}): Promise<Outputs> {
    try {
      if (this.#tracker.disposed) throw new DisposedError('run() on a disposed tensorrt session');
      if (this.#lost !== undefined || this.#engine.lost) throw lostError(this.#lost);
      // The session's inputs are the engine's, in the engine's order.
      const checked = this.#feeds.check(feeds);
      const { tensors } = checked;
      const { host: hostOutputs, device: deviceTargets } = this.#splitTargets(options.outputs);
      const resolved = resolveOutputs(this.outputs, hostOutputs);
      const fetches = deviceTargets === undefined ? resolved.names : Object.keys(options.outputs as object);
      let targets: Map<string, Tensor | DeviceTensor> | undefined;
      let targetData: RunData[] | undefined;
      let targetDims: number[] | undefined;
      if (resolved.targets !== undefined || deviceTargets !== undefined) {
        // Dims the feeds bind are checked here; the rest natively once the shapes are set,
        // before anything is enqueued (ERR_SHAPE either way).
        if (resolved.targets !== undefined) {
          checkTargetDims(this.outputs, resolved.targets, (symbol) => this.#feeds.symbolSize(checked, symbol), this.#hostFeeds(checked));
        }
        targets = new Map();
        targetData = [];
        targetDims = [];
        for (const name of fetches) {
          const what = `options.outputs[${JSON.stringify(name)}]`;
          const device = deviceTargets?.get(name);
          let t: Tensor | DeviceTensor;
          if (device !== undefined) {
            this.#checkDeviceTarget(name, device, (symbol) => this.#feeds.symbolSize(checked, symbol));
            targetData.push(device.nativeBuffer(what));
            t = device;
          } else {
            // resolveOutputs refused a detached one.
            const host = resolved.targets!.get(name)!;
            targetData.push(host.data);
            t = host;
          }
          targets.set(name, t);
          for (const d of t.dims) targetDims.push(d);
        }
      }
      const dims = tensors.map((t) => t.dims);
      const fits = selectProfiles(this.#meta, dims);
      const profiles = fits.filter((p) => this.#served.includes(p));
      if (profiles.length === 0) {
        throw new ProfileRangeError(
          `the feeds fit optimization profile(s) ${fits.join(', ')}, but this session has execution contexts for ` +
            `profile(s) ${this.#served.join(', ')} only (options.profiles)`,
          { profiles: fits },
        );
      }
      if (options.signal?.aborted) throw abortErrorFrom(options.signal, 'run()');
      const wanted = fetches.map((name) => this.#meta.outputs.findIndex((o) => o.name === name));
      const work = this.#tracker.track(
        this.#execute(
          tensors.map((t, k) => (t instanceof DeviceTensor ? this.#deviceFeed(t, k) : t.data)),
          dims.flat(),
          wanted,
          profiles,
          options.signal,
          targets === undefined ? undefined : { data: targetData!, dims: targetDims!, tensors: targets },
          options.timings ?? this.#timings,
          tensors,
        ),
      );
      // A run that the stream reads from or writes to the caller's memory (caller-provided
      // outputs, device or pinned feeds) rejects on abort only once the native run is done, so
      // nothing is written into, or read from, memory the caller has taken back. Aborted while
      // waiting for a context, it rejects at once.
      const callerMemory = targets !== undefined || tensors.some((t) => t instanceof DeviceTensor || (t as Tensor).location === 'cpu-pinned');
      return callerMemory ? work : raceAbort(work, options.signal, 'run()');
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** RunOptions.outputs with the DeviceTensors taken out (resolveOutputs checks host tensors only). */
  #splitTargets(outputs: unknown): { host: unknown; device: Map<string, DeviceTensor> | undefined } {
    if (outputs === null || typeof outputs !== 'object' || Array.isArray(outputs) || outputs instanceof Tensor) return { host: outputs, device: undefined };
    const entries = Object.entries(outputs as Record<string, unknown>);
    if (!entries.some(([, v]) => v instanceof DeviceTensor)) return { host: outputs, device: undefined };
    const device = new Map<string, DeviceTensor>();
    const host: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      if (v instanceof DeviceTensor) device.set(k, v);
      else host[k] = v;
    }
    // resolveOutputs needs at least one entry; with device targets only, it checks none.
    return { host: Object.keys(host).length > 0 ? host : undefined, device };
  }

  /** A DeviceTensor given as an output: the output's name, dtype, rank, fixed dims and the dims the feeds bind, its device. */
  #checkDeviceTarget(name: string, t: DeviceTensor, symbolSize: (symbol: string) => number | undefined): void {
    const what = `options.outputs[${JSON.stringify(name)}]`;
    const info = this.outputs.find((o) => o.name === name);
    if (info === undefined) {
      throw new InvalidArgumentError(
        `options.outputs names an unknown output ${JSON.stringify(name)}; the model's outputs are ${this.outputs.map((o) => JSON.stringify(o.name)).join(', ')}`,
      );
    }
    if (t.type !== info.dtype) throw new DTypeError(`${what} is a ${t.type} DeviceTensor but output ${JSON.stringify(name)} is ${info.dtype}`);
    this.#checkDeviceOf(t, what);
    if (t.dims.length !== info.dims.length) {
      throw new ShapeError(
        `${what} has dims ${formatDims(t.dims)} (rank ${t.dims.length}) but output ${JSON.stringify(name)} has rank ${info.dims.length} (dims ${formatDims(info.dims)})`,
      );
    }
    info.dims.forEach((d, axis) => {
      const want = typeof d === 'number' ? (d >= 0 ? d : undefined) : symbolSize(d);
      if (want !== undefined && want >= 0 && t.dims[axis] !== want) {
        throw new ShapeError(
          `${what} has dims ${formatDims(t.dims)} but this run's output ${JSON.stringify(name)} has ${want} at axis ${axis} (dims ${formatDims(info.dims)})`,
        );
      }
    });
  }

  #checkDeviceOf(t: DeviceTensor, what: string): void {
    t.nativeBuffer(what);
    if (t.device !== this.#device) {
      throw new InvalidArgumentError(
        `${what} is a DeviceTensor on GPU ${t.device}, but this session runs on GPU ${this.#device}; copy it with toHost() or allocate it from this session (allocDevice)`,
      );
    }
  }

  #deviceFeed(t: DeviceTensor, k: number): NativeDeviceBuffer {
    const what = `input ${JSON.stringify(this.inputs[k]!.name)}`;
    this.#checkDeviceOf(t, what);
    return t.nativeBuffer(what);
  }

  /** The host feeds (for the check that no target shares their memory). */
  #hostFeeds(checked: CheckedFeeds): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    checked.tensors.forEach((t, k) => {
      if (!(t instanceof DeviceTensor)) out.set(this.inputs[k]!.name, t);
    });
    return out;
  }

  async #execute(
    data: RunData[],
    dims: number[],
    wanted: number[],
    profiles: number[],
    signal: AbortSignal | undefined,
    targets: { data: RunData[]; dims: number[]; tensors: ReadonlyMap<string, Tensor | DeviceTensor> } | undefined,
    timed: boolean,
    feeds: readonly unknown[],
  ): Promise<Outputs> {
    const member = await this.#pool.acquire(profiles, signal);
    let results;
    let timings: StageTimings | undefined;
    try {
      // The caller already has ERR_ABORTED (raceAbort): do not spend the GPU on it.
      if (signal?.aborted) throw abortErrorFrom(signal, 'run()');
      if (timed) {
        const r = (await member.native.run(data, dims, wanted, targets?.data, targets?.dims, true)) as unknown as {
          outputs: Awaited<ReturnType<NativeTrtContext['run']>>;
          timings: StageTimings;
        };
        results = r.outputs;
        timings = r.timings;
        member.totals.runs++;
        member.totals.h2dMs += timings.h2dMs;
        member.totals.computeMs += timings.computeMs;
        member.totals.d2hMs += timings.d2hMs;
      } else {
        results = targets === undefined ? await member.native.run(data, dims, wanted) : await member.native.run(data, dims, wanted, targets.data, targets.dims);
      }
    } catch (e) {
      if (e instanceof CudaError && (e as CudaError).sticky) {
        this.#lost ??= e;
        this.#pool.close(lostError(e));
      }
      throw e;
    } finally {
      this.#pool.release(member);
      // The feeds (DeviceTensors and the owners of their memory among them) stay reachable
      // until the run is done with their memory.
      void feeds.length;
    }
    // Aborted while it ran: the results are dropped (a raced run has already rejected).
    if (signal?.aborted) throw abortErrorFrom(signal, 'run()');
    const out: Outputs = {};
    if (timings !== undefined) runTimings.set(out, Object.freeze(timings));
    if (targets !== undefined) {
      // Filled in place (every named output has its target): the caller's tensors come back.
      for (const [name, t] of targets.tensors) out[name] = t as Tensor;
      return out;
    }
    for (const r of results!) {
      const meta = this.#meta.outputs[r.index]!;
      // Above 64 KiB an output may be an array over a pinned block (no copy): marked so, its
      // location says 'cpu-pinned', and fed back it is read by the stream as a pinned feed.
      if (r.pinned === true) markPinned(r.data!);
      const array = new DATA_TYPES[meta.dtype].array(r.data!) as TensorData;
      out[meta.name] = new Tensor(meta.dtype, array, r.dims);
    }
    return out;
  }

  dispose(): Promise<void> {
    return this.#tracker.dispose(() => {
      this.#pool.close();
      this.#allocStream?.dispose();
      for (const m of this.#members) m.native.dispose();
      this.#engine.dispose();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** What createTensorRTSession() calls; unit tests pass test doubles. @internal */
export interface TensorRTOpeners {
  buildEngine(model: string | Uint8Array, options: BuildOptions): Promise<BuiltEngine>;
  /** Opens a plan in memory (TensorRTSession.deserialize). */
  deserialize(plan: Uint8Array, info: EngineInfo | null, where: string, opts: z.output<typeof TensorRTSessionOptionsSchema>): Promise<TensorRTSession>;
  /** The I/O of an ONNX model: dtypes for the check before a build, input dims for default profiles. */
  modelIo(model: string | Uint8Array): Promise<ModelIo[]>;
}

export interface ModelIo {
  kind: 'input' | 'output';
  name: string;
  dtype: string;
  /** null when the rank is unknown. */
  dims: (number | string)[] | null;
}

/**
 * Profile ranges of the dynamic dims an ONNX model is opened with when options.build gives
 * them none (and no build.profiles): a leading dim (the batch) 1..64, any other 1..512, opt
 * at the max (serving spends most of its time at the large end; the DynamicBatcher pads up).
 */
export const DEFAULT_BUILD_RANGES = { batch: { min: 1, opt: 64, max: 64 }, seq: { min: 1, opt: 512, max: 512 } } as const;

/** The I/O of an ONNX model (path or bytes), read without its external data. */
export async function readModelIo(model: string | Uint8Array): Promise<ModelIo[]> {
  const { decodeModel, inspectModel } = await import('../onnx/index.js');
  let bytes: Uint8Array;
  if (typeof model === 'string') {
    try {
      bytes = await readFile(model);
    } catch (e) {
      throw new FileError(`cannot read ONNX model ${JSON.stringify(model)}: ${(e as Error).message}`, { cause: e });
    }
  } else bytes = model;
  const info = inspectModel(decodeModel(bytes, typeof model === 'string' ? `ONNX model ${JSON.stringify(model)}` : 'ONNX model'));
  return [
    ...info.inputs.map((i) => ({ kind: 'input' as const, name: i.name, dtype: i.dtype, dims: i.dims })),
    ...info.outputs.map((o) => ({ kind: 'output' as const, name: o.name, dtype: o.dtype, dims: o.dims })),
  ];
}

const defaultOpeners: TensorRTOpeners = {
  buildEngine: async (model, options) => (await import('../build/build-engine.js')).buildEngine(model, options),
  deserialize: (plan, info, where, opts) => TensorRTSession.deserialize(plan, info, where, opts),
  modelIo: readModelIo,
};

/** Refuses an ONNX model whose inputs or outputs have a dtype TensorRT does not exchange. */
export function checkTensorRTDtypes(io: readonly Pick<ModelIo, 'kind' | 'name' | 'dtype'>[]): void {
  const bad = io.filter((t) => t.dtype !== '' && !(TENSORRT_DATA_TYPES as readonly string[]).includes(t.dtype));
  if (bad.length === 0) return;
  const list = bad.map((t) => `${t.kind} ${JSON.stringify(t.name)} is ${t.dtype}`).join(', ');
  throw new DTypeError(
    `TensorRT cannot run this model: ${list}; TensorRT exchanges ${TENSORRT_DATA_TYPES.join(', ')}. ` +
      "Use backend 'onnxruntime' (it runs every dtype onnxruntime-node does), or cast the model's inputs and outputs",
    { dtypes: bad },
  );
}

/**
 * createSession()'s TensorRT path: a plan is deserialized; an ONNX model has its I/O dtypes
 * checked, is built through the engine cache (`options.build`; cache on by default, profile
 * ranges DEFAULT_BUILD_RANGES for dims build.dims leaves out, unless build.profiles) and the plan is
 * opened with the build's sidecar. `session.selection.engine` says whether the engine came
 * from the cache.
 */
export async function createTensorRTSession(
  model: string | Uint8Array,
  options: TensorRTSessionOptions,
  openers: TensorRTOpeners = defaultOpeners,
): Promise<TensorRTSession> {
  const opts = parseOptions(TensorRTSessionOptionsSchema, options, 'tensorrt session options');
  if (typeof model !== 'string' && !(model instanceof Uint8Array)) {
    throw new InvalidArgumentError(`model must be a file path or a Uint8Array (an ONNX model or a TensorRT plan), got ${describe(model)}`);
  }
  const kind = await modelKind(model);
  if (kind === 'plan') {
    if (opts.build !== undefined) {
      throw new InvalidArgumentError('options.build applies to ONNX models, but the model is a TensorRT plan (already built)');
    }
    const { plan, info, where } = await loadPlan(model);
    return openers.deserialize(plan, info, where, opts);
  }
  const io = await openers.modelIo(model);
  checkTensorRTDtypes(io);
  const build = opts.build ?? {};
  if (build.device !== undefined && build.device !== opts.device) {
    throw new InvalidArgumentError(
      `options.build.device (${build.device}) differs from options.device (${opts.device}); the engine must be built on the GPU it runs on`,
    );
  }
  // Dims the caller gave no range (and all of them without build.profiles) get the defaults:
  // a decoder's from build.generation (the build layer's choice, as for buildEngine and the CLI).
  const inputs = io.filter((t) => t.kind === 'input');
  const ranges = build.profiles === undefined ? { dims: engineDimRanges(inputs, build, DEFAULT_BUILD_RANGES, 'options.build') } : {};
  const built = await openers.buildEngine(model, { cache: true, ...build, ...ranges, device: opts.device });
  const where = typeof model === 'string' ? `built from ${JSON.stringify(model)}` : `built from ${model.byteLength} bytes of ONNX`;
  const session = await openers.deserialize(built.plan, built.info, where, opts);
  const engine = { fromCache: built.fromCache, cachePath: built.cachePath };
  (session as { selection?: BackendSelection }).selection = {
    requested: 'tensorrt',
    reason: `requested; engine ${built.fromCache ? 'from the engine cache' : 'built'}${built.cachePath ? ` (${built.cachePath})` : ''}`,
    engine,
  };
  return session;
}
