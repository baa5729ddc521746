/**
 * Where an ONNX Runtime session's inferences execute: on the calling thread (onnxruntime-node
 * as it is: each run holds the event loop for the whole inference) or in a pool of worker
 * threads (ort-pool.ts), each with its own session over the same model. The session
 * (onnxruntime.ts) validates feeds and translates failures; an execution only runs.
 *
 * Copies, worker mode: with `transfer`, a feed that spans its whole ArrayBuffer is moved to the
 * worker when a free worker takes the run (0 copies; the caller's array is detached then); a
 * run that has to wait behind another at a busy worker gets it cloned instead, so that it can
 * still go to another worker, or to a replacement if that one dies (ort-pool.ts). A feed in a
 * SharedArrayBuffer is shared with the worker and copied there, off the main thread, because
 * onnxruntime-node takes ArrayBuffer-backed arrays only (the caller must not change it before
 * the run settles). Any other feed is copied once on this thread, by postMessage's structured
 * clone, so the caller keeps using it (a view of part of a larger buffer is copied alone rather
 * than cloning the whole buffer). onnxruntime-node copies each output out of ONNX Runtime once,
 * into a buffer made for that run (in-thread too); the worker moves those buffers to this
 * thread (0 copies).
 *
 * Caller-provided outputs (RunOptions.outputs as tensors): in-thread, they are onnxruntime-node's
 * preallocated fetches, so ONNX Runtime writes into the caller's memory (a target in a
 * SharedArrayBuffer, which onnxruntime-node refuses, is copied in after the run); onnxruntime-node
 * 1.30 still returns a copy of each such output, which is dropped. In worker mode no buffer per
 * run crosses threads: the worker copies each output into a shared scratch block reused across
 * runs (ScratchBlocks), which this thread copies into the target once the worker has answered
 * (so a run aborted mid-way never writes the caller's memory). A target's buffer is never
 * moved. An output whose dims (data-dependent ones) differ from its target's is not written and
 * rejects with ERR_SHAPE. In-thread, a run aborted after run() was called still executes (in
 * onnxruntime-node's setImmediate) and writes its targets, so with targets an abort rejects
 * only once that run has ended.
 */
import { open, readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type * as Ort from 'onnxruntime-node';
import { FileError, InvalidArgumentError, OnnxRuntimeError, abortErrorFrom } from '../errors.js';
import { elementCount, formatDims, type Tensor } from '../tensor.js';
import { OrtWorkerPool, type RunMessage } from './ort-pool.js';
import { ortWorkerSource, type SharedModel, type WireTarget, type WireTensor, type WireValueMetadata } from './ort-worker.js';
import { checkTargetResult, raceAbort } from './common.js';
import { ortTargetShapeError } from './ort-errors.js';

/** A failed run as ONNX Runtime said it; the session turns it into our error. */
export class OrtRunFailure extends Error {}

export interface OrtExecution {
  /** Runs that execute at once; undefined in-thread (one at a time). */
  readonly contexts: number | undefined;
  readonly inputs: readonly WireValueMetadata[];
  readonly outputs: readonly WireValueMetadata[];
  /** Worker mode: runs waiting and running (undefined in-thread). */
  readonly load: { queued: number; busy: number; contexts: number } | undefined;
  /**
   * Resolves with the fetched outputs; rejects with OrtRunFailure (ONNX Runtime's text) or
   * one of our errors (ERR_ABORTED, ERR_WORKER, ERR_QUEUE_FULL, ERR_DISPOSED).
   */
  run(feeds: readonly WireTensor[], fetches: readonly string[], options: ExecutionRunOptions): Promise<WireTensor[]>;
  /** Call once no run is in flight. */
  release(): Promise<void>;
}

export interface ExecutionRunOptions {
  signal?: AbortSignal | undefined;
  /** Move feed buffers to the worker instead of copying them (worker mode). */
  transfer?: boolean | undefined;
  /**
   * Caller-provided outputs by name (checked by the session: dtype, rank, the dims the feeds
   * bind); `fetches` are their names. Each is filled in place and returned as the result's
   * data; an output whose dims differ from its target's rejects with ERR_SHAPE.
   */
  targets?: ReadonlyMap<string, Tensor> | undefined;
  logSeverityLevel: number;
}

/** The model as loaded once by the parent: bytes for every session, or a path for ONNX Runtime to open. */
export interface LoadedModel {
  /** The model's bytes (a SharedArrayBuffer view in worker mode). */
  readonly bytes: Uint8Array;
  /** Set when ONNX Runtime must open the file itself (its external data lives beside it). */
  readonly path: string | undefined;
  /** For messages: the path or "N bytes". */
  readonly where: string;
}

const CHUNK = 16 * 1024 * 1024;

/**
 * Reads `model` (a path or bytes) once. With `shared`, the bytes go into a SharedArrayBuffer
 * that every worker reads (a file is read straight into it; given bytes are copied into it in
 * chunks so the event loop keeps turning; bytes already shared are used as they are).
 */
export async function loadModel(model: string | Uint8Array, shared: boolean): Promise<LoadedModel> {
  if (typeof model !== 'string') {
    const where = `${model.byteLength} bytes`;
    if (!shared || model.buffer instanceof SharedArrayBuffer) return { bytes: model, path: undefined, where };
    const bytes = new Uint8Array(new SharedArrayBuffer(model.byteLength));
    for (let at = 0; at < model.byteLength; at += CHUNK) {
      bytes.set(model.subarray(at, Math.min(at + CHUNK, model.byteLength)), at);
      if (at + CHUNK < model.byteLength) await yieldToLoop();
    }
    return { bytes, path: undefined, where };
  }
  const where = JSON.stringify(model);
  try {
    const file = await open(model, 'r');
    try {
      const { size } = await file.stat();
      const bytes = shared ? new Uint8Array(new SharedArrayBuffer(size)) : new Uint8Array(size);
      for (let at = 0; at < size;) {
        const { bytesRead } = await file.read(bytes, at, Math.min(CHUNK, size - at), at);
        if (bytesRead === 0) throw new Error(`the file ended after ${at} of ${size} bytes`);
        at += bytesRead;
      }
      return { bytes, path: undefined, where };
    } finally {
      await file.close();
    }
  } catch (e) {
    throw new FileError(`cannot read the ONNX model ${where}: ${(e as Error).message}`, { cause: e });
  }
}

let ortModule: Promise<typeof Ort> | undefined;

/** onnxruntime-node, loaded on first use so the rest of the library works without it. */
export function loadOnnxRuntime(): Promise<typeof Ort> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as unknown as { default?: typeof Ort }).default ?? m) as typeof Ort,
    (e: unknown) => {
      ortModule = undefined;
      throw new OnnxRuntimeError(`onnxruntime-node could not be loaded: ${(e as Error).message}`, { cause: e });
    },
  );
  return ortModule;
}

