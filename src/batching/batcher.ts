/**
 * DynamicBatcher: Triton's dynamic batcher over any InferenceSession, with sequence padding
 * and length buckets.
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
import {
  AbortError,
  InternalError,
  InvalidArgumentError,
  QueueFullError,
  ShapeError,
  DTypeError,
  ShuttingDownError,
  TimeoutError,
  abortErrorFrom,
  describe,
} from '../errors.js';
import { Tensor, formatDims } from '../tensor.js';
import type { Feeds, InferenceSession, Outputs, RunOptions } from '../session.js';
import { parseOptions } from '../options.js';
import { z } from 'zod';
import {
  DynamicBatcherOptionsSchema,
  resolveLevelPolicies,
  type BatcherRunOptions,
  type DynamicBatcherOptions,
  type LevelPolicy,
} from './options.js';
import { planLayout, type BatchLayout } from './layout.js';
import { DeadlineHeap, RequestQueue } from './queue.js';
import { allocate, copyBox, product } from './tensor-ops.js';
import { BatcherMetrics, type Outcome } from './metrics.js';

const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;

const EMPTY: readonly number[] = Object.freeze([]);

class Request {
  queue: RequestQueue<Request> | null = null;
  deadline = 0;
  state = QUEUED;
  delayOnTimeout = false;
  resolve!: (o: Outputs) => void;
  reject!: (e: unknown) => void;
  onAbort: (() => void) | null = null;
  signal: AbortSignal | undefined = undefined;
  group!: Group;
  constructor(
    readonly feeds: Feeds,
    readonly batch: number,
    /** Per padded dim (BatchLayout.dims), this request's length. */
    readonly lens: readonly number[],
    readonly level: number,
    readonly enqueuedAt: number,
  ) {}
}

class Group {
  readonly queues: RequestQueue<Request>[];
  live = 0;
  activeIndex = -1;
  constructor(
    readonly key: string,
    /** Per padded dim, the bucket length, or null to pad to the longest request in the batch. */
    readonly padTo: readonly number[] | null,
    levels: number,
  ) {
    this.queues = [];
    for (let i = 0; i < levels * 2; i++) this.queues.push(new RequestQueue<Request>());
  }
}

class Batch {
  startedAt = 0;
  size = 0;
  /** Per padded dim, the length the batch was padded to. */
  lens: readonly number[] = EMPTY;
  outputs: Outputs | undefined = undefined;
  error: unknown = undefined;
  constructor(
    readonly reqs: Request[],
    readonly seq: number,
  ) {}
}

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
}

/** The resolved configuration (defaults filled in from the model). */
export interface DynamicBatcherConfig {
  readonly maxBatchSize: number;
  readonly maxQueueDelayMs: number;
  readonly preferredBatchSizes: readonly number[];
  readonly priorityLevels: number;
  readonly defaultPriority: number;
  readonly queuePolicies: readonly LevelPolicy[];
  readonly preserveOrdering: boolean;
  readonly maxInflightBatches: number;
  /** Per input: batch axis, padded axes (with the dim name each carries) and pad value. */
  readonly inputs: readonly { name: string; batchAxis: number; padAxes: readonly { axis: number; dim: string }[]; padValue: number | bigint }[];
  readonly outputs: readonly { name: string; batchAxis: number; trimAxes: readonly { axis: number; dim: string }[] }[];
  /** Per padded dim name, its buckets (absent: pad to the longest request in the batch). */
  readonly buckets: Readonly<Record<string, readonly number[]>>;
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
  readonly #layout: BatchLayout;
  readonly config: DynamicBatcherConfig;
  readonly #maxBatch: number;
  readonly #maxPreferred: number;
  readonly #preferred: Uint8Array;
  readonly #delayMs: number;
  readonly #levels: number;
  readonly #defaultLevel: number;
  readonly #policies: readonly LevelPolicy[];
  readonly #maxInflight: number;
  readonly #ordered: boolean;
  /** Per padded dim, its sorted buckets or null. */
  readonly #buckets: (readonly number[] | null)[];
  readonly #hasBuckets: boolean;
  readonly #runOptions: RunOptions | undefined;
  readonly #metrics: BatcherMetrics | null;
  readonly #symScratch: Int32Array;

  readonly #groups = new Map<string, Group>();
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

