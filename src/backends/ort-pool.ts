/**
 * A pool of ONNX Runtime worker threads (ort-worker.ts): each worker owns one session over the
 * same model and runs one inference at a time; runs wait in one first-come-first-served queue
 * here, in the parent. Each worker holds at most two runs, the one it executes and the next
 * (so it never idles while this thread handles a result); a worker that comes free takes the
 * next queued run, or else a run still waiting at another worker.
 *
 * Lifecycle and failure rules:
 * - A worker is ref'd while it holds a run (or while the pool starts), and unref'd when idle,
 *   so an idle session never keeps the process alive and a run in flight does (a pending
 *   promise alone would not).
 * - A worker that dies (uncaught exception, process.exit inside it, heap out of memory,
 *   terminate) rejects the run it was executing with ERR_WORKER naming the worker and how it
 *   ended; a run that only waited at it goes back to the head of the queue. A replacement loads
 *   the model while queued runs wait (other workers keep serving). If the replacement cannot
 *   load, the pool is lost: queued and later runs get ERR_WORKER with `lost: true`.
 * - A run may therefore be posted more than once (to a replacement, or to a worker that came
 *   free first), so its message is made at each posting (RunMessageSource): buffers it moves
 *   are moved only to a free worker, which starts the run at once; a run that will wait at a
 *   busy worker gets them cloned, so they are still whole if it must be posted again (Node
 *   drops a message, without an error, whose transfer list holds a buffer already moved). A
 *   run whose moved buffers went down with a worker before it started is rejected with
 *   ERR_WORKER: there is nothing left to post.
 * - maxQueue counts the runs that wait for a worker (in the queue, or held by a busy worker
 *   behind the run it executes); a run that a free worker starts at once never waits, so
 *   maxQueue 0 means no queue: runs are accepted only while a worker is free.
 * - Aborting a queued or waiting run removes it (the worker never starts it); aborting a
 *   running one rejects it at once and its result is dropped when it arrives (the worker stays
 *   busy until then: ONNX Runtime cannot stop it).
 * - close() lets each worker finish what it holds, releases its session, waits for it to exit.
 * - A worker is never terminated inside a native ONNX Runtime call (that aborts the process;
 *   see ort-worker.ts): on process exit, the 'exit' handler waits for native calls to return.
 */
import { Worker, type ResourceLimits, type TransferListItem } from 'node:worker_threads';
import { DisposedError, InvalidArgumentError, QueueFullError, TensorRTNodeError, WorkerError, abortErrorFrom } from '../errors.js';
import { NATIVE_BUSY, NATIVE_IDLE, NATIVE_STOPPED, type FromWorker, type ToWorker, type WireValueMetadata } from './ort-worker.js';

/** How long process exit waits, in total, for workers to leave native calls. */
const EXIT_WAIT_MS = 60_000;
/** How long close() waits for a worker to exit after its session is released. */
const CLOSE_WAIT_MS = 10_000;
/** Runs a worker holds: the one it executes and the next. */
const DEPTH = 2;

export interface OrtWorkerPoolOptions {
  /** Workers (runs at once). */
  size: number;
  /** The eval'd worker script (ortWorkerSource(); a double in unit tests). */
  source: string;
  /** The worker's workerData, less `shared`, which the pool adds. */
  workerData: Record<string, unknown>;
  /** Runs allowed to wait for a worker; more are refused with ERR_QUEUE_FULL (0: none waits; see the module comment). */
  maxQueue?: number | undefined;
  resourceLimits?: ResourceLimits;
  /** For messages: what the workers run (e.g. 'ONNX Runtime'). */
  label?: string;
}

export interface WorkerMetadata {
  inputs: WireValueMetadata[];
  outputs: WireValueMetadata[];
}

export type RunAnswer = FromWorker & { type: 'done' | 'failed' };

/** One posting of a run: its message (posted as `{ type: 'run', id, seq, ...request }`) and the buffers it moves. */
export interface RunMessage {
  readonly request: Record<string, unknown>;
  readonly transfer: readonly TransferListItem[];
  /** Set when `transfer` holds buffers that cannot be made again (the caller's own): the run is then never posted again. */
  readonly once?: boolean;
}