/** The path workers require() onnxruntime-node from (the same package this module imports). */
function onnxRuntimePath(): string {
  try {
    return createRequire(import.meta.url).resolve('onnxruntime-node');
  } catch (e) {
    throw new OnnxRuntimeError(`onnxruntime-node could not be found for the worker threads: ${(e as Error).message}`, { cause: e });
  }
}

/** onnxruntime-node's names for the log severities 0..4. */
export const ORT_LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;

/**
 * Intra-op threads per session in worker mode: an explicit count wins; else the cores less one
 * (the event loop's: a run then never takes every core from it), at most one per physical core
 * (what ONNX Runtime picks by itself), shared out over the contexts: max(1, floor(min(cores - 1,
 * physical) / contexts)). Measured with scripts/bench-ort-eventloop.ts (docs/io.md): on a
 * 2-core machine, one context with ONNX Runtime's own count (2) held the event loop for up to
 * 0.46x a run, with 1 thread 0.24x.
 */
export function intraOpThreadsFor(contexts: number, explicit: number, cores = availableParallelism(), physical: number | null = null): number {
  if (explicit > 0) return explicit;
  const usable = Math.min(cores - 1, physical ?? cores);
  return Math.max(1, Math.floor(usable / Math.max(1, contexts)));
}

let physicalCount: Promise<number | null> | undefined;

/**
 * Physical cores (distinct core sibling sets in Linux's CPU topology), read once; null where
 * the topology cannot be read (the logical count then stands in).
 */
export function physicalCores(): Promise<number | null> {
  physicalCount ??= (async () => {
    const root = '/sys/devices/system/cpu';
    try {
      const names = (await readdir(root)).filter((n) => /^cpu\d+$/.test(n));
      // An offline CPU has no topology: not one ONNX Runtime uses either.
      const lists = await Promise.all(names.map((n) => readFile(`${root}/${n}/topology/thread_siblings_list`, 'utf8').catch(() => undefined)));
      const sets = new Set(lists.filter((l): l is string => l !== undefined).map((l) => l.trim()));
      return sets.size > 0 ? sets.size : null;
    } catch {
      return null; // not Linux, or no sysfs
    }
  })();
  return physicalCount;
}

