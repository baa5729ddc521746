/**
 * A pool of ONNX Runtime worker threads (ort-worker.ts): each worker owns one session over the
 * same model and runs one inference at a time; runs wait in one first-come-first-served queue
 * here, in the parent, and go to whichever worker is free.
 *
 * Lifecycle and failure rules:
 * - A worker is ref'd while it runs something (or while the session is being created), and
 *   unref'd when idle, so an idle session never keeps the process alive, and a run in flight
 *   does (a pending promise alone would not).
 * - A worker that dies (uncaught exception, process.exit inside it, heap out of memory,
 *   terminate) rejects the run it had with ERR_WORKER naming the worker and how it ended; a
 *   replacement loads the model while queued runs wait (other workers keep serving). If the
 *   replacement cannot load, the pool is lost: queued and later runs get ERR_WORKER with
 *   `lost: true`.
 * - Aborting a queued run removes it; aborting a running one rejects it at once and its result
 *   is dropped when it arrives (the worker stays busy until then: ONNX Runtime cannot stop it).
 * - close() lets each worker finish what it runs, releases its session and waits for it to exit.
 * - A worker is never terminated inside a native ONNX Runtime call (that aborts the process;
 *   see ort-worker.ts): on process exit, the 'exit' handler waits for native calls to return.
 */
import { Worker, type ResourceLimits, type TransferListItem } from 'node:worker_threads';
import { DisposedError, QueueFullError, WorkerError, abortErrorFrom } from '../errors.js';
import { NATIVE_BUSY, NATIVE_IDLE, NATIVE_STOPPED, type FromWorker, type ToWorker, type WireValueMetadata } from './ort-worker.js';

/** How long process exit waits, in total, for workers to leave native calls. */
const EXIT_WAIT_MS = 60_000;
/** How long close() waits for a worker to exit after its session is released. */
const CLOSE_WAIT_MS = 10_000;

export interface OrtWorkerPoolOptions {
  /** Workers (runs at once). */
  size: number;
  /** The eval'd worker script (ortWorkerSource(); a double in unit tests). */
  source: string;
  /** The worker's workerData, less `nativeState`, which the pool adds. */
  workerData: Record<string, unknown>;
  /** Runs allowed to wait for a worker; more are refused with ERR_QUEUE_FULL. */
  maxQueue?: number;
  resourceLimits?: ResourceLimits;
  /** For messages: what the workers run (e.g. 'ONNX Runtime'). */
  label?: string;
}

export interface WorkerMetadata {
  inputs: WireValueMetadata[];
  outputs: WireValueMetadata[];
}

interface Job {
  readonly id: number;
  readonly request: Record<string, unknown>;
  readonly transfer: readonly TransferListItem[];
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  /** queued: in #queue; running: posted to a worker; settled: its promise has settled. */
  state: 'queued' | 'running' | 'settled';
}

type SlotState = 'loading' | 'idle' | 'busy' | 'closing' | 'exited';

interface Slot {
  readonly index: number;
  worker: Worker;
  /** worker.threadId reads -1 once the worker has exited; messages need it after. */
  readonly threadId: number;
  native: Int32Array;
  state: SlotState;
  /** The run posted to this worker (also after it was aborted, until the worker answers). */
  job: Job | undefined;
  /** The 'error' event that preceded the exit, if any. */
  error: Error | undefined;
  /** Set while loading: settles when the worker is ready or failed to load. */
  loaded: { resolve: (meta: WorkerMetadata) => void; reject: (e: Error) => void } | undefined;
  /** Workers that held this place before (for messages). */
  restarts: number;
  readonly exited: Promise<void>;
}

export class OrtWorkerPool {
  readonly size: number;
  readonly #options: OrtWorkerPoolOptions;
  readonly #label: string;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  readonly #maxQueue: number;
  #nextId = 1;
  #starting = true;
  #closing: Promise<void> | undefined;
  #lost: WorkerError | undefined;

