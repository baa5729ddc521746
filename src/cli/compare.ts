/**
 * `tensorrt-node compare A.onnx [B.onnx]`: the accuracy harness on the command line, in the
 * spirit of `polygraphy run A.onnx --onnxrt --trt` (same tolerance flags and semantics).
 *
 * - two models: A under --a-backend against B under --b-backend (both onnxruntime by default);
 * - one model: A under --a-backend (onnxruntime) against A under --b-backend (tensorrt);
 * - one model and --ref-data DIR: A against the expected outputs stored in DIR (ONNX
 *   backend-test layout), on the inputs stored there.
 * --bisect (two models) also finds the first node whose output diverges.
 *
 * Exit codes: 0 every output within tolerance, 1 an output is not, 2 usage or input error
 * (bad flags, unreadable files, inputs that do not fit, outputs whose shapes or dtypes
 * differ between A and B); on exit 2 no report or input file is written.
 */
import type { Command } from 'commander';
import { basename } from 'node:path';
import { DTypeError, InvalidArgumentError, ShapeError, describe } from '../errors.js';
import type { BackendName, Feeds, InferenceSession, Outputs } from '../session.js';
import { createSession } from '../session.js';
import { OnnxRuntimeSession } from '../backends/onnxruntime.js';
import type { ModelProto } from '../onnx/index.js';
import { compare, type CompareOptions, type CompareResult } from '../accuracy/compare.js';
import { bisect, type BisectRun } from '../accuracy/bisect.js';
import { readInputFile, writeInputFile, type InputFileFormat } from '../accuracy/input-file.js';
import { readRefData } from '../accuracy/ref-data.js';
import { inferValueRanges } from '../accuracy/model-hints.js';
import { compareHtml, compareJson, formatBisectText, formatCompareText } from '../accuracy/report.js';
import { writeFileAtomic } from '../files.js';
import { parseErrorStat, parseNamedValues, parseNonNegative, parseQuantile } from '../accuracy/tolerance.js';
import type { GenerateInputsOptions, MaskPattern } from '../accuracy/inputs.js';
import { CliExit, EXIT_FAIL } from './index.js';
import { dimSizesArg, intArg } from './args.js';
import { checkInputFile, checkInputFolder, checkInputPath, readOnnxInput } from './input-files.js';

export interface CompareCliOptions {
  aBackend?: string;
  bBackend?: string;
  refData?: string;
  inputs?: string;
  saveInputs?: string;
  saveInputsFormat?: string;
  seed?: string;
  valRange?: string[];
  batch?: string;
  seq?: string;
  dim?: string[];
  maskPattern?: string;
  iterations?: string;
  atol?: string[];
  rtol?: string[];
  checkErrorStat?: string[];
  errorQuantile?: string[];
  infinitiesCompareEqual?: boolean;
  topK?: string;
  outputs?: string[];
  json?: string;
  html?: string;
  bisect?: boolean;
  threads?: string;
  trtFp16?: boolean;
}

function backend(text: string | undefined, option: string): BackendName | undefined {
  if (text === undefined) return undefined;
  if (text !== 'onnxruntime' && text !== 'tensorrt') {
    throw new InvalidArgumentError(`${option} must be onnxruntime or tensorrt, got ${describe(text)}`);
  }
  return text;
}

/**
 * `--val-range` entries: `name:min,max`, Polygraphy's `name:[min,max]`, or a bare `min,max` /
 * `[min,max]` for every input. The name is everything before the last colon.
 */