/**
 * Makes a run's message, at each posting. `move` is true when the run goes to a free worker
 * (which starts it at once); false when it will wait at a busy worker, from which it may be
 * taken to another or re-posted if that worker dies: it must then move nothing it cannot make again.
 */
export type RunMessageSource = (move: boolean) => RunMessage;

interface Job {
  readonly id: number;
  readonly message: RunMessageSource;
  readonly resolve: (value: RunAnswer) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  /** queued: in #queue; posted: held by a worker (see `posting`); settled: its promise has settled. */
  state: 'queued' | 'posted' | 'settled';
  posting: Posting | undefined;
}

/** A run posted to a worker; `takenBack` once the pool won its claim back (the worker answers `skipped`). */
interface Posting {
  readonly job: Job;
  readonly seq: number;
  takenBack: boolean;
  /** Its message moved buffers that cannot be made again (RunMessage.once). */
  readonly once: boolean;
}

type SlotState = 'loading' | 'ready' | 'closing' | 'exited';

interface Slot {
  readonly index: number;
  readonly worker: Worker;
  /** worker.threadId reads -1 once the worker has exited; messages need it after. */
  readonly threadId: number;
  /** [0] the native-call word, [1] and [2] the claim words (see ort-worker.ts). */
  readonly words: Int32Array;
  state: SlotState;
  /** Runs posted and not answered yet, oldest first. */
  postings: Posting[];
  nextSeq: number;
  /** The 'error' event that preceded the exit, if any. */
  error: Error | undefined;
  /** Set while loading: settles when the worker is ready or failed to load. */
  loaded: { resolve: (meta: WorkerMetadata) => void; reject: (e: Error) => void } | undefined;
  /** Workers that held this place before (for messages). */
  readonly restarts: number;
  readonly exited: Promise<void>;
  /** Settles when the worker answers anything or exits (close() waits on it). */
  answered: (() => void) | undefined;
}