export interface StartOptions {
  sessionOptions: Ort.InferenceSession.SessionOptions;
  logSeverityLevel: number;
}

/** onnxruntime-node on this thread. Failures to load come back as ONNX Runtime's text (OrtRunFailure). */
export async function startInThread(model: LoadedModel, options: StartOptions): Promise<OrtExecution> {
  const ort = await loadOnnxRuntime();
  let session: Ort.InferenceSession;
  try {
    session =
      model.path !== undefined
        ? await ort.InferenceSession.create(model.path, options.sessionOptions)
        : await ort.InferenceSession.create(model.bytes, options.sessionOptions);
  } catch (e) {
    throw new OrtRunFailure((e as Error).message, { cause: e });
  }
  // Runs onnxruntime-node still has (also those whose caller gave up on them): release waits for them.
  const pending = new Set<Promise<unknown>>();
  const metadata = (list: readonly Ort.InferenceSession.ValueMetadata[]): WireValueMetadata[] =>
    list.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] } : { name: m.name, isTensor: false }));
  return {
    contexts: undefined,
    load: undefined,
    inputs: metadata(session.inputMetadata),
    outputs: metadata(session.outputMetadata),
    run(feeds, fetches, runOptions) {
      const ortFeeds: Record<string, Ort.Tensor> = {};
      for (const f of feeds) {
        // onnxruntime-node takes ArrayBuffer-backed arrays only.
        const data = f.data.buffer instanceof SharedArrayBuffer ? (f.data as Float32Array).slice() : f.data;
        ortFeeds[f.name] = new ort.Tensor(f.type as 'float32', data as Float32Array, f.dims);
      }
      const targets = runOptions.targets;
      let fetchArg: readonly string[] | Record<string, Ort.Tensor | null> = fetches;
      if (targets !== undefined) {
        // onnxruntime-node's preallocated fetches: ONNX Runtime writes into the caller's memory.
        // It takes ArrayBuffer-backed arrays only, so a target in shared memory is fetched
        // plainly and copied in after the run.
        const prealloc: Record<string, Ort.Tensor | null> = {};
        for (const [name, t] of targets) {
          if (t.data.buffer instanceof SharedArrayBuffer) {
            prealloc[name] = null;
            continue;
          }
          // A Tensor's data and dims never change: its onnxruntime-node twin is made once.
          let twin = ortTwins.get(t);
          if (twin === undefined) ortTwins.set(t, (twin = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims)));
          prealloc[name] = twin;
        }
        fetchArg = prealloc;
      }
      const work = session.run(ortFeeds, fetchArg as Ort.InferenceSession.FetchesType, { logSeverityLevel: runOptions.logSeverityLevel as 0 }).then(
        (result) => {
          // Every output is checked before any target is copied into, so a refused run writes none of those.
          for (const name of fetches) {
            const t = result[name];
            if (t === undefined) throw new OrtRunFailure(`ONNX Runtime returned no value for output "${name}"`);
            const target = targets?.get(name);
            if (target !== undefined) checkTargetResult(name, target, t.dims);
          }
          return fetches.map((name) => {
            const t = result[name]!;
            const target = targets?.get(name);
            if (target === undefined) return { name, type: t.type, dims: [...t.dims], data: t.data as ArrayBufferView };
            // onnxruntime-node 1.30 also hands back a copy of each preallocated output (measured): dropped here.
            if (target.data.buffer instanceof SharedArrayBuffer) copyBytes(t.data as ArrayBufferView, target.data);
            return { name, type: target.type, dims: [...target.dims], data: target.data };
          });
        },
        (e: unknown) => {
          const message = (e as Error).message;
          throw (targets !== undefined ? ortTargetShapeError(message, e) : undefined) ?? new OrtRunFailure(message, { cause: e });
        },
      );
      pending.add(work);
      const forget = (): void => void pending.delete(work);
      work.then(forget, forget);
      // With caller-provided outputs ONNX Runtime writes the caller's memory until the run
      // ends: an abort rejects then, never before (the outputs are dropped).
      if (targets !== undefined) {
        return work.then((out) => {
          if (runOptions.signal?.aborted) throw abortErrorFrom(runOptions.signal, 'run()');
          return out;
        });
      }
      return raceAbort(work, runOptions.signal, 'run()');
    },
    async release() {
      await Promise.allSettled([...pending]);
      await session.release();
    },
  };
}

/** onnxruntime-node tensors over caller-provided outputs, by our Tensor (in-thread runs). */
const ortTwins = new WeakMap<Tensor, Ort.Tensor>();

