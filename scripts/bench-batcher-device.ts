/**
 * Benchmark 2: DynamicBatcher in front of a SIMULATED DEVICE (not a GPU, not a model). The
 * simulated device exists only in this benchmark. Its batch latency follows the curve
 * measured on an H100 for BERT-base FP16 at sequence 128 (PyTorch eager): 3.8 ms flat up to
 * batch 32, then linear to 7.7 ms at batch 128. It runs one batch at a time (one
 * execution queue); a batch submitted while another runs starts when that one ends.
 *
 *   node scripts/run-ts.mjs scripts/bench-batcher-device.ts [--seconds 3] [--delay 2] [--inflight 1,2]
 *
 * For each maxInflightBatches setting: throughput at saturation (a closed loop keeping
 * 4 x maxBatchSize requests outstanding) against the curve's best (128 / 7.7 ms), then an
 * open-loop Poisson load at fractions of that best, with throughput and latency quantiles
 * (latency counts from each request's scheduled arrival time, so generator lag is not
 * hidden). The p99 at 70% load is compared with maxQueueDelayMs + 2 x the batch latency,
 * read as the latency of the mean batch size at that load and of the largest batch run.
 */
import { DynamicBatcher } from '../src/batching/index.js';
import { Tensor } from '../src/tensor.js';
import type { Feeds, InferenceSession, Outputs, TensorInfo } from '../src/session.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const SECONDS = Number(arg('seconds', '3'));
const DELAY_MS = Number(arg('delay', '2'));
const INFLIGHT = arg('inflight', '1,2').split(',').map(Number);
const MAX_BATCH = 128;
const SEQ = 128;

/** The H100 curve from the issue: ms per batch of `b`. */
function curveMs(b: number): number {
  return b <= 32 ? 3.8 : 3.8 + ((b - 32) * (7.7 - 3.8)) / (128 - 32);
}
let BEST = 0;
for (let b = 1; b <= MAX_BATCH; b++) BEST = Math.max(BEST, (b / curveMs(b)) * 1000);

/** Waits until performance.now() >= `at`: a timer for the bulk, then per-turn polling for the rest. */
function waitUntil(at: number): Promise<void> {
  return new Promise((resolve) => {
    const poll = (): void => {
      const left = at - performance.now();
      if (left <= 0) resolve();
      else if (left > 2.5) setTimeout(poll, Math.floor(left - 2));
      else setImmediate(poll);
    };
    poll();
  });
}

