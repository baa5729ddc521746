/**
 * DynamicBatcher options. Each option names its Triton equivalent (model_config.proto,
 * `dynamic_batching { ... }`) where there is one; where we differ from Triton the comment
 * says how and why. Validated once, at construction, with zod; the per-request options of
 * `run()` are checked by hand on the hot path (see batcher.ts).
 */
import { z } from 'zod';
import type { OutputTargets } from '../session.js';

/** A padded or trimmed axis: its index, optionally with the name of the length it carries. */
const AxisSpec = z.union([
  z.number().int().min(0),
  z
    .object({
      axis: z.number().int().min(0),
      /**
       * The name of the length this axis carries (e.g. "sequence"). Inputs and outputs whose
       * axes share a name are padded to, and trimmed back to, the same per-request length.
       * Defaults to the model's symbolic dim name at that axis, else "sequence".
       */
      dim: z.string().min(1).optional(),
    })
    .strict(),
]);

const AxesSpec = z.union([AxisSpec, z.array(AxisSpec)]);

const InputPadding = z
  .object({
    /** Axes padded up to the longest request (or the bucket) in a batch. Default: from the model. */
    axes: AxesSpec.optional(),
    /** The value padding is filled with (a number; float16/bfloat16 converted, int64 as an integer). Default 0. */
    value: z.number().finite().optional(),
  })
  .strict();

const OutputTrim = z
  .object({
    /** Axes cut back to each request's own length. Default: from the model. */
    axes: AxesSpec.optional(),
  })
  .strict();

export const QueuePolicySchema = z
  .object({
    /**
     * Triton `max_queue_size`: requests held in the queue of a priority level; a request
     * that does not fit is rejected at once with ERR_QUEUE_FULL. 0 (default) = unbounded.
     */
    maxSize: z.number().int().min(0).optional(),
    /**
     * Triton `default_timeout_microseconds`, in milliseconds: how long a request may wait in
     * the queue. As in Triton, the timeout covers queueing only; a request already handed to
     * the session runs to completion (use `signal` for an end-to-end deadline). 0 = none.
     */
    timeoutMs: z.number().finite().min(0).optional(),
    /**
     * Triton `timeout_action`: 'reject' settles a timed-out request with ERR_TIMEOUT;
     * 'delay' moves it behind every request of its priority level that has not timed out
     * (it still runs, possibly much later).
     */
    timeoutAction: z.enum(['reject', 'delay']).optional(),
    /**
     * Triton `allow_timeout_override`: whether `run(..., { timeoutMs })` may set a request's
     * timeout; it may only lower it (a longer one is cut to the policy's). Differs from
     * Triton: the default here is true, because the caller of a library is the application
     * itself, not an untrusted remote client; set false to make timeoutMs an error.
     */
    allowTimeoutOverride: z.boolean().optional(),
  })
  .strict();

export const MetricsOptionsSchema = z
  .object({
    /**
     * A prom-client Registry to register the metrics in (so they appear in your /metrics).
     * Default: a private registry of this batcher. Batchers sharing a registry share metric
     * families; give each its own `labels` (e.g. { model: "bert" }).
     */
    registry: z
      .custom<import('prom-client').Registry>(
        (v) =>
          v !== null &&
          typeof v === 'object' &&
          typeof (v as { registerMetric?: unknown }).registerMetric === 'function' &&
          typeof (v as { getSingleMetric?: unknown }).getSingleMetric === 'function',
        { message: 'expected a prom-client Registry' },
      )
      .optional(),
    /** Metric name prefix. Default "tensorrt_node_batcher_". */
    prefix: z
      .string()
      .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a valid Prometheus metric name prefix')
      .optional(),
    /** Constant labels put on every metric of this batcher, e.g. { model: "bert" }. */
    labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/), z.string()).optional(),
  })
  .strict();

export const WarmupSchema = z
  .object({
    /** Padded lengths to run (default 8, 32 and 128, within what the session's profiles allow). */
    lengths: z.array(z.number().int().min(1)).min(1).optional(),
    /** Rows to run at each length (default 1, 2, 4, ... up to maxBatchSize and maxBatchTokens). */
    rows: z.array(z.number().int().min(1)).min(1).optional(),
    /** Stop starting new shapes after this long (default 2000 ms). */
    maxMs: z.number().finite().min(0).max(600_000).optional(),
  })
  .strict();

