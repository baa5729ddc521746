/**
 * Generator: text generation over any InferenceSession of an ONNX decoder with a KV cache
 * (Hugging Face Optimum's convention, detected by decoder-io.ts), with continuous
 * (iteration-level) batching as vLLM, TGI and TensorRT-LLM do it.
 *
 * One model step runs at a time:
 *   - a prefill round takes waiting requests in FIFO order while free rows (maxBatchSize), the
 *     KV budget (maxKvTokens) and one step's worth of prompt tokens (maxBatchTokens) allow, and
 *     prefills them (left-padded, past of length 0) in one step, or in a few steps of similar
 *     lengths when the session's measured step costs say the padding saved pays for the extra
 *     steps (prefill-plan.ts); no step holds more than maxBatchTokens positions, padding
 *     counted. Their caches then join the running batch;
 *   - otherwise a decode step feeds every running sequence its last token over the batch's
 *     cache and appends one token to each.
 * Prefill goes first (vLLM's default), but a new round never follows a prefill while sequences
 * are running, so a steady stream of arrivals cannot stall them: a running sequence advances at
 * least every other round. Sequences leave as soon as they finish (length, stop token, abort);
 * their rows are cut from the cache before the next step and the padding of the longest one
 * that left is trimmed. A step that fails is retried row by row, so only the rows that fail
 * alone end with the error.
 *
 * Each sequence's positions are its own: left padding is masked out and position ids count its
 * real tokens, so greedy decoding in any batch gives what decoding it alone gives (up to float
 * rounding of batched kernels, which only matters at exact ties), and a sampled request draws
 * from its own seeded generator, one number per token, whatever it was batched with.
 *
 * Every accepted generate() settles exactly once: each end goes through #finish or #fail, which
 * flip the sequence's state first.
 */
import { InternalError, InvalidArgumentError, OnnxError, ShuttingDownError, describe } from '../errors.js';
import type { InferenceSession, Outputs, RunOptions } from '../session.js';
import { parseOptions } from '../options.js';
import { KvBufferPool, assembleCache, decodeFeeds, lastLogits, prefillFeeds, presentCache, type BatchCache, type RowSource } from './batch-cache.js';
import { detectDecoder, type DecoderIO } from './decoder-io.js';
import { GeneratorMetrics, type GenerationOutcome } from './metrics.js';
import {
  CloseOptionsSchema,
  GenerateOptionsSchema,
  GeneratorOptionsSchema,
  type GenerateOptions,
  type GeneratorCloseOptions,
  type GeneratorOptions,
} from './options.js';
import { StepCostModel, planPrefillGroups } from './prefill-plan.js';
import { TokenSampler } from './sampling.js';
import { GenerationStream } from './stream.js';

export type FinishReason = 'length' | 'stop' | 'aborted';

export interface GenerateResult {
  /** The generated tokens only (a stop token that ended it is the last). */
  readonly tokens: number[];
  readonly finishReason: FinishReason;
}

const WAITING = 0;
const PREFILLING = 1;
const RUNNING = 2;
const DONE = 3;

/**
 * A decode step's past is the batch's whole KV cache, dead once the step has it (the next past
 * is the step's present): an ONNX Runtime session in worker mode moves it to the worker instead
 * of cloning it on this thread every step (`transferFeeds`; other sessions ignore the option).
 * A prefill's feeds are small and copied, so a failed prefill can still retry each row alone.
 */
const DECODE_RUN_OPTIONS: RunOptions & { readonly transferFeeds: boolean } = Object.freeze({ transferFeeds: true });

class Sequence {
  state = WAITING;
  readonly tokens: number[] = [];
  /** Positions this sequence holds in the batch's cache. */
  len = 0;
  /** The token the next decode step feeds. */
  last = 0;
  /** Counted in the running batch's live rows. */
  inBatch = false;
  firstTokenAt = 0;
  lastTokenAt = 0;
  resolve!: (r: GenerateResult) => void;
  reject!: (e: unknown) => void;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | null = null;
  sink: GenerationStream | null = null;
  constructor(
    readonly prompt: Int32Array,
    readonly maxNewTokens: number,
    readonly sampler: TokenSampler,
    readonly stop: ReadonlySet<number> | null,
    /** The most positions it can take in the cache: prompt + maxNewTokens - 1. */
    readonly reserve: number,
    readonly enqueuedAt: number,
  ) {}
}

/** The resolved configuration. */
export interface GeneratorConfig {
  readonly maxBatchSize: number;
  readonly maxBatchTokens: number;
  readonly maxQueueDelayMs: number;
  readonly maxKvTokens: number;
  /** What was detected in the session: the decoder's inputs, outputs and KV layout. */
  readonly decoder: DecoderIO;
}

export interface GeneratorStats {
  readonly closing: boolean;
  readonly closed: boolean;
  /** Requests waiting to be prefilled. */
  readonly waiting: number;
  /** Sequences in the running batch. */
  readonly running: number;
  readonly requests: {
    readonly accepted: number;
    readonly finished: { readonly length: number; readonly stop: number; readonly aborted: number };
    /** Rejected because their step failed. */
    readonly failed: number;
    /** Rejected by close() before they started. */
    readonly shutDown: number;
    /** Never accepted: invalid arguments or the generator closing. */
    readonly rejected: { readonly invalid: number; readonly shuttingDown: number };
  };
  readonly tokens: { readonly prompt: number; readonly generated: number };
  readonly steps: {
    readonly prefill: number;
    readonly decode: number;
    readonly failed: number;
    /** Mean rows per decode step. */
    readonly meanDecodeRows: number;
    /** Mean rows per decode step / maxBatchSize. */
    readonly meanOccupancy: number;
    /** Per step, host work in milliseconds: assembling caches and feeds, reading logits, choosing tokens. */
    readonly hostMs: { readonly mean: number; readonly max: number };
    /** Per step, time inside session.run() in milliseconds. */
    readonly sessionMs: { readonly mean: number; readonly max: number };
  };
  readonly kv: {
    /** Positions the batch's cache holds now (rows x longest row). */
    readonly inUse: number;
    /** Of those, positions holding real tokens. */
    readonly real: number;
    readonly peak: number;
    readonly limit: number;
    readonly bytesPerToken: number;
  };
  /** Generated tokens per second over the last 10 s. */
  readonly tokensPerSecond: number;
  readonly timeToFirstTokenMs: { readonly mean: number; readonly max: number };
  readonly interTokenLatencyMs: { readonly mean: number; readonly max: number };
}

