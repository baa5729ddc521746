/**
 * Triton model-repository export: `<repo>/<name>/<version>/model.plan` (TensorRT's own plan
 * bytes) and `<repo>/<name>/config.pbtxt` with `platform: "tensorrt_plan"`, the I/O tensors,
 * `max_batch_size`, an instance group, and `dynamic_batching` mirroring the DynamicBatcher
 * options, so a model served here and one served by Triton batch the same way.
 *
 * The config is written from the engine's sidecar (EngineInfo): every input and output whose
 * first dim is dynamic in the engine makes the model batchable, and then `max_batch_size` is
 * the largest batch every optimization profile accepts from 1 up; otherwise it is 0 and the
 * dims are the full engine dims.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';
import { QueuePolicySchema } from '../batching/options.js';
import { parseOptions } from '../options.js';
import { writeFileAtomic } from '../files.js';
import type { EngineInfo } from './sidecar.js';

/** Triton's data_type of each of our dtypes. */
const TRITON_TYPES: Readonly<Record<string, string>> = {
  float32: 'TYPE_FP32',
  float16: 'TYPE_FP16',
  bfloat16: 'TYPE_BF16',
  float64: 'TYPE_FP64',
  int8: 'TYPE_INT8',
  uint8: 'TYPE_UINT8',
  int16: 'TYPE_INT16',
  uint16: 'TYPE_UINT16',
  int32: 'TYPE_INT32',
  uint32: 'TYPE_UINT32',
  int64: 'TYPE_INT64',
  uint64: 'TYPE_UINT64',
  bool: 'TYPE_BOOL',
};

/** The DynamicBatcher options that have a Triton equivalent (same names and meanings). */
export const TritonBatchingSchema = z
  .object({
    maxBatchSize: z.number().int().min(1).optional(),
    maxQueueDelayMs: z.number().finite().min(0).optional(),
    preferredBatchSizes: z.array(z.number().int().min(1)).optional(),
    priorityLevels: z.number().int().min(0).max(64).optional(),
    defaultPriority: z.number().int().min(1).optional(),
    queuePolicy: QueuePolicySchema.optional(),
    priorityQueuePolicy: z.record(z.string().regex(/^[1-9][0-9]*$/), QueuePolicySchema).optional(),
    preserveOrdering: z.boolean().optional(),
  })
  .strict();

export const TritonExportOptionsSchema = z
  .object({
    /** Model name: the folder under the repository and `name` in config.pbtxt. */
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be a folder name (letters, digits, _ . -)'),
    version: z.number().int().min(1).default(1),
    /** Model instances per GPU (the TensorRT session's `contexts`). */
    instances: z.number().int().min(1).max(64).default(1),
    /** GPUs the instances run on; the engine's build device when omitted. */
    gpus: z.array(z.number().int().min(0)).min(1).optional(),
    /** Dynamic batching; `false` leaves the dynamic_batching block out. */
    batching: z.union([z.literal(false), TritonBatchingSchema]).default({}),
  })
  .strict();

export type TritonExportOptions = z.input<typeof TritonExportOptionsSchema>;

interface IoTensor {
  name: string;
  dtype: string;
  dims: (number | string)[];
}

function isDynamic(d: number | string): boolean {
  return typeof d === 'string' || d < 0;
}

/** The largest batch every profile accepts from 1 up, or 0 when the engine is not batchable. */
export function tritonMaxBatchSize(info: Pick<EngineInfo, 'inputs' | 'outputs' | 'profiles'>): number {
  const tensors = [...info.inputs, ...info.outputs] as IoTensor[];
  if (tensors.length === 0 || !tensors.every((t) => t.dims.length > 0 && isDynamic(t.dims[0]!))) return 0;
  let max = Infinity;
  for (const profile of info.profiles) {
    for (const input of info.inputs as IoTensor[]) {
      const range = profile[input.name];
      if (range === undefined) continue;
      // Triton sends any batch from 1 to max_batch_size: the profile must start at 1.
      if (range.min[0] !== undefined && range.min[0] > 1) return 0;
      max = Math.min(max, range.max[0] ?? Infinity);
    }
  }
  return Number.isFinite(max) && max >= 1 ? max : 0;
}

function dimsText(dims: readonly (number | string)[]): string {
  return `[ ${dims.map((d) => (isDynamic(d) ? -1 : d)).join(', ')} ]`;
}

function tensorBlock(t: IoTensor, batched: boolean): string {
  const type = TRITON_TYPES[t.dtype];
  if (type === undefined) {
    throw new InvalidArgumentError(`tensor ${JSON.stringify(t.name)} has dtype ${t.dtype}, which Triton's TensorRT backend does not take`);
  }
  const dims = batched ? t.dims.slice(1) : t.dims;
  return `  {\n    name: ${JSON.stringify(t.name)}\n    data_type: ${type}\n    dims: ${dimsText(dims)}\n  }`;
}