export const DynamicBatcherOptionsSchema = z
  .object({
    /**
     * How batches are formed.
     *
     * - 'cost' (the default unless a Triton batch-forming option below is given): the
     *   batcher learns what a batch costs the session from its own runs (rows x padded
     *   length) and sends the batch that serves the most tokens per ms: requests of similar
     *   length together, as many rows as pay (never a batch that costs more than running its
     *   requests apart), holding a batch back only while the session could not start it yet.
     *   maxBatchSize, maxBatchTokens, maxQueueDelayMs and buckets are limits it works within.
     * - 'triton': Triton's dynamic batcher rule (preferred sizes, max batch, queue delay), in
     *   arrival order. The default when maxBatchSize, preferredBatchSizes, maxQueueDelayMs or
     *   buckets is set.
     */
    scheduler: z.enum(['cost', 'triton']).optional(),
    /**
     * Triton `max_batch_size`: the most samples (sum of the requests' batch dims) in one
     * batch. A request larger than this is rejected with ERR_SHAPE. Default: the largest
     * batch every TensorRT optimization profile allows, else 32 ('triton') or 256 ('cost',
     * where the cost model and maxBatchTokens choose the size).
     */
    maxBatchSize: z
      .number()
      .int()
      .min(1)
      .max(1 << 20)
      .optional(),
    /**
     * Text-embeddings-inference's `max_batch_tokens`: the most padded tokens in one batch
     * (rows x the product of the padded lengths). When set, a request larger than this is
     * rejected with ERR_SHAPE. Default: 16384 with scheduler 'cost' (a lone request above it
     * still runs), none with 'triton'.
     */
    maxBatchTokens: z.number().int().min(1).optional(),
    /**
     * Runs a few batch shapes (zeros) through the session before serving, so the cost model
     * starts from measurements rather than from its first requests; requests queue
     * meanwhile. true for the default shapes. Only for models whose non-batch dims are fixed
     * or padded. `await batcher.warmup()` waits for it.
     */
    warmup: z.union([z.boolean(), WarmupSchema]).optional(),
    /**
     * Triton `max_queue_delay_microseconds`, in milliseconds (fractions allowed, e.g. 0.25):
     * how long the oldest queued request may wait for others to join its batch when no
     * maximum or preferred size can be formed. Default 0: send what is there as soon as the
     * session has a free slot (requests still gather while every slot is busy). With
     * scheduler 'cost' it is a budget: requests wait within it only while they arrive faster
     * than the session serves batches of the current size.
     */
    maxQueueDelayMs: z.number().finite().min(0).max(60_000).optional(),
    /**
     * Triton `preferred_batch_size`: batch sizes sent at once when they can be formed (the
     * largest one possible); other sizes wait up to maxQueueDelayMs. Default none.
     */
    preferredBatchSizes: z.array(z.number().int().min(1)).optional(),
    /**
     * Triton `priority_levels`: levels 1 (highest) .. priorityLevels; all queued requests of
     * level 1 are batched before any of level 2, and so on. 0 (default) = one level.
     */
    priorityLevels: z.number().int().min(0).max(64).optional(),
    /**
     * Triton `default_priority_level`: the level of requests that give no priority (or 0).
     * Default: the lowest level (= priorityLevels), so a caller can raise a request above
     * the rest; Triton has no default and requires it to be set.
     */
    defaultPriority: z.number().int().min(1).optional(),
    /** Triton `default_queue_policy`: the queue policy of every priority level. */
    queuePolicy: QueuePolicySchema.optional(),
    /** Triton `priority_queue_policy`: per priority level, fields that override queuePolicy. */
    priorityQueuePolicy: z.record(z.string().regex(/^[1-9][0-9]*$/, 'keys must be priority levels (1, 2, ...)'), QueuePolicySchema).optional(),
    /**
     * Triton `preserve_ordering`: results settle in the order requests were dispatched to
     * the session (arrival order within a priority level and bucket), even when a later
     * batch finishes first. As in Triton, requests that fail in the queue (timeout, abort)
     * settle at once.
     */
    preserveOrdering: z.boolean().optional(),
    /**
     * How many batches may run on the session at once (Triton: the instance count of an
     * `instance_group`). Default: the session's `contexts` (TensorRT execution contexts, ONNX
     * Runtime worker threads) when it has them, else 1 (a session on the JS thread runs one
     * call at a time). More than the contexts makes the extra batches wait at the session;
     * the queue is then still spread over the contexts only.
     */
    maxInflightBatches: z.number().int().min(1).max(1024).optional(),
    /**
     * Sequence padding (no Triton equivalent: Triton batches only requests of equal shape,
     * or hands ragged batches to the model). By default, symbolic dims shared by name
     * between inputs and outputs are padded with 0 and trimmed back per request. Per input
     * or output, override the axes or the pad value; `false` turns padding off (requests
     * then batch only with requests of the same shape).
     */
    padding: z
      .union([
        z.literal(false),
        z
          .object({
            inputs: z.record(z.string(), InputPadding).optional(),
            outputs: z.record(z.string(), OutputTrim).optional(),
          })
          .strict(),
      ])
      .optional(),
    /**
     * Sequence-length buckets (no Triton equivalent): a request's padded length is rounded
     * up to the next bucket and requests batch only within their bucket. An array applies to
     * every padded dim; an object gives buckets per dim name. A request longer than the
     * largest bucket is rejected with ERR_SHAPE. Default: none (pad to the longest in batch).
     */
    buckets: z.union([z.array(z.number().int().min(1)).min(1), z.record(z.string(), z.array(z.number().int().min(1)).min(1))]).optional(),
    /** Outputs to fetch from the session (default all); requests receive these. */
    outputs: z.array(z.string()).min(1).optional(),
    /** Prometheus metrics (prom-client); `false` turns them off (stats() still counts). */
    metrics: z.union([z.literal(false), MetricsOptionsSchema]).optional(),
  })
  .strict();

