/**
 * runBench(): the benchmark suite behind `tensorrt-node bench`. For each backend (ONNX
 * Runtime always; TensorRT where its libraries load, else skipped with the reason), and for
 * direct session.run() and/or a DynamicBatcher in front of it:
 *
 * - closed loop at each concurrency of the sweep;
 * - open loop at each rate, with Poisson (or constant) arrivals. A rate may be given as a
 *   percentage of the best closed-loop throughput this backend reached in this run
 *   (direct or batcher), so the offered loads sit where they mean something on any machine;
 *   direct and batcher get the same rates and the same arrival schedule.
 *
 * Every point has a warm-up and a fixed window; a fresh batcher per point keeps points
 * apart. The whole run stops adding points once the next one would pass `timeLimitMs` (the
 * points left out are listed in the notes). Nothing that did not run gets a number.
 */
import { cpus, totalmem } from 'node:os';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { InvalidArgumentError, TensorRTNodeError } from '../errors.js';
import { parseOptions } from '../options.js';
import { defaultDimRanges } from '../build/profiles.js';
import type { BackendName, InferenceSession, TensorInfo } from '../session.js';
import type { ModelProto } from '../onnx/index.js';
import { DynamicBatcher, type DynamicBatcherOptions } from '../batching/index.js';
import { DynamicBatcherOptionsSchema } from '../batching/options.js';
import { closedLoop, openLoop, type LoadResult, type Submit } from './load.js';
import { arrivalSchedule } from './schedule.js';
import { summarize, type LatencySummary } from './stats.js';
import { batcherWindow, readBatcherCounters, type BatcherCounters, type BatcherWindow } from './probes.js';
import { modelInputs, requestPool } from './workload.js';
import type { StageTotals } from '../backends/tensorrt.js';
import { BENCH_FORMAT, type BenchRecord, type BenchReport, type LatencySummaryJson } from './report-schema.js';

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `expected ${what}` });

/** A rate: requests/s, or a percentage of the backend's best closed-loop throughput. */
export const RateSpecSchema = z.union([
  z.object({ rate: z.number().positive().finite() }).strict(),
  z.object({ percent: z.number().positive().max(1000) }).strict(),
]);
export type RateSpec = z.infer<typeof RateSpecSchema>;

export const BenchOptionsSchema = z
  .object({
    backends: z
      .array(z.enum(['onnxruntime', 'tensorrt']))
      .min(1)
      .default(['onnxruntime', 'tensorrt']),
    /** An unavailable backend is an error (true) or skipped with a note (false). */
    requireBackends: z.boolean().default(false),
    batcher: z.enum(['on', 'off', 'both']).default('both'),
    concurrency: z.array(z.number().int().min(1).max(4096)).default([1, 8, 32]),
    rates: z.array(RateSpecSchema).default([{ percent: 50 }, { percent: 90 }]),
    distribution: z.enum(['poisson', 'constant']).default('poisson'),
    warmupMs: z.number().min(0).max(600_000).default(500),
    durationMs: z.number().min(10).max(3_600_000).default(2000),
    /** Open loop: how long after the window the measured requests are awaited (default: the window's length, at least 1 s). */
    drainMs: z.number().min(0).max(600_000).optional(),
    /** Stop adding points once the run would exceed this. */
    timeLimitMs: z.number().positive().default(300_000),
    /** Rows per request. */
    batch: z.number().int().min(1).max(65536).default(1),
    seq: z
      .object({ min: z.number().int().min(1), max: z.number().int().min(1) })
      .strict()
      .refine((s) => s.min <= s.max, { message: 'seq.min must be <= seq.max' })
      .default({ min: 128, max: 128 }),
    poolSize: z.number().int().min(1).max(100_000).default(128),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(1),
    dims: z.record(z.string(), z.number().int().min(0)).default({}),
    maxOutstanding: z.number().int().min(1).max(1_000_000).default(512),
    /** DynamicBatcher options (metrics are set by the benchmark). */
    batcherOptions: z.record(z.string(), z.unknown()).default({}),
    /** ONNX Runtime intra-op threads; 0: its default (one per core). */
    intraOpNumThreads: z.number().int().min(0).max(1024).default(0),
    tensorrt: z
      .object({
        precision: z.enum(['fp32', 'fp16']).default('fp32'),
        contexts: z.number().int().min(1).max(64).default(2),
        /** CUDA graphs per input shape: on by default, as TensorRTSession's option. */
        cudaGraphs: z.boolean().default(true),
        /** TensorRTSession's spinWait (off by default): true, or a spin budget in microseconds. */
        spinWait: z.union([z.boolean(), z.number().int().min(0).max(1_000_000)]).default(false),
        /** Engine cache folder, true for the default folder, false for none. */
        cache: z.union([z.string().min(1), z.boolean()]).default(true),
        device: z.number().int().min(0).default(0),
      })
      .strict()
      .default({ precision: 'fp32', contexts: 2, cudaGraphs: true, spinWait: false, cache: true, device: 0 }),
    /** The command line, recorded in the report. */
    command: z.string().optional(),
    onProgress: fn<(e: BenchProgress) => void>('a function (event) => void').optional(),
  })
  .strict();

