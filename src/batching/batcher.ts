/**
 * DynamicBatcher: Triton's dynamic batcher over any InferenceSession, with sequence padding
 * and length buckets. This file is its lifecycle: run() queues a request, the pump launches
 * the batches that scheduling.ts decides on, and each batch's results are delivered and its
 * requests settled; close() and stats() live here too. Configuration (config.ts), feed checks
 * and groups (admission.ts), the batch-forming rules (scheduling.ts) and the copies in and
 * out of a batch (assembly.ts) are their own modules.
 *
 * Requests are grouped by what must be equal for them to share a batch (fixed and unpadded
 * dims, and the bucket of each padded length); each group holds one FIFO per priority level
 * plus one per level for requests whose timeout action is 'delay'. When the session has a
 * free slot (fewer than maxInflightBatches batches running), the group whose best request
 * has the highest priority, then the oldest, and that can send a batch now (Triton's rule:
 * the largest preferred size, else a full batch, else whatever is there once the oldest
 * request has waited maxQueueDelayMs) is concatenated (padding the sequence axes), run, and
 * the outputs split back per request and trimmed to each request's own length.
 *
 * Where it differs from Triton: requests of different shapes wait in separate groups
 * instead of cutting the pending batch (so one odd request does not shrink everyone's
 * batch); an out-of-range priority is an error rather than silently the default; a request
 * timeout may be set by default (allowTimeoutOverride defaults to true).
 *
 * Every accepted request settles exactly once: each settle path goes through #settle*,
 * which checks and flips the request's state first.
 */
import { InternalError, InvalidArgumentError, QueueFullError, ShuttingDownError, TimeoutError, abortErrorFrom, describe } from '../errors.js';
import type { Feeds, InferenceSession, Outputs } from '../session.js';
import { parseOptions } from '../options.js';
import { z } from 'zod';
import type { BatcherRunOptions, DynamicBatcherOptions } from './options.js';
import { resolveBatcherConfig, warmupPlan, type BatcherConfig, type DynamicBatcherConfig, type WarmupPlan } from './config.js';
import { Admission } from './admission.js';
import { MAX_CANDIDATES, chooseTriton, launchAt, selectByCost, waitForCompany, type InflightState, type Selection } from './scheduling.js';
import { CostModel, OverlapEstimator, gridIndex, gridNode, type CostModelSnapshot } from './cost-model.js';
import { runWarmup, type WarmupResult } from './warmup.js';
import { checkOutputs, gather, passThrough, sameLens, split } from './assembly.js';
import { admitOutputs, deliverOutputs } from './targets.js';
import { DeadlineHeap } from './queue.js';
import { product } from './tensor-ops.js';
import { Batch, DONE, QUEUED, RUNNING, type Group, type Request } from './request.js';
import { BatcherMetrics, type Outcome } from './metrics.js';

export type { DynamicBatcherConfig } from './config.js';

/** Counters behind stats(); plain numbers so the hot path stays cheap. */
interface Counters {
  accepted: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  aborted: number;
  queueFull: number;
  shuttingDown: number;
  invalid: number;
  batches: number;
  batchesFailed: number;
  samples: number;
  /** Requests handed to the session in a batch. */
  dispatched: number;
  queueMsTotal: number;
  queueMsMax: number;
  computeMsTotal: number;
  computeMsMax: number;
  realElements: number;
  paddedElements: number;
  /** Rows of every batch run (succeeded or failed). */
  rowsRun: number;
  realTokens: number;
  paddedTokens: number;
}

export interface DynamicBatcherStats {
  readonly closing: boolean;
  readonly closed: boolean;
  /** Requests waiting in the queue. */
  readonly queued: number;
  readonly inflightBatches: number;
  readonly inflightRequests: number;
  readonly requests: {
    /** Requests that entered the queue (each settles exactly once). */
    readonly accepted: number;
    readonly succeeded: number;
    /** Rejected because their batch failed. */
    readonly failed: number;
    readonly timedOut: number;
    readonly aborted: number;
    /** Rejected by close() (no drain, or its timeout). */
    readonly shutDown: number;
    /** Never accepted: queue full, batcher closing, or invalid feeds/options. */
    readonly rejected: { readonly queueFull: number; readonly shuttingDown: number; readonly invalid: number };
  };
  readonly batches: { readonly succeeded: number; readonly failed: number; readonly samples: number; readonly meanSize: number };
  readonly queueTimeMs: { readonly mean: number; readonly max: number };
  readonly computeTimeMs: { readonly mean: number; readonly max: number };
  /** Over padded inputs: elements that were padding, elements from requests, and their ratio. */
  readonly padding: { readonly paddedElements: number; readonly realElements: number; readonly ratio: number };
  /**
   * Running totals since construction, for taking differences over a window (the bench reads
   * these at both ends of its measurement window).
   */
  readonly totals: BatcherTotals;
  /** What the batcher has learned about the session, and why it forms the batches it does. */
  readonly costModel: BatcherCostStats;
}