const RATE_WINDOW_MS = 10_000;

/** What a session's prefill steps cost, learned by every Generator over it. */
const sessionCosts = new WeakMap<InferenceSession, StepCostModel>();

interface Counters {
  accepted: number;
  length: number;
  stop: number;
  aborted: number;
  failed: number;
  shutDown: number;
  invalid: number;
  shuttingDown: number;
  promptTokens: number;
  generated: number;
  prefillSteps: number;
  decodeSteps: number;
  failedSteps: number;
  decodeRows: number;
  hostMsTotal: number;
  hostMsMax: number;
  sessionMsTotal: number;
  sessionMsMax: number;
  kvPeak: number;
  ttftTotal: number;
  ttftMax: number;
  ttftCount: number;
  itlTotal: number;
  itlMax: number;
  itlCount: number;
}

export class Generator implements AsyncDisposable {
  readonly config: GeneratorConfig;
  readonly #session: InferenceSession;
  readonly #io: DecoderIO;
  readonly #maxBatch: number;
  readonly #maxTokens: number;
  readonly #delayMs: number;
  readonly #maxKv: number;
  readonly #vocabLimit: number;
  readonly #metrics: GeneratorMetrics | null;

  #waiting: Sequence[] = [];
  #waitingHead = 0;
  #waitingLive = 0;
  /** The running batch, in cache row order; finished rows stay until the next step cuts them. */
  #rows: Sequence[] = [];
  #cache: BatchCache | null = null;
  #liveRows = 0;
  readonly #pool: KvBufferPool;
  /** The rows of the prefill step in flight. */
  #prefilling: readonly Sequence[] = [];
  /** The groups of the current prefill round still to run. */
  #round: Sequence[][] = [];
  readonly #costs: StepCostModel;