export function parseValueRanges(words: readonly string[] | undefined): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const word of words ?? []) {
    const colon = word.lastIndexOf(':');
    const name = colon < 0 ? '' : word.slice(0, colon);
    const body = (colon < 0 ? word : word.slice(colon + 1)).trim().replace(/^\[(.*)\]$/, '$1');
    const parts = body.split(',').map((s) => s.trim());
    const nums = parts.map(Number);
    if (parts.length !== 2 || parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n)) || nums[0]! > nums[1]!) {
      throw new InvalidArgumentError(`--val-range ${JSON.stringify(word)}: expected NAME:MIN,MAX with MIN <= MAX (or MIN,MAX for every input)`);
    }
    if (name in out) throw new InvalidArgumentError(`--val-range gives ${name === '' ? 'the default range' : `input ${JSON.stringify(name)}`} twice`);
    out[name] = [nums[0]!, nums[1]!];
  }
  return out;
}

interface TrtOptions {
  fp16: boolean;
  /** Sizes the generated inputs give symbolic dims, by name (batch-like, sequence-like, --dim). */
  batch: number;
  seq: number;
  dims: Record<string, number>;
}

/**
 * The optimization-profile ranges for an ONNX model's dynamic input dims, as Polygraphy's
 * --trt derives them from its data loader: 1 up to the generated size (batch-like dims up to
 * at least 64 and others up to at least 512, so saved inputs of other sizes still fit), opt
 * at the generated size.
 */
async function engineDims(model: ModelProto, o: TrtOptions): Promise<Record<string, { min: number; opt: number; max: number }>> {
  const { inspectModel } = await import('../onnx/inspect.js');
  const { defaultDimRanges } = await import('../build/profiles.js');
  const inputs = inspectModel(model).inputs.map((i) => ({ name: i.name, dims: i.dims ?? [] }));
  return defaultDimRanges(inputs, {
    batch: { min: 1, opt: o.batch, max: Math.max(o.batch, 64) },
    seq: { min: 1, opt: o.seq, max: Math.max(o.seq, 512) },
    named: Object.fromEntries(Object.entries(o.dims).map(([k, size]) => [k, { min: 1, opt: size, max: Math.max(size, 512) }])),
  });
}

/** A TensorRT side given a file that is not .onnx loads it as a serialized plan. */
function isPlan(model: string, backendName: BackendName): boolean {
  return backendName === 'tensorrt' && !/\.onnx$/i.test(model);
}

/**
 * Checks a model file before any session is made: ERR_IO for a missing file or a folder,
 * ERR_ONNX_PARSE for an empty file or one that is not ONNX. Returns the decoded ONNX model
 * (undefined for a plan).
 */
async function checkModel(model: string, backendName: BackendName, what: string): Promise<ModelProto | undefined> {
  if (isPlan(model, backendName)) {
    await checkInputFile(model, `${what} (a TensorRT plan)`);
    return undefined;
  }
  return readOnnxInput(model, what);
}

/**
 * A session for `model` on `backendName`. For TensorRT an ONNX file is built into an engine
 * first (FP32, or FP16 with --trt-fp16), as `polygraphy run --trt` does; a serialized plan
 * (any other file) is loaded as it is.
 */
async function openSession(
  model: string,
  proto: ModelProto | undefined,
  backendName: BackendName,
  threads: number | undefined,
  trt: TrtOptions,
): Promise<InferenceSession> {
  if (backendName === 'onnxruntime') return OnnxRuntimeSession.create(model, threads === undefined ? {} : { intraOpNumThreads: threads });
  if (proto === undefined) return createSession(model, { backend: 'tensorrt' });
  const { requireTensorRT } = await import('../backends/tensorrt-libs.js');
  requireTensorRT(); // fail with ERR_TENSORRT_NOT_FOUND before building
  const { buildEngine } = await import('../build/build-engine.js');
  const engine = await buildEngine(model, { precision: trt.fp16 ? 'fp16' : 'fp32', dims: await engineDims(proto, trt) });
  return createSession(engine.plan, { backend: 'tensorrt' });
}

/** Turns outputs that could not be compared into the input error they are (exit code 2). */
function throwIfStructural(result: CompareResult): void {
  const bad = result.outputs.filter((o) => o.error);
  if (bad.length === 0) return;
  const message = `${result.a.label} and ${result.b.label} disagree on output structure: ${bad.map((o) => o.error!.message).join('; ')}`;
  throw bad.some((o) => o.error!.code === 'ERR_SHAPE') ? new ShapeError(message) : new DTypeError(message);
}

