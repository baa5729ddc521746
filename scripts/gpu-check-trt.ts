/**
 * The TensorRT part of the GPU check (scripts/gpu-check.ts runs it after the CUDA-layer
 * checks when TensorRT is found). For the embedded encoder and every ONNX file given it
 * builds an FP32 and an FP16 engine (FP16: convertToFloat16 then a strongly typed build),
 * runs each on TensorRT, compares it with ONNX Runtime (CPU, FP32 model) through the accuracy
 * harness on seeded inputs with padded attention masks, and times it trtexec-style: latency
 * min/mean/median/p90/p95/p99/max and throughput at concurrency 1 and 8. Prints one table;
 * with $OUT set also writes gpu-trt-check.json there. Returns 0 when every engine built and
 * passed, 1 otherwise.
 */
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildEngine, type BuiltEngine } from '../src/build/index.js';
import { defaultDimRanges } from '../src/build/profiles.js';
import { closedLoop } from '../src/bench/load.js';
import { summarize, type LatencySummary } from '../src/bench/stats.js';
import { requireTensorRT } from '../src/backends/tensorrt-libs.js';
import { TensorRTSession } from '../src/backends/tensorrt.js';
import { OnnxRuntimeSession } from '../src/backends/onnxruntime.js';
import { compare, formatCompareText, generateInputs } from '../src/accuracy/index.js';
import { createEncoderModel, encodeModel } from '../src/onnx/index.js';
import { TensorRTNodeError } from '../src/errors.js';
import { runtimeInfo } from '../src/info.js';
import type { Feeds, InferenceSession } from '../src/session.js';

export const TRT_CHECK_OPTIONS = {
  preset: { type: 'string', default: 'tiny' },
  batch: { type: 'string', default: '8' },
  seq: { type: 'string', default: '128' },
  'max-batch': { type: 'string', default: '32' },
  'max-seq': { type: 'string', default: '512' },
  duration: { type: 'string', default: '2' },
  warmup: { type: 'string', default: '0.5' },
  'cuda-graphs': { type: 'boolean', default: false },
  cache: { type: 'string' },
  'fp32-tol': { type: 'string', default: '5e-3' },
  'fp16-tol': { type: 'string', default: '2e-2' },
} as const;

type TrtCheckArgs = {
  preset: string;
  batch: string;
  seq: string;
  'max-batch': string;
  'max-seq': string;
  duration: string;
  warmup: string;
  'cuda-graphs': boolean;
  cache?: string;
  'fp32-tol': string;
  'fp16-tol': string;
};

let args: TrtCheckArgs;
let BATCH = 8;
let SEQ = 128;
let DURATION_S = 2;
let WARMUP_S = 0.5;

interface Timing extends LatencySummary {
  concurrency: number;
  seconds: number;
  throughput: number;
}

interface Row {
  model: string;
  precision: 'fp32' | 'fp16';
  buildSeconds: number | null;
  planMiB: number | null;
  accuracy: { passed: boolean; maxAbs: number; cosine: number; requiredAtol: number; requiredRtol: number; outputs: number } | null;
  timings: Timing[];
  error: string | null;
}

