/**
 * The code an ONNX Runtime worker thread runs, and the messages it exchanges with the pool
 * (ort-pool.ts). Each worker owns one onnxruntime-node session and runs one inference at a
 * time, so the main thread's event loop never waits on ONNX Runtime.
 *
 * The worker is started from this function's source text (`new Worker(source, { eval: true })`)
 * rather than from a file: the library then works the same from dist/, from the TypeScript
 * sources under vitest, and inside an application's bundle, where a separate worker file would
 * not be emitted. `ortWorkerMain` must therefore stay self-contained: no imports, no
 * references to anything outside its own body (types are erased and may be imported).
 *
 * Shared words (`OrtWorkerData.shared`, three Int32s):
 * - [0], the native-call guard. Terminating a worker thread while onnxruntime-node is inside
 *   a native call (create, run, release) aborts the whole process (measured with
 *   onnxruntime-node 1.30: the binding throws a C++ exception out of N-API while the thread is
 *   torn down, and std::terminate follows). The worker marks every native call: IDLE -> BUSY
 *   before, BUSY -> IDLE after (with a notify). The pool terminates a worker only after moving
 *   the word IDLE -> STOPPED, and the process 'exit' handler waits for BUSY to end; a worker
 *   that sees STOPPED makes no more native calls.
 * - [1] and [2], claims. The pool posts up to two runs to a worker (the second waits there, so
 *   the worker never idles while the main thread handles a result). Before posting run `id`
 *   with sequence number `seq`, the pool stores `id` in word 1 + seq % 2; before starting it,
 *   the worker swaps that word id -> 0. The pool takes a waiting run back (aborted, or given
 *   to an idle worker) by the same swap: whichever side swaps first has it, so a run never
 *   executes twice, and a run taken back is answered `skipped`.
 */
import type * as Ort from 'onnxruntime-node';

/** Values of the native-call word (index 0 of `OrtWorkerData.shared`). */
export const NATIVE_IDLE = 0;
export const NATIVE_BUSY = 1;
export const NATIVE_STOPPED = 2;

/** A tensor on the wire: structured-clonable, its data a typed array (moved or copied). */
export interface WireTensor {
  name: string;
  type: string;
  dims: number[];
  data: ArrayBufferView;
}

export interface WireValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}

/** Model bytes every worker reads (a view of a SharedArrayBuffer). */
export interface SharedModel {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  byteLength: number;
}

export interface OrtWorkerData {
  /** Absolute path of onnxruntime-node's entry point (resolved in the parent). */
  ortPath: string;
  /** The model: bytes shared by all workers, or a path (models with external data). */
  model: SharedModel | string;
  sessionOptions: Ort.InferenceSession.SessionOptions;
  /** onnxruntime-node's env.logLevel for this thread's default logger. */
  envLogLevel: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
  /** Three Int32s: the native-call word and two claim words (see the module comment). */
  shared: SharedArrayBuffer;
}

/**
 * A caller-provided output as the worker sees it: where in shared memory to write the output's
 * bytes (the caller's own SharedArrayBuffer, or the parent's scratch block), and the dims and
 * type it must have. The worker writes it only when the run produced exactly those dims.
 */
export interface WireTarget {
  name: string;
  type: string;
  dims: number[];
  buffer: SharedArrayBuffer;
  byteOffset: number;
  byteLength: number;
}

export interface RunRequest {
  feeds: WireTensor[];
  fetches: string[];
  /** Set when the caller provided outputs: `fetches` are their names, in the same order. */
  targets?: WireTarget[] | undefined;
  logSeverityLevel: number;
}

/** What the worker did with a caller-provided output: the dims the run produced, and whether it wrote them. */
export interface FilledTarget {
  name: string;
  dims: number[];
  written: boolean;
}

export type ToWorker = ({ type: 'run'; id: number; seq: number } & RunRequest) | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; inputs: WireValueMetadata[]; outputs: WireValueMetadata[] }
  | { type: 'loadFailed'; message: string }
  | { type: 'done'; id: number; outputs: WireTensor[]; filled?: FilledTarget[] }
  | { type: 'failed'; id: number; message: string }
  | { type: 'skipped'; id: number };

/**
 * The worker's entry point; `req` is the eval'd script's CommonJS `require`.
 * Self-contained: see the module comment.
 */