/** Runs the command; returns the exit code for a completed comparison, throws for input errors. */
export async function runCompare(modelA: string, modelB: string | undefined, o: CompareCliOptions): Promise<number> {
  const aBackend = backend(o.aBackend, '--a-backend') ?? 'onnxruntime';
  const bBackendOpt = backend(o.bBackend, '--b-backend');
  if (o.refData !== undefined && modelB !== undefined) {
    throw new InvalidArgumentError('--ref-data checks one model against stored outputs; give one model, not two');
  }
  if (o.refData !== undefined && o.bBackend !== undefined)
    throw new InvalidArgumentError('--b-backend has no meaning with --ref-data (B is the stored outputs)');
  if (o.refData !== undefined && o.inputs !== undefined) throw new InvalidArgumentError('--inputs and --ref-data both give inputs; use one');
  if (o.bisect && modelB === undefined) throw new InvalidArgumentError('--bisect needs two models: compare A.onnx B.onnx --bisect');
  const external = o.refData !== undefined || o.inputs !== undefined;
  if (
    external &&
    (o.iterations !== undefined ||
      o.seed !== undefined ||
      o.valRange !== undefined ||
      o.batch !== undefined ||
      o.seq !== undefined ||
      o.dim !== undefined ||
      o.maskPattern !== undefined)
  ) {
    throw new InvalidArgumentError(
      '--seed, --val-range, --batch, --seq, --dim, --mask-pattern and --iterations shape generated inputs; they cannot be combined with --inputs or --ref-data',
    );
  }
  const saveFormat = (o.saveInputsFormat ?? 'tensorrt-node') as InputFileFormat;
  if (saveFormat !== 'tensorrt-node' && saveFormat !== 'polygraphy') {
    throw new InvalidArgumentError(`--save-inputs-format must be tensorrt-node or polygraphy, got ${describe(o.saveInputsFormat)}`);
  }
  const maskPattern = o.maskPattern as MaskPattern | undefined;
  if (maskPattern !== undefined && !['right', 'left', 'none'].includes(maskPattern)) {
    throw new InvalidArgumentError(`--mask-pattern must be right, left or none, got ${describe(o.maskPattern)}`);
  }
  const threads = intArg(o.threads, '--threads', 0, 1024);
  const tolerances: Pick<CompareOptions, 'atol' | 'rtol' | 'checkErrorStat' | 'errorQuantile'> = {};
  const atol = parseNamedValues(o.atol ?? [], '--atol', parseNonNegative, 'a number >= 0');
  const rtol = parseNamedValues(o.rtol ?? [], '--rtol', parseNonNegative, 'a number >= 0');
  const stat = parseNamedValues(o.checkErrorStat ?? [], '--check-error-stat', parseErrorStat, 'elemwise|max|mean|median|quantile');
  const quantile = parseNamedValues(o.errorQuantile ?? [], '--error-quantile', parseQuantile, 'a quantile in [0, 1]');
  if (atol !== undefined) tolerances.atol = atol;
  if (rtol !== undefined) tolerances.rtol = rtol;
  if (stat !== undefined) tolerances.checkErrorStat = stat;
  if (quantile !== undefined) tolerances.errorQuantile = quantile;
  const generate: GenerateInputsOptions = {};
  const seed = intArg(o.seed, '--seed', 0);
  const batch = intArg(o.batch, '--batch', 1);
  const seq = intArg(o.seq, '--seq', 1);
  const iterations = intArg(o.iterations, '--iterations', 1, 100_000);
  if (seed !== undefined) generate.seed = seed;
  if (batch !== undefined) generate.batch = batch;
  if (seq !== undefined) generate.seq = seq;
  if (iterations !== undefined) generate.iterations = iterations;
  if (maskPattern !== undefined) generate.maskPattern = maskPattern;
  const userRanges = parseValueRanges(o.valRange);
  generate.dims = dimSizesArg(o.dim);
  const topK = intArg(o.topK, '--top-k', 1, 1000);

  const bBackend: BackendName = bBackendOpt ?? (modelB === undefined ? 'tensorrt' : 'onnxruntime');
  const labelA = `${basename(modelA)} (${aBackend})`;
  const labelB = o.refData !== undefined ? `reference data ${basename(o.refData)}` : `${basename(modelB ?? modelA)} (${bBackend})`;

  const trt: TrtOptions = { fp16: o.trtFp16 === true, batch: batch ?? 2, seq: seq ?? 16, dims: generate.dims ?? {} };
  // Every file is checked before a session is made (a session would report ONNX Runtime's text).
  const protoA = await checkModel(modelA, aBackend, 'model A');
  const protoB = modelB === undefined ? protoA : await checkModel(modelB, bBackend, 'model B');
  if (modelB === undefined && isPlan(modelA, bBackend) !== isPlan(modelA, aBackend)) await checkModel(modelA, bBackend, 'model A');
  if (o.refData !== undefined) await checkInputFolder(o.refData, '--ref-data folder');
  const inputsKind = o.inputs === undefined ? undefined : await checkInputPath(o.inputs, '--inputs');

  const a = await openSession(modelA, protoA, aBackend, threads, trt);
  let b: InferenceSession | undefined;
  try {
    if (o.refData === undefined) b = await openSession(modelB ?? modelA, protoB, bBackend, threads, trt);

    let inputs: Feeds[] | undefined;
    let references: Outputs[] | undefined;
    if (o.refData !== undefined) {
      const sets = await readRefData(o.refData, a.inputs, a.outputs);
      const empty = sets.find((s) => Object.keys(s.outputs).length === 0);
      if (empty) throw new InvalidArgumentError(`reference data ${JSON.stringify(empty.dir)} has no output_N.pb files to compare against`);
      inputs = sets.map((s) => s.inputs);
      references = sets.map((s) => s.outputs);
    } else if (o.inputs !== undefined) {
      inputs = inputsKind === 'folder' ? (await readRefData(o.inputs, a.inputs, a.outputs)).map((s) => s.inputs) : await readInputFile(o.inputs);
    } else {
      // Token ids stay inside the embedding tables the model indexes (when A is an ONNX file).
      const hinted = protoA === undefined ? {} : inferValueRanges(protoA);
      generate.valueRanges = { ...hinted, ...userRanges };
    }

    // The vocabulary axis: the largest embedding table the model's integer inputs index.
    const tables = protoA === undefined ? [] : Object.values(inferValueRanges(protoA)).map(([, hi]) => hi + 1);
    const options: CompareOptions = {
      ...tolerances,
      ...(tables.length > 0 && Math.max(...tables) >= 2 ? { classAxisSizes: [Math.max(...tables)] } : {}),
      labels: { a: labelA, b: labelB },
      infinitiesCompareEqual: o.infinitiesCompareEqual !== false,
      ...(topK !== undefined ? { topK } : {}),
      ...(o.outputs !== undefined ? { outputs: o.outputs } : {}),
      ...(inputs !== undefined ? { inputs } : { generate }),
    };
    const result = await compare(a, b ?? { reference: references!, label: labelB }, options);
    throwIfStructural(result);

    let bisected: BisectRun | undefined;
    if (o.bisect) {
      bisected = await bisect(modelA, modelB!, {
        ...tolerances,
        infinitiesCompareEqual: o.infinitiesCompareEqual !== false,
        inputs: result.inputs[0]!,
        ...(threads !== undefined ? { intraOpNumThreads: threads } : {}),
      });
    }

    if (o.saveInputs !== undefined) await writeInputFile(o.saveInputs, result.inputs, saveFormat);
    if (o.json !== undefined) await writeFileAtomic(o.json, `${JSON.stringify(compareJson(result, bisected), null, 2)}\n`);
    if (o.html !== undefined) await writeFileAtomic(o.html, compareHtml(result, bisected));
    process.stdout.write(`${formatCompareText(result)}\n`);
    if (bisected) process.stdout.write(`\n${formatBisectText(bisected)}\n`);
    return result.passed ? 0 : EXIT_FAIL;
  } finally {
    await b?.dispose();
    await a.dispose();
  }
}

