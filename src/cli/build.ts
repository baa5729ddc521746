/**
 * `tensorrt-node build`: the engine-build script, with trtexec's flags where they exist
 * (--onnx, --saveEngine, --fp16, --shapes, --workspace, --timingCacheFile spelled
 * --timing-cache, ...). Writes the plan, its JSON sidecar and, with --triton-repo, a Triton
 * model repository whose dynamic_batching mirrors the batcher flags. Flags and the model file
 * are checked first (a missing model is ERR_IO, not a missing TensorRT); without TensorRT it
 * then fails with ERR_TENSORRT_NOT_FOUND (exit 2) before writing anything.
 */
import { basename, extname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { InvalidArgumentError } from '../errors.js';
import type { BuildOptions, BuildProgressEvent, DimRangeInput, GenerationBuildOptions, ProfileInput } from '../build/options.js';
import { GENERATION_DEFAULTS } from '../build/generation.js';
import { decoderDimRoles } from '../generation/decoder-io.js';
import type { Dim } from '../session.js';
import { writeTritonModel, type TritonExportOptions } from '../build/triton.js';
import { collect, intArg, numberArg } from './args.js';
import { readOnnxInput } from './input-files.js';

interface BuildFlags {
  onnx?: string;
  saveEngine?: string;
  fp16?: boolean;
  fp16Mode: 'convert' | 'builder-flag';
  shapes: string[];
  dims: string[];
  workspace?: string;
  timingCache?: string;
  optLevel?: string;
  hardwareCompat: 'none' | 'ampere-plus' | 'same-compute-capability';
  versionCompatible?: boolean;
  refit?: boolean;
  device: string;
  cache?: string | boolean;
  tritonRepo?: string;
  tritonName?: string;
  tritonVersion: string;
  instances: string;
  maxBatchSize?: string;
  maxSeqLen?: string;
  maxInputLen?: string;
  maxQueueDelayMs?: string;
  preferredBatchSizes?: string;
  priorityLevels?: string;
  defaultPriority?: string;
  queueMaxSize?: string;
  queueTimeoutMs?: string;
  timeoutAction?: 'reject' | 'delay';
  preserveOrdering?: boolean;
  progress: boolean;
  json?: boolean;
}

function integer(flag: string, v: string, min = 0): number {
  return intArg(v, flag, min)!;
}

function number(flag: string, v: string): number {
  return numberArg(v, flag, 0, Number.MAX_SAFE_INTEGER)!;
}

function shape(flag: string, text: string): number[] {
  if (!/^\d+(x\d+)*$/.test(text)) throw new InvalidArgumentError(`${flag}: a shape is dims joined by x (e.g. 8x128), got ${JSON.stringify(text)}`);
  return text.split('x').map(Number);
}

/** --shapes name:MIN/OPT/MAX (trtexec's --minShapes/--optShapes/--maxShapes in one flag). */
export function parseShapes(values: readonly string[]): ProfileInput['shapes'] {
  const out: NonNullable<ProfileInput['shapes']> = {};
  for (const v of values) {
    const m = /^(.+):([^:/]+)\/([^:/]+)\/([^:/]+)$/.exec(v) ?? /^(.+):([^:/]+)$/.exec(v);
    if (!m) throw new InvalidArgumentError(`--shapes takes name:MIN/OPT/MAX (e.g. input_ids:1x1/8x128/32x512) or name:SHAPE, got ${JSON.stringify(v)}`);
    const name = m[1]!;
    const min = shape('--shapes', m[2]!);
    const opt = m[3] === undefined ? min : shape('--shapes', m[3]);
    const max = m[4] === undefined ? min : shape('--shapes', m[4]);
    if (min.length !== opt.length || opt.length !== max.length) throw new InvalidArgumentError(`--shapes ${v}: min, opt and max must have the same rank`);
    if (min.some((d, i) => d > opt[i]! || opt[i]! > max[i]!)) throw new InvalidArgumentError(`--shapes ${v}: needs min <= opt <= max in every dim`);
    if (out[name] !== undefined) throw new InvalidArgumentError(`--shapes names ${JSON.stringify(name)} twice`);
    out[name] = { min, opt, max };
  }
  return out;
}

/** --dims name:MIN,OPT,MAX or name:MIN,MAX or name:SIZE for a symbolic dim (e.g. batch:1,8,32). */
export function parseDims(values: readonly string[]): Record<string, DimRangeInput> {
  const out: Record<string, DimRangeInput> = {};
  for (const v of values) {
    const m = /^(.+):(\d+)(?:,(\d+))?(?:,(\d+))?$/.exec(v);
    if (!m) throw new InvalidArgumentError(`--dims takes name:MIN,OPT,MAX, name:MIN,MAX or name:SIZE (e.g. batch:1,8,32), got ${JSON.stringify(v)}`);
    const nums = [m[2], m[3], m[4]].filter((x): x is string => x !== undefined).map(Number);
    out[m[1]!] = nums.length === 1 ? nums[0]! : nums.length === 2 ? { min: nums[0]!, max: nums[1]! } : { min: nums[0]!, opt: nums[1]!, max: nums[2]! };
  }
  return out;
}

export function tritonOptionsFrom(flags: BuildFlags, name: string): TritonExportOptions {
  const batching: NonNullable<Exclude<TritonExportOptions['batching'], false>> = {};
  if (flags.maxBatchSize !== undefined) batching.maxBatchSize = integer('--max-batch-size', flags.maxBatchSize, 1);
  if (flags.maxQueueDelayMs !== undefined) batching.maxQueueDelayMs = number('--max-queue-delay-ms', flags.maxQueueDelayMs);
  if (flags.preferredBatchSizes !== undefined) {
    batching.preferredBatchSizes = flags.preferredBatchSizes.split(',').map((s) => integer('--preferred-batch-sizes', s.trim(), 1));
  }
  if (flags.priorityLevels !== undefined) batching.priorityLevels = integer('--priority-levels', flags.priorityLevels);
  if (flags.defaultPriority !== undefined) batching.defaultPriority = integer('--default-priority', flags.defaultPriority, 1);
  if (flags.preserveOrdering) batching.preserveOrdering = true;
  const policy: NonNullable<typeof batching.queuePolicy> = {};
  if (flags.queueMaxSize !== undefined) policy.maxSize = integer('--queue-max-size', flags.queueMaxSize);
  if (flags.queueTimeoutMs !== undefined) policy.timeoutMs = number('--queue-timeout-ms', flags.queueTimeoutMs);
  if (flags.timeoutAction !== undefined) policy.timeoutAction = flags.timeoutAction;
  if (Object.keys(policy).length > 0) batching.queuePolicy = policy;
  return {
    name,
    version: integer('--triton-version', flags.tritonVersion, 1),
    instances: integer('--instances', flags.instances, 1),
    gpus: [integer('--device', flags.device)],
    batching,
  };
}

/**
 * A decoder's generation limits from --max-seq-len, --max-input-len and (for a decoder, as
 * trtllm-build's --max_batch_size) --max-batch-size; undefined when none applies. `inputs`
 * are the model's, to tell a decoder; without them --max-batch-size stays the batcher's.
 */
export function generationFrom(flags: BuildFlags, inputs?: readonly { name: string; dims: readonly Dim[] | null }[]): GenerationBuildOptions | undefined {
  const g: GenerationBuildOptions = {};
  if (flags.maxSeqLen !== undefined) g.maxSeqLen = integer('--max-seq-len', flags.maxSeqLen, 2);
  if (flags.maxInputLen !== undefined) g.maxInputLen = integer('--max-input-len', flags.maxInputLen, 1);
  const maxSeqLen = g.maxSeqLen ?? GENERATION_DEFAULTS.maxSeqLen;
  if (g.maxInputLen !== undefined && g.maxInputLen > maxSeqLen) {
    throw new InvalidArgumentError(
      `--max-input-len ${g.maxInputLen} is more than ${g.maxSeqLen === undefined ? 'the default ' : ''}--max-seq-len ${maxSeqLen}: a prompt is part of the sequence`,
    );
  }
  const decoder = inputs !== undefined && decoderDimRoles(inputs.map((i) => ({ name: i.name, dims: i.dims ?? [] }))) !== undefined;
  if (inputs !== undefined && !decoder && Object.keys(g).length > 0) {
    const names = inputs.map((i) => JSON.stringify(i.name)).join(', ') || '(none)';
    throw new InvalidArgumentError(
      `${g.maxSeqLen !== undefined ? '--max-seq-len' : '--max-input-len'} applies to a decoder with a KV cache in Hugging Face Optimum's convention ` +
        `(input_ids, attention_mask, past_key_values.{i}.key/.value), but the model's inputs are ${names}; give its ranges with --dims or --shapes`,
    );
  }
  if (decoder && flags.maxBatchSize !== undefined) g.maxBatchSize = integer('--max-batch-size', flags.maxBatchSize, 1);
  return Object.keys(g).length > 0 ? g : undefined;
}

export function buildOptionsFrom(flags: BuildFlags, inputs?: readonly { name: string; dims: readonly Dim[] | null }[]): BuildOptions {
  const shapes = parseShapes(flags.shapes);
  const dims = parseDims(flags.dims);
  const generation = generationFrom(flags, inputs);
  const opts: BuildOptions = {
    precision: flags.fp16 ? 'fp16' : 'fp32',
    fp16Mode: flags.fp16Mode,
    dims,
    hardwareCompatibility: flags.hardwareCompat,
    versionCompatible: flags.versionCompatible === true,
    refit: flags.refit === true,
    device: integer('--device', flags.device),
  };
  if (generation !== undefined) opts.generation = generation;
  if (shapes !== undefined && Object.keys(shapes).length > 0) opts.profiles = [{ shapes, dims }];
  if (flags.workspace !== undefined) opts.workspaceBytes = integer('--workspace', flags.workspace, 1) * 2 ** 20;
  if (flags.timingCache !== undefined) opts.timingCache = resolve(flags.timingCache);
  if (flags.optLevel !== undefined) opts.optimizationLevel = integer('--opt-level', flags.optLevel);
  if (flags.cache !== undefined) opts.cache = flags.cache === true ? true : resolve(String(flags.cache));
  return opts;
}

/** A progress bar on a terminal (cli-progress), plain phase lines otherwise. */
async function progressReporter(enabled: boolean): Promise<{ onProgress: (e: BuildProgressEvent) => void; stop: () => void }> {
  if (!enabled) return { onProgress: () => undefined, stop: () => undefined };
  if (!process.stderr.isTTY) {
    return {
      onProgress: (e) => {
        if (e.kind === 'phaseStart' && e.depth === 0) process.stderr.write(`build: ${e.phase} (${e.steps} steps)\n`);
      },
      stop: () => undefined,
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'building [{bar}] {value}/{total} {phase}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress: (e) => {
      if (e.depth !== 0) return;
      if (e.kind === 'phaseStart') {
        if (started) bar.setTotal(e.steps);
        else bar.start(e.steps, 0, { phase: e.phase });
        started = true;
        bar.update(0, { phase: e.phase });
      } else if (e.kind === 'step') bar.update(e.step + 1, { phase: e.phase });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('build a TensorRT engine from an ONNX model (trtexec-style flags); optionally export a Triton model repository')
    .requiredOption('--onnx <file>', 'the ONNX model')
    .option('--saveEngine <file>', 'where to write the plan (default: the model name with .plan); the sidecar goes to <file>.json')
    .option('--fp16', 'FP16: convert the model to mixed precision, then build strongly typed')
    .addOption(
      new Option('--fp16-mode <mode>', "how FP16 is made ('builder-flag' is TensorRT 10.x's kFP16)").choices(['convert', 'builder-flag']).default('convert'),
    )
    .option('--shapes <name:min/opt/max>', "an input's shape range, dims joined by x, e.g. input_ids:1x1/8x128/32x512 (repeatable)", collect, [])
    .option('--dims <name:min,opt,max>', "a symbolic dim's range, e.g. batch:1,8,32 (repeatable)", collect, [])
    .option('--workspace <MiB>', 'workspace memory-pool limit in MiB')
    .option('--timing-cache <file>', 'timing cache: read if present, written after the build')
    .option('--opt-level <0-5>', 'builder optimization level (TensorRT default 3)')
    .addOption(new Option('--hardware-compat <level>', 'hardware compatibility').choices(['none', 'ampere-plus', 'same-compute-capability']).default('none'))
    .option('--version-compatible', 'build a version-compatible plan')
    .option('--refit', 'build a refittable engine')
    .option('--device <n>', 'CUDA device', '0')
    .option('--cache [dir]', 'use the engine cache (default folder, or DIR)')
    .option('--triton-repo <dir>', 'also write a Triton model repository here')
    .option('--triton-name <name>', 'the model name in the Triton repository (default: the model file name)')
    .option('--triton-version <n>', 'the model version folder', '1')
    .option('--instances <n>', 'Triton instance_group count (= TensorRT execution contexts)', '1')
    .option(
      '--max-batch-size <n>',
      "batcher/Triton max batch size (default: what the engine profiles accept); for a decoder also the profile's batch max (default 32)",
    )
    .option('--max-seq-len <n>', 'decoder: positions per sequence, prompt + generated (past 0..n-1, total 1..n; default 2048)')
    .option('--max-input-len <n>', 'decoder: the longest prompt one run takes (sequence 1..n; default min(512, --max-seq-len))')
    .option('--max-queue-delay-ms <ms>', 'batcher/Triton max queue delay')
    .option('--preferred-batch-sizes <list>', 'batcher/Triton preferred batch sizes, comma-separated')
    .option('--priority-levels <n>', 'batcher/Triton priority levels')
    .option('--default-priority <n>', 'batcher/Triton default priority level')
    .option('--queue-max-size <n>', 'batcher/Triton queue policy max size')
    .option('--queue-timeout-ms <ms>', 'batcher/Triton queue policy default timeout')
    .addOption(new Option('--timeout-action <action>', 'batcher/Triton queue policy timeout action').choices(['reject', 'delay']))
    .option('--preserve-ordering', 'batcher/Triton preserve ordering')
    .option('--no-progress', 'no progress output')
    .option('--json', 'print the engine info (sidecar) as JSON')
    .action(async (flags: BuildFlags) => {
      const onnx = resolve(flags.onnx!);
      const name = flags.tritonName ?? basename(onnx, extname(onnx));
      // Everything is validated before the build, so a bad flag costs no build time and a
      // failed build leaves no partial output.
      buildOptionsFrom(flags);
      const triton = flags.tritonRepo === undefined ? undefined : tritonOptionsFrom(flags, name);
      const planPath = resolve(flags.saveEngine ?? `${onnx.replace(/\.onnx$/i, '')}.plan`);
      // The model before TensorRT: a missing or broken file is what the user must hear about.
      const proto = await readOnnxInput(flags.onnx!, '--onnx model');
      const { inspectModel } = await import('../onnx/index.js');
      const inputs = inspectModel(proto).inputs;
      // Again with the model's inputs: --max-batch-size shapes a decoder's profile too, and the
      // generation flags on a model that is not a decoder are refused here, before TensorRT.
      const options = buildOptionsFrom(flags, inputs);
      const { buildEngine, saveEngine } = await import('../build/build-engine.js');
      const progress = await progressReporter(flags.progress);
      let engine;
      try {
        engine = await buildEngine(onnx, { ...options, onProgress: progress.onProgress });
      } finally {
        progress.stop();
      }
      await saveEngine(planPath, engine);
      const lines = [
        `engine ${planPath} (${(engine.plan.byteLength / 2 ** 20).toFixed(1)} MiB${engine.fromCache ? ', from the cache' : `, built in ${engine.info.buildSeconds.toFixed(1)} s`})`,
        `sidecar ${planPath}.json`,
      ];
      if (triton !== undefined) {
        const files = await writeTritonModel(resolve(flags.tritonRepo!), engine.plan, engine.info, triton);
        lines.push(`triton ${files.configPath}`, `triton ${files.planPath}`);
      }
      process.stdout.write(flags.json ? `${JSON.stringify(engine.info, null, 2)}\n` : `${lines.join('\n')}\n`);
    });
}
