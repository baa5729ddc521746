/**
 * The batcher's configuration: the user's options checked against the session and turned
 * into one flat, normalised object (defaults filled in from the model). Pure apart from
 * reading the session's metadata; everything after construction reads only this.
 */
import { InvalidArgumentError, describe } from '../errors.js';
import type { InferenceSession, RunOptions } from '../session.js';
import { parseOptions } from '../options.js';
import { DynamicBatcherOptionsSchema, resolveLevelPolicies, type DynamicBatcherOptions, type LevelPolicy } from './options.js';
import { planLayout, type BatchLayout } from './layout.js';
import type { MetricsConfig } from './metrics.js';

/** The resolved configuration (defaults filled in from the model), as `DynamicBatcher.config` shows it. */
export interface DynamicBatcherConfig {
  /** How batches are formed: by the learned cost model, or by Triton's rule. */
  readonly scheduler: 'cost' | 'triton';
  readonly maxBatchSize: number;
  /** Most padded tokens in a batch (Infinity: no limit). */
  readonly maxBatchTokens: number;
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

/** Everything the batcher needs, normalised; internal. */
export interface BatcherConfig {
  readonly layout: BatchLayout;
  readonly scheduler: 'cost' | 'triton';
  readonly maxBatch: number;
  /** Most padded tokens in a batch (Infinity: none); maxTokensSet when the user gave it (requests above it are refused). */
  readonly maxTokens: number;
  readonly maxTokensSet: boolean;
  /** Warm-up shapes to run before serving, or null. */
  readonly warmup: WarmupPlan | null;
  /** preferred[n] === 1 when n is a preferred batch size. */
  readonly preferred: Uint8Array;
  /** The largest preferred size, else maxBatch. */
  readonly maxPreferred: number;
  readonly delayMs: number;
  readonly levels: number;
  readonly defaultLevel: number;
  readonly policies: readonly LevelPolicy[];
  readonly maxInflight: number;
  /** Batches the session runs at once (its declared contexts, else maxInflight); the rest of maxInflight wait at the session. */
  readonly contexts: number;
  readonly ordered: boolean;
  /** Per padded dim, its sorted buckets or null. */
  readonly buckets: readonly (readonly number[] | null)[];
  readonly runOptions: RunOptions | undefined;
  /** Prometheus metrics options, or null for none. */
  readonly metrics: MetricsConfig | null;
  readonly public: DynamicBatcherConfig;
}

export interface WarmupPlan {
  /** Padded lengths, each applied to every padded dim. */
  readonly lengths: readonly number[];
  readonly rows: readonly number[];
  readonly maxMs: number;
}

/** TEI's default max_batch_tokens. */
export const DEFAULT_MAX_BATCH_TOKENS = 16384;
const DEFAULT_COST_MAX_BATCH = 256;
const DEFAULT_TRITON_MAX_BATCH = 32;

export function assertSession(session: unknown): asserts session is InferenceSession {
  if (
    session === null ||
    typeof session !== 'object' ||
    typeof (session as { run?: unknown }).run !== 'function' ||
    !Array.isArray((session as { inputs?: unknown }).inputs) ||
    !Array.isArray((session as { outputs?: unknown }).outputs)
  ) {
    throw new InvalidArgumentError(`session must be an InferenceSession (with run(), inputs and outputs), got ${describe(session)}`);
  }
}

export function resolveBatcherConfig(session: InferenceSession, options: DynamicBatcherOptions = {}): BatcherConfig {
  assertSession(session);
  const o = parseOptions(DynamicBatcherOptionsSchema, options, 'DynamicBatcher options');
  const layout = planLayout(session, o.padding, o.outputs);

  const tritonOptions = (['maxBatchSize', 'preferredBatchSizes', 'maxQueueDelayMs', 'buckets'] as const).filter((k) => o[k] !== undefined);
  const scheduler = o.scheduler ?? (tritonOptions.length > 0 ? 'triton' : 'cost');
  if (scheduler === 'cost' && o.preferredBatchSizes !== undefined) {
    throw new InvalidArgumentError(
      "options.preferredBatchSizes is a rule of scheduler 'triton'; with scheduler 'cost' the batch size comes from the cost model (leave out one of the two)",
    );
  }
  const maxBatch = o.maxBatchSize ?? layout.profileMaxBatch ?? (scheduler === 'cost' ? DEFAULT_COST_MAX_BATCH : DEFAULT_TRITON_MAX_BATCH);
  if (layout.profileMaxBatch !== undefined && maxBatch > layout.profileMaxBatch) {
    throw new InvalidArgumentError(
      `options.maxBatchSize ${maxBatch} is larger than the session's optimization profiles allow (batch at most ${layout.profileMaxBatch})`,
    );
  }
  const preferredSizes = [...new Set(o.preferredBatchSizes ?? [])].sort((a, b) => a - b);
  for (const p of preferredSizes) {
    if (p > maxBatch) throw new InvalidArgumentError(`options.preferredBatchSizes: ${p} is larger than maxBatchSize ${maxBatch}`);
  }
  const preferred = new Uint8Array(maxBatch + 1);
  for (const p of preferredSizes) preferred[p] = 1;
  const maxPreferred = preferredSizes.length > 0 ? preferredSizes[preferredSizes.length - 1]! : maxBatch;
  const delayMs = o.maxQueueDelayMs ?? 0;

  const levels = Math.max(1, o.priorityLevels ?? 0);
  if (o.defaultPriority !== undefined && o.defaultPriority > levels) {
    throw new InvalidArgumentError(
      `options.defaultPriority ${o.defaultPriority} is outside the priority levels 1..${levels} (options.priorityLevels ${o.priorityLevels ?? 0})`,
    );
  }
  const defaultLevel = o.defaultPriority ?? levels;
  for (const key of Object.keys(o.priorityQueuePolicy ?? {})) {
    if (Number(key) > levels) {
      throw new InvalidArgumentError(`options.priorityQueuePolicy has level ${key}, but the levels are 1..${levels}`);
    }
  }
  const policies = resolveLevelPolicies(levels, o.queuePolicy, o.priorityQueuePolicy);

  const contexts = (session as { contexts?: unknown }).contexts;
  const declared = typeof contexts === 'number' && Number.isInteger(contexts) && contexts >= 1 ? contexts : undefined;
  const maxInflight = o.maxInflightBatches ?? declared ?? 1;
  const runsAtOnce = Math.min(maxInflight, declared ?? maxInflight);
  const ordered = o.preserveOrdering ?? false;

  const dims = layout.dims;
  const buckets: (readonly number[] | null)[] = dims.map(() => null);
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
      buckets[di] = Object.freeze(sorted);
    }
  }
  const maxTokens = o.maxBatchTokens ?? (scheduler === 'cost' ? DEFAULT_MAX_BATCH_TOKENS : Infinity);
  const warmup = o.warmup === undefined || o.warmup === false ? null : warmupPlan(layout, o.warmup === true ? {} : o.warmup, maxBatch);
  const runOptions = o.outputs !== undefined ? Object.freeze({ outputs: layout.outputs.map((p) => p.name) }) : undefined;

  const pub: DynamicBatcherConfig = Object.freeze({
    scheduler,
    maxBatchSize: maxBatch,
    maxBatchTokens: maxTokens,
    maxQueueDelayMs: delayMs,
    preferredBatchSizes: Object.freeze(preferredSizes),
    priorityLevels: o.priorityLevels ?? 0,
    defaultPriority: defaultLevel,
    queuePolicies: policies,
    preserveOrdering: ordered,
    maxInflightBatches: maxInflight,
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
    buckets: Object.freeze(Object.fromEntries(dims.flatMap((d, i) => (buckets[i] ? [[d, buckets[i]!]] : [])))),
  });

  return Object.freeze({
    layout,
    scheduler,
    maxBatch,
    maxTokens,
    maxTokensSet: o.maxBatchTokens !== undefined,
    warmup,
    preferred,
    maxPreferred,
    delayMs,
    levels,
    defaultLevel,
    policies,
    maxInflight,
    contexts: runsAtOnce,
    ordered,
    buckets: Object.freeze(buckets),
    runOptions,
    metrics: o.metrics === false ? null : (o.metrics ?? {}),
    public: pub,
  });
}