/** SIMULATED DEVICE: latency per the H100 curve, one batch at a time. Benchmark only. */
class SimulatedH100Device implements InferenceSession {
  readonly backend = 'tensorrt' as const;
  readonly inputs: TensorInfo[] = [
    { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
    { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
  ];
  readonly outputs: TensorInfo[] = [{ name: 'logits', dtype: 'float32', dims: ['batch', 2] }];
  disposed = false;
  #freeAt = 0;
  batchLatencies: number[] = [];
  busyMs = 0;
  /** How late the simulator noticed its batches end (event-loop and timer lateness). */
  lateMs = 0;
  /** From a completion being noticed to the next run() call, when that call found the device idle. */
  turnaroundMs = 0;
  turnarounds = 0;
  #noticedAt = 0;
  run(feeds: Feeds): Promise<Outputs> {
    const b = feeds.input_ids!.dims[0]!;
    const now = performance.now();
    if (now >= this.#freeAt && this.#noticedAt > 0) {
      this.turnaroundMs += now - this.#noticedAt;
      this.turnarounds++;
    }
    const start = Math.max(now, this.#freeAt);
    const ms = curveMs(b);
    const end = start + ms;
    this.#freeAt = end;
    this.batchLatencies.push(ms);
    this.busyMs += ms;
    return waitUntil(end).then(() => {
      const t = performance.now();
      this.lateMs += t - end;
      this.#noticedAt = t;
      return { logits: new Tensor('float32', new Float32Array(b * 2), [b, 2]) };
    });
  }
  async dispose(): Promise<void> {}
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

const FEEDS: Feeds = {
  input_ids: new Tensor('int64', new BigInt64Array(SEQ).fill(101n), [1, SEQ]),
  attention_mask: new Tensor('int64', new BigInt64Array(SEQ).fill(1n), [1, SEQ]),
};

function quantile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function saturation(inflight: number): Promise<{ rps: number; meanBatch: number; lateMs: number; turnaroundMs: number }> {
  const dev = new SimulatedH100Device();
  const b = new DynamicBatcher(dev, { maxBatchSize: MAX_BATCH, maxQueueDelayMs: DELAY_MS, maxInflightBatches: inflight });
  const outstanding = 4 * MAX_BATCH;
  let done = 0;
  let stop = false;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (!stop) {
      await b.run(FEEDS);
      done++;
    }
  };
  const workers = Array.from({ length: outstanding }, worker);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const wall = performance.now() - start;
  const counted = done;
  stop = true;
  await Promise.all(workers);
  await b.close();
  const batches = dev.batchLatencies.length;
  return {
    rps: (counted / wall) * 1000,
    meanBatch: b.stats().batches.meanSize,
    lateMs: dev.lateMs / batches,
    turnaroundMs: dev.turnarounds > 0 ? dev.turnaroundMs / dev.turnarounds : 0,
  };
}

interface LoadRow {
  offered: number;
  achieved: number;
  p50: number;
  p90: number;
  p99: number;
  meanBatch: number;
  maxBatchLatency: number;
  deviceBusy: number;
}

async function openLoop(inflight: number, rate: number): Promise<LoadRow> {
  const dev = new SimulatedH100Device();
  const b = new DynamicBatcher(dev, { maxBatchSize: MAX_BATCH, maxQueueDelayMs: DELAY_MS, maxInflightBatches: inflight });
  // Poisson arrivals, seeded for repeatable schedules.
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return (seed + 0.5) / 2 ** 32;
  };
  const n = Math.round(rate * SECONDS);
  const arrivals = new Float64Array(n);
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += (-Math.log(rand()) / rate) * 1000;
    arrivals[i] = t;
  }
  const lat = new Float64Array(n);
  let next = 0;
  let completed = 0;
  const start = performance.now();
  let lastDone = start;
  await new Promise<void>((resolve) => {
    const submit = (i: number, at: number): void => {
      void b.run(FEEDS).then(() => {
        const now = performance.now();
        lat[i] = now - at;
        lastDone = now;
        if (++completed === n) resolve();
      });
    };
    const drive = (): void => {
      const now = performance.now() - start;
      while (next < n && arrivals[next]! <= now) {
        submit(next, start + arrivals[next]!);
        next++;
      }
      if (next < n) setImmediate(drive);
    };
    drive();
  });
  await b.close();
  const sorted = lat.slice().sort();
  const wall = lastDone - start;
  return {
    offered: rate,
    achieved: (n / wall) * 1000,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    meanBatch: b.stats().batches.meanSize,
    maxBatchLatency: Math.max(...dev.batchLatencies),
    deviceBusy: dev.busyMs / wall,
  };
}

console.log(
  `SIMULATED DEVICE (H100 BERT-base FP16 seq 128 curve: 3.8 ms to batch 32, 7.7 ms at 128). Curve's best: ${BEST.toFixed(0)} samples/s at batch 128.`,
);
console.log(`maxBatchSize ${MAX_BATCH}, maxQueueDelayMs ${DELAY_MS}, ${SECONDS} s per point; Node ${process.version}`);
for (const inflight of INFLIGHT) {
  const sat = await saturation(inflight);
  console.log('');
  console.log(`### maxInflightBatches ${inflight}`);
  console.log('');
  console.log(
    `Saturation (closed loop, ${4 * MAX_BATCH} outstanding): ${sat.rps.toFixed(0)} req/s = ${((sat.rps / BEST) * 100).toFixed(1)}% of the curve's best; mean batch ${sat.meanBatch.toFixed(1)}; ` +
      `per batch: simulator noticed the end ${sat.lateMs.toFixed(3)} ms late (timer lateness), batcher turnaround to the next run() ${sat.turnaroundMs.toFixed(3)} ms`,
  );
  console.log('');
  console.log('| offered load | offered req/s | achieved req/s | p50 ms | p90 ms | p99 ms | mean batch | device busy |');
  console.log('|---|---|---|---|---|---|---|---|');
  let at70: LoadRow | undefined;
  for (const frac of [0.1, 0.3, 0.5, 0.7, 0.8, 0.9]) {
    const row = await openLoop(inflight, BEST * frac);
    if (frac === 0.7) at70 = row;
    console.log(
      `| ${(frac * 100).toFixed(0)}% | ${row.offered.toFixed(0)} | ${row.achieved.toFixed(0)} | ${row.p50.toFixed(2)} | ${row.p90.toFixed(2)} | ${row.p99.toFixed(2)} | ${row.meanBatch.toFixed(1)} | ${(row.deviceBusy * 100).toFixed(0)}% |`,
    );
  }
  // "The batch latency" read two ways: that of the mean batch size at this load (strict),
  // and that of the largest batch run at this load (lenient).
  const strict = DELAY_MS + 2 * curveMs(at70!.meanBatch);
  const lenient = DELAY_MS + 2 * at70!.maxBatchLatency;
  console.log('');
  console.log(
    `p99 at 70% load: ${at70!.p99.toFixed(2)} ms; maxQueueDelayMs + 2 x batch latency = ` +
      `${DELAY_MS} + 2 x ${curveMs(at70!.meanBatch).toFixed(2)} (mean batch ${at70!.meanBatch.toFixed(1)}) = ${strict.toFixed(2)} ms: ${at70!.p99 <= strict ? 'within' : 'OVER'}; ` +
      `${DELAY_MS} + 2 x ${at70!.maxBatchLatency.toFixed(2)} (largest batch run) = ${lenient.toFixed(2)} ms: ${at70!.p99 <= lenient ? 'within' : 'OVER'}`,
  );
}
