/**
 * Where an ONNX Runtime session's inferences execute: on the calling thread (onnxruntime-node
 * as it is: each run holds the event loop for the whole inference) or in a pool of worker
 * threads (ort-pool.ts), each with its own session over the same model. The session
 * (onnxruntime.ts) validates feeds and translates failures; an execution only runs.
 *
 * Copies, worker mode: with `transfer`, a feed that spans its whole ArrayBuffer is moved to the
 * worker (0 copies; the caller's array is detached when the run starts). A feed in a
 * SharedArrayBuffer is shared with the worker and copied there, off the main thread, because
 * onnxruntime-node takes ArrayBuffer-backed arrays only (the caller must not change it before
 * the run settles). Any other feed is copied once on this thread, by postMessage's structured
 * clone, so the caller keeps using it (a view of part of a larger buffer is copied alone rather
 * than cloning the whole buffer). onnxruntime-node copies each output out of ONNX Runtime once,
 * into a buffer made for that run (in-thread too); the worker moves those buffers to this
 * thread (0 copies).
 */
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type * as Ort from 'onnxruntime-node';
import { FileError, OnnxRuntimeError } from '../errors.js';
import { OrtWorkerPool } from './ort-pool.js';
import { ortWorkerSource, type SharedModel, type WireTensor, type WireValueMetadata } from './ort-worker.js';
import { raceAbort } from './common.js';

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
 * Intra-op threads per session: an explicit count wins; with one context, ONNX Runtime's own
 * default (0: one thread per physical core, as in-thread); with n contexts, the cores shared
 * out so that workers x threads fit them.
 */
export function intraOpThreadsFor(contexts: number, explicit: number, cores = availableParallelism()): number {
  if (explicit > 0) return explicit;
  if (contexts <= 1) return 0;
  return Math.max(1, Math.floor(cores / contexts));
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
      const work = session.run(ortFeeds, fetches, { logSeverityLevel: runOptions.logSeverityLevel as 0 }).then(
        (result) =>
          fetches.map((name) => {
            const t = result[name];
            if (t === undefined) throw new OrtRunFailure(`ONNX Runtime returned no value for output "${name}"`);
            return { name, type: t.type, dims: [...t.dims], data: t.data as ArrayBufferView };
          }),
        (e: unknown) => {
          throw new OrtRunFailure((e as Error).message, { cause: e });
        },
      );
      pending.add(work);
      const forget = (): void => void pending.delete(work);
      work.then(forget, forget);
      return raceAbort(work, runOptions.signal, 'run()');
    },
    async release() {
      await Promise.allSettled([...pending]);
      await session.release();
    },
  };
}

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
  return {
    contexts: options.contexts,
    inputs: metadata.inputs,
    outputs: metadata.outputs,
    get load() {
      return pool.load;
    },
    async run(feeds, fetches, runOptions) {
      const { wire, transfer } = wireFeeds(feeds, runOptions.transfer ?? false);
      const answer = await pool.run({ feeds: wire, fetches: [...fetches], logSeverityLevel: runOptions.logSeverityLevel }, transfer, runOptions.signal);
      if (answer.type === 'failed') throw new OrtRunFailure(answer.message);
      return answer.outputs;
    },
    release: () => pool.close(),
  };
}

/** The feeds as posted to a worker, and the buffers to move (see the module comment). */
export function wireFeeds(feeds: readonly WireTensor[], transfer: boolean): { wire: WireTensor[]; transfer: ArrayBuffer[] } {
  const moved: ArrayBuffer[] = [];
  const wire = feeds.map((f) => {
    const view = f.data;
    const buffer = view.buffer;
    if (buffer instanceof SharedArrayBuffer) return f;
    const whole = view.byteOffset === 0 && view.byteLength === buffer.byteLength;
    if (transfer && whole) {
      if (!moved.includes(buffer)) moved.push(buffer);
      return f;
    }
    if (whole) return f; // structured clone copies it once
    const copy = (view as unknown as { slice(): ArrayBufferView }).slice();
    moved.push(copy.buffer as ArrayBuffer);
    return { ...f, data: copy };
  });
  return { wire, transfer: moved };
}
