/**
 * The TensorRT part of the GPU check (scripts/gpu-check.ts runs it after the CUDA-layer
 * checks when TensorRT is found). For the embedded encoder and every ONNX file given it
 * builds an FP32 and an FP16 engine (FP16: convertToFloat16 then a strongly typed build),
 * runs each on TensorRT, compares it with ONNX Runtime (CPU, FP32 model) through the accuracy
 * harness on seeded inputs with padded attention masks, and times it trtexec-style: latency
 * min/mean/median/p90/p95/p99/max and throughput at concurrency 1 and 8. Prints one table;
 * with $OUT set also writes gpu-trt-check.json there. Returns 0 when every engine built and
 * passed, 1 otherwise.
 *
 * Then (unless --skip-io) issue 11's I/O figures on the first model's FP32 engine, with small
 * I/O (batch 1 x --io-seq): median latency at concurrency 1 and calls/s pipelined over 4
 * contexts (16 in flight), each with CUDA graphs off and on; --io-calls (100000) calls with
 * caller-provided outputs (run(feeds, { outputs: { name: tensor } })) against plain runs:
 * median, p99, p99 / median, GCs, identical values; and two sessions chained (the model, then
 * a Mul-by-2 model on its first float32 output) through a device-resident tensor
 * (session.allocDevice, a DeviceTensor as A's output target and B's feed) against through host
 * copies. A figure this build cannot produce (no
 * caller-provided outputs or device tensors on TensorRT) is reported "not measured" with the
 * reason; I/O figures never fail the check.
 */
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildEngine, type BuiltEngine } from '../src/build/index.js';
import { countGcs } from '../src/bench/gc.js';
import { Tensor, type TensorData } from '../src/tensor.js';
import { GraphBuilder } from '../src/onnx/builder.js';
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
import type { Feeds, InferenceSession, Outputs, TensorInfo } from '../src/session.js';

export const TRT_CHECK_OPTIONS = {
  preset: { type: 'string', default: 'tiny' },
  batch: { type: 'string', default: '8' },
  seq: { type: 'string', default: '128' },
  'max-batch': { type: 'string', default: '32' },
  'max-seq': { type: 'string', default: '512' },
  duration: { type: 'string', default: '2' },
  warmup: { type: 'string', default: '0.5' },
  // CUDA graphs are on by default (TensorRTSession's default, as trtexec 11's); --no-cuda-graphs turns them off.
  'cuda-graphs': { type: 'boolean', default: true },
  'no-cuda-graphs': { type: 'boolean', default: false },
  cache: { type: 'string' },
  'fp32-tol': { type: 'string', default: '5e-3' },
  'fp16-tol': { type: 'string', default: '2e-2' },
  'skip-io': { type: 'boolean', default: false },
  'io-calls': { type: 'string', default: '100000' },
  'io-seq': { type: 'string', default: '16' },
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
  'no-cuda-graphs'?: boolean;
  cache?: string;
  'fp32-tol': string;
  'fp16-tol': string;
  'skip-io'?: boolean;
  'io-calls'?: string;
  'io-seq'?: string;
};

let args: TrtCheckArgs;
const cudaGraphs = (): boolean => args['no-cuda-graphs'] !== true;
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
      session = await TensorRTSession.create(built.plan, { contexts: 2, cudaGraphs: cudaGraphs() });
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
      if (precision === 'fp32' && !args['skip-io'] && ioRows.length === 0) {
        await session.dispose();
        session = undefined;
        ioRows.push(...(await ioFigures(name, built.plan, reference)));
      }
    } catch (e) {
      row.error = `run: ${message(e)}`;
    } finally {
      await session?.dispose();
    }
  }
  return rows;
}

// ---- issue 11's I/O figures ------------------------------------------------------------------

interface IoRow {
  figure: string;
  value: string;
  goal: string;
  note: string;
}
const ioRows: IoRow[] = [];

/** `n` calls of `call` back to back; latencies (ms) in a preallocated array. */
async function calls(call: () => Promise<unknown>, n: number): Promise<Float64Array> {
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    lat[i] = performance.now() - t0;
  }
  return lat;
}

