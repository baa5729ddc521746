/**
 * `tensorrt-node convert-fp16 IN -o OUT [--json REPORT]`: FP32 -> mixed FP16/FP32 ONNX for
 * strongly typed TensorRT builds (TensorRT 11 has no FP16 builder flag), with the options of
 * convertToFloat16 as flags. Activation ranges are checked on a calibration run under ONNX
 * Runtime: on --calibration-data, else on generated inputs (--no-calibrate skips it).
 * --block-ops adds op types to the default block list (--block-ops-replace replaces it);
 * unknown op types are refused. An output path that is one of the input's files (the model
 * or its external data, also through a link or another spelling) is refused.
 *
 * Exit codes: 0 written, 2 usage or input error (nothing is written then).
 */
import type { Command } from 'commander';
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidArgumentError, describe } from '../errors.js';
import type { TensorInfo } from '../session.js';
import { isDataType } from '../tensor.js';
import { allTensors, externalDataInfo, inspectModel, loadExternalData, resolveExternalLocation, writeModel, type ModelProto } from '../onnx/index.js';
import { isExternal } from '../onnx/tensor-proto.js';
import { convertToFloat16, DEFAULT_FP16_BLOCK_OPS, type Fp16Options, type Fp16Report } from '../fp16/index.js';
import { readInputFile } from '../accuracy/input-file.js';
import { readRefData } from '../accuracy/ref-data.js';
import { writeFileAtomic } from '../files.js';
import { collect, intArg } from './args.js';
import { readOnnxInput } from './input-files.js';

export interface ConvertFp16CliOptions {
  output: string;
  json?: string;
  keepIoTypes: boolean;
  blockOps?: string;
  blockOpsReplace?: boolean;
  blockNodes?: string[];
  initMax?: string;
  dataMax?: string;
  maxReductionDepth?: string;
  underflowCheck: boolean;
  calibrationData?: string;
  calibrate?: boolean;
  batch?: string;
  seq?: string;
  seed?: string;
  iterations?: string;
  externalData?: boolean;
  quiet?: boolean;
}

function positive(text: string | undefined, option: string, allowInfinity = false): number | undefined {
  if (text === undefined) return undefined;
  if (allowInfinity && /^(inf|infinity)$/i.test(text.trim())) return Infinity;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v <= 0) {
    throw new InvalidArgumentError(`${option} must be a positive number${allowInfinity ? ' or "inf"' : ''}, got ${describe(text)}`);
  }
  return v;
}

const int = (text: string | undefined, option: string, min: number): number | undefined => intArg(text, option, min);