  #stepping = false;
  #lastWasPrefill = false;
  #pumpQueued = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  #closing = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #closeResolve: (() => void) | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  readonly #rate: number[] = [];
  #rateHead = 0;
  readonly #c: Counters = {
    accepted: 0,
    length: 0,
    stop: 0,
    aborted: 0,
    failed: 0,
    shutDown: 0,
    invalid: 0,
    shuttingDown: 0,
    promptTokens: 0,
    generated: 0,
    prefillSteps: 0,
    decodeSteps: 0,
    failedSteps: 0,
    decodeRows: 0,
    hostMsTotal: 0,
    hostMsMax: 0,
    sessionMsTotal: 0,
    sessionMsMax: 0,
    kvPeak: 0,
    ttftTotal: 0,
    ttftMax: 0,
    ttftCount: 0,
    itlTotal: 0,
    itlMax: 0,
    itlCount: 0,
  };

  readonly #pumpTask = (): void => {
    this.#pumpQueued = false;
    this.#pumpSafely();
  };

  constructor(session: InferenceSession, options: GeneratorOptions = {}) {
    if (
      session === null ||
      typeof session !== 'object' ||
      typeof (session as { run?: unknown }).run !== 'function' ||
      !Array.isArray((session as { inputs?: unknown }).inputs) ||
      !Array.isArray((session as { outputs?: unknown }).outputs)
    ) {
      throw new InvalidArgumentError(`session must be an InferenceSession (with run(), inputs and outputs), got ${describe(session)}`);
    }
    const o = parseOptions(GeneratorOptionsSchema, options, 'Generator options');
    const io = detectDecoder(session);
    this.#session = session;
    this.#io = io;
    if (o.maxBatchSize !== undefined && io.maxBatch !== undefined && o.maxBatchSize > io.maxBatch) {
      throw new InvalidArgumentError(
        `options.maxBatchSize ${o.maxBatchSize} is larger than the session's optimization profiles allow (batch at most ${io.maxBatch})`,
      );
    }
    this.#maxBatch = o.maxBatchSize ?? Math.min(32, io.maxBatch ?? 32);
    this.#maxTokens = o.maxBatchTokens ?? Math.max(4096, this.#maxBatch);
    if (this.#maxTokens < this.#maxBatch) {
      throw new InvalidArgumentError(
        `options.maxBatchTokens ${this.#maxTokens} must be at least maxBatchSize ${this.#maxBatch} (a decode step takes one token per sequence)`,
      );
    }
    this.#delayMs = o.maxQueueDelayMs ?? 0;
    this.#maxKv = o.maxKvTokens ?? 16384;
    this.#vocabLimit = io.vocabSize ?? 2 ** 31 - 1;
    // The buffers of the caches a join replaces (the batch's and the prefill's), never more
    // bytes than the KV budget itself.
    this.#pool = new KvBufferPool(2 * io.kv.length, this.#maxKv * io.kvBytesPerToken);
    let costs = sessionCosts.get(session);
    if (costs === undefined) sessionCosts.set(session, (costs = new StepCostModel()));
    this.#costs = costs;
    this.#metrics =
      o.metrics === false
        ? null
        : new GeneratorMetrics(o.metrics ?? {}, () => ({
            waiting: this.#waitingLive,
            running: this.#liveRows,
            kvTokensInUse: this.#kvInUse(),
            tokensPerSecond: this.#tokensPerSecond(),
          }));
    this.config = Object.freeze({
      maxBatchSize: this.#maxBatch,
      maxBatchTokens: this.#maxTokens,
      maxQueueDelayMs: this.#delayMs,
      maxKvTokens: this.#maxKv,
      decoder: io,
    });
  }

  /** The prom-client registry holding this generator's metrics (undefined with metrics: false). */
  get registry(): import('prom-client').Registry | undefined {
    return this.#metrics?.registry;
  }

  /**
   * Generates up to maxNewTokens tokens after `promptIds` (token ids: an array or an integer
   * typed array). Resolves with the new tokens and why it ended; rejects with
   * ERR_INVALID_ARG, ERR_SHUTTING_DOWN or the session's error when a step fails.
   */
  generate(promptIds: ArrayLike<number | bigint>, options?: GenerateOptions): Promise<GenerateResult> {
    let s: Sequence;
    try {
      s = this.#admit(promptIds, options);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#enqueue(s);
  }

  /**
   * Like generate(), as an async iterator of tokens as they are made; `result` settles with the
   * whole result. Leaving the loop early cancels the generation. Invalid arguments make the
   * first next() reject.
   */
  stream(promptIds: ArrayLike<number | bigint>, options?: GenerateOptions): GenerationStream {
    let s: Sequence | undefined;
    let error: unknown;
    let promise: Promise<GenerateResult>;
    try {
      s = this.#admit(promptIds, options);
      promise = this.#enqueue(s);
    } catch (e) {
      error = e;
      promise = Promise.reject(e);
    }
    const seq = s;
    const stream = new GenerationStream(promise, () => {
      if (seq !== undefined) this.#cancel(seq);
    });
    if (seq === undefined) stream.end(error, true);
    else if (seq.state === DONE) stream.end();
    else seq.sink = stream;
    return stream;
  }

  #admit(promptIds: ArrayLike<number | bigint>, options: GenerateOptions | undefined): Sequence {
    if (this.#closing) {
      this.#c.shuttingDown++;
      this.#metrics?.outcome('shutting_down');
      throw new ShuttingDownError('Generator: closing, it takes no new requests');
    }
    try {
      const o = parseOptions(GenerateOptionsSchema, options, 'generate options');
      const prompt = this.#promptArray(promptIds);
      const n = prompt.length;
      if (n > this.#maxTokens) {
        throw new InvalidArgumentError(
          `promptIds has ${n} tokens, more than maxBatchTokens ${this.#maxTokens} (the most positions one prefill step holds); shorten the prompt or raise options.maxBatchTokens`,
        );
      }
      const maxSeq = this.#io.maxSequenceLength;
      if (maxSeq !== undefined && n > maxSeq) {
        throw new InvalidArgumentError(`promptIds has ${n} tokens, more than the session's profiles allow in one run (input_ids length at most ${maxSeq})`);
      }
      const reserve = n + o.maxNewTokens - 1;
      if (reserve > this.#maxKv) {
        throw new InvalidArgumentError(
          `promptIds (${n} tokens) + maxNewTokens (${o.maxNewTokens}) - 1 = ${reserve} KV positions, more than maxKvTokens ${this.#maxKv}; it could never run`,
        );
      }
      const maxTotal = this.#io.maxTotalLength;
      if (maxTotal !== undefined && reserve > maxTotal) {
        throw new InvalidArgumentError(
          `promptIds (${n} tokens) + maxNewTokens (${o.maxNewTokens}) - 1 = ${reserve} positions, more than the session's profiles allow (total sequence length at most ${maxTotal})`,
        );
      }
      const pos = this.#io.positionLimit;
      if (pos !== undefined && reserve > pos.max) {
        // TGI's rule (inputs + max_new_tokens <= max_total_tokens, else 422): refused up front,
        // not failed mid-generation when the sequence runs off the table.
        throw new InvalidArgumentError(
          `promptIds (${n} tokens) + maxNewTokens (${o.maxNewTokens}) - 1 = ${reserve} positions, more than the model allows: ` +
            `${JSON.stringify(pos.input)} ${pos.kind === 'values' ? `values at most ${pos.max - 1}, so at most ${pos.max} positions` : `axis 1 at most ${pos.max}`} ` +
            `(${pos.reason}); shorten the prompt or lower maxNewTokens`,
        );
      }
      let stop: Set<number> | null = null;
      if (o.stopTokens !== undefined && o.stopTokens.length > 0) {
        for (let i = 0; i < o.stopTokens.length; i++) {
          if (o.stopTokens[i]! >= this.#vocabLimit) {
            throw new InvalidArgumentError(`options.stopTokens[${i}] is ${o.stopTokens[i]}, not a token id of this model (vocabulary of ${this.#vocabLimit})`);
          }
        }
        stop = new Set(o.stopTokens);
      }
      const seed = o.seed ?? (Math.random() * 2 ** 32) >>> 0;
      const sampler = new TokenSampler({ temperature: o.temperature, topK: o.topK, topP: o.topP }, seed);
      const s = new Sequence(prompt, o.maxNewTokens, sampler, stop, reserve, performance.now());
      s.signal = o.signal;
      return s;
    } catch (e) {
      this.#c.invalid++;
      this.#metrics?.outcome('invalid');
      throw e;
    }
  }

  #promptArray(ids: unknown): Int32Array {
    const isIntArray =
      ids instanceof Int32Array ||
      ids instanceof Uint32Array ||
      ids instanceof Int16Array ||
      ids instanceof Uint16Array ||
      ids instanceof Int8Array ||
      ids instanceof Uint8Array ||
      ids instanceof BigInt64Array ||
      ids instanceof BigUint64Array;
    if (!Array.isArray(ids) && !isIntArray) {
      throw new InvalidArgumentError(`promptIds must be an array of token ids or an integer typed array, got ${describe(ids)}`);
    }
    const src = ids as ArrayLike<number | bigint>;
    const n = src.length;
    if (n === 0) throw new InvalidArgumentError('promptIds is empty; a prompt needs at least one token (e.g. the BOS token)');
    const out = new Int32Array(n);
    const limit = this.#vocabLimit;
    for (let i = 0; i < n; i++) {
      const v = src[i];
      const num = typeof v === 'bigint' ? Number(v) : v;
      if (typeof num !== 'number' || !Number.isInteger(num) || num < 0 || num >= limit) {
        throw new InvalidArgumentError(
          `promptIds[${i}] must be a token id (an integer in [0, ${limit})${this.#io.vocabSize !== undefined ? ", the model's vocabulary" : ''}), got ${describe(v)}`,
        );
      }
      out[i] = num;
    }
    return out;
  }

  #enqueue(s: Sequence): Promise<GenerateResult> {
    const promise = new Promise<GenerateResult>((resolve, reject) => {
      s.resolve = resolve;
      s.reject = reject;
    });
    this.#c.accepted++;
    if (s.signal?.aborted) {
      // Never queued: finish it without touching the waiting count (#release counts a WAITING one out).
      s.state = PREFILLING;
      this.#finish(s, 'aborted');
      return promise;
    }
    this.#waiting.push(s);
    this.#waitingLive++;
    if (s.signal !== undefined) {
      s.onAbort = () => this.#cancel(s);
      s.signal.addEventListener('abort', s.onAbort, { once: true });
    }
    this.#schedule();
    return promise;
  }

  /** Ends `s` now with finishReason 'aborted' (the user's signal, a stream left early, close). */
  #cancel(s: Sequence): void {
    if (s.state === DONE) return;
    const wasWaiting = s.state === WAITING;
    this.#finish(s, 'aborted');
    if (wasWaiting) this.#compactWaiting();
    this.#schedule();
  }

  // --- the step loop ---

  #schedule(): void {
    if (this.#stepping || this.#pumpQueued) return;
    // A microtask, so that requests made in the same tick share the prefill step.
    this.#pumpQueued = true;
    queueMicrotask(this.#pumpTask);
  }

  /**
   * Runs #pump so that nothing it throws escapes (as an uncaught exception from a microtask or
   * an unhandled rejection from a step's callback): the sequences it was working on end with
   * an ERR_INTERNAL naming the cause, and the Generator goes on with the rest.
   */
  #pumpSafely(): void {
    try {
      this.#pump();
    } catch (e) {
      // Last resort (the steps' own preparation catches its errors): nothing tells which
      // sequences the fault concerns, so all that are not in a step in flight end.
      const error = this.#internal('scheduling', e);
      if (!this.#stepping) {
        for (const s of this.#prefilling) this.#fail(s, error, 'failed');
        this.#prefilling = [];
        for (const s of this.#rows) this.#fail(s, error, 'failed');
        this.#rows = [];
        this.#cache = null;
        this.#liveRows = 0;
      }
      for (let i = this.#waitingHead; i < this.#waiting.length; i++) this.#fail(this.#waiting[i]!, error, 'failed');
      this.#waiting = [];
      this.#waitingHead = 0;
      this.#round = [];
      this.#checkClosed();
    }
  }

  #internal(what: string, e: unknown): InternalError {
    return new InternalError(`Generator: ${what} failed (a bug, please report it): ${e instanceof Error ? e.message : describe(e)}`, { cause: e });
  }

  #pump(): void {
    if (this.#stepping) return;
    const now = performance.now();
    // Prefill goes first, but a new round never right after a prefill while sequences are
    // running: arrivals at every step would otherwise stall decoding until the batch is full.
    let group: Sequence[] | null;
    try {
      group = this.#pickPrefill(now);
    } catch (e) {
      // A fault choosing a round would recur every pump: end what waits, keep the running batch.
      const error = this.#internal('choosing a prefill round', e);
      for (let i = this.#waitingHead; i < this.#waiting.length; i++) this.#fail(this.#waiting[i]!, error, 'failed');
      this.#waiting = [];
      this.#waitingHead = 0;
      this.#round = [];
      group = null;
    }
    if (group !== null) {
      this.#lastWasPrefill = true;
      this.#runPrefill(group);
      return;
    }
    this.#lastWasPrefill = false;
    if (this.#liveRows > 0) {
      this.#runDecode();
      return;
    }
    // Nothing to run: let go of the cache of rows that all finished.
    if (this.#rows.length > 0) {
      this.#pool.release(this.#cache);
      this.#rows = [];
      this.#cache = null;
    }
    this.#checkClosed();
  }

  #armTimer(at: number): void {
    if (this.#timerAt <= at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Infinity;
        this.#schedule();
      },
      Math.max(0, Math.ceil(at - performance.now())),
    );
  }

  /**
   * The next prefill group, or null. A round takes the waiting requests in FIFO order while rows
   * (maxBatchSize), the KV budget and one step's worth of prompt tokens (maxBatchTokens) allow,
   * and splits them into groups of similar lengths when the session's measured step costs say
   * the padding saved outweighs the extra steps (prefill-plan.ts). The round's groups run back
   * to back, the oldest request's group first.
   */
  #pickPrefill(now: number): Sequence[] | null {
    while (this.#round.length > 0) {
      const group = this.#round.shift()!.filter((s) => s.state === WAITING);
      if (group.length > 0) return group;
    }
    if (this.#waitingLive === 0 || (this.#lastWasPrefill && this.#liveRows > 0)) return null;
    const slots = this.#maxBatch - this.#liveRows;
    if (slots <= 0) return null;
    let maxReserve = 0;
    for (const r of this.#rows) if (r.state !== DONE && r.reserve > maxReserve) maxReserve = r.reserve;
    const window: Sequence[] = [];
    let tokens = 0;
    let limited = false;
    const q = this.#waiting;
    for (let i = this.#waitingHead; i < q.length; i++) {
      const s = q[i]!;
      if (s.state !== WAITING) continue;
      const reserve = Math.max(maxReserve, s.reserve);
      if (
        window.length === slots ||
        (window.length > 0 && tokens + s.prompt.length > this.#maxTokens) ||
        (this.#liveRows + window.length + 1) * reserve > this.#maxKv
      ) {
        limited = true;
        break;
      }
      tokens += s.prompt.length;
      maxReserve = reserve;
      window.push(s);
    }
    if (window.length === 0) return null;
    if (this.#delayMs > 0 && !limited && !this.#closing) {
      const until = window[0]!.enqueuedAt + this.#delayMs;
      if (now < until) {
        this.#armTimer(until);
        // Running rows keep decoding meanwhile; an idle batch waits for the timer.
        return null;
      }
    }
    const plan = planPrefillGroups(
      window.map((s) => s.prompt.length),
      this.#maxTokens,
      this.#costs.fixedTokens(),
    );
    // FIFO indices are the window's order: the group holding the oldest request goes first.
    plan.sort((a, b) => Math.min(...a) - Math.min(...b));
    const groups = plan.map((g) => g.sort((a, b) => a - b).map((i) => window[i]!));
    this.#round = groups.slice(1);
    return groups[0]!;
  }

  #takeWaiting(group: readonly Sequence[]): void {
    for (const s of group) s.state = PREFILLING;
    this.#waitingLive -= group.length;
    this.#compactWaiting();
  }

  #compactWaiting(): void {
    const q = this.#waiting;
    while (this.#waitingHead < q.length && q[this.#waitingHead]!.state !== WAITING) this.#waitingHead++;
    if (this.#waitingHead === q.length) {
      this.#waiting = [];
      this.#waitingHead = 0;
    } else if (this.#waitingHead > 64 && this.#waitingHead * 2 > q.length) {
      this.#waiting = q.slice(this.#waitingHead).filter((s) => s.state === WAITING);
      this.#waitingHead = 0;
    }
  }

  #runPrefill(group: Sequence[]): void {
    const t0 = performance.now();
    this.#takeWaiting(group);
    this.#prefilling = group;
    let prepared: ReturnType<typeof prefillFeeds>;
    try {
      prepared = prefillFeeds(
        this.#io,
        group.map((s) => s.prompt),
      );
    } catch (e) {
      this.#stepFailed(group, this.#internal('preparing a prefill step', e));
      this.#schedule();
      return;
    }
    const { feeds, width } = prepared;
    let tokens = 0;
    for (const s of group) tokens += s.prompt.length;
    this.#run(
      feeds,
      t0,
      (out, host0, sessionMs) => this.#afterPrefill(group, out, width, tokens, t0, host0, sessionMs),
      group,
      (e) => this.#isolatePrefill(group, e),
    );
  }

  #runDecode(): void {
    const t0 = performance.now();
    let feeds: import('../session.js').Feeds;
    let rows: Sequence[];
    let cache: BatchCache;
    try {
      this.#cutFinishedRows();
      rows = this.#rows;
      cache = this.#cache!;
      const n = rows.length;
      const tokens = new Int32Array(n);
      const lens = new Int32Array(n);
      for (let r = 0; r < n; r++) {
        tokens[r] = rows[r]!.last;
        lens[r] = rows[r]!.len;
      }
      feeds = decodeFeeds(this.#io, cache, tokens, lens);
    } catch (e) {
      // The batch's cache may be half cut: its rows all end, the generator goes on.
      this.#stepFailed(this.#rows, this.#internal('preparing a decode step', e));
      this.#schedule();
      return;
    }
    this.#run(
      feeds,
      t0,
      (out, host0, sessionMs) => this.#afterDecode(rows, cache, out, t0, host0, sessionMs),
      rows,
      (e) => this.#isolateDecode(rows, cache, e),
      DECODE_RUN_OPTIONS,
    );
  }

  #run(
    feeds: import('../session.js').Feeds,
    t0: number,
    done: (out: Outputs, host0: number, sessionMs: number) => void,
    members: readonly Sequence[],
    isolate: (error: unknown) => Promise<void>,
    runOptions?: RunOptions,
  ): void {
    this.#stepping = true;
    const runAt = performance.now();
    const host0 = runAt - t0;
    let work: Promise<Outputs>;
    try {
      work = runOptions === undefined ? this.#session.run(feeds) : this.#session.run(feeds, runOptions);
    } catch (e) {
      work = Promise.reject(e);
    }
    Promise.resolve(work).then(
      (out) => {
        try {
          done(out, host0, performance.now() - runAt);
        } catch (e) {
          this.#stepFailed(members, e);
        }
        this.#stepping = false;
        this.#pumpSafely();
      },
      (e: unknown) => {
        isolate(e)
          .then(
            () => undefined,
            (bug: unknown) => this.#stepFailed(members, bug),
          )
          .finally(() => {
            this.#stepping = false;
            this.#pumpSafely();
          });
      },
    );
  }

  /**
   * A step failed: which of its rows made it fail? One bad request (a sequence running past the
   * model's position table, an id its embedding lacks) must not end the others, so each live row
   * runs alone once; those that fail alone end with their error, the others go on in a batch
   * again. A failure of the session itself fails every row this way too, one run each.
   */
  async #isolateDecode(rows: Sequence[], cache: BatchCache, error: unknown): Promise<void> {
    const live: number[] = [];
    for (let r = 0; r < rows.length; r++) if (rows[r]!.state !== DONE) live.push(r);
    // A session that moved the past away (a worker's transferFeeds) leaves nothing to decode
    // from: each row's cache is made again by a prefill of its whole history (prompt and tokens so
    // far), which gives the decode step's present and logits. Only this failure path pays for it.
    const detached = cache.tensors.some((t) => t.data.byteLength === 0 && t.size > 0);
    if (live.length <= 1) {
      this.#stepFailed(rows, error);
      return;
    }
    this.#c.failedSteps++;
    this.#metrics?.stepFailed();
    const io = this.#io;
    const ok: { s: Sequence; cache: BatchCache; token: number }[] = [];
    for (const r of live) {
      const s = rows[r]!;
      if (s.state === DONE) continue;
      try {
        let feeds: import('../session.js').Feeds;
        if (detached) {
          const history = new Int32Array(s.len + 1);
          history.set(s.prompt);
          for (let i = 0; i < s.tokens.length; i++) history[s.prompt.length + i] = s.tokens[i]!;
          feeds = prefillFeeds(io, [history]).feeds;
        } else {
          feeds = decodeFeeds(io, assembleCache(io, [{ cache, row: r, len: s.len }], s.len), [s.last], [s.len]);
        }
        const out = await this.#session.run(feeds);
        if (s.state === DONE) continue;
        const present = presentCache(io, out, 1, s.len + 1);
        const { values, vocab } = lastLogits(io, out, 1);
        ok.push({ s, cache: present, token: s.sampler.next(values, 0, vocab) });
      } catch (e) {
        this.#fail(s, e, 'failed');
      }
    }
    const now = performance.now();
    const width = ok.reduce((w, o) => Math.max(w, o.s.len + 1), 0);
    this.#cache =
      ok.length > 0
        ? assembleCache(
            io,
            ok.map((o) => ({ cache: o.cache, row: 0, len: o.s.len + 1 })),
            width,
            this.#pool,
          )
        : null;
    this.#rows = ok.map((o) => o.s);
    this.#pool.release(cache);
    for (const o of ok) {
      o.s.len++;
      if (o.s.state !== DONE) this.#emit(o.s, o.token, now);
    }
    this.#c.decodeSteps++;
  }

  async #isolatePrefill(group: Sequence[], error: unknown): Promise<void> {
    const live = group.filter((s) => s.state !== DONE);
    if (live.length <= 1) {
      this.#stepFailed(group, error);
      return;
    }
    this.#c.failedSteps++;
    this.#metrics?.stepFailed();
    const io = this.#io;
    const ok: { s: Sequence; cache: BatchCache; token: number }[] = [];
    for (const s of live) {
      if (s.state === DONE) continue;
      try {
        const out = await this.#session.run(prefillFeeds(io, [s.prompt]).feeds);
        if (s.state === DONE) continue;
        const present = presentCache(io, out, 1, s.prompt.length);
        const { values, vocab } = lastLogits(io, out, 1);
        ok.push({ s, cache: present, token: s.sampler.next(values, 0, vocab) });
      } catch (e) {
        this.#fail(s, e, 'failed');
      }
    }
    this.#prefilling = [];
    const width = ok.reduce((w, o) => Math.max(w, o.s.prompt.length), 0);
    const fresh = assembleCache(
      io,
      ok.map((o) => ({ cache: o.cache, row: 0, len: o.s.prompt.length })),
      width,
      this.#pool,
    );
    const now = performance.now();
    for (const o of ok) {
      o.s.len = o.s.prompt.length;
      if (o.s.state === DONE) continue;
      o.s.state = RUNNING;
      this.#emit(o.s, o.token, now);
    }
    this.#join(
      ok.map((o) => o.s),
      fresh,
    );
    this.#c.prefillSteps++;
  }

  #afterPrefill(group: Sequence[], out: Outputs, width: number, promptTokens: number, t0: number, host0: number, sessionMs: number): void {
    const t1 = performance.now();
    this.#prefilling = [];
    const fresh = presentCache(this.#io, out, group.length, width);
    const { values, vocab } = lastLogits(this.#io, out, group.length);
    const now = performance.now();
    for (let r = 0; r < group.length; r++) {
      const s = group[r]!;
      s.len = s.prompt.length;
      if (s.state === DONE) continue;
      s.state = RUNNING;
      this.#emit(s, s.sampler.next(values, r * vocab, vocab), now);
    }
    this.#join(group, fresh);
    const end = performance.now();
    this.#costs.observe(group.length * width, sessionMs);
    this.#c.prefillSteps++;
    this.#c.promptTokens += promptTokens;
    this.#stepDone(host0 + (end - t1), sessionMs);
    this.#metrics?.prefill(promptTokens, (end - t0) / 1000);
  }

  #afterDecode(rows: Sequence[], cache: BatchCache, out: Outputs, t0: number, host0: number, sessionMs: number): void {
    const t1 = performance.now();
    const next = presentCache(this.#io, out, rows.length, cache.width + 1);
    const { values, vocab } = lastLogits(this.#io, out, rows.length);
    const now = performance.now();
    let live = 0;
    for (let r = 0; r < rows.length; r++) {
      const s = rows[r]!;
      s.len++;
      if (s.state === DONE) continue;
      live++;
      this.#emit(s, s.sampler.next(values, r * vocab, vocab), now);
    }
    if (this.#rows === rows) {
      // The past this step read is dead now: its memory serves the next assembly.
      this.#pool.release(cache);
      this.#cache = next;
    }
    const end = performance.now();
    this.#c.decodeSteps++;
    this.#c.decodeRows += live;
    this.#stepDone(host0 + (end - t1), sessionMs);
    this.#metrics?.decode(live, this.#maxBatch, (end - t0) / 1000);
    this.#notePeak();
  }

  #stepDone(hostMs: number, sessionMs: number): void {
    const c = this.#c;
    c.hostMsTotal += hostMs;
    if (hostMs > c.hostMsMax) c.hostMsMax = hostMs;
    c.sessionMsTotal += sessionMs;
    if (sessionMs > c.sessionMsMax) c.sessionMsMax = sessionMs;
  }

  /** Cuts finished rows out of the cache (before a decode step reuses it). */
  #cutFinishedRows(): void {
    const rows = this.#rows;
    if (this.#liveRows === rows.length) return;
    const cache = this.#cache!;
    const keep: RowSource[] = [];
    const kept: Sequence[] = [];
    let width = 0;
    for (let r = 0; r < rows.length; r++) {
      const s = rows[r]!;
      if (s.state === DONE) continue;
      keep.push({ cache, row: r, len: s.len });
      kept.push(s);
      if (s.len > width) width = s.len;
    }
    this.#rows = kept;
    this.#cache = kept.length > 0 ? assembleCache(this.#io, keep, width, this.#pool) : null;
    this.#pool.release(cache);
  }

  /** Adds a prefill's rows (and their cache) to the running batch, dropping rows that finished. */
  #join(group: Sequence[], fresh: BatchCache): void {
    const old = this.#rows;
    const oldCache = this.#cache;
    let oldLive = 0;
    for (const s of old) if (s.state !== DONE) oldLive++;
    let newLive = 0;
    for (const s of group) {
      if (s.state === DONE) continue;
      s.inBatch = true;
      newLive++;
    }
    this.#liveRows = oldLive + newLive;
    if (newLive === 0) {
      this.#pool.release(fresh);
      return;
    }
    if (oldLive === 0 && newLive === group.length) {
      // The prefill's present is already a left-padded batch cache: take it as it is.
      this.#pool.release(oldCache);
      this.#rows = group;
      this.#cache = fresh;
      this.#notePeak();
      return;
    }
    const sources: RowSource[] = [];
    const rows: Sequence[] = [];
    let width = 0;
    const add = (s: Sequence, cache: BatchCache, row: number): void => {
      if (s.state === DONE) return;
      sources.push({ cache, row, len: s.len });
      rows.push(s);
      if (s.len > width) width = s.len;
    };
    for (let r = 0; r < old.length; r++) add(old[r]!, oldCache!, r);
    for (let r = 0; r < group.length; r++) add(group[r]!, fresh, r);
    this.#rows = rows;
    this.#cache = assembleCache(this.#io, sources, width, this.#pool);
    this.#pool.release(oldCache);
    this.#pool.release(fresh);
    this.#notePeak();
  }

  #notePeak(): void {
    const inUse = this.#kvInUse();
    if (inUse > this.#c.kvPeak) this.#c.kvPeak = inUse;
  }

  #kvInUse(): number {
    const c = this.#cache;
    return c === null ? 0 : c.rows * c.width;
  }

  #emit(s: Sequence, token: number, now: number): void {
    s.tokens.push(token);
    const c = this.#c;
    c.generated++;
    this.#metrics?.tokens(1);
    this.#noteRate(now);
    if (s.tokens.length === 1) {
      s.firstTokenAt = now;
      const ttft = now - s.enqueuedAt;
      c.ttftTotal += ttft;
      c.ttftCount++;
      if (ttft > c.ttftMax) c.ttftMax = ttft;
      this.#metrics?.firstToken(ttft / 1000);
    } else {
      const itl = now - s.lastTokenAt;
      c.itlTotal += itl;
      c.itlCount++;
      if (itl > c.itlMax) c.itlMax = itl;
      this.#metrics?.interToken(itl / 1000);
    }
    s.lastTokenAt = now;
    s.sink?.push(token);
    if (s.stop !== null && s.stop.has(token)) this.#finish(s, 'stop');
    else if (s.tokens.length >= s.maxNewTokens) this.#finish(s, 'length');
    else s.last = token;
  }

  #noteRate(now: number): void {
    // One entry per token would be wasteful: entries are [time, count] pairs, one per millisecond.
    const r = this.#rate;
    const t = Math.floor(now);
    if (r.length > this.#rateHead && r[r.length - 2] === t) r[r.length - 1]!++;
    else r.push(t, 1);
  }

  #tokensPerSecond(): number {
    const now = performance.now();
    const r = this.#rate;
    while (this.#rateHead < r.length && r[this.#rateHead]! <= now - RATE_WINDOW_MS) this.#rateHead += 2;
    if (this.#rateHead > 4096 && this.#rateHead * 2 > r.length) {
      r.splice(0, this.#rateHead);
      this.#rateHead = 0;
    }
    let n = 0;
    for (let i = this.#rateHead + 1; i < r.length; i += 2) n += r[i]!;
    if (n === 0) return 0;
    const span = Math.min(RATE_WINDOW_MS, Math.max(1, now - r[this.#rateHead]!));
    return (n * 1000) / span;
  }

  // --- settling ---

  #release(s: Sequence): void {
    if (s.state === WAITING) this.#waitingLive--;
    s.state = DONE;
    if (s.inBatch) {
      s.inBatch = false;
      this.#liveRows--;
    }
    if (s.onAbort !== null) {
      s.signal!.removeEventListener('abort', s.onAbort);
      s.onAbort = null;
    }
  }

  #finish(s: Sequence, reason: FinishReason): void {
    if (s.state === DONE) return;
    this.#release(s);
    this.#c[reason]++;
    const outcome: GenerationOutcome = reason;
    this.#metrics?.outcome(outcome);
    if (reason !== 'aborted' || s.tokens.length > 0) this.#metrics?.finished((performance.now() - s.enqueuedAt) / 1000);
    s.sink?.end();
    s.resolve({ tokens: s.tokens, finishReason: reason });
  }

  #fail(s: Sequence, error: unknown, how: 'failed' | 'shutDown'): void {
    if (s.state === DONE) return;
    this.#release(s);
    this.#c[how]++;
    this.#metrics?.outcome(how === 'failed' ? 'error' : 'shutting_down');
    s.sink?.end(error, true);
    s.reject(error);
  }

  #stepFailed(members: readonly Sequence[], e: unknown): void {
    this.#c.failedSteps++;
    if (members === this.#prefilling) this.#prefilling = [];
    this.#metrics?.stepFailed();
    const error = e instanceof Error ? e : new OnnxError(`the decoder step failed: ${describe(e)}`, { cause: e });
    // A failed decode step leaves the batch's cache unusable: its rows all end. A failed
    // prefill only ends its own rows; the running batch is untouched.
    const decode = members === this.#rows;
    for (const s of members) this.#fail(s, error, 'failed');
    if (decode) {
      this.#rows = [];
      this.#cache = null;
      this.#liveRows = 0;
    }
  }

  // --- close, stats, metrics ---

  /**
   * Stops taking requests. drain (default true): resolves once everything queued and running has
   * finished; drain false (or once timeoutMs passes): queued requests reject with
   * ERR_SHUTTING_DOWN and running ones end now with finishReason 'aborted'. Idempotent. The
   * session stays open (it is the caller's).
   */
  close(options: GeneratorCloseOptions = {}): Promise<void> {
    const o = parseOptions(CloseOptionsSchema, options, 'close options');
    if (this.#closePromise !== undefined) {
      if (o.drain === false) this.#shutdown();
      return this.#closePromise;
    }
    this.#closing = true;
    this.#closePromise = new Promise<void>((resolve) => {
      this.#closeResolve = resolve;
    });
    if (o.drain === false) this.#shutdown();
    else if (o.timeoutMs !== undefined) this.#closeTimer = setTimeout(() => this.#shutdown(), o.timeoutMs);
    this.#schedule();
    return this.#closePromise;
  }

  #shutdown(): void {
    for (let i = this.#waitingHead; i < this.#waiting.length; i++) {
      const s = this.#waiting[i]!;
      if (s.state === WAITING)
        this.#fail(s, new ShuttingDownError('Generator closed before this request started (close({ drain: false }) or its timeout)'), 'shutDown');
    }
    this.#waiting = [];
    this.#waitingHead = 0;
    for (const s of this.#rows) this.#finish(s, 'aborted');
    for (const s of this.#prefilling) this.#finish(s, 'aborted');
    this.#schedule();
  }

  #checkClosed(): void {
    if (!this.#closing || this.#closed || this.#stepping || this.#waitingLive > 0 || this.#liveRows > 0) return;
    this.#closed = true;
    this.#rows = [];
    this.#cache = null;
    this.#pool.clear();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#metrics?.detach();
    this.#closeResolve?.();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** This generator's metrics in Prometheus text format ('' with metrics: false). */
  async metrics(): Promise<string> {
    return this.#metrics ? this.#metrics.text() : '';
  }

  stats(): GeneratorStats {
    const c = this.#c;
    const mean = (total: number, n: number): number => (n > 0 ? total / n : 0);
    const steps = c.prefillSteps + c.decodeSteps;
    let real = 0;
    for (const s of this.#rows) if (s.state !== DONE) real += s.len;
    return {
      closing: this.#closing,
      closed: this.#closed,
      waiting: this.#waitingLive,
      running: this.#liveRows,
      requests: {
        accepted: c.accepted,
        finished: { length: c.length, stop: c.stop, aborted: c.aborted },
        failed: c.failed,
        shutDown: c.shutDown,
        rejected: { invalid: c.invalid, shuttingDown: c.shuttingDown },
      },
      tokens: { prompt: c.promptTokens, generated: c.generated },
      steps: {
        prefill: c.prefillSteps,
        decode: c.decodeSteps,
        failed: c.failedSteps,
        meanDecodeRows: mean(c.decodeRows, c.decodeSteps),
        meanOccupancy: mean(c.decodeRows, c.decodeSteps) / this.#maxBatch,
        hostMs: { mean: mean(c.hostMsTotal, steps), max: c.hostMsMax },
        sessionMs: { mean: mean(c.sessionMsTotal, steps), max: c.sessionMsMax },
      },
      kv: { inUse: this.#kvInUse(), real, peak: c.kvPeak, limit: this.#maxKv, bytesPerToken: this.#io.kvBytesPerToken },
      tokensPerSecond: this.#tokensPerSecond(),
      timeToFirstTokenMs: { mean: mean(c.ttftTotal, c.ttftCount), max: c.ttftMax },
      interTokenLatencyMs: { mean: mean(c.itlTotal, c.itlCount), max: c.itlMax },
    };
  }
}