function queuePolicyText(p: z.output<typeof QueuePolicySchema>, indent: string): string[] {
  const lines: string[] = [];
  if (p.timeoutAction !== undefined) lines.push(`timeout_action: ${p.timeoutAction === 'delay' ? 'DELAY' : 'REJECT'}`);
  if (p.timeoutMs !== undefined) lines.push(`default_timeout_microseconds: ${Math.round(p.timeoutMs * 1000)}`);
  if (p.allowTimeoutOverride !== undefined) lines.push(`allow_timeout_override: ${p.allowTimeoutOverride}`);
  if (p.maxSize !== undefined) lines.push(`max_queue_size: ${p.maxSize}`);
  return lines.map((l) => `${indent}${l}`);
}

/** config.pbtxt for `info`'s engine (protobuf text format of Triton's ModelConfig). */
export function tritonConfig(info: EngineInfo, options: TritonExportOptions): string {
  const o = parseOptions(TritonExportOptionsSchema, options, 'Triton export options');
  const engineMax = tritonMaxBatchSize(info);
  const b = o.batching === false ? undefined : o.batching;
  let maxBatchSize = engineMax;
  if (b?.maxBatchSize !== undefined) {
    if (engineMax === 0) {
      throw new InvalidArgumentError('maxBatchSize was given but the engine has no batch dim (a dynamic first dim on every input and output)');
    }
    if (b.maxBatchSize > engineMax) {
      throw new InvalidArgumentError(`maxBatchSize ${b.maxBatchSize} is above what the engine's profiles accept (${engineMax})`);
    }
    maxBatchSize = b.maxBatchSize;
  }
  const batched = maxBatchSize > 0;
  const lines: string[] = [
    `name: ${JSON.stringify(o.name)}`,
    'platform: "tensorrt_plan"',
    `max_batch_size: ${maxBatchSize}`,
    `input [\n${(info.inputs as IoTensor[]).map((t) => tensorBlock(t, batched)).join(',\n')}\n]`,
    `output [\n${(info.outputs as IoTensor[]).map((t) => tensorBlock(t, batched)).join(',\n')}\n]`,
    `instance_group [\n  {\n    count: ${o.instances}\n    kind: KIND_GPU\n    gpus: [ ${(o.gpus ?? [info.gpu.device]).join(', ')} ]\n  }\n]`,
  ];
  if (b !== undefined && batched) {
    const d: string[] = [];
    if (b.preferredBatchSizes !== undefined) {
      const bad = b.preferredBatchSizes.find((s) => s > maxBatchSize);
      if (bad !== undefined) throw new InvalidArgumentError(`preferredBatchSizes has ${bad}, above max_batch_size ${maxBatchSize}`);
      d.push(`  preferred_batch_size: [ ${b.preferredBatchSizes.join(', ')} ]`);
    }
    if (b.maxQueueDelayMs !== undefined) d.push(`  max_queue_delay_microseconds: ${Math.round(b.maxQueueDelayMs * 1000)}`);
    if (b.preserveOrdering !== undefined) d.push(`  preserve_ordering: ${b.preserveOrdering}`);
    if (b.priorityLevels !== undefined && b.priorityLevels > 0) {
      d.push(`  priority_levels: ${b.priorityLevels}`);
      // Triton requires a default level; the batcher's default is the lowest priority.
      d.push(`  default_priority_level: ${b.defaultPriority ?? b.priorityLevels}`);
    }
    if (b.queuePolicy !== undefined) {
      const q = queuePolicyText(b.queuePolicy, '    ');
      if (q.length > 0) d.push(`  default_queue_policy {\n${q.join('\n')}\n  }`);
    }
    for (const [level, policy] of Object.entries(b.priorityQueuePolicy ?? {})) {
      d.push(`  priority_queue_policy {\n    key: ${level}\n    value {\n${queuePolicyText(policy, '      ').join('\n')}\n    }\n  }`);
    }
    lines.push(d.length > 0 ? `dynamic_batching {\n${d.join('\n')}\n}` : 'dynamic_batching { }');
  } else if (b !== undefined && !batched && Object.keys(b).length > 0) {
    throw new InvalidArgumentError("dynamic batching needs a batchable engine (a dynamic first dim on every input and output, profiles starting at batch 1)");
  }
  return `${lines.join('\n')}\n`;
}

export interface TritonRepositoryFiles {
  modelDir: string;
  planPath: string;
  configPath: string;
}

/**
 * Writes the model into the repository `repo` (created if missing); each file goes through a
 * temporary name and a rename, so Triton's repository poller never sees half a file.
 */
export async function writeTritonModel(repo: string, plan: Uint8Array, info: EngineInfo, options: TritonExportOptions): Promise<TritonRepositoryFiles> {
  const o = parseOptions(TritonExportOptionsSchema, options, 'Triton export options');
  const config = tritonConfig(info, options);
  const modelDir = join(repo, o.name);
  const versionDir = join(modelDir, String(o.version));
  await mkdir(versionDir, { recursive: true });
  const planPath = join(versionDir, 'model.plan');
  const configPath = join(modelDir, 'config.pbtxt');
  await writeFileAtomic(planPath, plan);
  await writeFileAtomic(configPath, config);
  return { modelDir, planPath, configPath };
}