export type DynamicBatcherOptions = z.input<typeof DynamicBatcherOptionsSchema>;
export type WarmupOptions = z.input<typeof WarmupSchema>;
export type QueuePolicy = z.input<typeof QueuePolicySchema>;
export type AxisOption = z.infer<typeof AxisSpec>;

/** Per-request options of DynamicBatcher.run(). */
export interface BatcherRunOptions {
  /** 1 = highest .. priorityLevels; 0 or omitted = defaultPriority (Triton's request priority). */
  priority?: number;
  /** Queue timeout for this request in ms; may only lower the policy's (Triton's request timeout). */
  timeoutMs?: number;
  /** Aborting removes a queued request, or drops the result of a running one: ERR_ABORTED. */
  signal?: AbortSignal;
  /**
   * The session's RunOptions.outputs for this request: an array of output names to return, or
   * tensors by output name that the request's rows are copied into when its batch returns
   * (returned as the same objects). Checked at submit time (ERR_DTYPE, ERR_SHAPE,
   * ERR_INVALID_ARG); see batching/targets.ts.
   */
  outputs?: readonly string[] | OutputTargets;
}

/** The normalised queue policy of one priority level. */
export interface LevelPolicy {
  readonly maxSize: number;
  readonly timeoutMs: number;
  readonly timeoutAction: 'reject' | 'delay';
  readonly allowTimeoutOverride: boolean;
}

export function resolveLevelPolicies(levels: number, base: QueuePolicy | undefined, perLevel: Record<string, QueuePolicy> | undefined): LevelPolicy[] {
  const out: LevelPolicy[] = [];
  for (let level = 1; level <= levels; level++) {
    const o = { ...base, ...perLevel?.[String(level)] };
    out.push(
      Object.freeze({
        maxSize: o.maxSize ?? 0,
        timeoutMs: o.timeoutMs ?? 0,
        timeoutAction: o.timeoutAction ?? 'reject',
        allowTimeoutOverride: o.allowTimeoutOverride ?? true,
      }),
    );
  }
  return out;
}