export type BenchOptions = z.input<typeof BenchOptionsSchema>;
type Options = z.output<typeof BenchOptionsSchema>;

export type BenchProgress =
  | { kind: 'plan'; points: number; estimateMs: number }
  | { kind: 'setup'; message: string }
  | { kind: 'point'; index: number; points: number; label: string; ms: number }
  | { kind: 'point-done'; index: number; points: number; label: string; record: BenchRecord | null }
  | { kind: 'note'; message: string };

export interface BenchModel {
  /** What the sessions open: the ONNX file's path (external data beside it) or its bytes. */
  source: string | Uint8Array;
  /** The decoded model (its inputs and embedding sizes); external data need not be loaded. */
  proto: ModelProto;
  label: string;
}

interface Point {
  backend: BackendName;
  batcher: boolean;
  mode: 'closed-loop' | 'open-loop';
  concurrency: number | null;
  rateSpec: RateSpec | null;
}

function pointLabel(p: Point, rate?: number): string {
  const path = p.batcher ? 'batcher' : 'direct';
  if (p.mode === 'closed-loop') return `${p.backend} ${path} concurrency ${p.concurrency}`;
  const spec = p.rateSpec!;
  const given = 'rate' in spec ? `${fmtRate(spec.rate)}/s` : `${spec.percent}% of best`;
  return `${p.backend} ${path} rate ${rate !== undefined && !('rate' in spec) ? `${fmtRate(rate)}/s (${given})` : given}`;
}

function fmtRate(r: number): string {
  return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toPrecision(2);
}

function jsonLatency(s: LatencySummary): LatencySummaryJson {
  const n = (v: number): number | null => (Number.isFinite(v) ? v : null);
  return { count: s.count, min: n(s.min), mean: n(s.mean), median: n(s.median), p90: n(s.p90), p95: n(s.p95), p99: n(s.p99), max: n(s.max) };
}

function packageVersion(name: string): string | null {
  try {
    const require = createRequire(import.meta.url);
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return null;
  }
}

/** Ranges of the model's symbolic dims for a TensorRT profile that covers every request and batch. */
export function profileDims(
  inputs: readonly TensorInfo[],
  o: { maxBatch: number; seqMax: number; concrete: Record<string, number> },
): Record<string, { min: number; opt: number; max: number }> {
  // Sequence-like dims: the batcher pads to any length up to the longest request; a dim with
  // a fixed size of its own (--dim) gets exactly that size.
  const named = Object.fromEntries(
    Object.entries(o.concrete).map(([k, size]) => [k, size === o.seqMax ? { min: 1, opt: size, max: size } : { min: size, opt: size, max: size }]),
  );
  return defaultDimRanges(inputs, {
    batch: { min: 1, opt: o.maxBatch, max: o.maxBatch },
    seq: { min: 1, opt: o.seqMax, max: o.seqMax },
    named,
  });
}

/** Every bucket length of the batcher options: the batcher pads up to them, so a profile must reach them. */
function bucketLengths(options: Record<string, unknown>): number[] {
  const b = options.buckets as number[] | Record<string, number[]> | undefined;
  if (b === undefined) return [];
  return Array.isArray(b) ? b : Object.values(b).flat();
}

async function openOnnxRuntime(model: BenchModel, o: Options): Promise<InferenceSession> {
  const { OnnxRuntimeSession } = await import('../backends/onnxruntime.js');
  return OnnxRuntimeSession.create(model.source, o.intraOpNumThreads > 0 ? { intraOpNumThreads: o.intraOpNumThreads } : {});
}