/** trtexec-style: `concurrency` closed-loop clients for --duration seconds after --warmup. */
async function time(session: InferenceSession, feeds: Feeds, concurrency: number): Promise<Timing> {
  const r = await closedLoop((f) => session.run(f), [feeds], { concurrency, warmupMs: WARMUP_S * 1000, durationMs: DURATION_S * 1000 });
  const seconds = r.windowMs / 1000;
  return { ...summarize(r.latencyMs), concurrency, seconds, throughput: r.completedInWindow / seconds };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

function message(e: unknown): string {
  return e instanceof TensorRTNodeError ? `${e.code}: ${e.message}` : String((e as Error)?.stack ?? e);
}

async function checkModel(name: string, onnx: Uint8Array | string, reference: OnnxRuntimeSession): Promise<Row[]> {
  const rows: Row[] = [];
  const inputs = generateInputs(reference.inputs, { batch: BATCH, seq: SEQ, seed: 1, iterations: 3 });
  for (const precision of ['fp32', 'fp16'] as const) {
    const row: Row = { model: name, precision, buildSeconds: null, planMiB: null, accuracy: null, timings: [], error: null };
    rows.push(row);
    let built: BuiltEngine;
    let lastPhase = '';
    try {
      built = await buildEngine(onnx, {
        precision,
        dims: defaultDimRanges(reference.inputs, {
          batch: { min: 1, opt: BATCH, max: Number(args['max-batch']) },
          seq: { min: 1, opt: SEQ, max: Number(args['max-seq']) },
        }),
        ...(args.cache ? { cache: args.cache } : {}),
        onProgress: (e) => {
          if (e.kind === 'phaseStart' && e.depth === 0 && e.phase !== lastPhase) {
            lastPhase = e.phase;
            console.error(`[gpu-trt-check] ${name} ${precision}: ${e.phase}`);
          }
        },
      });
      row.buildSeconds = built.fromCache ? 0 : built.info.buildSeconds;
      row.planMiB = built.plan.byteLength / 2 ** 20;
    } catch (e) {
      row.error = `build: ${message(e)}`;
      continue;
    }
    let session: TensorRTSession | undefined;
    try {
      session = await TensorRTSession.create(built.plan, { contexts: 2, cudaGraphs: args['cuda-graphs'] });
      const tol = Number(precision === 'fp32' ? args['fp32-tol'] : args['fp16-tol']);
      const result = await compare(session, reference, { inputs, atol: tol, rtol: tol, labels: { a: `TensorRT ${precision}`, b: 'ONNX Runtime fp32' } });
      console.log(formatCompareText(result));
      const compared = result.outputs.filter((o) => o.error === undefined);
      row.accuracy = {
        passed: result.passed,
        maxAbs: Math.max(...compared.map((o) => o.maxAbsError ?? Number.NaN)),
        cosine: Math.min(...compared.map((o) => o.cosineSimilarity ?? Number.NaN)),
        requiredAtol: Math.max(...compared.map((o) => o.requiredAtol ?? Number.NaN)),
        requiredRtol: Math.max(...compared.map((o) => o.requiredRtol ?? Number.NaN)),
        outputs: result.outputs.length,
      };
      for (const c of [1, 8]) row.timings.push(await time(session, inputs[0]!, c));
    } catch (e) {
      row.error = `run: ${message(e)}`;
    } finally {
      await session?.dispose();
    }
  }
  return rows;
}

/** Runs the TensorRT check; TensorRT must be loadable (requireTensorRT() succeeded). */
export async function runTrtCheck(options: TrtCheckArgs, models: readonly string[]): Promise<number> {
  args = options;
  BATCH = Number(args.batch);
  SEQ = Number(args.seq);
  DURATION_S = Number(args.duration);
  WARMUP_S = Number(args.warmup);
  const info = runtimeInfo();
  const trt = requireTensorRT();
  const gpu = info.cuda.devices?.[0];
  if (gpu === undefined) {
    console.error(`no usable GPU: ${info.cuda.error?.message ?? 'no CUDA device'}`);
    return 2;
  }
  console.log(
    `TensorRT ${trt.version} (${trt.libraryPath}); addon ${info.addon.path}, this install drives TensorRT ${info.addon.builtWith.tensorrt.join(', ')} (headers)`,
  );
  console.log(`GPU ${gpu.name}, compute capability ${gpu.computeCapability}, driver ${info.cuda.driverVersion}`);
  console.log(`inputs: batch ${BATCH} x seq ${SEQ}; profiles batch 1..${args['max-batch']}, seq 1..${args['max-seq']}; cudaGraphs ${args['cuda-graphs']}`);

  const rows: Row[] = [];
  const encoder = encodeModel(createEncoderModel({ preset: args.preset as 'tiny' | 'bert-base', seed: 0 }));
  const targets: [string, Uint8Array | string][] = [[`encoder-${args.preset}`, encoder], ...models.map((m) => [basename(m), m] as [string, string])];
  for (const [name, onnx] of targets) {
    let reference: OnnxRuntimeSession;
    try {
      reference = await OnnxRuntimeSession.create(onnx);
    } catch (e) {
      rows.push({ model: name, precision: 'fp32', buildSeconds: null, planMiB: null, accuracy: null, timings: [], error: `onnxruntime: ${message(e)}` });
      continue;
    }
    try {
      rows.push(...(await checkModel(name, onnx, reference)));
    } finally {
      await reference.dispose();
    }
  }

  const ms = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(3));
  console.log('');
  console.log(
    table([
      [
        'model',
        'precision',
        'build s',
        'plan MiB',
        'vs ORT',
        'max abs err',
        'min cosine',
        'req atol',
        'c1 median ms',
        'c1 p99 ms',
        'c1 qps',
        'c8 qps',
        'error',
      ],
      ...rows.map((r) => {
        const c1 = r.timings.find((t) => t.concurrency === 1);
        const c8 = r.timings.find((t) => t.concurrency === 8);
        return [
          r.model,
          r.precision,
          r.buildSeconds === null ? '-' : r.buildSeconds.toFixed(1),
          r.planMiB === null ? '-' : r.planMiB.toFixed(1),
          r.accuracy === null ? '-' : r.accuracy.passed ? 'pass' : 'FAIL',
          r.accuracy === null ? '-' : r.accuracy.maxAbs.toExponential(2),
          r.accuracy === null ? '-' : r.accuracy.cosine.toFixed(6),
          r.accuracy === null ? '-' : r.accuracy.requiredAtol.toExponential(2),
          ms(c1?.median),
          ms(c1?.p99),
          c1 === undefined ? '-' : c1.throughput.toFixed(0),
          c8 === undefined ? '-' : c8.throughput.toFixed(0),
          r.error === null ? '' : r.error.split('\n')[0]!.slice(0, 120),
        ];
      }),
    ]),
  );
  for (const r of rows) {
    for (const t of r.timings) {
      console.log(
        `${r.model} ${r.precision} concurrency ${t.concurrency}: throughput ${t.throughput.toFixed(1)} qps over ${t.count} runs; ` +
          `latency ms min ${ms(t.min)} mean ${ms(t.mean)} median ${ms(t.median)} p90 ${ms(t.p90)} p95 ${ms(t.p95)} p99 ${ms(t.p99)} max ${ms(t.max)}`,
      );
    }
  }
  if (process.env.OUT) writeFileSync(join(process.env.OUT, 'gpu-trt-check.json'), JSON.stringify({ tensorrt: trt, gpu, rows }, null, 2));
  return rows.every((r) => r.error === null && r.accuracy?.passed === true) ? 0 : 1;
}