export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description(
      'compare the outputs of two models or backends (or one model against stored outputs) with Polygraphy-style tolerances; ' +
        'exit 0 when every output matches, 1 when one does not, 2 on usage or input errors',
    )
    .argument('<modelA>', 'ONNX model A (the model under test)')
    .argument('[modelB]', 'ONNX model B; without it, A runs under --a-backend and again under --b-backend')
    .option('--a-backend <backend>', 'backend for A: onnxruntime | tensorrt (default onnxruntime)')
    .option('--b-backend <backend>', 'backend for B (default onnxruntime with two models, tensorrt with one)')
    .option('--ref-data <dir>', 'check A against input_N.pb/output_N.pb TensorProto files (ONNX backend-test layout; a test_data_set_N folder or their parent)')
    .option('--inputs <path>', 'inputs from a JSON file (ours or Polygraphy --save-inputs) or a folder of input_N.pb files')
    .option('--save-inputs <file>', 'write the inputs used to a JSON file')
    .option('--save-inputs-format <format>', 'tensorrt-node (default) | polygraphy (readable by polygraphy --load-inputs)')
    .option('--seed <n>', 'seed of generated inputs; iteration i uses seed + i (default 1)')
    .option('--val-range <ranges...>', 'value range of generated inputs, inclusive: NAME:MIN,MAX, or MIN,MAX for all')
    .option('--batch <n>', 'size of batch-like symbolic dims (default 2)')
    .option('--seq <n>', 'size of sequence-like symbolic dims (default 16)')
    .option('--dim <dims...>', 'size of other symbolic dims: SYMBOL:SIZE')
    .option('--mask-pattern <pattern>', 'attention-mask padding of generated inputs: right (default) | left | none')
    .option('--iterations <n>', 'number of generated input sets (default 1)')
    .option('--atol <values...>', 'absolute tolerance, VALUE or OUTPUT:VALUE (default 1e-5)')
    .option('--rtol <values...>', 'relative tolerance (relative to B), VALUE or OUTPUT:VALUE (default 1e-5)')
    .option('--check-error-stat <stats...>', 'elemwise (default) | max | mean | median | quantile, or OUTPUT:STAT')
    .option('--error-quantile <values...>', 'quantile for --check-error-stat quantile (default 0.99), or OUTPUT:Q')
    .option('--infinities-compare-equal', 'equal infinities on both sides count as no error (the default)')
    .option('--no-infinities-compare-equal', "equal infinities are a NaN error, as by Polygraphy's default (NaN is always an error, also NaN against NaN)")
    .option(
      '--top-k <k>',
      'k for the top-k agreement of class-score outputs: named like logits/scores/probs/class, or whose last axis is the vocabulary or a label axis (default 5)',
    )
    .option('--outputs <names...>', 'compare only these outputs')
    .option('--json <file>', 'write the report as JSON')
    .option('--html <file>', 'write a self-contained HTML report with error histograms')
    .option('--bisect', 'with two models: find the first node whose output diverges (ONNX Runtime, intermediate tensors matched by name)')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: one per core)')
    .option('--trt-fp16', 'TensorRT side: build the ONNX model as FP16 (convertToFloat16, strongly typed) instead of FP32')
    .action(async (modelA: string, modelB: string | undefined, opts: CompareCliOptions) => {
      const code = await runCompare(modelA, modelB, opts);
      if (code !== 0) throw new CliExit(code);
    });
}