export interface WorkerStartOptions extends StartOptions {
  contexts: number;
  maxQueue?: number | undefined;
  /** Tests: a worker script other than ortWorkerSource() (a double), or another onnxruntime-node entry. */
  source?: string;
  ortPath?: string;
}

/** A pool of worker threads, each with its own session. Load failures come back as OrtRunFailure. */
export async function startWorkers(model: LoadedModel, options: WorkerStartOptions): Promise<OrtExecution> {
  const ortPath = options.ortPath ?? onnxRuntimePath();
  const envLogLevel = ORT_LOG_LEVELS[options.logSeverityLevel] ?? 'warning';
  if (model.path === undefined && !(model.bytes.buffer instanceof SharedArrayBuffer)) {
    throw new TypeError('startWorkers: the model bytes must be shared (loadModel(model, true))');
  }
  const shared: SharedModel | string = model.path ?? {
    buffer: model.bytes.buffer as SharedArrayBuffer,
    byteOffset: model.bytes.byteOffset,
    byteLength: model.bytes.byteLength,
  };
  let started: Awaited<ReturnType<typeof OrtWorkerPool.start>>;
  try {
    started = await OrtWorkerPool.start({
      size: options.contexts,
      source: options.source ?? ortWorkerSource(),
      workerData: { ortPath, model: shared, sessionOptions: options.sessionOptions, envLogLevel },
      maxQueue: options.maxQueue,
    });
  } catch (e) {
    const ortMessage = (e as { ortMessage?: string }).ortMessage;
    if (ortMessage !== undefined) throw new OrtRunFailure(ortMessage, { cause: e });
    throw e;
  }
  const { pool, metadata } = started;
  // Two runs per worker are posted at once (ort-pool.ts), plus those waiting in the queue.
  const scratch = new ScratchBlocks(2 * options.contexts + 2);
  return {
    contexts: options.contexts,
    inputs: metadata.inputs,
    outputs: metadata.outputs,
    get load() {
      return pool.load;
    },
    async run(feeds, fetches, runOptions) {
      const targets = runOptions.targets;
      // The scratch block is taken at the first posting (a run refused or aborted before it
      // reached a worker takes none) and kept by later postings of the same run.
      let plan: TargetPlan | undefined;
      // Made at each posting (a run goes to a second worker when the first dies before starting it).
      const message = (move: boolean): RunMessage => {
        const { wire, transfer, once } = wireFeeds(feeds, runOptions.transfer ?? false, move);
        if (targets !== undefined) plan ??= planTargets(targets, scratch);
        const request = { feeds: wire, fetches: [...fetches], ...(plan ? { targets: plan.wire } : {}), logSeverityLevel: runOptions.logSeverityLevel };
        return { request, transfer, once };
      };
      if (targets === undefined) {
        const answer = await pool.run(message, [], runOptions.signal);
        if (answer.type === 'failed') throw new OrtRunFailure(answer.message);
        return answer.outputs;
      }
      // A run that is rejected (aborted, its worker lost) keeps its block: the worker may still write it.
      const answer = await pool.run(message, [], runOptions.signal);
      // An answer comes only from a worker the run was posted to, so its plan was made.
      const posted = plan!;
      try {
        if (answer.type === 'failed') throw new OrtRunFailure(answer.message);
        return readTargets(targets, posted, answer.filled ?? []);
      } finally {
        if (posted.block !== undefined) scratch.give(posted.block);
      }
    },
    release: () => pool.close(),
  };
}

/**
 * The feeds as posted to a worker, and the buffers to move (see the module comment). The
 * caller's own buffers are moved only with `transfer` and `move` (the run goes to a free
 * worker; `once` then says the run cannot be posted again); copies made here are always moved,
 * and made again at the next posting.
 */
export function wireFeeds(feeds: readonly WireTensor[], transfer: boolean, move = true): { wire: WireTensor[]; transfer: ArrayBuffer[]; once: boolean } {
  const moved: ArrayBuffer[] = [];
  let once = false;
  const wire = feeds.map((f) => {
    const view = f.data;
    const buffer = view.buffer;
    // A queued run's message is made when it is posted: its feeds were checked at run(), but
    // the caller may have moved one of their buffers since (Node drops a message whose transfer
    // list holds a detached buffer, without an error, so the run would never settle).
    if (view.byteLength === 0 && f.dims.every((d) => d > 0)) {
      throw new InvalidArgumentError(
        `input ${JSON.stringify(f.name)}'s data was detached (its ArrayBuffer was transferred) while the run waited for a worker; ` +
          `dims ${formatDims(f.dims)} need ${elementCount(f.dims)} elements; keep a feed's memory until its run settles`,
      );
    }
    if (buffer instanceof SharedArrayBuffer) return f;
    const whole = view.byteOffset === 0 && view.byteLength === buffer.byteLength;
    if (transfer && move && whole) {
      if (!moved.includes(buffer)) moved.push(buffer);
      once = true;
      return f;
    }
    if (whole) return f; // structured clone copies it once
    const copy = (view as unknown as { slice(): ArrayBufferView }).slice();
    moved.push(copy.buffer as ArrayBuffer);
    return { ...f, data: copy };
  });
  return { wire, transfer: moved, once };
}