function list(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  if (/^\s*none\s*$/i.test(text)) return [];
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function modelInputs(model: ModelProto): TensorInfo[] {
  return inspectModel(model).inputs.map((i) => {
    if (!isDataType(i.dtype) || i.dims === null) {
      throw new InvalidArgumentError(`input ${JSON.stringify(i.name)} (${i.dtype || i.kind}) cannot be generated for calibration; give --calibration-data`);
    }
    return { name: i.name, dtype: i.dtype, dims: i.dims };
  });
}

/** The calibration options: --calibration-data, or generated inputs shaped by --batch/--seq/--seed/--iterations, or none. */
async function calibrationOptions(model: ModelProto, o: ConvertFp16CliOptions): Promise<Pick<Fp16Options, 'calibrationData' | 'calibrate'>> {
  const shaping = [o.batch, o.seq, o.seed, o.iterations].some((x) => x !== undefined);
  const off = o.calibrate === false;
  if (o.calibrationData !== undefined && off) throw new InvalidArgumentError('--calibration-data and --no-calibrate contradict each other; use one');
  if (shaping && (o.calibrationData !== undefined || off)) {
    throw new InvalidArgumentError(
      `--batch, --seq, --seed and --iterations shape generated calibration inputs; they do not go with ${off ? '--no-calibrate' : '--calibration-data'}`,
    );
  }
  if (off) return { calibrate: false };
  if (o.calibrationData !== undefined) {
    const path = o.calibrationData;
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (e) {
      throw new InvalidArgumentError(`--calibration-data ${JSON.stringify(path)} cannot be read: ${(e as Error).message}`, { cause: e });
    }
    if (isDir) {
      const sets = await readRefData(path, modelInputs(model), []);
      return { calibrationData: sets.map((s) => s.inputs) };
    }
    return { calibrationData: await readInputFile(path) };
  }
  return {
    calibrate: {
      batch: int(o.batch, '--batch', 1) ?? 2,
      seq: int(o.seq, '--seq', 1) ?? 128,
      seed: int(o.seed, '--seed', 0) ?? 1,
      iterations: int(o.iterations, '--iterations', 1) ?? 2,
    },
  };
}

export function optionsFromCli(o: ConvertFp16CliOptions): Fp16Options {
  const ops = list(o.blockOps);
  if (o.blockOpsReplace && ops === undefined)
    throw new InvalidArgumentError('--block-ops-replace needs --block-ops LIST (the list that replaces the default one; "none" for none)');
  if (!o.blockOpsReplace && ops !== undefined && ops.length === 0) {
    throw new InvalidArgumentError('--block-ops none adds nothing to the default block list; add --block-ops-replace to block no op type');
  }
  const options: Fp16Options = {
    keepIoTypes: o.keepIoTypes,
    checkUnderflow: o.underflowCheck,
    // --block-ops adds to the default list, as a user naming one more op expects; replacing it is asked for.
    ...(ops !== undefined ? (o.blockOpsReplace ? { blockOps: ops } : { extraBlockOps: ops }) : {}),
    ...(o.blockNodes !== undefined ? { blockNodes: o.blockNodes } : {}),
  };
  const initMax = positive(o.initMax, '--init-max');
  const dataMax = positive(o.dataMax, '--data-max');
  const depth = positive(o.maxReductionDepth, '--max-reduction-depth', true);
  if (initMax !== undefined) options.initMax = initMax;
  if (dataMax !== undefined) options.dataMax = dataMax;
  if (depth !== undefined) options.maxReductionDepth = depth;
  return options;
}

function kib(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

export function formatFp16Report(report: Fp16Report, input: string, output: string): string {
  const lines: string[] = [];
  const converted = Object.entries(report.convertedNodes).sort((a, b) => b[1] - a[1]);
  const total = converted.reduce((a, [, n]) => a + n, 0);
  lines.push(`converted ${input} -> ${output}`);
  lines.push(`  FP16 nodes   ${total}: ${converted.map(([op, n]) => `${op} ${n}`).join(', ') || 'none'}`);
  const byRule = new Map<string, number>();
  for (const k of report.keptFp32) byRule.set(k.rule, (byRule.get(k.rule) ?? 0) + 1);
  lines.push(`  kept FP32    ${report.keptFp32.length}${byRule.size ? `: ${[...byRule].map(([r, n]) => `${r} ${n}`).join(', ')}` : ''}`);
  // One line per op type, rule and reason; node names for the first few.
  const groups = new Map<string, { opType: string; rule: string; reason: string; nodes: string[] }>();
  for (const k of report.keptFp32) {
    const key = `${k.opType}\0${k.rule}\0${k.rule === 'blockOps' || k.rule === 'dataMovement' || k.rule === 'consumers' ? k.reason : k.node}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { opType: k.opType, rule: k.rule, reason: k.reason, nodes: [] }));
    g.nodes.push(k.graph ? `${k.graph}:${k.node}` : k.node);
  }
  for (const g of groups.values()) {
    const names = g.nodes.length <= 3 ? g.nodes.join(', ') : `${g.nodes.slice(0, 2).join(', ')} and ${g.nodes.length - 2} more`;
    lines.push(`    ${g.opType} x${g.nodes.length} [${g.rule}] ${names}: ${g.reason}`);
  }
  lines.push(`  casts added  ${report.castsAdded}`);
  lines.push(
    `  weights      ${kib(report.bytesBefore)} -> ${kib(report.bytesAfter)} (${((100 * report.bytesAfter) / Math.max(1, report.bytesBefore)).toFixed(1)}%)`,
  );
  lines.push(...calibrationLines(report));
  return lines.join('\n');
}

function num(v: number): string {
  return Number.isInteger(v) && Math.abs(v) < 1e6 ? String(v) : v.toPrecision(3);
}

/** Which activation ranges were checked, on what (report.calibration). */
function calibrationLines(report: Fp16Report): string[] {
  const c = report.calibration;
  if (c.source === 'none') return [`  calibration  none: ${c.reason ?? 'no activation range was checked'}`];
  const on =
    c.source === 'random'
      ? `generated inputs (seed ${c.generated!.seed}, ${c.generated!.iterations} batch(es) of ${c.generated!.batch} x ${c.generated!.seq})`
      : `the calibration data (${c.runs} run(s))`;
  const inputs = c.inputs.map((i) => `${i.name} ${i.dtype} [${i.dims.join(', ')}] in [${num(i.min)}, ${num(i.max)}]`).join(', ');
  return [
    `  calibration  ${on}: ${inputs}`,
    `               ${c.tensorsMeasured} float tensors measured against dataMax ${num(c.dataMax)}` +
      `${c.largest ? `; largest |x| ${num(c.largest.maxAbs)} at ${JSON.stringify(c.largest.tensor)}` : ''}; ${c.keptByDataMax} node(s) kept FP32 by it`,
  ];
}

/** The files a model read from `input` consists of: the model and its external data. */
function inputFiles(input: string, model: ModelProto): string[] {
  const dir = dirname(resolve(input));
  const files = [resolve(input)];
  for (const tp of allTensors(model)) if (isExternal(tp)) files.push(resolveExternalLocation(externalDataInfo(tp).location, dir, tp.name));
  return [...new Set(files)];
}

/** The path a file would have, links resolved (also for a file not yet written: its folder's real path). */
async function realPathOf(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    try {
      return join(await realpath(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

/** Refuses outputs that would overwrite the input model or its external data, or each other. */
async function checkOutputs(input: string, model: ModelProto, o: ConvertFp16CliOptions): Promise<void> {
  const reads = new Map<string, string>();
  for (const f of inputFiles(input, model)) reads.set(await realPathOf(f), f);
  const writes: [string, string][] = [['-o', o.output]];
  if (o.externalData) writes.push(['-o (its external data)', `${o.output}.data`]);
  if (o.json !== undefined) writes.push(['--json', o.json]);
  const seen = new Map<string, string>();
  for (const [flag, path] of writes) {
    const real = await realPathOf(path);
    const read = reads.get(real);
    if (read !== undefined) {
      throw new InvalidArgumentError(
        `${flag} ${JSON.stringify(path)} is ${read === resolve(input) ? 'the input model' : `the input's external data ${JSON.stringify(read)}`}` +
          `${real !== resolve(path) ? ` (${JSON.stringify(real)})` : ''}; writing it would destroy the FP32 model: give another output path`,
      );
    }
    const other = seen.get(real);
    if (other !== undefined) throw new InvalidArgumentError(`${flag} ${JSON.stringify(path)} is the same file as ${other}; give each output its own path`);
    seen.set(real, `${flag} ${JSON.stringify(path)}`);
  }
}

export async function runConvertFp16(input: string, o: ConvertFp16CliOptions): Promise<Fp16Report> {
  const options = optionsFromCli(o);
  const model = await readOnnxInput(input, 'input model');
  await checkOutputs(input, model, o);
  await loadExternalData(model, dirname(resolve(input)));
  const calibration = await calibrationOptions(model, o);
  const { model: converted, report } = await convertToFloat16(model, { ...options, ...calibration });
  await writeModel(converted, o.output, o.externalData ? { externalData: true } : {});
  if (o.json !== undefined) await writeFileAtomic(o.json, `${JSON.stringify(report, null, 2)}\n`);
  if (!o.quiet) process.stdout.write(`${formatFp16Report(report, input, o.output)}\n`);
  return report;
}

export function registerConvertFp16(program: Command): void {
  program
    .command('convert-fp16')
    .description('convert an FP32 ONNX model to mixed FP16/FP32 (AutoCast-like) for strongly typed TensorRT builds')
    .argument('<input>', 'FP32 ONNX model')
    .requiredOption('-o, --output <file>', 'where to write the converted model')
    .option('--json <file>', 'also write the conversion report as JSON')
    .option('--no-keep-io-types', 'let float32 graph inputs and outputs become float16 (default: keep them float32)')
    .option(
      '--block-ops <list>',
      `op types kept FP32, comma-separated, added to the default list (${Object.keys(DEFAULT_FP16_BLOCK_OPS).join(',')}); unknown op types are refused`,
    )
    .option('--block-ops-replace', '--block-ops replaces the default list instead of adding to it ("--block-ops none --block-ops-replace" blocks no op type)')
    .option('--block-nodes <regex>', 'keep nodes whose name matches the regular expression FP32 (repeatable)', collect)
    .option('--init-max <n>', 'keep FP32 a node whose constant inputs exceed this magnitude (default 65504)')
    .option('--data-max <n>', 'keep FP32 a node whose activations exceed this magnitude in the calibration run (default 512)')
    .option('--max-reduction-depth <n>', 'keep FP32 a node summing more terms per output ("inf" disables; default 8192)')
    .option('--no-underflow-check', 'convert nodes whose small constants flush to zero in FP16')
    .option('--calibration-data <path>', 'calibration inputs: a JSON input file (compare --save-inputs format) or a folder of input_N.pb files')
    .option('--calibrate', 'calibrate on generated inputs when no --calibration-data is given (the default)')
    .option('--no-calibrate', 'skip the calibration run: no activation range is checked (an activation past FP16 max then goes to FP16 undetected)')
    .option('--batch <n>', 'generated calibration inputs: batch size (default 2)')
    .option('--seq <n>', 'generated calibration inputs: sequence length (default 128)')
    .option('--seed <n>', 'generated calibration inputs: seed (default 1)')
    .option('--iterations <n>', 'generated calibration inputs: number of batches (default 2)')
    .option('--external-data', 'write the weights to OUTPUT.data next to the model')
    .option('-q, --quiet', 'print nothing on success')
    .action(async (input: string, o: ConvertFp16CliOptions) => {
      await runConvertFp16(input, o);
    });
}