export interface BatcherCostStats extends CostModelSnapshot {
  readonly scheduler: 'cost' | 'triton';
  /**
   * How much batches in flight hold up a new one inside the session: 0 = they run side by
   * side, 1 = one after another (then a batch is held back until the session could start
   * it, so more requests join it). Learned from overlapping runs; `samples` of them.
   */
  readonly serialization: { readonly value: number; readonly samples: number };
  /** Mean time from deciding on a batch to the session having it (gather + run() call), ms. */
  readonly handoverMs: number;
  /** Batches that waited for the session to be able to start them, and for how long in all, ms. */
  readonly holds: { readonly count: number; readonly ms: number };
  /**
   * Batches sent smaller than the cost rule's choice, to measure once the next smaller size
   * at that length (every 8th batch at most, among the first 48 at a length).
   */
  readonly explored: number;
  /** The last batch sent: its rows, padded row length, predicted ms, and tokens per predicted ms. */
  readonly lastBatch: { readonly rows: number; readonly paddedLength: number; readonly predictedMs: number; readonly tokensPerMs: number } | null;
  /** The warm-up's shapes and time, once it has run. */
  readonly warmup: WarmupResult | null;
}

export interface BatcherTotals {
  /** Requests handed to the session in a batch. */
  readonly dispatched: number;
  /** Sum over dispatched requests of the time each waited in the queue, ms. */
  readonly queueMs: number;
  /** Batches that finished (succeeded or failed), their rows, and the sum of their run times, ms. */
  readonly batches: number;
  readonly rows: number;
  readonly computeMs: number;
  /** Over the padded inputs: elements that came from requests and elements added as padding. */
  readonly realElements: number;
  readonly paddedElements: number;
  /**
   * Tokens (rows x length along the padded dims; 1 per row when nothing is padded) of the
   * batches sent: those of the requests, and those of the padded batches (TEI's batch tokens).
   */
  readonly realTokens: number;
  readonly paddedTokens: number;
}

const CloseOptionsSchema = z
  .object({
    /** true (default): run everything queued before closing; false: reject it (ERR_SHUTTING_DOWN). */
    drain: z.boolean().optional(),
    /** Give up after this long: reject what is still queued or running and resolve. */
    timeoutMs: z.number().finite().min(0).optional(),
  })
  .strict();
export type CloseOptions = z.input<typeof CloseOptionsSchema>;

export class DynamicBatcher implements AsyncDisposable {
  readonly #session: InferenceSession;
  readonly #cfg: BatcherConfig;
  readonly config: DynamicBatcherConfig;
  readonly #admission: Admission;
  readonly #metrics: BatcherMetrics | null;
  readonly #model: CostModel;
  /** Whether the session runs batches off the JS thread (it declares its contexts). */
  readonly #offThread: boolean;
  readonly #overlap = new OverlapEstimator();
  readonly #cost = (rows: number, len: number): number => this.#model.predict(rows, len);
  #handoverMs = 0;
  #holds = 0;
  #heldMs = 0;
  #holdStart = 0;
  #lastSel: Selection | null = null;
  /** Batches made smaller than the cost rule's choice to measure a size not yet trusted. */
  #explored = 0;
  /** Mean gap between arrivals, ms (for the queue-delay rule of the cost scheduler). */
  #arrivalGapMs = Infinity;
  #lastArrival = 0;
  #warming: Promise<void> | null = null;
  #warmupRunning = false;
  #warmupResult: WarmupResult | null = null;

  readonly #active: Group[] = [];
  readonly #levelCount: Int32Array;
  readonly #heap = new DeadlineHeap<Request>();
  readonly #running = new Set<Batch>();
  #queued = 0;
  #inflight = 0;
  #inflightReqs = 0;

  #pumpScheduled = false;
  #pumping = false;
  #timerAt = Infinity;
  #timeout: ReturnType<typeof setTimeout> | undefined;
  #immediate: ReturnType<typeof setImmediate> | undefined;

  #seq = 0;
  #nextDeliver = 0;
  readonly #done = new Map<number, Batch>();