async function openTensorRT(
  model: BenchModel,
  inputs: readonly TensorInfo[],
  o: Options,
  maxBatch: number,
  progress: (m: string) => void,
): Promise<{ session: InferenceSession; version: string }> {
  const { requireTensorRT } = await import('../backends/tensorrt-libs.js');
  const runtime = requireTensorRT();
  const { buildEngine } = await import('../build/index.js');
  const { TensorRTSession } = await import('../backends/tensorrt.js');
  progress(`building a TensorRT ${o.tensorrt.precision} engine (TensorRT ${runtime.version}; cached by the engine cache)`);
  const built = await buildEngine(model.source, {
    precision: o.tensorrt.precision,
    dims: profileDims(inputs, { maxBatch, seqMax: Math.max(o.seq.max, ...bucketLengths(o.batcherOptions)), concrete: o.dims }),
    cache: o.tensorrt.cache,
    device: o.tensorrt.device,
  });
  // timings: the report's H2D / GPU compute / D2H columns (four CUDA event records per run).
  const session = await TensorRTSession.create(built.plan, {
    contexts: o.tensorrt.contexts,
    cudaGraphs: o.tensorrt.cudaGraphs,
    spinWait: o.tensorrt.spinWait,
    device: o.tensorrt.device,
    timings: true,
  });
  return { session, version: runtime.version };
}

function message(e: unknown): string {
  return e instanceof TensorRTNodeError ? `${e.code}: ${e.message}` : ((e as Error)?.message ?? String(e));
}

