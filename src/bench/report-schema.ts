/**
 * The benchmark report: one record per configuration (backend, batcher on/off, closed-loop
 * concurrency or open-loop rate). The zod schema is the JSON format's definition (what
 * `--json` writes, format "tensorrt-node.bench/1"); times are milliseconds, rates per second.
 */
import { z } from 'zod';

export const BENCH_FORMAT = 'tensorrt-node.bench/1';

const ms = z.number().nullable();

export const LatencySummarySchema = z.object({
  count: z.number().int().min(0),
  min: ms,
  mean: ms,
  median: ms,
  p90: ms,
  p95: ms,
  p99: ms,
  max: ms,
});

export const BenchRecordSchema = z.object({
  backend: z.enum(['onnxruntime', 'tensorrt']),
  /** Requests went through a DynamicBatcher (true) or straight to session.run() (false). */
  batcher: z.boolean(),
  mode: z.enum(['closed-loop', 'open-loop']),
  /** Closed loop: requests kept outstanding. */
  concurrency: z.number().int().positive().nullable(),
  /** Open loop: the target arrival rate, requests/s. */
  rate: z.number().positive().nullable(),
  /** Open loop: how the rate was given ("200" or "50%" of the backend's best closed-loop throughput). */
  rateSpec: z.string().nullable(),
  distribution: z.enum(['poisson', 'constant']).nullable(),
  /** Rows per request. */
  rowsPerRequest: z.number().int().positive(),
  warmupSeconds: z.number().min(0),
  durationSeconds: z.number().positive(),
  /** Successful requests counted in the window. */
  requests: z.number().int().min(0),
  /** Successful requests per second of window (inferences/s; achieved rate in open loop). */
  throughput: z.number().min(0),
  /** throughput x rows per request. */
  samplesPerSecond: z.number().min(0),
  /** Open loop: arrivals per second scheduled in the window. */
  offeredRate: z.number().min(0).nullable(),
  p50: ms,
  p90: ms,
  p99: ms,
  /** Closed loop: send to completion; open loop: scheduled arrival to completion. */
  latencyMs: LatencySummarySchema,
  /** Host time inside run() before it returned its promise (trtexec's enqueue time). */
  enqueueMs: LatencySummarySchema,
  /** Open loop: how late requests were sent after their scheduled arrival. */
  sendLagMs: z.object({ mean: ms, p99: ms, max: ms }).nullable(),
  /** Samples per session.run() call: the batcher's mean batch size, or rows per request without it. */
  meanBatchSize: z.number().nullable(),
  /** Batcher: mean queue time per request. */
  queueMs: ms,
  /** Batcher: mean session.run() time per batch. */
  computeMs: ms,
  /** Batcher: session.run() calls in the window. */
  batches: z.number().int().min(0).nullable(),
  /** Batcher: padded elements / real elements of the padded inputs. */
  paddingRatio: z.number().nullable(),
  /**
   * Device stage times per run (means over the window's timed runs, from CUDA events: TensorRT
   * sessions with timings on, which the bench opens); null where the session does not time them
   * (ONNX Runtime): "not reported".
   */
  stages: z.object({ runs: z.number().int().min(0), h2dMs: z.number(), computeMs: z.number(), d2hMs: z.number() }).nullable(),
  /** Measured requests that failed. */
  errors: z.number().int().min(0),
  firstError: z.string().nullable(),
  /** The errors by message, most frequent first (at most 5 distinct messages, then "(other messages)"). */
  errorSummary: z.array(z.object({ message: z.string(), count: z.number().int().positive() })),
  /** Open loop: arrivals dropped because too many requests were outstanding. */
  dropped: z.number().int().min(0),
  /** Open loop: measured requests not completed by the drain deadline (latency counted up to it). */
  incomplete: z.number().int().min(0),
});

export const BenchReportSchema = z.object({
  format: z.literal(BENCH_FORMAT),
  createdAt: z.string(),
  command: z.string().nullable(),
  machine: z.object({
    cpus: z.number().int().positive(),
    cpuModel: z.string(),
    memoryGiB: z.number(),
    platform: z.string(),
    arch: z.string(),
    node: z.string(),
  }),
  model: z.object({ label: z.string(), inputs: z.array(z.object({ name: z.string(), dtype: z.string(), dims: z.array(z.union([z.number(), z.string()])) })) }),
  settings: z.object({
    backends: z.array(z.string()),
    batcher: z.enum(['on', 'off', 'both']),
    concurrency: z.array(z.number().int().positive()),
    rates: z.array(z.string()),
    distribution: z.enum(['poisson', 'constant']),
    warmupSeconds: z.number(),
    durationSeconds: z.number(),
    rowsPerRequest: z.number().int().positive(),
    seq: z.object({ min: z.number().int(), max: z.number().int() }),
    poolSize: z.number().int().positive(),
    seed: z.number().int(),
    maxOutstanding: z.number().int().positive(),
    batcherOptions: z.record(z.string(), z.unknown()),
    onnxruntime: z.object({ intraOpNumThreads: z.number().int() }),
    tensorrt: z.record(z.string(), z.unknown()),
  }),
  /** Versions of what ran: onnxruntime-node's package version, TensorRT's library version. */
  versions: z.record(z.string(), z.string()),
  /** Backends that did not run, and why. */
  skipped: z.array(z.object({ backend: z.string(), reason: z.string() })),
  /** Configurations not measured (time limit, a batcher that cannot batch the model, ...). */
  notes: z.array(z.string()),
  records: z.array(BenchRecordSchema),
  totalSeconds: z.number(),
});

export type LatencySummaryJson = z.infer<typeof LatencySummarySchema>;
export type BenchRecord = z.infer<typeof BenchRecordSchema>;
export type BenchReport = z.infer<typeof BenchReportSchema>;