  #closing = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #closeResolve: (() => void) | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  readonly #c: Counters = {
    accepted: 0,
    succeeded: 0,
    failed: 0,
    timedOut: 0,
    aborted: 0,
    queueFull: 0,
    shuttingDown: 0,
    invalid: 0,
    batches: 0,
    batchesFailed: 0,
    samples: 0,
    dispatched: 0,
    queueMsTotal: 0,
    queueMsMax: 0,
    computeMsTotal: 0,
    computeMsMax: 0,
    realElements: 0,
    paddedElements: 0,
    rowsRun: 0,
    realTokens: 0,
    paddedTokens: 0,
  };
  #shutDown = 0;

  readonly #pumpTask = (): void => {
    this.#pumpScheduled = false;
    this.#pump();
  };
  readonly #onTimer = (): void => {
    this.#timerAt = Infinity;
    this.#timeout = undefined;
    this.#immediate = undefined;
    this.#pump();
  };

  constructor(session: InferenceSession, options: DynamicBatcherOptions = {}) {
    const cfg = resolveBatcherConfig(session, options);
    this.#session = session;
    this.#cfg = cfg;
    this.config = cfg.public;
    this.#admission = new Admission(cfg, session.inputs);
    this.#levelCount = new Int32Array(cfg.levels);
    this.#metrics =
      cfg.metrics === null ? null : new BatcherMetrics(cfg.metrics, cfg.maxBatch, () => ({ queued: this.#queued, inflightBatches: this.#inflight }));
    this.#model = new CostModel(cfg.maxBatch);
    this.#offThread = typeof (session as { contexts?: unknown }).contexts === 'number';
    if (cfg.warmup !== null) void this.warmup();
  }

  /**
   * Runs the warm-up shapes (options.warmup, or the defaults when it was not given) through
   * the session and resolves when they are done; requests queue meanwhile. Called once by
   * the constructor when options.warmup is set; later calls return the same promise. Rejects
   * with the session's error if a warm-up run fails (serving goes on either way).
   */
  warmup(): Promise<void> {
    if (this.#warming !== null) return this.#warming;
    if (this.#closing) return Promise.reject(new ShuttingDownError('DynamicBatcher.warmup(): the batcher is closing'));
    const cfg = this.#cfg;
    let plan: WarmupPlan;
    try {
      plan = cfg.warmup ?? warmupPlan(cfg.layout, {}, cfg.maxBatch);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#warmupRunning = true;
    const p = runWarmup(this.#session, cfg.layout, plan, { maxRows: cfg.maxBatch, maxTokens: cfg.maxTokens }, cfg.runOptions, this.#model)
      .then((r) => {
        this.#warmupResult = r;
      })
      .finally(() => {
        this.#warmupRunning = false;
        this.#pump();
      });
    this.#warming = p;
    // Callers that never await warmup() must not see an unhandled rejection.
    p.catch(() => undefined);
    return p;
  }

  /** The prom-client registry holding this batcher's metrics (undefined with metrics: false). */
  get registry(): import('prom-client').Registry | undefined {
    return this.#metrics?.registry;
  }

  /**
   * Queues one request (its batch dim may be > 1) and resolves with its own outputs, split
   * from the batch and trimmed to its lengths. Rejects with ERR_QUEUE_FULL, ERR_TIMEOUT,
   * ERR_ABORTED, ERR_SHUTTING_DOWN, a validation error, or the session's error if the
   * batch fails. With `options.outputs` as tensors, its rows are copied into them and they are
   * returned (targets.ts).
   */
  run(feeds: Feeds, options?: BatcherRunOptions): Promise<Outputs> {
    if (this.#closing) {
      this.#c.shuttingDown++;
      this.#metrics?.outcome('shutting_down');
      return Promise.reject(new ShuttingDownError('DynamicBatcher.run(): the batcher is closing and takes no new requests'));
    }
    let level = this.#cfg.defaultLevel;
    let signal: AbortSignal | undefined;
    let timeoutMs = -1;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') {
        return this.#invalid(new InvalidArgumentError(`DynamicBatcher.run() options must be an object, got ${describe(options)}`));
      }
      const p = options.priority;
      if (p !== undefined && p !== 0) {
        if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > this.#cfg.levels) {
          return this.#invalid(
            new InvalidArgumentError(
              `options.priority must be an integer from 1 (highest) to ${this.#cfg.levels}, or 0 for the default ${this.#cfg.defaultLevel}, got ${describe(p)}`,
            ),
          );
        }
        level = p;
      }
      const t = options.timeoutMs;
      if (t !== undefined) {
        if (typeof t !== 'number' || !(t >= 0) || t === Infinity) {
          return this.#invalid(new InvalidArgumentError(`options.timeoutMs must be a finite number >= 0, got ${describe(t)}`));
        }
        timeoutMs = t;
      }
      signal = options.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        return this.#invalid(new InvalidArgumentError(`options.signal must be an AbortSignal, got ${describe(signal)}`));
      }
    }
    const policy = this.#cfg.policies[level - 1]!;
    let timeout = policy.timeoutMs;
    if (timeoutMs > 0) {
      if (!policy.allowTimeoutOverride) {
        return this.#invalid(
          new InvalidArgumentError(
            `options.timeoutMs was given, but the queue policy of priority level ${level} does not allow overrides (queuePolicy.allowTimeoutOverride is false)`,
          ),
        );
      }
      // Triton's rule: a request may lower the timeout, never raise it.
      if (timeout === 0 || timeoutMs < timeout) timeout = timeoutMs;
    }

    let req: Request;
    try {
      req = this.#admission.admit(feeds, level, performance.now());
      if (options?.outputs !== undefined) {
        req.outputs = admitOutputs(this.#cfg.layout, this.#session.outputs, this.#session.inputs, req, options.outputs);
      }
    } catch (e) {
      return this.#invalid(e);
    }
    if (signal?.aborted) {
      this.#c.aborted++;
      this.#metrics?.outcome('aborted');
      return Promise.reject(abortErrorFrom(signal, 'DynamicBatcher.run()'));
    }
    if (policy.maxSize > 0 && this.#levelCount[level - 1]! >= policy.maxSize) {
      this.#c.queueFull++;
      this.#metrics?.outcome('queue_full');
      return Promise.reject(
        new QueueFullError(
          `DynamicBatcher queue is full: ${this.#levelCount[level - 1]} requests wait at priority level ${level} (queuePolicy.maxSize ${policy.maxSize})`,
        ),
      );
    }

    const promise = new Promise<Outputs>((resolve, reject) => {
      req.resolve = resolve;
      req.reject = reject;
    });
    this.#c.accepted++;
    const gap = req.enqueuedAt - this.#lastArrival;
    this.#lastArrival = req.enqueuedAt;
    this.#arrivalGapMs = this.#arrivalGapMs === Infinity ? gap : this.#arrivalGapMs + 0.05 * (gap - this.#arrivalGapMs);
    const g = req.group;
    g.queues[(level - 1) * 2]!.push(req);
    if (g.live++ === 0) this.#activate(g);
    this.#levelCount[level - 1]!++;
    this.#queued++;
    if (timeout > 0) {
      req.deadline = req.enqueuedAt + timeout;
      req.delayOnTimeout = policy.timeoutAction === 'delay';
      this.#heap.push(req);
      if (this.#heap.size > 1024 && this.#heap.size > 4 * this.#queued) this.#heap.compact();
      this.#arm(req.deadline);
    }
    if (signal !== undefined) {
      req.signal = signal;
      req.onAbort = () => this.#abort(req);
      signal.addEventListener('abort', req.onAbort, { once: true });
    }
    if (!this.#pumpScheduled && this.#inflight < this.#cfg.maxInflight) {
      // A microtask, so that requests submitted in the same tick share the batch.
      this.#pumpScheduled = true;
      queueMicrotask(this.#pumpTask);
    }
    return promise;
  }

  #invalid(e: unknown): Promise<never> {
    this.#c.invalid++;
    this.#metrics?.outcome('invalid');
    return Promise.reject(e);
  }

  #activate(g: Group): void {
    g.activeIndex = this.#active.push(g) - 1;
  }

  #deactivate(g: Group): void {
    const a = this.#active;
    const last = a.pop()!;
    if (last !== g) {
      a[g.activeIndex] = last;
      last.activeIndex = g.activeIndex;
    }
    g.activeIndex = -1;
  }

  /** Takes a queued request out of its queue (abort, timeout, shutdown). */
  #unqueue(r: Request): void {
    r.queue!.unlink(r);
    const g = r.group;
    if (--g.live === 0) this.#deactivate(g);
    this.#levelCount[r.level - 1]!--;
    this.#queued--;
  }

  #abort(r: Request): void {
    if (r.state === QUEUED) {
      this.#unqueue(r);
      this.#settleError(r, abortErrorFrom(r.signal!, 'DynamicBatcher.run()'), 'aborted');
      this.#checkClosed();
    } else if (r.state === RUNNING) {
      // The batch runs on; this request's share of the result is dropped.
      this.#settleError(r, abortErrorFrom(r.signal!, 'DynamicBatcher.run()'), 'aborted');
    }
  }

  #expire(now: number): void {
    const heap = this.#heap;
    for (;;) {
      heap.prune();
      if (heap.topDeadline() > now) return;
      const r = heap.pop()!;
      if (r.delayOnTimeout) {
        // Triton's DELAY: behind every request of its level that has not timed out.
        r.queue!.unlink(r);
        r.deadline = 0;
        r.group.queues[(r.level - 1) * 2 + 1]!.push(r);
      } else {
        const waited = now - r.enqueuedAt;
        this.#unqueue(r);
        this.#settleError(
          r,
          new TimeoutError(
            `DynamicBatcher request timed out after ${waited.toFixed(1)} ms in the queue (timeout ${(r.deadline - r.enqueuedAt).toFixed(1)} ms)`,
          ),
          'timeout',
        );
      }
    }
  }

  #pump(): void {
    this.#dispatch();
    this.#checkClosed();
  }

  /** Dispatches every batch that can go now, then arms the timer for the next event. */
  #dispatch(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      const now = performance.now();
      if (this.#heap.size > 0 && this.#heap.topDeadline() <= now) this.#expire(now);
      const maxInflight = this.#cfg.maxInflight;
      let nextReadyAt = Infinity;
      while (this.#inflight < maxInflight && this.#queued > 0 && !this.#warmupRunning) {
        const at = this.#cfg.scheduler === 'cost' ? this.#dispatchByCost(now) : this.#dispatchTriton(now);
        if (at > now) {
          nextReadyAt = at;
          break;
        }
      }
      let wake = this.#inflight < maxInflight && this.#queued > 0 ? nextReadyAt : Infinity;
      if (this.#heap.size > 0) {
        this.#heap.prune();
        const t = this.#heap.topDeadline();
        if (t < wake) wake = t;
      }
      if (wake < Infinity) this.#arm(wake);
      else if (this.#timerAt < Infinity) this.#disarm();
    } finally {
      this.#pumping = false;
    }
  }

  /** Launches the batch Triton's rule picks; returns `now`, or when to look again. */
  #dispatchTriton(now: number): number {
    const cfg = this.#cfg;
    const d = chooseTriton(this.#active, now, cfg, this.#closing);
    if (d.group === null) return d.wake;
    if (!this.#closing && this.#inflight > 0) {
      const rows = d.rows;
      const full = rows >= cfg.maxPreferred;
      const at = this.#holdUntil(now, full, rows);
      if (at > now) return at;
    }
    this.#launch(this.#take(d.group, d.n), null);
    return now;
  }

  /** Launches the batch the cost rule picks; returns `now`, or when to look again. */
  #dispatchByCost(now: number): number {
    const cfg = this.#cfg;
    // The group whose best request has the highest priority, then the oldest.
    let g: Group | null = null;
    let bestQ = Infinity;
    let bestAt = Infinity;
    for (let i = 0; i < this.#active.length; i++) {
      const h = this.#active[i]!;
      for (let q = 0; q < h.queues.length && q <= bestQ; q++) {
        const head = h.queues[q]!.peek();
        if (head === undefined) continue;
        if (q < bestQ || head.enqueuedAt < bestAt) {
          g = h;
          bestQ = q;
          bestAt = head.enqueuedAt;
        }
        break;
      }
    }
    if (g === null) return Infinity;
    // Candidates: the requests of that queue (one priority level), oldest first.
    const queue = g.queues[bestQ]!;
    const scan = Math.min(MAX_CANDIDATES, Math.max(64, 2 * cfg.maxBatch));
    const cands: Request[] = [];
    const span = queue.span;
    for (let i = 0; i < span && cands.length < scan; i++) {
      const r = queue.at(i);
      if (r !== undefined) cands.push(r);
    }
    const limits = { maxRows: cfg.maxBatch, maxTokens: cfg.maxTokens };
    let sel = selectByCost(cands, 0, g.padTo, this.#cost, limits);
    // Among the first 48 batches at a length, every 8th one, if the next smaller size at that
    // length was never measured, runs at that size instead. The base line makes larger
    // batches look worth trying, so the model learns upwards by itself; from a first large
    // batch it would never learn that fewer rows can cost less per row (a CPU's caches), so
    // it measures each size below the one it chose once, while it is new to the length:
    // later the requests an exploring batch leaves out would only add to the latency tail.
    // (Counted in batches launched, so that a batch re-examined while it is held makes the
    // same choice.)
    let explored = false;
    if (!this.#closing && sel.rows > 1 && this.#seq % 8 === 7 && this.#model.runsAtLength(sel.paddedLen) < 48) {
      const lower = gridNode(gridIndex(sel.rows - 1));
      if (this.#model.samplesNear(lower, sel.paddedLen) === 0) {
        sel = selectByCost(cands, 0, g.padTo, this.#cost, { maxRows: lower, maxTokens: cfg.maxTokens });
        explored = true;
      }
    }
    sel = this.#spread(cands, g, sel);
    if (!this.#closing) {
      // While the batcher is still learning how batches in flight hold each other up, a shape
      // the model has not measured runs alone the first time, so that its cost is not mixed
      // up with the batches it would overlap.
      if (this.#inflight > 0 && this.#overlap.samples < 16 && this.#model.samplesNear(sel.rows, sel.paddedLen) === 0) return Infinity;
      let at = this.#inflight > 0 ? this.#holdUntil(now, sel.full, sel.rows, sel) : now;
      if (cfg.delayMs > 0) at = Math.max(at, waitForCompany(now, sel, cands[0]!.enqueuedAt, cfg.delayMs, 1 / this.#arrivalGapMs));
      if (at > now) return at;
    }
    if (explored) this.#explored++;
    const reqs = new Array<Request>(sel.picked.length);
    for (let i = 0; i < reqs.length; i++) reqs[i] = cands[sel.picked[i]!]!;
    this.#takePicked(g, reqs);
    this.#lastSel = sel;
    this.#launch(reqs, sel);
    return now;
  }

  /**
   * With more than one context free on a session that runs batches side by side (or shares
   * the machine between them), one large batch leaves the other contexts idle. The queue is
   * then spread: batches of at most its rows over the free contexts, when they are predicted
   * to serve more rows per ms together (each slowed by the others as the serialization
   * estimate says) than the one batch alone.
   */
  #spread(cands: Request[], g: Group, sel: Selection): Selection {
    const cfg = this.#cfg;
    // Over the contexts that are free, not the staged slot (that batch would wait at the session).
    const free = cfg.contexts - this.#inflight;
    if (this.#closing || free < 2 || sel.rows < 2 || this.#overlap.forHolds > 0 || !(sel.predictedMs > 0)) return sel;
    let total = 0;
    for (let i = 0; i < cands.length; i++) total += cands[i]!.batch;
    const cap = Math.ceil(Math.min(total, free * cfg.maxBatch) / free);
    if (cap >= sel.rows) return sel;
    const alt = selectByCost(cands, 0, g.padTo, this.#cost, { maxRows: cap, maxTokens: cfg.maxTokens });
    if (!(alt.predictedMs > 0)) return sel;
    const together = Math.min(free, Math.ceil(total / alt.rows));
    const slowdown = 1 + this.#overlap.value * (together - 1);
    return (together * alt.rows) / (alt.predictedMs * slowdown) > sel.rows / sel.predictedMs ? alt : sel;
  }

  /** The in-flight rule (scheduling.launchAt), counting the holds. */
  #holdUntil(now: number, full: boolean, rows: number, sel?: Selection): number {
    let busyUntil = -Infinity;
    for (const b of this.#running) if (b.predictedEnd > busyUntil) busyUntil = b.predictedEnd;
    // Once the estimate has settled, only every 64th batch is launched early enough to keep
    // it learning; the early launch costs the requests that then miss the batch.
    const learning = !this.#overlap.settled || this.#holds % 64 === 0;
    const state: InflightState = {
      count: this.#inflight,
      busyUntil,
      serial: this.#overlap.forHolds,
      handoverMs: this.#handoverMs,
      leadFraction: learning ? 0.1 : 0,
    };
    const at = launchAt(now, sel ?? { picked: [], rows, paddedLen: 1, predictedMs: NaN, realTokens: 0, apartMs: NaN, full }, state);
    if (at <= now) return now;
    if (this.#holdStart === 0) {
      this.#holdStart = now;
      this.#holds++;
    }
    return at;
  }

  /** Removes the picked requests (all of one group) from their queues. */
  #takePicked(g: Group, reqs: Request[]): void {
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      r.queue!.unlink(r);
      this.#levelCount[r.level - 1]!--;
      r.state = RUNNING;
    }
    g.live -= reqs.length;
    if (g.live === 0) this.#deactivate(g);
    this.#queued -= reqs.length;
  }

  /** Nothing left to wait for: a stale timer (e.g. a long queue timeout) must not keep the process alive. */
  #disarm(): void {
    if (this.#timeout !== undefined) clearTimeout(this.#timeout);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timeout = undefined;
    this.#immediate = undefined;
    this.#timerAt = Infinity;
  }

  #arm(at: number): void {
    if (this.#timerAt <= at) return;
    if (this.#timeout !== undefined) clearTimeout(this.#timeout);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timeout = undefined;
    this.#immediate = undefined;
    this.#timerAt = at;
    const delay = at - performance.now();
    // setTimeout has millisecond granularity and fires late; wake up early and poll the
    // last sub-millisecond stretch once per event-loop turn (this lets sub-ms delays work).
    if (delay >= 1) this.#timeout = setTimeout(this.#onTimer, Math.floor(delay));
    else this.#immediate = setImmediate(this.#onTimer);
  }

  /** Removes the first `n` requests of `g` (priority, then arrival, order) from the queue. */
  #take(g: Group, n: number): Request[] {
    const reqs = new Array<Request>(n);
    let k = 0;
    const queues = g.queues;
    for (let q = 0; q < queues.length && k < n; q++) {
      const queue = queues[q]!;
      while (k < n) {
        const r = queue.shift();
        if (r === undefined) break;
        this.#levelCount[r.level - 1]!--;
        r.state = RUNNING;
        reqs[k++] = r;
      }
    }
    g.live -= n;
    if (g.live === 0) this.#deactivate(g);
    this.#queued -= n;
    return reqs;
  }

  /** Sends `reqs` (already out of the queue) to the session as one batch; `sel` is the cost rule's choice, if it made one. */
  #launch(reqs: Request[], sel: Selection | null): void {
    const batch = new Batch(reqs, this.#seq++);
    const now = performance.now();
    if (this.#holdStart > 0) {
      this.#heldMs += now - this.#holdStart;
      this.#holdStart = 0;
    }
    let size = 0;
    let queueMsMax = this.#c.queueMsMax;
    let queueMsTotal = 0;
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      size += r.batch;
      const waited = now - r.enqueuedAt;
      queueMsTotal += waited;
      if (waited > queueMsMax) queueMsMax = waited;
      this.#metrics?.queued(waited / 1000);
    }
    this.#c.queueMsTotal += queueMsTotal;
    this.#c.dispatched += reqs.length;
    this.#c.queueMsMax = queueMsMax;
    batch.size = size;
    let busyUntil = -Infinity;
    if (this.#running.size > 0) {
      batch.ahead = [...this.#running];
      for (const b of batch.ahead) if (b.predictedEnd > busyUntil) busyUntil = b.predictedEnd;
    }
    this.#inflight++;
    this.#inflightReqs += reqs.length;
    this.#running.add(batch);
    let work: Promise<Outputs>;
    try {
      let feeds: Feeds;
      try {
        feeds = gather(this.#cfg.layout, batch);
      } catch (e) {
        throw new InternalError(`building the batch inputs failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
      }
      if (batch.realElements > 0) {
        this.#c.realElements += batch.realElements;
        this.#c.paddedElements += batch.paddedElements;
        this.#metrics?.padding(batch.realElements, batch.paddedElements);
      }
      let real = 0;
      for (let i = 0; i < reqs.length; i++) real += reqs[i]!.batch * reqs[i]!.rowLen;
      this.#c.realTokens += real;
      batch.paddedLen = product(batch.lens);
      this.#c.paddedTokens += size * batch.paddedLen;
      batch.predictedMs = sel !== null && sel.rows === size && sel.paddedLen === batch.paddedLen ? sel.predictedMs : this.#model.predict(size, batch.paddedLen);
      batch.startedAt = performance.now();
      batch.assembleMs = batch.startedAt - now;
      work = this.#session.run(feeds, this.#cfg.runOptions);
      const t = performance.now();
      this.#handoverMs += 0.1 * (t - now - this.#handoverMs);
      if (batch.predictedMs > 0) {
        const waits = busyUntil > t ? this.#overlap.forHolds * (busyUntil - t) : 0;
        batch.predictedEnd = t + waits + batch.predictedMs;
      }
      if (work === null || typeof work !== 'object' || typeof (work as { then?: unknown }).then !== 'function') {
        throw new InternalError(`session.run() returned ${describe(work)} instead of a Promise`);
      }
    } catch (e) {
      if (batch.startedAt === 0) batch.startedAt = performance.now();
      work = Promise.reject(e);
    }
    work.then(
      (out) => this.#onBatchDone(batch, out, undefined),
      (err: unknown) => this.#onBatchDone(batch, undefined, err ?? new InternalError('session.run() rejected without a reason')),
    );
  }

  #onBatchDone(batch: Batch, out: Outputs | undefined, err: unknown): void {
    const doneAt = performance.now();
    batch.doneAt = doneAt;
    const computeMs = doneAt - batch.startedAt;
    this.#inflight--;
    this.#inflightReqs -= batch.reqs.length;
    this.#running.delete(batch);
    this.#repredict(batch);
    const c = this.#c;
    c.computeMsTotal += computeMs;
    c.rowsRun += batch.size;
    if (computeMs > c.computeMsMax) c.computeMsMax = computeMs;
    if (err === undefined) {
      try {
        checkOutputs(this.#cfg.layout, batch, out);
        batch.outputs = out;
      } catch (e) {
        err = e;
      }
    }
    if (err === undefined) {
      c.batches++;
      c.samples += batch.size;
      // What the batch cost includes gathering its inputs: padding is copied too, which on a
      // fast session is a real share of the cost.
      this.#learn(batch, computeMs + batch.assembleMs);
    } else {
      c.batchesFailed++;
      batch.error = err;
    }
    batch.ahead = null;
    this.#metrics?.batch(batch.size, computeMs / 1000, err === undefined);
    // A session that runs batches off the JS thread (it declares contexts: TensorRT, worker
    // threads) gets its next batch before this one is split, so that it does not idle while
    // results are copied out. One that runs on the JS thread could not start it before the
    // copying is done anyway; there the results go out first and the next batch is formed a
    // microtask later (after the callers' continuations, queued as the results resolve), so
    // that the requests those callers send next can join it.
    if (this.#offThread) this.#dispatch();
    if (!this.#cfg.ordered) this.#deliver(batch);
    else {
      this.#done.set(batch.seq, batch);
      for (let b = this.#done.get(this.#nextDeliver); b !== undefined; b = this.#done.get(this.#nextDeliver)) {
        this.#done.delete(this.#nextDeliver);
        this.#nextDeliver++;
        this.#deliver(b);
      }
    }
    if (!this.#offThread && !this.#pumpScheduled) {
      this.#pumpScheduled = true;
      queueMicrotask(this.#pumpTask);
    }
    this.#checkClosed();
  }

  /**
   * A batch finished: the batches launched behind it now know when it really ended, so
   * their predicted ends are redone from that (else a late batch would leave every later
   * prediction early, and batches would be launched into a queue inside the session).
   */
  #repredict(done: Batch): void {
    const serial = this.#overlap.forHolds;
    for (const b of this.#running) {
      if (b.ahead === null || !(b.predictedMs > 0) || !b.ahead.includes(done)) continue;
      let aheadEnd = 0;
      for (const a of b.ahead) aheadEnd = Math.max(aheadEnd, a.doneAt > 0 ? a.doneAt : a.predictedEnd);
      b.predictedEnd = b.startedAt + serial * Math.max(0, aheadEnd - b.startedAt) + b.predictedMs;
    }
  }

  /**
   * Teaches the cost model this batch's run time. A batch that ran alone, or nearly (the
   * batches ahead of it ended within its first tenth), gives its own cost as measured. One
   * launched while others still ran gives a sample of how much they held it up
   * (OverlapEstimator). Its own cost is learned once that estimate has seen 16 batches:
   * settled near 0 (side by side) or 1 (one after another: the latency less the wait), or in
   * between, where batches share the machine, as the latency it had alongside the others.
   * Before that it is not, because an inflated cost would make the hold-up look smaller
   * than it is while the estimate forms.
   */
  #learn(batch: Batch, latencyMs: number): void {
    const rows = batch.size;
    const len = batch.paddedLen;
    const overlap = this.#overlap;
    const model = this.#model;
    overlap.tick();
    model.countRun(len);
    const ahead = batch.ahead;
    if (ahead === null) {
      model.observe(rows, len, latencyMs);
      return;
    }
    let ranAfter = 0;
    let overtook = false;
    for (const a of ahead) {
      if (a.doneAt > 0) ranAfter = Math.max(ranAfter, a.doneAt - batch.startedAt);
      else overtook = true;
    }
    const own = model.predict(rows, len);
    if (overtook) {
      // It finished before a batch launched earlier: they ran side by side.
      overlap.observe(latencyMs, own, latencyMs);
      if (overlap.settled && overlap.value < 0.15) model.observe(rows, len, latencyMs);
      return;
    }
    if (ranAfter <= 0.1 * latencyMs) {
      model.observe(rows, len, latencyMs - overlap.value * ranAfter);
      return;
    }
    if (own > 0) overlap.observe(latencyMs, own, ranAfter);
    if (overlap.settled) model.observe(rows, len, Math.max(latencyMs - overlap.value * ranAfter, 0.05 * latencyMs));
    // Batches that share the session (neither side by side nor one after another) cost what
    // they take alongside each other; that is what serving them costs.
    else if (overlap.samples >= 16) model.observe(rows, len, latencyMs);
  }

  #deliver(batch: Batch): void {
    const reqs = batch.reqs;
    if (batch.error !== undefined) {
      for (let i = 0; i < reqs.length; i++) if (reqs[i]!.state === RUNNING) this.#settleError(reqs[i]!, batch.error, 'error');
      return;
    }
    const out = batch.outputs!;
    const layout = this.#cfg.layout;
    const whole = reqs.length === 1 && sameLens(reqs[0]!.lens, batch.lens);
    const now = performance.now();
    let ok = 0;
    let off = 0;
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      const start = off;
      off += r.batch;
      if (r.state !== RUNNING) continue;
      let result: Outputs;
      if (r.outputs !== undefined) {
        try {
          result = deliverOutputs(r.outputs, out, r, start, layout, whole ? passThrough : split);
        } catch (e) {
          this.#settleError(r, e, 'error');
          continue;
        }
      } else if (whole) result = passThrough(layout, out);
      else {
        try {
          result = split(layout, out, r, start);
        } catch (e) {
          this.#settleError(r, new InternalError(`splitting the batch outputs failed: ${(e as Error).message}`, { cause: e }), 'error');
          continue;
        }
      }
      r.state = DONE;
      this.#detachSignal(r);
      ok++;
      this.#metrics?.succeeded((now - r.enqueuedAt) / 1000);
      r.resolve(result);
    }
    this.#c.succeeded += ok;
    if (ok > 0) this.#metrics?.outcome('success', ok);
  }

  #detachSignal(r: Request): void {
    if (r.onAbort !== null) {
      r.signal!.removeEventListener('abort', r.onAbort);
      r.onAbort = null;
    }
  }

  #settleError(r: Request, err: unknown, outcome: Outcome | 'shut_down'): void {
    if (r.state === DONE) return;
    r.state = DONE;
    this.#detachSignal(r);
    switch (outcome) {
      case 'error':
        this.#c.failed++;
        break;
      case 'timeout':
        this.#c.timedOut++;
        break;
      case 'aborted':
        this.#c.aborted++;
        break;
      case 'shut_down':
        this.#shutDown++;
        break;
    }
    this.#metrics?.outcome(outcome === 'shut_down' ? 'shutting_down' : outcome);
    r.reject(err);
  }

  /**
   * Stops taking requests (run() rejects with ERR_SHUTTING_DOWN) and resolves once every
   * accepted request has settled and no batch is running. With `drain` (default) queued
   * requests are sent at once without waiting for maxQueueDelayMs; without it they, and
   * running ones, are rejected with ERR_SHUTTING_DOWN (running batches finish, their
   * results are dropped). `timeoutMs` bounds the wait: then everything still unsettled is
   * rejected and close() resolves without waiting for the session. Idempotent. The session
   * is not disposed; it belongs to the caller.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closePromise !== undefined) return this.#closePromise;
    const o = parseOptions(CloseOptionsSchema, options, 'DynamicBatcher.close() options');
    this.#closing = true;
    this.#closePromise = new Promise<void>((resolve) => {
      this.#closeResolve = resolve;
    });
    if (o.drain === false) this.#rejectAll('DynamicBatcher was closed without draining');
    if (o.timeoutMs !== undefined) {
      this.#closeTimer = setTimeout(() => {
        this.#closeTimer = undefined;
        this.#rejectAll(`DynamicBatcher.close() did not finish within ${o.timeoutMs} ms`);
        this.#finishClose();
      }, o.timeoutMs);
    }
    this.#pump();
    return this.#closePromise;
  }

  #rejectAll(message: string): void {
    for (const g of [...this.#active]) {
      for (const queue of g.queues) {
        for (let r = queue.shift(); r !== undefined; r = queue.shift()) {
          this.#levelCount[r.level - 1]!--;
          this.#queued--;
          g.live--;
          this.#settleError(r, new ShuttingDownError(message), 'shut_down');
        }
      }
      if (g.activeIndex >= 0) this.#deactivate(g);
    }
    for (const batch of this.#running) {
      for (const r of batch.reqs) if (r.state === RUNNING) this.#settleError(r, new ShuttingDownError(message), 'shut_down');
    }
    // Batches finished but held back for ordering: their requests are still unsettled.
    for (const batch of this.#done.values()) {
      for (const r of batch.reqs) if (r.state === RUNNING) this.#settleError(r, new ShuttingDownError(message), 'shut_down');
    }
  }

  #checkClosed(): void {
    if (this.#closing && !this.#closed && this.#queued === 0 && this.#inflight === 0 && !this.#warmupRunning) this.#finishClose();
  }

  #finishClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    if (this.#timeout !== undefined) clearTimeout(this.#timeout);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timeout = undefined;
    this.#immediate = undefined;
    this.#timerAt = Infinity;
    this.#heap.clear();
    this.#metrics?.detach();
    this.#closeResolve!();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  stats(): DynamicBatcherStats {
    const c = this.#c;
    return {
      closing: this.#closing,
      closed: this.#closed,
      queued: this.#queued,
      inflightBatches: this.#inflight,
      inflightRequests: this.#inflightReqs,
      requests: {
        accepted: c.accepted,
        succeeded: c.succeeded,
        failed: c.failed,
        timedOut: c.timedOut,
        aborted: c.aborted,
        shutDown: this.#shutDown,
        rejected: { queueFull: c.queueFull, shuttingDown: c.shuttingDown, invalid: c.invalid },
      },
      batches: {
        succeeded: c.batches,
        failed: c.batchesFailed,
        samples: c.samples,
        meanSize: c.batches > 0 ? c.samples / c.batches : 0,
      },
      queueTimeMs: { mean: c.dispatched > 0 ? c.queueMsTotal / c.dispatched : 0, max: c.queueMsMax },
      computeTimeMs: {
        mean: c.batches + c.batchesFailed > 0 ? c.computeMsTotal / (c.batches + c.batchesFailed) : 0,
        max: c.computeMsMax,
      },
      padding: {
        paddedElements: c.paddedElements,
        realElements: c.realElements,
        ratio: c.realElements > 0 ? c.paddedElements / c.realElements : 0,
      },
      totals: {
        dispatched: c.dispatched,
        queueMs: c.queueMsTotal,
        batches: c.batches + c.batchesFailed,
        rows: c.rowsRun,
        computeMs: c.computeMsTotal,
        realElements: c.realElements,
        paddedElements: c.paddedElements,
        realTokens: c.realTokens,
        paddedTokens: c.paddedTokens,
      },
      costModel: {
        scheduler: this.#cfg.scheduler,
        ...this.#model.snapshot(),
        serialization: { value: this.#overlap.value, samples: this.#overlap.samples },
        handoverMs: this.#handoverMs,
        holds: { count: this.#holds, ms: this.#heldMs },
        explored: this.#explored,
        lastBatch:
          this.#lastSel === null
            ? null
            : {
                rows: this.#lastSel.rows,
                paddedLength: this.#lastSel.paddedLen,
                predictedMs: this.#lastSel.predictedMs,
                tokensPerMs: this.#lastSel.realTokens / this.#lastSel.predictedMs,
              },
        warmup: this.#warmupResult,
      },
    };
  }

  /** This batcher's metrics in Prometheus text format ('' with metrics: false). */
  metrics(): Promise<string> {
    return this.#metrics === null ? Promise.resolve('') : this.#metrics.text();
  }
}