/** Copies the bytes of `from` into `to` (same byte length). */
function copyBytes(from: ArrayBufferView, to: ArrayBufferView): void {
  new Uint8Array(to.buffer, to.byteOffset, to.byteLength).set(new Uint8Array(from.buffer, from.byteOffset, from.byteLength));
}

/**
 * Shared blocks that caller-provided outputs cross from a worker in, reused across runs: a run
 * takes one for itself (so no two runs in flight share one) and gives it back once its worker
 * has answered. At most `keep` idle blocks are kept (the smallest dropped first).
 */
export class ScratchBlocks {
  readonly #free: SharedArrayBuffer[] = [];
  readonly #keep: number;
  /** Blocks made so far (tests and benchmarks: steady runs make none). */
  made = 0;

  constructor(keep: number) {
    this.#keep = keep;
  }

  /** A block of at least `bytes` bytes: the smallest idle one that fits, else a new one (a power of two, at least 256 bytes). */
  take(bytes: number): SharedArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const size = this.#free[i]!.byteLength;
      if (size >= bytes && (best < 0 || size < this.#free[best]!.byteLength)) best = i;
    }
    if (best >= 0) return this.#free.splice(best, 1)[0]!;
    this.made++;
    return new SharedArrayBuffer(Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(1, bytes)))));
  }

  give(block: SharedArrayBuffer): void {
    this.#free.push(block);
    if (this.#free.length > this.#keep) {
      let smallest = 0;
      for (let i = 1; i < this.#free.length; i++) if (this.#free[i]!.byteLength < this.#free[smallest]!.byteLength) smallest = i;
      this.#free.splice(smallest, 1);
    }
  }
}

interface TargetPlan {
  readonly wire: WireTarget[];
  /** The scratch block the worker writes into. */
  readonly block: SharedArrayBuffer | undefined;
}

/**
 * Where the worker writes each caller-provided output: a region of one scratch block (8-byte
 * aligned) that readTargets() copies into the target on this thread once the worker has
 * answered. Never into the target itself, even one in a SharedArrayBuffer: a run that is
 * aborted while it executes still completes in its worker, and its late write would land in
 * memory the caller has taken back.
 */
function planTargets(targets: ReadonlyMap<string, Tensor>, scratch: ScratchBlocks): TargetPlan {
  let need = 0;
  for (const t of targets.values()) need += Math.ceil(t.data.byteLength / 8) * 8;
  const block = scratch.take(need);
  const wire: WireTarget[] = [];
  let at = 0;
  for (const [name, t] of targets) {
    wire.push({ name, type: t.type, dims: [...t.dims], buffer: block, byteOffset: at, byteLength: t.data.byteLength });
    at += Math.ceil(t.data.byteLength / 8) * 8;
  }
  return { wire, block };
}

/** After the worker answered: each output's dims must be its target's (ERR_SHAPE); then the bytes go into the targets. */
function readTargets(
  targets: ReadonlyMap<string, Tensor>,
  plan: TargetPlan,
  filled: readonly { name: string; dims: number[]; written: boolean }[],
): WireTensor[] {
  // Every output is checked before any target is written, so a refused run writes none.
  for (const w of plan.wire) {
    const f = filled.find((x) => x.name === w.name);
    if (f === undefined) throw new OrtRunFailure(`the worker returned no value for output "${w.name}"`);
    checkTargetResult(w.name, targets.get(w.name)!, f.dims);
    if (!f.written) throw new OrtRunFailure(`the worker did not write output "${w.name}"`);
  }
  const out: WireTensor[] = [];
  for (const w of plan.wire) {
    const target = targets.get(w.name)!;
    if (w.buffer !== target.data.buffer) copyBytes(new Uint8Array(w.buffer, w.byteOffset, w.byteLength), target.data);
    out.push({ name: w.name, type: target.type, dims: [...target.dims], data: target.data });
  }
  return out;
}