export async function runBench(model: BenchModel, options: BenchOptions = {}): Promise<BenchReport> {
  const o = parseOptions(BenchOptionsSchema, options, 'bench options');
  if (o.concurrency.length === 0 && o.rates.length === 0) {
    throw new InvalidArgumentError('nothing to measure: give at least one concurrency or one rate');
  }
  if (o.concurrency.length === 0 && o.rates.some((r) => 'percent' in r)) {
    throw new InvalidArgumentError('rates given as a percentage of the best closed-loop throughput need at least one concurrency to measure it');
  }
  const drainMs = o.drainMs ?? Math.max(1000, o.durationMs);
  const emit = (e: BenchProgress): void => o.onProgress?.(e);
  const t0 = performance.now();

  const inputs = modelInputs(model.proto);
  const pool = requestPool(inputs, model.proto, { batch: o.batch, seq: o.seq, poolSize: o.poolSize, seed: o.seed, dims: o.dims });
  const batcherOptions = o.batcherOptions as DynamicBatcherOptions;
  if ('metrics' in batcherOptions) throw new InvalidArgumentError('batcherOptions.metrics is set by the benchmark; leave it out');
  parseOptions(DynamicBatcherOptionsSchema, batcherOptions, 'batcherOptions');
  const maxBatch = Math.max((batcherOptions.maxBatchSize as number | undefined) ?? 32, o.batch);

  const modes = o.batcher === 'both' ? [false, true] : [o.batcher === 'on'];
  const backends = [...new Set(o.backends)];
  const skipped: { backend: string; reason: string }[] = [];
  const skip = (backend: string, e: unknown): void => {
    if (o.requireBackends) throw e;
    const reason = message(e);
    skipped.push({ backend, reason });
    emit({ kind: 'note', message: `${backend} skipped, nothing measured: ${reason}` });
  };
  // Whether TensorRT loads is known at once; an engine build that fails is found out later.
  const runnable: BackendName[] = [];
  for (const backend of backends) {
    if (backend === 'tensorrt') {
      try {
        const { requireTensorRT } = await import('../backends/tensorrt-libs.js');
        requireTensorRT();
      } catch (e) {
        skip(backend, e);
        continue;
      }
    }
    runnable.push(backend);
  }
  const perBackend = modes.length * (o.concurrency.length + o.rates.length);
  let points = runnable.length * perBackend;
  const pointMs = (mode: 'closed-loop' | 'open-loop'): number => o.warmupMs + o.durationMs + (mode === 'open-loop' ? drainMs / 4 : 0);
  emit({
    kind: 'plan',
    points,
    estimateMs: runnable.length * modes.length * (o.concurrency.length * pointMs('closed-loop') + o.rates.length * pointMs('open-loop')),
  });

  const records: BenchRecord[] = [];
  const notes: string[] = [];
  const versions: Record<string, string> = {};
  const ortVersion = packageVersion('onnxruntime-node');
  if (ortVersion !== null && backends.includes('onnxruntime')) versions['onnxruntime-node'] = ortVersion;
  let index = 0;
  let outOfTime = false;

  const note = (m: string): void => {
    notes.push(m);
    emit({ kind: 'note', message: m });
  };

  const runPoint = async (session: InferenceSession, p: Point, rate: number | null): Promise<BenchRecord | null> => {
    const label = pointLabel(p, rate ?? undefined);
    const i = ++index;
    const cost = pointMs(p.mode);
    if (outOfTime || performance.now() - t0 + cost > o.timeLimitMs) {
      if (!outOfTime) note(`time limit of ${(o.timeLimitMs / 1000).toFixed(0)} s reached: ${label} and the points after it were not measured`);
      outOfTime = true;
      emit({ kind: 'point-done', index: i, points, label, record: null });
      return null;
    }
    emit({ kind: 'point', index: i, points, label, ms: cost });
    let batcher: DynamicBatcher | undefined;
    // The window figures come from stats(); Prometheus metrics would only cost time here.
    if (p.batcher) batcher = new DynamicBatcher(session, { ...batcherOptions, metrics: false });
    const submit: Submit = batcher ? (f) => batcher!.run(f) : (f) => session.run(f);
    let bStart: BatcherCounters | undefined;
    let bEnd: BatcherCounters | undefined;
    // TensorRT sessions opened with timings sum their stage times; the window's runs are the difference.
    const totals = (): StageTotals | undefined => (session as { stageTotals?: () => StageTotals }).stageTotals?.();
    let sStart: StageTotals | undefined;
    let sEnd: StageTotals | undefined;
    const hooks = {
      onWindowStart: () => {
        if (batcher) bStart = readBatcherCounters(batcher);
        sStart = totals();
      },
      onWindowEnd: () => {
        if (batcher) bEnd = readBatcherCounters(batcher);
        sEnd = totals();
      },
    };
    let result: LoadResult;
    try {
      result =
        p.mode === 'closed-loop'
          ? await closedLoop(submit, pool, { concurrency: p.concurrency!, warmupMs: o.warmupMs, durationMs: o.durationMs, ...hooks })
          : await openLoop(submit, pool, {
              arrivals: arrivalSchedule(rate!, o.warmupMs + o.durationMs, o.distribution, o.seed),
              warmupMs: o.warmupMs,
              durationMs: o.durationMs,
              drainMs,
              maxOutstanding: o.maxOutstanding,
              ...hooks,
            });
    } finally {
      await batcher?.close({ drain: false });
    }
    const bw: BatcherWindow | null = batcher && bStart && bEnd ? batcherWindow(bStart, bEnd) : null;
    const record = toRecord(p, rate, result, bw, o, sStart && sEnd ? stageWindow(sStart, sEnd) : null);
    records.push(record);
    emit({ kind: 'point-done', index: i, points, label, record });
    return record;
  };

  for (const backend of runnable) {
    let session: InferenceSession;
    try {
      if (backend === 'onnxruntime') {
        emit({ kind: 'setup', message: 'opening the model in ONNX Runtime (CPU)' });
        session = await openOnnxRuntime(model, o);
      } else {
        const opened = await openTensorRT(model, inputs, o, maxBatch, (m) => emit({ kind: 'setup', message: m }));
        session = opened.session;
        versions.tensorrt = opened.version;
      }
    } catch (e) {
      skip(backend, e);
      points -= perBackend;
      continue;
    }
    try {
      const usable = [...modes];
      if (modes.includes(true)) {
        try {
          await new DynamicBatcher(session, { ...batcherOptions, metrics: false }).close();
        } catch (e) {
          // The options were checked up front, so this is the model: e.g. no dynamic batch dim.
          if (!(e instanceof TensorRTNodeError)) throw e;
          note(`${backend}: the DynamicBatcher cannot serve this model (${message(e)}); batcher points not measured`);
          usable.splice(usable.indexOf(true), 1);
          points -= o.concurrency.length + o.rates.length;
        }
      }
      let best = 0;
      // Direct and batcher at the same load run back to back, so slow drift of the machine
      // (other processes, thermal) hits a pair alike.
      for (const c of o.concurrency) {
        for (const batched of usable) {
          const r = await runPoint(session, { backend, batcher: batched, mode: 'closed-loop', concurrency: c, rateSpec: null }, null);
          if (r) best = Math.max(best, r.throughput);
        }
      }
      for (const spec of o.rates) {
        const rate = 'rate' in spec ? spec.rate : (best * spec.percent) / 100;
        if (!(rate > 0)) {
          for (const batched of usable) {
            const label = pointLabel({ backend, batcher: batched, mode: 'open-loop', concurrency: null, rateSpec: spec });
            note(`${label}: not measured, no closed-loop throughput to take a percentage of`);
            emit({ kind: 'point-done', index: ++index, points, label, record: null });
          }
          continue;
        }
        for (const batched of usable) {
          await runPoint(session, { backend, batcher: batched, mode: 'open-loop', concurrency: null, rateSpec: spec }, rate);
        }
      }
    } finally {
      await session.dispose();
    }
  }

  const cpu = cpus();
  return {
    format: BENCH_FORMAT,
    createdAt: new Date().toISOString(),
    command: o.command ?? null,
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      platform: process.platform,
      arch: process.arch,
      node: process.version,
    },
    model: { label: model.label, inputs: inputs.map((i) => ({ name: i.name, dtype: i.dtype, dims: [...i.dims] })) },
    settings: {
      backends,
      batcher: o.batcher,
      concurrency: o.concurrency,
      rates: o.rates.map((r) => ('rate' in r ? String(r.rate) : `${r.percent}%`)),
      distribution: o.distribution,
      warmupSeconds: o.warmupMs / 1000,
      durationSeconds: o.durationMs / 1000,
      rowsPerRequest: o.batch,
      seq: o.seq,
      poolSize: o.poolSize,
      seed: o.seed,
      maxOutstanding: o.maxOutstanding,
      batcherOptions: o.batcherOptions,
      onnxruntime: { intraOpNumThreads: o.intraOpNumThreads },
      tensorrt: { ...o.tensorrt },
    },
    versions,
    skipped,
    notes,
    records,
    totalSeconds: (performance.now() - t0) / 1000,
  };
}