function sameValues(a: Outputs, b: Outputs, names: readonly string[]): boolean {
  return names.every((n) => {
    const x = a[n]?.data as ArrayLike<unknown> | undefined;
    const y = b[n]?.data as ArrayLike<unknown> | undefined;
    if (x === undefined || y === undefined || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  });
}

function why(e: unknown): string {
  return `${(e as { code?: string }).code ?? 'error'}: ${String((e as Error)?.message ?? e).split('\n')[0]}`;
}

/** A model that doubles its input (float32, the dims of `input`): the second session of a chain. */
function doublerModel(input: TensorInfo): Uint8Array {
  const g = new GraphBuilder({ opset: 17 });
  const x = g.input('x', 'float32', input.dims);
  g.output(g.op('Mul', [x, g.floats(2)], {}, 'y'), 'float32', input.dims);
  return encodeModel(g.build());
}

async function ioFigures(name: string, plan: Uint8Array, reference: OnnxRuntimeSession): Promise<IoRow[]> {
  const rows: IoRow[] = [];
  const n = Number(args['io-calls'] ?? '100000');
  const seq = Number(args['io-seq'] ?? '16');
  const small = generateInputs(reference.inputs, { batch: 1, seq, seed: 2, iterations: 1 })[0]!;
  const label = `${name} fp32, batch 1 x seq ${seq}`;
  console.error(`[gpu-trt-check] I/O figures on ${label}`);
  for (const cudaGraphs of [false, true]) {
    const s = await TensorRTSession.create(plan, { contexts: 4, cudaGraphs });
    try {
      const c1 = await time(s, small, 1);
      const c16 = await time(s, small, 16);
      const stats = s.stats();
      rows.push({ figure: `median latency, concurrency 1, cudaGraphs ${cudaGraphs}`, value: `${(c1.median * 1000).toFixed(1)} us`, goal: '', note: label });
      rows.push({
        figure: `calls/s over 4 contexts, 16 in flight, cudaGraphs ${cudaGraphs}`,
        value: c16.throughput.toFixed(0),
        goal: '>= 100000',
        note: `${label}; graphs ${stats.reduce((a, x) => a + x.graphs, 0)}, graph failures ${stats.reduce((a, x) => a + x.graphFailures, 0)}`,
      });
    } finally {
      await s.dispose();
    }
  }

  // Caller-provided outputs against plain runs.
  const s = await TensorRTSession.create(plan, { contexts: 1, cudaGraphs: cudaGraphs() });
  try {
    const plain = await s.run(small);
    const names = Object.keys(plain);
    const targets: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(plain)) {
      const data = t.data.slice() as TensorData;
      data.fill(0 as never);
      targets[k] = new Tensor(t.type, data, t.dims);
    }
    let reason = '';
    try {
      const got = await s.run(small, { outputs: targets });
      if (names.some((k) => got[k] !== targets[k])) reason = 'run() returned new tensors instead of the caller-provided ones';
      else if (!sameValues(got, plain, names)) reason = 'the caller-provided outputs differ from a plain run';
    } catch (e) {
      reason = why(e);
    }
    if (reason !== '') {
      rows.push({ figure: 'caller-provided outputs, p99 / median', value: 'not measured', goal: '<= 2', note: reason });
    } else {
      const runPlain = () => s.run(small);
      const runInto = () => s.run(small, { outputs: targets });
      await calls(runInto, Math.min(n, 2000));
      const a = await countGcs(() => calls(runPlain, n));
      const b = await countGcs(() => calls(runInto, n));
      for (const [what, r] of [
        ['plain run(feeds)', a],
        ['run(feeds, { outputs })', b],
      ] as const) {
        const t = summarize(r.value);
        rows.push({
          figure: `${what}: median / p99 over ${n} calls`,
          value: `${(t.median * 1000).toFixed(1)} / ${(t.p99 * 1000).toFixed(1)} us (x${(t.p99 / t.median).toFixed(2)})`,
          goal: what === 'plain run(feeds)' ? '' : 'p99 <= 2 x median',
          note: `${r.gcs} GCs (${r.majorGcs} major, ${r.gcMs.toFixed(1)} ms), heap ${r.heapGrowthMiB.toFixed(1)} MiB; ${label}`,
        });
      }
      const into = await runInto();
      rows.push({
        figure: 'caller-provided outputs: values identical to plain runs',
        value: String(sameValues(into, await runPlain(), names)),
        goal: 'true',
        note: '',
      });
    }
  } finally {
    await s.dispose();
  }

  // Two sessions chained: through a device-resident tensor against through host copies.
  const first = reference.outputs.find((o) => o.dtype === 'float32');
  if (first === undefined) {
    rows.push({ figure: 'device-resident chaining', value: 'not measured', goal: '', note: 'the model has no float32 output to chain on' });
    return rows;
  }
  let a: TensorRTSession | undefined;
  let b: TensorRTSession | undefined;
  try {
    const built = await buildEngine(doublerModel(first), {
      dims: defaultDimRanges([{ name: 'x', dims: first.dims }], {
        batch: { min: 1, opt: 1, max: Number(args['max-batch']) },
        seq: { min: 1, opt: seq, max: Number(args['max-seq']) },
      }),
      ...(args.cache ? { cache: args.cache } : {}),
    });
    a = await TensorRTSession.create(plan, { contexts: 1, cudaGraphs: cudaGraphs() });
    b = await TensorRTSession.create(built.plan, { contexts: 1, cudaGraphs: cudaGraphs() });
    const A = a;
    const B = b;
    const viaHost = async () => B.run({ x: (await A.run(small, { outputs: [first.name] }))[first.name]! });
    const hostOut = await viaHost();
    const dims = (await A.run(small, { outputs: [first.name] }))[first.name]!.dims;
    const m = Math.max(1, Math.floor(n / 10));
    await calls(viaHost, Math.min(m, 1000));
    const host = summarize(await calls(viaHost, m));
    rows.push({
      figure: `chain via host copies: median / p99 over ${m} calls`,
      value: `${(host.median * 1000).toFixed(1)} / ${(host.p99 * 1000).toFixed(1)} us`,
      goal: '',
      note: `${first.name} ${dims.join('x')} float32`,
    });
    const dev = await A.allocDevice('float32', dims);
    try {
      const viaDevice = async () => {
        await A.run(small, { outputs: { [first.name]: dev } });
        return B.run({ x: dev });
      };
      const devOut = await viaDevice();
      await calls(viaDevice, Math.min(m, 1000));
      const device = summarize(await calls(viaDevice, m));
      rows.push({
        figure: `chain via a device tensor: median / p99 over ${m} calls`,
        value: `${(device.median * 1000).toFixed(1)} / ${(device.p99 * 1000).toFixed(1)} us`,
        goal: 'faster than via host',
        note: `x${(host.median / device.median).toFixed(2)} the host chain's speed; values identical: ${sameValues(devOut, hostOut, ['y'])}`,
      });
    } finally {
      dev.dispose();
    }
  } catch (e) {
    rows.push({ figure: 'chain via a device tensor', value: 'not measured', goal: '', note: why(e) });
  } finally {
    await a?.dispose();
    await b?.dispose();
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
  if (/stand-in/i.test(gpu.name)) {
    console.log(
      "*** the stand-in CUDA driver and TensorRT (test doubles, test/standin): this shows the check runs; its figures and accuracy are not TensorRT's ***",
    );
  }
  console.log(`inputs: batch ${BATCH} x seq ${SEQ}; profiles batch 1..${args['max-batch']}, seq 1..${args['max-seq']}; cudaGraphs ${cudaGraphs()}`);

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
  if (ioRows.length > 0) {
    console.log('');
    console.log("Issue 11's I/O figures (goals from the issue)");
    console.log(table([['figure', 'value', 'goal', 'note'], ...ioRows.map((r) => [r.figure, r.value, r.goal, r.note])]));
  } else if (!args['skip-io']) {
    console.log('\nI/O figures not measured: the first model gave no FP32 engine');
  }
  if (process.env.OUT) writeFileSync(join(process.env.OUT, 'gpu-trt-check.json'), JSON.stringify({ tensorrt: trt, gpu, rows, io: ioRows }, null, 2));
  return rows.every((r) => r.error === null && r.accuracy?.passed === true) ? 0 : 1;
}