  private constructor(options: OrtWorkerPoolOptions) {
    this.size = options.size;
    this.#options = options;
    this.#label = options.label ?? 'ONNX Runtime';
    this.#maxQueue = options.maxQueue ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Starts `options.size` workers and waits until every one has loaded the model; returns the
   * pool and the model's I/O metadata. If any worker fails, the others are closed and the
   * first failure is thrown.
   */
  static async start(options: OrtWorkerPoolOptions): Promise<{ pool: OrtWorkerPool; metadata: WorkerMetadata }> {
    const pool = new OrtWorkerPool(options);
    livePools.add(pool);
    if (livePools.size === 1) process.on('exit', waitForNativeCalls);
    const loads = Array.from({ length: options.size }, (_, i) => pool.#spawn(i, 0));
    const results = await Promise.allSettled(loads);
    pool.#starting = false;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await pool.close();
      throw failed.reason;
    }
    pool.#updateRefs();
    return { pool, metadata: (results[0] as PromiseFulfilledResult<WorkerMetadata>).value };
  }

  /** Runs waiting for a worker, workers running, workers in all. */
  get load(): { queued: number; busy: number; contexts: number } {
    return { queued: this.#queue.length, busy: this.#slots.filter((s) => s.state === 'busy').length, contexts: this.size };
  }

  /** Set when the pool cannot run any more (a replacement worker failed to load). */
  get lost(): WorkerError | undefined {
    return this.#lost;
  }

  /** Thread ids of the current workers (diagnostics and tests). */
  get threadIds(): number[] {
    return this.#slots.map((s) => s.threadId);
  }

  /**
   * Terminates worker `index` as Node's teardown would, once it is outside a native call
   * (diagnostics and tests: the pool then treats it as any worker that died).
   * @internal
   */
  terminateWorker(index: number): void {
    const slot = this.#slots[index];
    if (slot && slot.state !== 'exited') this.#terminateWhenIdle(slot);
  }

  /**
   * Queues `request` (posted as `{ type: 'run', id, ...request }` with `transfer`) and resolves
   * with the worker's `done` message. Rejects with the worker's failure message wrapped by the
   * caller's `onFailed` (see run options), ERR_WORKER, ERR_ABORTED or ERR_QUEUE_FULL.
   */
  run(request: Record<string, unknown>, transfer: readonly TransferListItem[], signal?: AbortSignal): Promise<FromWorker & { type: 'done' | 'failed' }> {
    if (this.#closing) return Promise.reject(new DisposedError(`run() on a closed ${this.#label} worker pool`));
    if (this.#lost) return Promise.reject(this.#lost);
    if (signal?.aborted) return Promise.reject(abortErrorFrom(signal, 'run()'));
    if (this.#queue.length >= this.#maxQueue && !this.#slots.some((s) => s.state === 'idle')) {
      return Promise.reject(new QueueFullError(`run() refused: ${this.#queue.length} runs already wait for a worker (maxQueue ${this.#maxQueue})`));
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.#nextId++,
        request,
        transfer,
        resolve: resolve as (value: unknown) => void,
        reject,
        signal,
        onAbort: () => this.#abort(job),
        state: 'queued',
      };
      signal?.addEventListener('abort', job.onAbort, { once: true });
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  /**
   * Ends the workers: each finishes the run it has (runs still queued are rejected with
   * ERR_DISPOSED; the session waits for its runs before closing), releases its session and
   * exits. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const job of this.#queue.splice(0)) this.#settle(job, undefined, new DisposedError(`the ${this.#label} worker pool was closed`));
      await Promise.all(this.#slots.map((slot) => this.#closeSlot(slot)));
      livePools.delete(this);
      if (livePools.size === 0) process.off('exit', waitForNativeCalls);
    })();
    return this.#closing;
  }

  #spawn(index: number, restarts: number): Promise<WorkerMetadata> {
    const native = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(this.#options.source, {
      eval: true,
      workerData: { ...this.#options.workerData, nativeState: native.buffer },
      // The pool reports a worker's death itself; its stdout/stderr stay the process's own.
      ...(this.#options.resourceLimits ? { resourceLimits: this.#options.resourceLimits } : {}),
    });
    let resolveExited!: () => void;
    const exited = new Promise<void>((r) => (resolveExited = r));
    const slot: Slot = { index, worker, threadId: worker.threadId, native, state: 'loading', job: undefined, error: undefined, loaded: undefined, restarts, exited };
    this.#slots[index] = slot;
    const loaded = new Promise<WorkerMetadata>((resolve, reject) => (slot.loaded = { resolve, reject }));
    worker.on('message', (m: FromWorker) => this.#onMessage(slot, m));
    worker.on('error', (e: Error) => {
      slot.error ??= e;
    });
    worker.on('exit', (code: number) => {
      resolveExited();
      this.#onExit(slot, code);
    });
    this.#updateRefs();
    return loaded;
  }

  #onMessage(slot: Slot, m: FromWorker): void {
    if (this.#slots[slot.index] !== slot) return;
    switch (m.type) {
      case 'ready': {
        slot.state = 'idle';
        const loaded = slot.loaded;
        slot.loaded = undefined;
        loaded?.resolve({ inputs: m.inputs, outputs: m.outputs });
        this.#dispatch();
        return;
      }
      case 'loadFailed': {
        const error = new WorkerError(`${this.#workerName(slot)} could not load the model: ${m.message}`, {
          worker: slot.index,
          reason: 'load',
          ortMessage: m.message,
        });
        this.#loadFailed(slot, error);
        return;
      }
      case 'done':
      case 'failed': {
        const job = slot.job;
        if (job === undefined || job.id !== m.id) return;
        slot.job = undefined;
        if (slot.state === 'busy') slot.state = 'idle';
        this.#settle(job, m, undefined);
        this.#dispatch();
        return;
      }
    }
  }

  #onExit(slot: Slot, code: number): void {
    const previous = slot.state;
    slot.state = 'exited';
    if (this.#slots[slot.index] !== slot || previous === 'closing') {
      this.#updateRefs();
      return;
    }
    const how = this.#howItEnded(slot, code);
    const details = { worker: slot.index, threadId: slot.threadId, exitCode: code, reason: how.reason, ...(slot.error ? { cause: slot.error } : {}) };
    if (previous === 'loading') {
      this.#loadFailed(slot, new WorkerError(`${this.#workerName(slot)} ${how.text} while loading the model`, details));
      return;
    }
    const job = slot.job;
    slot.job = undefined;
    if (job) this.#settle(job, undefined, new WorkerError(`${this.#workerName(slot)} ${how.text} during this run; the run's result is lost`, details));
    if (this.#closing) return;
    // The replacement loads while queued runs wait; if it cannot, #loadFailed loses the pool.
    this.#spawn(slot.index, slot.restarts + 1).catch(() => undefined);
  }

  #loadFailed(slot: Slot, error: WorkerError): void {
    const loaded = slot.loaded;
    slot.loaded = undefined;
    if (this.#starting || this.#closing) {
      loaded?.reject(error);
      return;
    }
    loaded?.reject(error);
    this.#lost ??= new WorkerError(
      `the ${this.#label} session is lost: a worker died and its replacement failed (${error.message}); create a new session`,
      { worker: slot.index, lost: true, cause: error },
    );
    for (const job of this.#queue.splice(0)) this.#settle(job, undefined, this.#lost);
    this.#updateRefs();
  }

  #howItEnded(slot: Slot, code: number): { text: string; reason: string } {
    const e = slot.error as (Error & { code?: string }) | undefined;
    if (e?.code === 'ERR_WORKER_OUT_OF_MEMORY') return { text: `ran out of memory (${e.message})`, reason: 'oom' };
    if (e) return { text: `died of an uncaught ${e.name}: ${e.message}`, reason: 'error' };
    if (code === 1) return { text: 'exited with code 1 (terminated, or process.exit(1) inside it)', reason: 'exit' };
    return { text: `exited with code ${code}`, reason: 'exit' };
  }

  #workerName(slot: Slot): string {
    const restarted = slot.restarts > 0 ? `, restart ${slot.restarts}` : '';
    return `${this.#label} worker ${slot.index + 1} of ${this.size} (thread ${slot.threadId}${restarted})`;
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) break;
      if (slot.state !== 'idle') continue;
      const job = this.#queue.shift()!;
      slot.job = job;
      slot.state = 'busy';
      job.state = 'running';
      const message = { type: 'run', id: job.id, ...job.request } as ToWorker;
      try {
        slot.worker.postMessage(message, job.transfer);
      } catch (e) {
        // A buffer that cannot be moved (or cloned) fails this run only.
        slot.job = undefined;
        slot.state = 'idle';
        this.#settle(job, undefined, e);
        continue;
      }
    }
    this.#updateRefs();
  }

  #abort(job: Job): void {
    if (job.state === 'queued') {
      const at = this.#queue.indexOf(job);
      if (at >= 0) this.#queue.splice(at, 1);
    }
    // A running job keeps its worker until the worker answers; only the caller is told now.
    this.#settle(job, undefined, abortErrorFrom(job.signal!, 'run()'));
  }

  #settle(job: Job, value: unknown, error: unknown): void {
    if (job.state === 'settled') return;
    const wasQueued = job.state === 'queued';
    job.state = 'settled';
    job.signal?.removeEventListener('abort', job.onAbort);
    if (error !== undefined) job.reject(error);
    else job.resolve(value);
    if (wasQueued) this.#updateRefs();
  }

  /** A worker keeps the process alive only while it has work (or the pool is starting). */
  #updateRefs(): void {
    for (const slot of this.#slots) {
      const wanted =
        slot.job !== undefined ||
        slot.state === 'closing' ||
        (slot.state === 'loading' && (this.#starting || this.#queue.length > 0));
      if (wanted) slot.worker.ref();
      else slot.worker.unref();
    }
  }

  async #closeSlot(slot: Slot): Promise<void> {
    if (slot.state === 'exited') return;
    if (slot.state === 'loading') {
      await new Promise<void>((resolve) => {
        const wait = slot.loaded;
        if (!wait) return resolve();
        slot.loaded = {
          resolve: (meta) => (wait.resolve(meta), resolve()),
          reject: (e) => (wait.reject(e), resolve()),
        };
      });
      if ((slot.state as SlotState) === 'exited') return;
    }
    // An aborted run may still be inside ONNX Runtime: let it finish.
    while (slot.job !== undefined && (slot.state as SlotState) !== 'exited') await waitForAnswer(slot);
    if ((slot.state as SlotState) === 'exited') return;
    slot.state = 'closing';
    this.#updateRefs();
    slot.worker.postMessage({ type: 'close' } satisfies ToWorker);
    const timer = setTimeout(() => this.#terminateWhenIdle(slot), CLOSE_WAIT_MS);
    timer.unref();
    await slot.exited;
    clearTimeout(timer);
  }

  /** Terminates a worker that did not exit in time, but never inside a native call. */
  #terminateWhenIdle(slot: Slot): void {
    if (Atomics.compareExchange(slot.native, 0, NATIVE_IDLE, NATIVE_STOPPED) === NATIVE_BUSY) {
      // Atomics.waitAsync is in Node 16+, typed only from lib es2024.
      const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { value: Promise<unknown> | string } }).waitAsync;
      const wait = waitAsync(slot.native, 0, NATIVE_BUSY).value;
      if (typeof wait === 'string') queueMicrotask(() => this.#terminateWhenIdle(slot));
      else void wait.then(() => this.#terminateWhenIdle(slot));
      return;
    }
    void slot.worker.terminate();
  }

  /** See waitForNativeCalls. */
  stopNativeCalls(deadline: number): void {
    for (const slot of this.#slots) {
      if (slot.state === 'exited') continue;
      for (;;) {
        const was = Atomics.compareExchange(slot.native, 0, NATIVE_IDLE, NATIVE_STOPPED);
        if (was !== NATIVE_BUSY) break;
        const left = deadline - Date.now();
        if (left <= 0) return;
        Atomics.wait(slot.native, 0, NATIVE_BUSY, left);
      }
    }
  }
}

/** Pools not closed yet; one process 'exit' listener serves them all. */
const livePools = new Set<OrtWorkerPool>();

/**
 * The process 'exit' handler: Node is about to stop the workers; a worker inside ONNX Runtime
 * would take the process down with it, so wait (synchronously: nothing else runs now) until
 * each is out of native code and cannot enter it again.
 */
function waitForNativeCalls(): void {
  const deadline = Date.now() + EXIT_WAIT_MS;
  for (const pool of livePools) pool.stopNativeCalls(deadline);
}

/** Resolves when the slot's worker answers its current run or exits. */
function waitForAnswer(slot: Slot): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      slot.worker.off('message', done);
      slot.worker.off('exit', done);
      // Let the pool's own listeners (registered first) update the slot before the loop re-checks.
      queueMicrotask(resolve);
    };
    slot.worker.on('message', done);
    slot.worker.on('exit', done);
  });
}