/** Mean stage times per run between two stageTotals() readings. */
function stageWindow(a: StageTotals, b: StageTotals): BenchRecord['stages'] {
  const runs = b.runs - a.runs;
  if (runs <= 0) return null;
  return { runs, h2dMs: (b.h2dMs - a.h2dMs) / runs, computeMs: (b.computeMs - a.computeMs) / runs, d2hMs: (b.d2hMs - a.d2hMs) / runs };
}

function toRecord(p: Point, rate: number | null, r: LoadResult, bw: BatcherWindow | null, o: Options, stages: BenchRecord['stages']): BenchRecord {
  const seconds = r.windowMs / 1000;
  const lat = summarize(r.latencyMs);
  const throughput = r.completedInWindow / seconds;
  const lag = r.sendLagMs ? summarize(r.sendLagMs) : null;
  const num = (v: number): number | null => (Number.isFinite(v) ? v : null);
  return {
    backend: p.backend,
    batcher: p.batcher,
    mode: p.mode,
    concurrency: p.concurrency,
    rate,
    rateSpec: p.rateSpec === null ? null : 'rate' in p.rateSpec ? String(p.rateSpec.rate) : `${p.rateSpec.percent}%`,
    distribution: p.mode === 'open-loop' ? o.distribution : null,
    rowsPerRequest: o.batch,
    warmupSeconds: o.warmupMs / 1000,
    durationSeconds: seconds,
    requests: r.completedInWindow,
    throughput,
    samplesPerSecond: throughput * o.batch,
    offeredRate: r.offered === null ? null : r.offered / seconds,
    p50: num(lat.median),
    p90: num(lat.p90),
    p99: num(lat.p99),
    latencyMs: jsonLatency(lat),
    enqueueMs: jsonLatency(summarize(r.enqueueMs)),
    sendLagMs: lag === null ? null : { mean: num(lag.mean), p99: num(lag.p99), max: num(lag.max) },
    meanBatchSize: p.batcher ? (bw?.meanBatchSize ?? null) : o.batch,
    queueMs: bw?.queueMs ?? null,
    computeMs: bw?.computeMs ?? null,
    batches: bw ? bw.batches : null,
    paddingRatio: bw?.paddingRatio ?? null,
    stages,
    errors: r.errors,
    firstError: r.firstError,
    errorSummary: [...r.errorSummary],
    dropped: r.dropped,
    incomplete: r.incomplete,
  };
}