/**
 * The warm-up shapes: zeros of every input at each padded length and row count. Only inputs
 * whose dims are all fixed, the batch dim or padded can be made up; anything else needs real
 * requests.
 */
export function warmupPlan(
  layout: BatchLayout,
  o: { lengths?: number[] | undefined; rows?: number[] | undefined; maxMs?: number | undefined },
  maxBatch: number,
): WarmupPlan {
  for (const p of layout.inputs) {
    if (p.keyAxes.length > 0) {
      throw new InvalidArgumentError(
        `options.warmup cannot make up input ${JSON.stringify(p.name)}: its dim(s) ${p.keyAxes.join(', ')} are open but neither the batch dim nor padded, so their sizes are unknown; leave warmup out`,
      );
    }
  }
  const maxLen = Math.min(...layout.profileMaxLen, Infinity);
  if (o.lengths !== undefined && layout.dims.length === 0) {
    throw new InvalidArgumentError('options.warmup.lengths needs a padded dim, but nothing is padded');
  }
  for (const l of o.lengths ?? []) {
    if (l > maxLen) throw new InvalidArgumentError(`options.warmup.lengths: ${l} is longer than the session's optimization profiles allow (${maxLen})`);
  }
  for (const r of o.rows ?? []) {
    if (r > maxBatch) throw new InvalidArgumentError(`options.warmup.rows: ${r} is more than maxBatchSize ${maxBatch}`);
  }
  const lengths = layout.dims.length === 0 ? [1] : [...new Set(o.lengths ?? [8, 32, 128].map((l) => Math.min(l, maxLen)))].sort((a, b) => a - b);
  const rows: number[] = [];
  if (o.rows !== undefined) rows.push(...new Set(o.rows));
  else for (let r = 1; r <= maxBatch; r *= 2) rows.push(r);
  rows.sort((a, b) => a - b);
  return Object.freeze({ lengths: Object.freeze(lengths), rows: Object.freeze(rows), maxMs: o.maxMs ?? 2000 });
}