const claimWord = (seq: number): number => 1 + (seq % 2);
/** The posting's run is still unclaimed: the worker has not started it. */
const unclaimed = (slot: Slot, p: Posting): boolean => Atomics.load(slot.words, claimWord(p.seq)) === p.job.id;

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

  /** Runs waiting (in the queue, or held by a worker behind the run it executes), workers with a run, workers in all. */
  get load(): { queued: number; busy: number; contexts: number } {
    const held = this.#slots.map((s) => this.#held(s).length);
    const waiting = held.reduce((n, h) => n + Math.max(0, h - 1), 0);
    return { queued: this.#queue.length + waiting, busy: held.filter((h) => h > 0).length, contexts: this.size };
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
   * Queues a run and resolves with the worker's answer (`done` or `failed`). `request` is the
   * message (posted as `{ type: 'run', id, seq, ...request }`), with `transfer` moved when the
   * run goes to a free worker and cloned when it waits at a busy one; or a RunMessageSource
   * that makes the message at each posting (`transfer` is then unused). Rejects with
   * ERR_WORKER, ERR_ABORTED, ERR_QUEUE_FULL or ERR_DISPOSED.
   */
  run(request: Record<string, unknown> | RunMessageSource, transfer: readonly TransferListItem[] = [], signal?: AbortSignal): Promise<RunAnswer> {
    if (this.#closing) return Promise.reject(new DisposedError(`run() on a closed ${this.#label} worker pool`));
    if (this.#lost) return Promise.reject(this.#lost);
    if (signal?.aborted) return Promise.reject(abortErrorFrom(signal, 'run()'));
    const waiting = this.load.queued;
    // maxQueue 0: a free worker takes the run at once, unless runs put back (their worker died) wait for it first.
    const free = this.#slots.some((slot) => this.#takes(slot, 0)) && (this.#maxQueue > 0 || this.#queue.length === 0);
    if (waiting >= this.#maxQueue && !free) {
      const busy = this.#slots.filter((slot) => !this.#takes(slot, 0)).length;
      const limit = this.#maxQueue === 0 ? 'maxQueue is 0 (no run waits for a worker)' : `${waiting} runs already wait for one (maxQueue ${this.#maxQueue})`;
      return Promise.reject(new QueueFullError(`run() refused: no worker is free (${busy} of ${this.size} busy) and ${limit}`));
    }
    const message: RunMessageSource =
      typeof request === 'function' ? request : (move) => (move ? { request, transfer, once: transfer.length > 0 } : { request, transfer: [] });
    return new Promise<RunAnswer>((resolve, reject) => {
      const job: Job = {
        id: this.#nextId,
        message,
        resolve,
        reject,
        signal,
        onAbort: () => this.#abort(job),
        state: 'queued',
        posting: undefined,
      };
      // Claim words are Int32s and 0 means "no run".
      this.#nextId = (this.#nextId % 0x7fff_ffff) + 1;
      signal?.addEventListener('abort', job.onAbort, { once: true });
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  /**
   * Ends the workers: each finishes the run it executes (runs not started yet are rejected with
   * ERR_DISPOSED; the session waits for its runs before closing), releases its session and
   * exits. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = (): DisposedError => new DisposedError(`the ${this.#label} worker pool was closed`);
      for (const job of this.#queue.splice(0)) this.#settle(job, undefined, closed());
      for (const slot of this.#slots) for (const p of this.#held(slot)) if (this.#takeBack(slot, p)) this.#settle(p.job, undefined, closed());
      await Promise.all(this.#slots.map((slot) => this.#closeSlot(slot)));
      livePools.delete(this);
      if (livePools.size === 0) process.off('exit', waitForNativeCalls);
    })();
    return this.#closing;
  }

  #spawn(index: number, restarts: number): Promise<WorkerMetadata> {
    const words = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
    const worker = new Worker(this.#options.source, {
      eval: true,
      workerData: { ...this.#options.workerData, shared: words.buffer },
      ...(this.#options.resourceLimits ? { resourceLimits: this.#options.resourceLimits } : {}),
    });
    let resolveExited!: () => void;
    const exited = new Promise<void>((r) => (resolveExited = r));
    const slot: Slot = {
      index,
      worker,
      threadId: worker.threadId,
      words,
      state: 'loading',
      postings: [],
      nextSeq: 0,
      error: undefined,
      loaded: undefined,
      restarts,
      exited,
      answered: undefined,
    };
    this.#slots[index] = slot;
    const loaded = new Promise<WorkerMetadata>((resolve, reject) => (slot.loaded = { resolve, reject }));
    worker.on('message', (m: FromWorker) => {
      this.#onMessage(slot, m);
      slot.answered?.();
    });
    worker.on('error', (e: Error) => {
      slot.error ??= e;
    });
    worker.on('exit', (code: number) => {
      resolveExited();
      this.#onExit(slot, code);
      slot.answered?.();
    });
    this.#updateRefs();
    return loaded;
  }

  #onMessage(slot: Slot, m: FromWorker): void {
    if (this.#slots[slot.index] !== slot) return;
    switch (m.type) {
      case 'ready': {
        slot.state = 'ready';
        const loaded = slot.loaded;
        slot.loaded = undefined;
        loaded?.resolve({ inputs: m.inputs, outputs: m.outputs });
        this.#dispatch();
        return;
      }
      case 'loadFailed':
        this.#loadFailed(
          slot,
          new WorkerError(`${this.#workerName(slot)} could not load the model: ${m.message}`, { worker: slot.index, reason: 'load', ortMessage: m.message }),
        );
        return;
      case 'done':
      case 'failed':
      case 'skipped': {
        const at = slot.postings.findIndex((p) => p.job.id === m.id);
        if (at < 0) return;
        const [posting] = slot.postings.splice(at, 1);
        if (!posting!.takenBack && m.type !== 'skipped') this.#settle(posting!.job, m, undefined);
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
    // The run it executed is lost with it; runs that only waited there go back to the queue's head.
    const requeue: Job[] = [];
    for (const p of slot.postings.splice(0)) {
      if (p.takenBack || p.job.state !== 'posted') continue;
      if (unclaimed(slot, p) && p.once) {
        this.#settle(
          p.job,
          undefined,
          new WorkerError(
            `${this.#workerName(slot)} ${how.text} before this run started, and the feeds it moved there (transferFeeds) went with it; ` +
              `run it again with new feeds`,
            { ...details, moved: true },
          ),
        );
      } else if (unclaimed(slot, p)) {
        p.job.state = 'queued';
        p.job.posting = undefined;
        requeue.push(p.job);
      } else {
        this.#settle(p.job, undefined, new WorkerError(`${this.#workerName(slot)} ${how.text} during this run; the run's result is lost`, details));
      }
    }
    this.#queue.unshift(...requeue);
    if (this.#closing) {
      for (const job of this.#queue.splice(0)) this.#settle(job, undefined, new DisposedError(`the ${this.#label} worker pool was closed`));
      return;
    }
    // The replacement loads while queued runs wait; if it cannot, #loadFailed loses the pool.
    this.#spawn(slot.index, slot.restarts + 1).catch(() => undefined);
    this.#dispatch();
  }

  #loadFailed(slot: Slot, error: WorkerError): void {
    const loaded = slot.loaded;
    slot.loaded = undefined;
    loaded?.reject(error);
    if (this.#starting || this.#closing) return;
    this.#lost ??= new WorkerError(`the ${this.#label} session is lost: a worker died and its replacement failed (${error.message}); create a new session`, {
      worker: slot.index,
      lost: true,
      cause: error,
    });
    for (const job of this.#queue.splice(0)) this.#settle(job, undefined, this.#lost);
    // Runs waiting at the other workers are not taken back: those workers still serve them.
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

  /** Live postings of a slot (not taken back). */
  #held(slot: Slot): Posting[] {
    return slot.postings.filter((p) => !p.takenBack);
  }

  /**
   * Whether `slot` takes one more run now. Every unanswered posting (also one taken back,
   * until its `skipped` arrives) occupies its claim word: the worker answers in order, so the
   * unanswered ones are the latest and, below DEPTH of them, their words differ.
   */
  #takes(slot: Slot, held: number): boolean {
    return slot.state === 'ready' && this.#held(slot).length === held && slot.postings.length < DEPTH;
  }

  #dispatch(): void {
    if (!this.#closing) {
      // Idle workers first, then one more run for each busy worker.
      for (let held = 0; held < DEPTH && this.#queue.length > 0; held++) {
        for (const slot of this.#slots) {
          if (this.#queue.length === 0) break;
          if (this.#takes(slot, held)) this.#post(slot, this.#queue.shift()!);
        }
      }
      // An idle worker takes a run that still waits at a busy one.
      for (const idle of this.#slots) {
        if (!this.#takes(idle, 0)) continue;
        for (const other of this.#slots) {
          const waiting = other === idle ? undefined : this.#held(other)[1];
          if (waiting && this.#takeBack(other, waiting)) {
            this.#post(idle, waiting.job);
            break;
          }
        }
      }
    }
    this.#updateRefs();
  }

  #post(slot: Slot, job: Job): void {
    let message: RunMessage;
    try {
      // A free worker starts the run at once; behind a busy one it may be posted again (see the module comment).
      message = job.message(this.#held(slot).length === 0);
    } catch (e) {
      this.#settle(job, undefined, e);
      return;
    }
    const posting: Posting = { job, seq: slot.nextSeq++, takenBack: false, once: message.once === true };
    const word = claimWord(posting.seq);
    Atomics.store(slot.words, word, job.id);
    job.state = 'posted';
    job.posting = posting;
    slot.postings.push(posting);
    try {
      slot.worker.postMessage({ type: 'run', id: job.id, seq: posting.seq, ...message.request } as ToWorker, message.transfer);
    } catch (e) {
      // A buffer that cannot be moved (or cloned) fails this run only; its sequence number is unused.
      Atomics.store(slot.words, word, 0);
      slot.postings.pop();
      slot.nextSeq--;
      this.#settle(
        job,
        undefined,
        e instanceof TensorRTNodeError
          ? e
          : new InvalidArgumentError(`the run's feeds could not be posted to its worker: ${(e as Error).message}`, { cause: e }),
      );
    }
  }

  /** Wins a posted, unstarted run back from its worker (which will answer `skipped`). */
  #takeBack(slot: Slot, posting: Posting): boolean {
    if (Atomics.compareExchange(slot.words, claimWord(posting.seq), posting.job.id, 0) !== posting.job.id) return false;
    posting.takenBack = true;
    return true;
  }

  #abort(job: Job): void {
    if (job.state === 'queued') {
      const at = this.#queue.indexOf(job);
      if (at >= 0) this.#queue.splice(at, 1);
    } else if (job.state === 'posted' && job.posting) {
      // Not started yet: the worker skips it. Started: the worker finishes it, the result is dropped.
      const slot = this.#slots.find((s) => s.postings.includes(job.posting!));
      if (slot) this.#takeBack(slot, job.posting);
    }
    this.#settle(job, undefined, abortErrorFrom(job.signal!, 'run()'));
    this.#updateRefs();
  }

  #settle(job: Job, value: RunAnswer | undefined, error: unknown): void {
    if (job.state === 'settled') return;
    job.state = 'settled';
    job.signal?.removeEventListener('abort', job.onAbort);
    if (error !== undefined) job.reject(error);
    else job.resolve(value!);
  }

  /** A worker keeps the process alive only while it holds work a caller waits for (or the pool starts or closes). */
  #updateRefs(): void {
    for (const slot of this.#slots) {
      const wanted =
        slot.postings.some((p) => p.job.state === 'posted') ||
        slot.state === 'closing' ||
        (slot.state === 'loading' && (this.#starting || this.#queue.length > 0));
      if (wanted) slot.worker.ref();
      else slot.worker.unref();
    }
  }

  async #closeSlot(slot: Slot): Promise<void> {
    if (slot.state === 'loading' && slot.loaded) {
      const wait = slot.loaded;
      await new Promise<void>((resolve) => {
        slot.loaded = {
          resolve: (meta) => (wait.resolve(meta), resolve()),
          reject: (e) => (wait.reject(e), resolve()),
        };
      });
    }
    // Runs it holds (aborted ones may still be inside ONNX Runtime) finish first.
    while (slot.postings.length > 0 && slot.state !== 'exited') {
      await new Promise<void>((resolve) => (slot.answered = resolve));
      slot.answered = undefined;
    }
    if (slot.state === 'exited') return;
    slot.state = 'closing';
    this.#updateRefs();
    slot.worker.postMessage({ type: 'close' } satisfies ToWorker);
    const timer = setTimeout(() => this.#terminateWhenIdle(slot), CLOSE_WAIT_MS);
    timer.unref();
    await slot.exited;
    clearTimeout(timer);
  }

  /** Terminates a worker (one that did not exit in time, or on request), but never inside a native call. */
  #terminateWhenIdle(slot: Slot): void {
    if (Atomics.compareExchange(slot.words, 0, NATIVE_IDLE, NATIVE_STOPPED) === NATIVE_BUSY) {
      // Atomics.waitAsync is in Node 16+, typed only from lib es2024.
      const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { value: Promise<unknown> | string } }).waitAsync;
      const wait = waitAsync(slot.words, 0, NATIVE_BUSY).value;
      if (typeof wait === 'string') queueMicrotask(() => this.#terminateWhenIdle(slot));
      else void wait.then(() => this.#terminateWhenIdle(slot));
      return;
    }
    void slot.worker.terminate();
  }

  /**
   * See waitForNativeCalls: leaves each worker outside native code, unable to enter it again.
   * @internal
   */
  stopNativeCalls(deadline: number): void {
    for (const slot of this.#slots) {
      if (slot.state === 'exited') continue;
      for (;;) {
        const was = Atomics.compareExchange(slot.words, 0, NATIVE_IDLE, NATIVE_STOPPED);
        if (was !== NATIVE_BUSY) break;
        const left = deadline - Date.now();
        if (left <= 0) return;
        Atomics.wait(slot.words, 0, NATIVE_BUSY, left);
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