export function ortWorkerMain(req: NodeRequire): void {
  const threads = req('node:worker_threads') as typeof import('node:worker_threads');
  const port = threads.parentPort!;
  const data = threads.workerData as OrtWorkerData;
  const state = new Int32Array(data.shared);
  const ort = req(data.ortPath) as typeof Ort;
  ort.env.logLevel = data.envLogLevel;

  class Stopped extends Error {}
  const native = async <T>(call: () => Promise<T>): Promise<T> => {
    if (Atomics.compareExchange(state, 0, 0, 1) !== 0) throw new Stopped('the process is exiting');
    try {
      return await call();
    } finally {
      Atomics.store(state, 0, 0);
      Atomics.notify(state, 0);
    }
  };
  const text = (e: unknown): string => (e instanceof Error ? e.message : String(e));
  const metadata = (list: readonly Ort.InferenceSession.ValueMetadata[]) =>
    list.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] } : { name: m.name, isTensor: false }));

  let session: Ort.InferenceSession | undefined;
  // Messages are handled one after another, so a run that arrives while another is inside
  // onnxruntime-node (which yields to the event loop once, in a setImmediate) waits its turn.
  let chain: Promise<void> = Promise.resolve();

  const load = async (): Promise<void> => {
    try {
      // onnxruntime-node takes an ArrayBuffer only: the shared bytes are copied here, on this
      // thread, and the copy is garbage once ONNX Runtime has parsed it.
      const model = typeof data.model === 'string' ? data.model : new Uint8Array(data.model.buffer, data.model.byteOffset, data.model.byteLength).slice();
      session = await native(() =>
        typeof model === 'string' ? ort.InferenceSession.create(model, data.sessionOptions) : ort.InferenceSession.create(model, data.sessionOptions),
      );
      port.postMessage({ type: 'ready', inputs: metadata(session.inputMetadata), outputs: metadata(session.outputMetadata) } satisfies FromWorker);
    } catch (e) {
      if (e instanceof Stopped) return;
      port.postMessage({ type: 'loadFailed', message: text(e) } satisfies FromWorker);
      port.close();
    }
  };

  const run = async (m: { id: number; seq: number } & RunRequest): Promise<void> => {
    if (Atomics.compareExchange(state, 1 + (m.seq % 2), m.id, 0) !== m.id) {
      port.postMessage({ type: 'skipped', id: m.id } satisfies FromWorker);
      return;
    }
    let result: Ort.InferenceSession.ReturnType;
    try {
      const feeds: Record<string, Ort.Tensor> = {};
      for (const f of m.feeds) {
        // onnxruntime-node takes ArrayBuffer-backed arrays only: shared memory is copied here, off the main thread.
        const data = f.data.buffer instanceof SharedArrayBuffer ? (f.data as Float32Array).slice() : f.data;
        feeds[f.name] = new ort.Tensor(f.type as 'float32', data as Float32Array, f.dims);
      }
      result = await native(() => session!.run(feeds, m.fetches, { logSeverityLevel: m.logSeverityLevel as 0 }));
    } catch (e) {
      if (e instanceof Stopped) return;
      port.postMessage({ type: 'failed', id: m.id, message: text(e) } satisfies FromWorker);
      return;
    }
    if (m.targets !== undefined) {
      // Caller-provided outputs: the bytes go into shared memory the parent reads (no buffer per
      // run crosses to the parent); an output whose dims differ from the target's is left out.
      const filled: FilledTarget[] = [];
      for (const target of m.targets) {
        const t = result[target.name];
        const view = t?.data as ArrayBufferView | undefined;
        if (t === undefined || !ArrayBuffer.isView(view)) {
          port.postMessage({ type: 'failed', id: m.id, message: `ONNX Runtime returned no numeric value for output "${target.name}"` } satisfies FromWorker);
          return;
        }
        if (t.type !== target.type) {
          port.postMessage({ type: 'failed', id: m.id, message: `output "${target.name}" came back as ${t.type}, not ${target.type}` } satisfies FromWorker);
          return;
        }
        const dims = [...t.dims];
        const same = dims.length === target.dims.length && dims.every((d, i) => d === target.dims[i]) && view.byteLength === target.byteLength;
        if (same) {
          new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
        }
        filled.push({ name: target.name, dims, written: same });
      }
      port.postMessage({ type: 'done', id: m.id, outputs: [], filled } satisfies FromWorker);
      return;
    }
    const outputs: WireTensor[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const name of m.fetches) {
      const t = result[name];
      if (t === undefined) {
        port.postMessage({ type: 'failed', id: m.id, message: `ONNX Runtime returned no value for output "${name}"` } satisfies FromWorker);
        return;
      }
      const view = t.data as ArrayBufferView;
      if (!ArrayBuffer.isView(view)) {
        port.postMessage({ type: 'failed', id: m.id, message: `output "${name}" of type ${t.type} is not a numeric tensor` } satisfies FromWorker);
        return;
      }
      outputs.push({ name, type: t.type, dims: [...t.dims], data: view });
      const buffer = view.buffer;
      if (buffer instanceof ArrayBuffer && !transfer.includes(buffer)) transfer.push(buffer);
    }
    const message: FromWorker = { type: 'done', id: m.id, outputs };
    try {
      // The outputs' buffers were made for this run: moving them costs nothing.
      port.postMessage(message, transfer);
    } catch {
      port.postMessage(message);
    }
  };

  const close = async (): Promise<void> => {
    try {
      if (session) await native(() => session!.release());
    } catch {
      // Released or not, the thread ends now; the pool only waits for it to exit.
    }
    port.close();
  };

  port.on('message', (m: ToWorker) => {
    chain = chain.then(() => (m.type === 'run' ? run(m) : close()));
  });
  chain = chain.then(load);
}

/**
 * The eval'd source of a worker whose entry point is `main(require)`. The script is an ES module
 * when the process runs with --input-type=module (workers inherit it), so it makes its own
 * require rather than relying on CommonJS scope; a bundler's keepNames option wraps named
 * functions in __name(), a helper the worker does not have, hence the stand-in.
 */
export function workerSource(main: (req: NodeRequire) => void): string {
  return `"use strict";\nconst __name = (f) => f;\n` + `(${main.toString()})(process.getBuiltinModule('node:module').createRequire(process.cwd() + '/'));\n`;
}

/** The eval'd source of an ONNX Runtime worker. */
export function ortWorkerSource(): string {
  return workerSource(ortWorkerMain);
}
