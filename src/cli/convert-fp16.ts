/**
 * `tensorrt-node convert-fp16 IN -o OUT [--json REPORT]`: FP32 -> mixed FP16/FP32 ONNX for
 * strongly typed TensorRT builds (TensorRT 11 has no FP16 builder flag), with the options of
 * convertToFloat16 as flags and an optional calibration run on ONNX Runtime.
 *
 * Exit codes: 0 written, 2 usage or input error (nothing is written then).
 */
import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { InvalidArgumentError, describe } from '../errors.js';
import type { Feeds, TensorInfo } from '../session.js';
import { isDataType } from '../tensor.js';
import { inspectModel, readModel, writeModel, type ModelProto } from '../onnx/index.js';
import { convertToFloat16, DEFAULT_FP16_BLOCK_OPS, type Fp16Options, type Fp16Report } from '../fp16/index.js';
import { generateInputs } from '../accuracy/inputs.js';
import { inferValueRanges } from '../accuracy/model-hints.js';
import { readInputFile } from '../accuracy/input-file.js';
import { readRefData } from '../accuracy/ref-data.js';
import { writeFileAtomic } from '../files.js';
import { collect, intArg } from './args.js';

export interface ConvertFp16CliOptions {
  output: string;
  json?: string;
  keepIoTypes: boolean;
  blockOps?: string;
  extraBlockOps?: string;
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
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function modelInputs(model: ModelProto): TensorInfo[] {
  return inspectModel(model).inputs.map((i) => {
    if (!isDataType(i.dtype) || i.dims === null) {
      throw new InvalidArgumentError(`input ${JSON.stringify(i.name)} (${i.dtype || i.kind}) cannot be generated for calibration; give --calibration-data`);
    }
    return { name: i.name, dtype: i.dtype, dims: i.dims };
  });
}

async function calibrationFeeds(model: ModelProto, o: ConvertFp16CliOptions): Promise<Feeds[] | undefined> {
  const generated = o.calibrate === true;
  const shaping = [o.batch, o.seq, o.seed, o.iterations].some((x) => x !== undefined);
  if (o.calibrationData !== undefined && generated) {
    throw new InvalidArgumentError('--calibration-data and --calibrate both give calibration inputs; use one');
  }
  if (shaping && !generated) throw new InvalidArgumentError('--batch, --seq, --seed and --iterations shape generated calibration inputs; add --calibrate');
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
      return sets.map((s) => s.inputs);
    }
    return readInputFile(path);
  }
  if (!generated) return undefined;
  return generateInputs(modelInputs(model), {
    batch: int(o.batch, '--batch', 1) ?? 4,
    seq: int(o.seq, '--seq', 1) ?? 128,
    seed: int(o.seed, '--seed', 0) ?? 1,
    iterations: int(o.iterations, '--iterations', 1) ?? 2,
    valueRanges: inferValueRanges(model),
  });
}

export function optionsFromCli(o: ConvertFp16CliOptions): Fp16Options {
  const blockOps = list(o.blockOps);
  const extra = list(o.extraBlockOps);
  const options: Fp16Options = {
    keepIoTypes: o.keepIoTypes,
    checkUnderflow: o.underflowCheck,
    ...(blockOps !== undefined ? { blockOps } : {}),
    ...(extra !== undefined ? { extraBlockOps: extra } : {}),
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
  lines.push(`  weights      ${kib(report.bytesBefore)} -> ${kib(report.bytesAfter)} (${((100 * report.bytesAfter) / Math.max(1, report.bytesBefore)).toFixed(1)}%)`);
  if (report.calibration) lines.push(`  calibration  ${report.calibration.runs} run(s), ${report.calibration.tensorsMeasured} tensors measured`);
  return lines.join('\n');
}

export async function runConvertFp16(input: string, o: ConvertFp16CliOptions): Promise<Fp16Report> {
  const options = optionsFromCli(o);
  const model = await readModel(input);
  const calibrationData = await calibrationFeeds(model, o);
  const { model: converted, report } = await convertToFloat16(model, { ...options, ...(calibrationData ? { calibrationData } : {}) });
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
    .option('--block-ops <list>', `op types kept FP32, comma-separated, replacing the default list ("none" for none; default: ${Object.keys(DEFAULT_FP16_BLOCK_OPS).join(',')})`)
    .option('--extra-block-ops <list>', 'op types kept FP32 in addition to the block list')
    .option('--block-nodes <regex>', 'keep nodes whose name matches the regular expression FP32 (repeatable)', collect)
    .option('--init-max <n>', 'keep FP32 a node whose constant inputs exceed this magnitude (default 65504)')
    .option('--data-max <n>', 'with calibration: keep FP32 a node whose activations exceed this magnitude (default 512)')
    .option('--max-reduction-depth <n>', 'keep FP32 a node summing more terms per output ("inf" disables; default 8192)')
    .option('--no-underflow-check', 'convert nodes whose small constants flush to zero in FP16')
    .option('--calibration-data <path>', 'calibration inputs: a JSON input file (compare --save-inputs format) or a folder of input_N.pb files')
    .option('--calibrate', 'calibrate on generated inputs (token ids within the embedding table, padded attention masks)')
    .option('--batch <n>', 'with --calibrate: batch size (default 4)')
    .option('--seq <n>', 'with --calibrate: sequence length (default 128)')
    .option('--seed <n>', 'with --calibrate: seed (default 1)')
    .option('--iterations <n>', 'with --calibrate: number of calibration batches (default 2)')
    .option('--external-data', 'write the weights to OUTPUT.data next to the model')
    .option('-q, --quiet', 'print nothing on success')
    .action(async (input: string, o: ConvertFp16CliOptions) => {
      await runConvertFp16(input, o);
    });
}