  // Set by #plan / #choose to avoid returning tuples on the hot path.
  #planWake = Infinity;
  #planLevel = 0;
  #planOldest = 0;
  #takeN = 0;
  #nextReadyAt = Infinity;

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
    if (
      session === null ||
      typeof session !== 'object' ||
      typeof (session as { run?: unknown }).run !== 'function' ||
      !Array.isArray((session as { inputs?: unknown }).inputs) ||
      !Array.isArray((session as { outputs?: unknown }).outputs)
    ) {
      throw new InvalidArgumentError(`session must be an InferenceSession (with run(), inputs and outputs), got ${describe(session)}`);
    }
    const o = parseOptions(DynamicBatcherOptionsSchema, options, 'DynamicBatcher options');
    this.#session = session;
    const layout = planLayout(session, o.padding, o.outputs);
    this.#layout = layout;

    const maxBatch = o.maxBatchSize ?? layout.profileMaxBatch ?? 32;
    if (layout.profileMaxBatch !== undefined && maxBatch > layout.profileMaxBatch) {
      throw new InvalidArgumentError(
        `options.maxBatchSize ${maxBatch} is larger than the session's optimization profiles allow (batch at most ${layout.profileMaxBatch})`,
      );
    }
    this.#maxBatch = maxBatch;
    const preferred = [...new Set(o.preferredBatchSizes ?? [])].sort((a, b) => a - b);
    for (const p of preferred) {
      if (p > maxBatch) {
        throw new InvalidArgumentError(`options.preferredBatchSizes: ${p} is larger than maxBatchSize ${maxBatch}`);
      }
    }
    this.#preferred = new Uint8Array(maxBatch + 1);
    for (const p of preferred) this.#preferred[p] = 1;
    this.#maxPreferred = preferred.length > 0 ? preferred[preferred.length - 1]! : maxBatch;
    this.#delayMs = o.maxQueueDelayMs ?? 0;

    this.#levels = Math.max(1, o.priorityLevels ?? 0);
    if (o.defaultPriority !== undefined && o.defaultPriority > this.#levels) {
      throw new InvalidArgumentError(
        `options.defaultPriority ${o.defaultPriority} is outside the priority levels 1..${this.#levels} (options.priorityLevels ${o.priorityLevels ?? 0})`,
      );
    }
    this.#defaultLevel = o.defaultPriority ?? this.#levels;
    for (const key of Object.keys(o.priorityQueuePolicy ?? {})) {
      if (Number(key) > this.#levels) {
        throw new InvalidArgumentError(`options.priorityQueuePolicy has level ${key}, but the levels are 1..${this.#levels}`);
      }
    }
    this.#policies = resolveLevelPolicies(this.#levels, o.queuePolicy, o.priorityQueuePolicy);
    this.#levelCount = new Int32Array(this.#levels);

    const contexts = (session as { contexts?: unknown }).contexts;
    this.#maxInflight =
      o.maxInflightBatches ?? (typeof contexts === 'number' && Number.isInteger(contexts) && contexts >= 1 ? contexts : 1);
    this.#ordered = o.preserveOrdering ?? false;

    // Buckets per padded dim.
    const dims = layout.dims;
    this.#buckets = dims.map(() => null);
    if (o.buckets !== undefined) {
      if (dims.length === 0) {
        throw new InvalidArgumentError(
          'options.buckets needs a padded dim, but nothing is padded (the model has no symbolic dim shared by inputs and outputs, or padding is false); set options.padding',
        );
      }
      const perDim: Record<string, number[]> = Array.isArray(o.buckets)
        ? Object.fromEntries(dims.map((d) => [d, o.buckets as number[]]))
        : (o.buckets as Record<string, number[]>);
      for (const [name, list] of Object.entries(perDim)) {
        const di = dims.indexOf(name);
        if (di < 0) {
          throw new InvalidArgumentError(
            `options.buckets names ${JSON.stringify(name)}, which is not a padded dim (padded dims: ${dims.map((d) => JSON.stringify(d)).join(', ')})`,
          );
        }
        const sorted = [...new Set(list)].sort((a, b) => a - b);
        const maxLen = layout.profileMaxLen[di]!;
        if (sorted[sorted.length - 1]! > maxLen) {
          throw new InvalidArgumentError(
            `options.buckets for ${JSON.stringify(name)}: ${sorted[sorted.length - 1]} is longer than the session's optimization profiles allow (${maxLen})`,
          );
        }
        this.#buckets[di] = Object.freeze(sorted);
      }
    }
    this.#hasBuckets = this.#buckets.some((b) => b !== null);
    this.#runOptions = o.outputs !== undefined ? Object.freeze({ outputs: layout.outputs.map((p) => p.name) }) : undefined;
    this.#symScratch = new Int32Array(layout.keySymbols.length);

