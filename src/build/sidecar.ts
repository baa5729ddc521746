/**
 * The JSON sidecar written next to a plan (`<plan>.json`): what was built, from what, with
 * which options, by which TensorRT on which GPU, and the engine's I/O and profiles. The plan
 * itself stays TensorRT's own bytes, so trtexec --loadEngine and Triton load it unchanged.
 * Reading validates the format; unknown fields are kept (newer writers may add some).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { FileError } from '../errors.js';
import { writeFileAtomic } from '../files.js';
import type { TensorInfo } from '../session.js';

export const ENGINE_INFO_FORMAT = 'tensorrt-node/engine-info@1';

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest');
const Dims = z.array(z.number().int());
const Limit = z.object({ axis: z.number().int(), min: z.number().optional(), max: z.number().optional(), reason: z.string() });
const IoTensor = z
  .object({
    name: z.string(),
    dtype: z.string(),
    dims: z.array(z.union([z.number().int(), z.string()])),
    /** Inputs: limits on dims the ONNX graph makes knowable (TensorInfo.limits), e.g. a position table's rows. */
    limits: z.array(Limit).optional(),
    /** Inputs: the range of values the graph takes (TensorInfo.valueRange), e.g. position_ids into a table. */
    valueRange: z.object({ min: z.number(), max: z.number(), reason: z.string() }).optional(),
  })
  .loose();
const Range = z.object({ min: Dims, opt: Dims, max: Dims }).loose();

export const EngineInfoSchema = z
  .object({
    format: z.literal(ENGINE_INFO_FORMAT),
    createdAt: z.string(),
    cacheKey: Hex64,
    model: z.object({ sha256: Hex64, bytes: z.number().int().min(0), path: z.string().nullable() }).loose(),
    /** The normalised build options (see normaliseForKey in options.ts). */
    options: z
      .object({
        precision: z.enum(['fp32', 'fp16']),
        fp16Mode: z.enum(['convert', 'builder-flag']),
        versionCompatible: z.boolean(),
      })
      .loose(),
    tensorrt: z.object({ version: z.string(), headers: z.string() }).loose(),
    gpu: z.object({ device: z.number().int().min(0), name: z.string(), computeCapability: z.string() }).loose(),
    plan: z.object({ bytes: z.number().int().min(0), sha256: Hex64 }).loose(),
    inputs: z.array(IoTensor),
    outputs: z.array(IoTensor),
    /** Per optimization profile: input name -> its min/opt/max dims. */
    profiles: z.array(z.record(z.string(), Range)),
    buildSeconds: z.number().min(0),
    warnings: z.array(z.string()),
    /** A decoder's generation limits (build/generation.ts), which shaped its profile. */
    generation: z.object({ maxBatchSize: z.number().int(), maxSeqLen: z.number().int(), maxInputLen: z.number().int() }).optional(),
    /** FP16 conversion report, when the model was converted before the build. */
    fp16: z.unknown().optional(),
  })
  .loose();

export type EngineInfo = z.infer<typeof EngineInfoSchema>;

export function sidecarPath(planPath: string): string {
  return `${planPath}.json`;
}

export async function writeSidecar(path: string, info: EngineInfo): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(info, null, 2)}\n`);
}

/**
 * Reads and validates a sidecar. With `optional`, a missing file gives null; a file that is
 * there but unreadable or invalid always throws ERR_IO naming the path and what is wrong.
 */
export async function readSidecar(path: string, options: { optional: true }): Promise<EngineInfo | null>;
export async function readSidecar(path: string, options?: { optional?: false }): Promise<EngineInfo>;
export async function readSidecar(path: string, options: { optional?: boolean } = {}): Promise<EngineInfo | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (options.optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FileError(`cannot read the engine sidecar ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e, path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FileError(`the engine sidecar ${JSON.stringify(path)} is not valid JSON: ${(e as Error).message}`, { cause: e, path });
  }
  const parsed = EngineInfoSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new FileError(`the engine sidecar ${JSON.stringify(path)} is not a ${ENGINE_INFO_FORMAT} file: ${issues}`, { path });
  }
  return parsed.data;
}

/**
 * What the sidecar knows about input `name` beyond the engine (TensorInfo's `limits` and
 * `valueRange`, found in the ONNX graph at build time), for the session's TensorInfo.
 */
export function sidecarInputLimits(info: EngineInfo | null | undefined, name: string): Pick<TensorInfo, 'limits' | 'valueRange'> {
  const entry = info?.inputs.find((t) => t.name === name);
  if (entry === undefined) return {};
  return {
    ...(entry.limits && entry.limits.length > 0 ? { limits: Object.freeze(entry.limits.map((l) => Object.freeze({ ...l }))) } : {}),
    ...(entry.valueRange ? { valueRange: Object.freeze({ ...entry.valueRange }) } : {}),
  };
}