    this.#metrics =
      o.metrics === false
        ? null
        : new BatcherMetrics(o.metrics ?? {}, maxBatch, () => ({ queued: this.#queued, inflightBatches: this.#inflight }));

    this.config = Object.freeze({
      maxBatchSize: maxBatch,
      maxQueueDelayMs: this.#delayMs,
      preferredBatchSizes: Object.freeze(preferred),
      priorityLevels: o.priorityLevels ?? 0,
      defaultPriority: this.#defaultLevel,
      queuePolicies: this.#policies,
      preserveOrdering: this.#ordered,
      maxInflightBatches: this.#maxInflight,
      inputs: Object.freeze(
        layout.inputs.map((p) =>
          Object.freeze({
            name: p.name,
            batchAxis: p.batchAxis,
            padAxes: Object.freeze(p.padAxes.map((axis, j) => Object.freeze({ axis, dim: dims[p.padDims[j]!]! }))),
            padValue: p.padFill,
          }),
        ),
      ),
      outputs: Object.freeze(
        layout.outputs.map((p) =>
          Object.freeze({
            name: p.name,
            batchAxis: p.batchAxis,
            trimAxes: Object.freeze(p.trimAxes.map((axis, j) => Object.freeze({ axis, dim: dims[p.trimDims[j]!]! }))),
          }),
        ),
      ),
      buckets: Object.freeze(
        Object.fromEntries(dims.flatMap((d, i) => (this.#buckets[i] ? [[d, this.#buckets[i]!]] : []))),
      ),
    });
  }

  /** The prom-client registry holding this batcher's metrics (undefined with metrics: false). */
  get registry(): import('prom-client').Registry | undefined {
    return this.#metrics?.registry;
  }

  /**
   * Queues one request (its batch dim may be > 1) and resolves with its own outputs, split
   * from the batch and trimmed to its lengths. Rejects with ERR_QUEUE_FULL, ERR_TIMEOUT,
   * ERR_ABORTED, ERR_SHUTTING_DOWN, a validation error, or the session's error if the
   * batch fails.
   */
  run(feeds: Feeds, options?: BatcherRunOptions): Promise<Outputs> {
    if (this.#closing) {
      this.#c.shuttingDown++;
      this.#metrics?.outcome('shutting_down');
      return Promise.reject(new ShuttingDownError('DynamicBatcher.run(): the batcher is closing and takes no new requests'));
    }
    let level = this.#defaultLevel;
    let signal: AbortSignal | undefined;
    let timeoutMs = -1;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') {
        return this.#invalid(new InvalidArgumentError(`DynamicBatcher.run() options must be an object, got ${describe(options)}`));
      }
      const p = options.priority;
      if (p !== undefined && p !== 0) {
        if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > this.#levels) {
          return this.#invalid(
            new InvalidArgumentError(
              `options.priority must be an integer from 1 (highest) to ${this.#levels}, or 0 for the default ${this.#defaultLevel}, got ${describe(p)}`,
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
    const policy = this.#policies[level - 1]!;
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
      req = this.#admit(feeds, level);
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
    if (!this.#pumpScheduled && this.#inflight < this.#maxInflight) {
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

  /** Checks `feeds` against the model and finds the request's group. */
  #admit(feeds: Feeds, level: number): Request {
    const layout = this.#layout;
    const plans = layout.inputs;
    if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds) || feeds instanceof Tensor) {
      throw new InvalidArgumentError(
        `feeds must be an object mapping input names to Tensors (inputs: ${plans.map((p) => JSON.stringify(p.name)).join(', ')}), got ${describe(feeds)}`,
      );
    }
    let count = 0;
    for (const _ in feeds) count++;
    if (count !== plans.length) this.#unknownOrMissing(feeds);
    const nDims = layout.dims.length;
    const lens: number[] | readonly number[] = nDims > 0 ? new Array<number>(nDims).fill(-1) : EMPTY;
    const sym = this.#symScratch;
    if (sym.length > 0) sym.fill(-1);
    let key = '';
    let batch = -1;
    for (let k = 0; k < plans.length; k++) {
      const p = plans[k]!;
      const t = feeds[p.name];
      if (!(t instanceof Tensor)) {
        if (t === undefined) this.#unknownOrMissing(feeds);
        throw new InvalidArgumentError(`feeds[${JSON.stringify(p.name)}] must be a Tensor, got ${describe(t)}`);
      }
      if (t.type !== p.dtype) throw new DTypeError(`input ${JSON.stringify(p.name)} must be ${p.dtype}, got ${t.type}`);
      const d = t.dims;
      if (d.length !== p.rank) {
        throw new ShapeError(`input ${JSON.stringify(p.name)} must have rank ${p.rank} ${this.#modelDims(k)}, got rank ${d.length} ${formatDims(d)}`);
      }
      for (let a = 0; a < p.rank; a++) {
        const f = p.fixed[a]!;
        if (f >= 0 && d[a] !== f) {
          throw new ShapeError(`input ${JSON.stringify(p.name)} dim ${a} must be ${f} ${this.#modelDims(k)}, got ${formatDims(d)}`);
        }
        const s = p.symbolIndex[a]!;
        if (s >= 0) {
          if (sym[s]! < 0) sym[s] = d[a]!;
          else if (sym[s] !== d[a]) {
            throw new ShapeError(
              `input ${JSON.stringify(p.name)} dim ${a} (${layout.keySymbols[s]}) is ${d[a]}, but another input gave ${layout.keySymbols[s]} = ${sym[s]}; inputs that share a symbolic dim must agree`,
            );
          }
        }
      }
      const b = d[p.batchAxis]!;
      if (batch < 0) batch = b;
      else if (b !== batch) {
        throw new ShapeError(
          `input ${JSON.stringify(p.name)} has batch ${b} (dim ${p.batchAxis} of ${formatDims(d)}), but ${JSON.stringify(plans[0]!.name)} has batch ${batch}; all inputs of a request must have the same batch`,
        );
      }
      for (let j = 0; j < p.padAxes.length; j++) {
        const di = p.padDims[j]!;
        const len = d[p.padAxes[j]!]!;
        if (lens[di]! < 0) (lens as number[])[di] = len;
        else if (lens[di] !== len) {
          throw new ShapeError(
            `input ${JSON.stringify(p.name)} dim ${p.padAxes[j]} (${layout.dims[di]}) is ${len}, but another input gave ${layout.dims[di]} = ${lens[di]}; padded inputs that share a length must agree`,
          );
        }
      }
      for (let j = 0; j < p.keyAxes.length; j++) key += `${d[p.keyAxes[j]!]},`;
    }
    if (batch < 1) {
      throw new ShapeError(`a request must have batch >= 1, got batch ${batch} (${JSON.stringify(plans[0]!.name)} ${formatDims(feeds[plans[0]!.name]!.dims)})`);
    }
    if (batch > this.#maxBatch) {
      throw new ShapeError(`a request has batch ${batch}, more than maxBatchSize ${this.#maxBatch}; split it or raise options.maxBatchSize`);
    }
    let padTo: number[] | null = null;
    for (let di = 0; di < nDims; di++) {
      const len = lens[di]!;
      if (len > layout.profileMaxLen[di]!) {
        throw new ShapeError(
          `${layout.dims[di]} length ${len} is longer than the session's optimization profiles allow (${layout.profileMaxLen[di]})`,
        );
      }
      const bs = this.#buckets[di];
      if (bs) {
        let bucket = -1;
        for (let i = 0; i < bs.length; i++) {
          if (bs[i]! >= len) {
            bucket = bs[i]!;
            break;
          }
        }
        if (bucket < 0) {
          throw new ShapeError(
            `${layout.dims[di]} length ${len} is longer than the largest bucket ${bs[bs.length - 1]} (options.buckets: ${bs.join(', ')})`,
          );
        }
        key += `|${bucket}`;
        (padTo ??= new Array<number>(nDims).fill(-1))[di] = bucket;
      }
    }
    let g = this.#groups.get(key);
    if (g === undefined) {
      g = new Group(key, padTo, this.#levels);
      if (this.#groups.size >= 256) this.#dropIdleGroups();
      this.#groups.set(key, g);
    }
    const req = new Request(feeds, batch, lens, level, performance.now());
    req.group = g;
    return req;
  }

  #modelDims(k: number): string {
    return formatDims(this.#session.inputs.find((i) => i.name === this.#layout.inputs[k]!.name)?.dims ?? []);
  }

  #unknownOrMissing(feeds: Feeds): never {
    const plans = this.#layout.inputs;
    for (const key of Object.keys(feeds)) {
      if (!plans.some((p) => p.name === key)) {
        throw new InvalidArgumentError(
          `feeds has an unknown input ${JSON.stringify(key)}; the model's inputs are ${plans.map((p) => JSON.stringify(p.name)).join(', ')}`,
        );
      }
    }
    for (const p of plans) {
      if (feeds[p.name] === undefined) {
        throw new InvalidArgumentError(`feeds is missing input ${JSON.stringify(p.name)} (${p.dtype} ${this.#modelDims(plans.indexOf(p))})`);
      }
    }
    throw new InvalidArgumentError(`feeds must have exactly the model's inputs ${plans.map((p) => JSON.stringify(p.name)).join(', ')}`);
  }

  #dropIdleGroups(): void {
    for (const [key, g] of this.#groups) if (g.live === 0) this.#groups.delete(key);
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
          new TimeoutError(`DynamicBatcher request timed out after ${waited.toFixed(1)} ms in the queue (timeout ${(r.deadline - r.enqueuedAt).toFixed(1)} ms)`),
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
      this.#nextReadyAt = Infinity;
      while (this.#inflight < this.#maxInflight && this.#queued > 0) {
        const g = this.#choose(now);
        if (g === null) break;
        this.#launch(this.#take(g, this.#takeN));
      }
      let wake = this.#inflight < this.#maxInflight && this.#queued > 0 ? this.#nextReadyAt : Infinity;
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

  /** Picks the group to dispatch now (or null), leaving the request count in #takeN. */
  #choose(now: number): Group | null {
    const act = this.#active;
    if (act.length === 1) {
      const g = act[0]!;
      const n = this.#plan(g, now);
      if (n > 0) {
        this.#takeN = n;
        return g;
      }
      if (this.#planWake < this.#nextReadyAt) this.#nextReadyAt = this.#planWake;
      return null;
    }
    let best: Group | null = null;
    let bestN = 0;
    let bestLevel = Infinity;
    let bestOldest = Infinity;
    for (let i = 0; i < act.length; i++) {
      const g = act[i]!;
      const n = this.#plan(g, now);
      if (n === 0) {
        if (this.#planWake < this.#nextReadyAt) this.#nextReadyAt = this.#planWake;
        continue;
      }
      if (this.#planLevel < bestLevel || (this.#planLevel === bestLevel && this.#planOldest < bestOldest)) {
        best = g;
        bestN = n;
        bestLevel = this.#planLevel;
        bestOldest = this.#planOldest;
      }
    }
    this.#takeN = bestN;
    return best;
  }

  /**
   * Triton's batch-forming rule on one group: walk the queue in priority order while the
   * batch fits maxBatchSize; send the largest preferred size reached unless the delay has
   * expired; else send everything that fits if the batch is full, the delay is 0 or
   * expired, or the batcher is draining; else wait until the oldest request's delay ends.
   */
  #plan(g: Group, now: number): number {
    const max = this.#maxBatch;
    const maxPref = this.#maxPreferred;
    const pref = this.#preferred;
    let sum = 0;
    let n = 0;
    let bestPref = 0;
    let capN = 0;
    let stopped = false;
    let oldest = Infinity;
    let level = -1;
    const queues = g.queues;
    for (let q = 0; q < queues.length; q++) {
      const queue = queues[q]!;
      if (queue.live === 0) continue;
      const head = queue.peek()!;
      if (head.enqueuedAt < oldest) oldest = head.enqueuedAt;
      if (level < 0) level = q >> 1;
      if (stopped) continue;
      const span = queue.span;
      for (let i = 0; i < span; i++) {
        const r = queue.at(i);
        if (r === undefined) continue;
        if (sum + r.batch > max) {
          stopped = true;
          break;
        }
        sum += r.batch;
        n++;
        if (pref[sum] === 1) bestPref = n;
        if (sum <= maxPref) capN = n;
      }
    }
    this.#planLevel = level;
    this.#planOldest = oldest;
    const delay = this.#delayMs;
    const expired = delay > 0 && now - oldest >= delay;
    if (bestPref === 0 && sum > maxPref && capN > 0) bestPref = capN;
    if (bestPref > 0 && !expired && !this.#closing) return bestPref;
    if (stopped || sum >= maxPref || delay === 0 || expired || this.#closing) return n;
    this.#planWake = oldest + delay;
    return 0;
  }

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

  #launch(reqs: Request[]): void {
    const batch = new Batch(reqs, this.#seq++);
    const now = performance.now();
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
    this.#inflight++;
    this.#inflightReqs += reqs.length;
    this.#running.add(batch);
    let feeds: Feeds;
    let work: Promise<Outputs>;
    try {
      try {
        feeds = this.#gather(batch);
      } catch (e) {
        throw new InternalError(`building the batch inputs failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
      }
      batch.startedAt = performance.now();
      work = this.#session.run(feeds, this.#runOptions);
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

  /** Concatenates the requests' inputs, padding the padded axes to the batch's lengths. */
  #gather(batch: Batch): Feeds {
    const reqs = batch.reqs;
    const layout = this.#layout;
    const nDims = layout.dims.length;
    const g = reqs[0]!.group;
    let lens: readonly number[] = EMPTY;
    if (nDims > 0) {
      if (g.padTo !== null && !g.padTo.includes(-1)) lens = g.padTo;
      else {
        const l = new Array<number>(nDims).fill(0);
        for (let i = 0; i < reqs.length; i++) {
          const rl = reqs[i]!.lens;
          for (let di = 0; di < nDims; di++) if (rl[di]! > l[di]!) l[di] = rl[di]!;
        }
        if (g.padTo !== null) for (let di = 0; di < nDims; di++) if (g.padTo[di]! >= 0) l[di] = g.padTo[di]!;
        lens = l;
      }
    }
    batch.lens = lens;
    if (reqs.length === 1 && this.#sameLens(reqs[0]!.lens, lens)) {
      this.#countPadding(reqs, 0);
      return reqs[0]!.feeds;
    }
    const feeds: Record<string, Tensor> = {};
    let padded = 0;
    let realTotal = 0;
    for (let k = 0; k < layout.inputs.length; k++) {
      const p = layout.inputs[k]!;
      const first = reqs[0]!.feeds[p.name]!;
      const dims = first.dims.slice();
      dims[p.batchAxis] = batch.size;
      for (let j = 0; j < p.padAxes.length; j++) dims[p.padAxes[j]!] = lens[p.padDims[j]!]!;
      const total = product(dims);
      const data = allocate(p.dtype, total, p.padFill);
      let off = 0;
      let real = 0;
      for (let i = 0; i < reqs.length; i++) {
        const t = reqs[i]!.feeds[p.name]!;
        copyBox(t.data, t.dims, data, dims, t.dims, p.batchAxis, 0, off);
        off += t.dims[p.batchAxis]!;
        real += t.size;
      }
      if (p.padAxes.length > 0) {
        padded += total - real;
        realTotal += real;
      }
      feeds[p.name] = new Tensor(p.dtype, data as never, dims);
    }
    if (realTotal > 0) {
      this.#c.realElements += realTotal;
      this.#c.paddedElements += padded;
      this.#metrics?.padding(realTotal, padded);
    }
    return feeds;
  }

  #countPadding(reqs: Request[], padded: number): void {
    if (this.#layout.dims.length === 0) return;
    let real = 0;
    for (const p of this.#layout.inputs) if (p.padAxes.length > 0) for (const r of reqs) real += r.feeds[p.name]!.size;
    this.#c.realElements += real;
    this.#c.paddedElements += padded;
    this.#metrics?.padding(real, padded);
  }

  #sameLens(a: readonly number[], b: readonly number[]): boolean {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  #onBatchDone(batch: Batch, out: Outputs | undefined, err: unknown): void {
    const computeMs = performance.now() - batch.startedAt;
    this.#inflight--;
    this.#inflightReqs -= batch.reqs.length;
    this.#running.delete(batch);
    const c = this.#c;
    c.computeMsTotal += computeMs;
    if (computeMs > c.computeMsMax) c.computeMsMax = computeMs;
    if (err === undefined) {
      try {
        this.#checkOutputs(batch, out);
        batch.outputs = out;
      } catch (e) {
        err = e;
      }
    }
    if (err === undefined) {
      c.batches++;
      c.samples += batch.size;
    } else {
      c.batchesFailed++;
      batch.error = err;
    }
    this.#metrics?.batch(batch.size, computeMs / 1000, err === undefined);
    // Hand the session its next batch before splitting this one, so the device does not
    // idle while results are copied out; close() waits until they are delivered.
    this.#dispatch();
    if (!this.#ordered) this.#deliver(batch);
    else {
      this.#done.set(batch.seq, batch);
      for (let b = this.#done.get(this.#nextDeliver); b !== undefined; b = this.#done.get(this.#nextDeliver)) {
        this.#done.delete(this.#nextDeliver);
        this.#nextDeliver++;
        this.#deliver(b);
      }
    }
    this.#checkClosed();
  }

  /** Checks the batch outputs before anything is split, so a bad output fails the batch as a whole. */
  #checkOutputs(batch: Batch, out: Outputs | undefined): void {
    if (out === null || typeof out !== 'object') {
      throw new InternalError(`session.run() resolved with ${describe(out)} instead of an object of output Tensors`);
    }
    for (const p of this.#layout.outputs) {
      const t = out[p.name];
      if (!(t instanceof Tensor)) {
        throw new InternalError(`session.run() returned no Tensor for output ${JSON.stringify(p.name)} (got ${describe(t)})`);
      }
      if (t.dims.length <= p.batchAxis || t.dims[p.batchAxis] !== batch.size) {
        throw new ShapeError(
          `output ${JSON.stringify(p.name)} has dims ${formatDims(t.dims)}; expected ${batch.size} along its batch axis ${p.batchAxis}, the batch's size`,
        );
      }
      for (let j = 0; j < p.trimAxes.length; j++) {
        const a = p.trimAxes[j]!;
        const want = batch.lens[p.trimDims[j]!]!;
        if (t.dims[a] !== want) {
          throw new ShapeError(
            `output ${JSON.stringify(p.name)} dim ${a} is ${t.dims[a]} (dims ${formatDims(t.dims)}), but the batch was padded to ` +
              `${this.#layout.dims[p.trimDims[j]!]} = ${want}; cannot trim it back (set options.padding.outputs.${p.name}.axes)`,
          );
        }
      }
    }
  }

  #deliver(batch: Batch): void {
    const reqs = batch.reqs;
    if (batch.error !== undefined) {
      for (let i = 0; i < reqs.length; i++) if (reqs[i]!.state === RUNNING) this.#settleError(reqs[i]!, batch.error, 'error');
      return;
    }
    const out = batch.outputs!;
    const plans = this.#layout.outputs;
    const whole = reqs.length === 1 && this.#sameLens(reqs[0]!.lens, batch.lens);
    const now = performance.now();
    let ok = 0;
    let off = 0;
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      const start = off;
      off += r.batch;
      if (r.state !== RUNNING) continue;
      let result: Outputs;
      if (whole) {
        result = {};
        for (let k = 0; k < plans.length; k++) result[plans[k]!.name] = out[plans[k]!.name]!;
      } else {
        try {
          result = this.#split(out, r, start);
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

  /** Request `r`'s share of the batch outputs: its rows, trimmed to its own lengths, in buffers of its own. */
  #split(out: Outputs, r: Request, start: number): Outputs {
    const result: Outputs = {};
    const plans = this.#layout.outputs;
    for (let k = 0; k < plans.length; k++) {
      const p = plans[k]!;
      const t = out[p.name]!;
      const dims = t.dims.slice();
      dims[p.batchAxis] = r.batch;
      for (let j = 0; j < p.trimAxes.length; j++) dims[p.trimAxes[j]!] = r.lens[p.trimDims[j]!]!;
      const data = allocate(t.type, product(dims), 0);
      copyBox(t.data, t.dims, data, dims, dims, p.batchAxis, start, 0);
      result[p.name] = new Tensor(t.type, data as never, dims);
    }
    return result;
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
    if (this.#closing && !this.#closed && this.#queued === 0 && this.#inflight === 0) this.#finishClose();
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
    };
  }

  /** This batcher's metrics in Prometheus text format ('' with metrics: false). */
  metrics(): Promise<string> {
    return this.#metrics === null ? Promise.resolve('') : this.#metrics.text();
  }
}
