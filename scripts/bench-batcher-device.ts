/**
 * Benchmark 2: DynamicBatcher in front of a SIMULATED DEVICE (not a GPU, not a model). The
 * simulated device exists only in this benchmark. Its batch latency follows the curve
 * measured on an H100 for BERT-base FP16 at sequence 128 (PyTorch eager): 3.8 ms flat up to
 * batch 32, then linear to 7.7 ms at batch 128. It runs one batch at a time (one
 * execution queue); a batch submitted while another runs starts when that one ends. Like a
 * TensorRT engine built for batch 1..128 it reports that profile, and `contexts` (execution
 * contexts) = the batches it accepts at once.
 *
 *   node scripts/run-ts.mjs scripts/bench-batcher-device.ts [--seconds 3] [--delay 2] [--inflight 1,2] [--paths zero,triton] [--scale 1]
 *
 * --scale N stretches the curve's times (and Triton's queue delay) N-fold: on a loaded
 * machine, where timers fire milliseconds late, the scheduling policy is then measured
 * rather than the machine's timer lateness (throughput as a share of the curve's best and
 * p99 against its bound do not depend on the scale; the loads are scaled down alike).
 *
 * Paths, side by side: "zero config" is `new DynamicBatcher(device)` (the cost model learns
 * the curve; maxInflightBatches = the device's contexts); "triton" is Triton's rule with
 * maxBatchSize 128 and maxQueueDelayMs --delay. For each maxInflightBatches setting and path:
 * throughput at saturation (a closed loop keeping 4 x 128 requests outstanding) against the
 * curve's best (128 / 7.7 ms), then an open-loop Poisson load at fractions of that best, with
 * throughput and latency quantiles (latency counts from each request's scheduled arrival, so
 * generator lag is not hidden). Every point runs each path twice, in the order A B B A, half
 * the time each; each path keeps one batcher for all its points (what it learned carries
 * over, as in a service). The p99 at 70% load is compared with the path's queue delay + 2 x
 * the batch latency, read as the latency of the mean batch size at that load (strict) and of
 * the largest batch run (lenient).
 */
import { cpus, loadavg } from 'node:os';
import { DynamicBatcher, type DynamicBatcherOptions } from '../src/batching/index.js';
import { Tensor } from '../src/tensor.js';
import type { Feeds, InferenceSession, Outputs, TensorInfo } from '../src/session.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const SECONDS = Number(arg('seconds', '3'));
const DELAY_MS = Number(arg('delay', '2'));
const INFLIGHT = arg('inflight', '1,2').split(',').map(Number);
const PATHS = arg('paths', 'zero,triton').split(',');
const SCALE = Number(arg('scale', '1'));
const MAX_BATCH = 128;
const SEQ = 128;
const LOADS = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9];

/** The H100 curve from the issue: ms per batch of `b`. */
function curveMs(b: number): number {
  return SCALE * (b <= 32 ? 3.8 : 3.8 + ((b - 32) * (7.7 - 3.8)) / (128 - 32));
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

const PROFILE = [{ min: [1, SEQ], opt: [64, SEQ], max: [MAX_BATCH, SEQ] }];

/** SIMULATED DEVICE: latency per the H100 curve, one batch at a time. Benchmark only. */
class SimulatedH100Device implements InferenceSession {
  readonly backend = 'tensorrt' as const;
  readonly inputs: TensorInfo[] = [
    { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'], profiles: PROFILE },
    { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'], profiles: PROFILE },
  ];
  readonly outputs: TensorInfo[] = [{ name: 'logits', dtype: 'float32', dims: ['batch', 2] }];
  disposed = false;
  #freeAt = 0;
  batchLatencies: number[] = [];
  busyMs = 0;
  /** How late the simulator noticed its batches end (event-loop and timer lateness). */
  lateMs = 0;
  constructor(readonly contexts: number) {}
  run(feeds: Feeds): Promise<Outputs> {
    const b = feeds.input_ids!.dims[0]!;
    const now = performance.now();
    const start = Math.max(now, this.#freeAt);
    const ms = curveMs(b);
    const end = start + ms;
    this.#freeAt = end;
    this.batchLatencies.push(ms);
    this.busyMs += ms;
    return waitUntil(end).then(() => {
      this.lateMs += performance.now() - end;
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

interface Path {
  readonly name: string;
  readonly delayMs: number;
  readonly dev: SimulatedH100Device;
  readonly b: DynamicBatcher;
}

function makePath(name: string, inflight: number): Path {
  const dev = new SimulatedH100Device(inflight);
  const options: DynamicBatcherOptions =
    name === 'zero' ? { metrics: false } : { maxBatchSize: MAX_BATCH, maxQueueDelayMs: DELAY_MS * SCALE, maxInflightBatches: inflight, metrics: false };
  const b = new DynamicBatcher(dev, options);
  return { name: name === 'zero' ? 'zero config' : `triton (max ${MAX_BATCH}, delay ${DELAY_MS * SCALE} ms)`, delayMs: b.config.maxQueueDelayMs, dev, b };
}

/** Closed loop with 4 x maxBatchSize outstanding for `seconds`; returns req/s and the mean batch. */
async function saturation(p: Path, seconds: number): Promise<{ rps: number; batches: number; rows: number }> {
  let done = 0;
  let stop = false;
  const t0 = p.b.stats().totals;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (!stop) {
      await p.b.run(FEEDS);
      done++;
    }
  };
  const workers = Array.from({ length: 4 * MAX_BATCH }, worker);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const wall = performance.now() - start;
  const counted = done;
  stop = true;
  await Promise.all(workers);
  const t1 = p.b.stats().totals;
  return { rps: (counted / wall) * 1000, batches: t1.batches - t0.batches, rows: t1.rows - t0.rows };
}

/** Open loop: seeded Poisson arrivals at `rate` for `seconds`; returns latencies from the scheduled arrivals. */
async function openLoop(
  p: Path,
  rate: number,
  seconds: number,
  seed: number,
): Promise<{ lat: Float64Array; wall: number; batches: number; rows: number; maxBatchMs: number; busyMs: number }> {
  let s = seed;
  const rand = (): number => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  const n = Math.round(rate * seconds);
  const arrivals = new Float64Array(n);
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += (-Math.log(rand()) / rate) * 1000;
    arrivals[i] = t;
  }
  const lat = new Float64Array(n);
  const t0 = p.b.stats().totals;
  const firstBatch = p.dev.batchLatencies.length;
  const busy0 = p.dev.busyMs;
  let next = 0;
  let completed = 0;
  const start = performance.now();
  let lastDone = start;
  await new Promise<void>((resolve) => {
    const submit = (i: number, at: number): void => {
      void p.b.run(FEEDS).then(() => {
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
  const t1 = p.b.stats().totals;
  return {
    lat,
    wall: lastDone - start,
    batches: t1.batches - t0.batches,
    rows: t1.rows - t0.rows,
    maxBatchMs: Math.max(...p.dev.batchLatencies.slice(firstBatch)),
    busyMs: p.dev.busyMs - busy0,
  };
}

console.log(
  `${new Date().toISOString()} · SIMULATED DEVICE (H100 BERT-base FP16 seq 128 curve: 3.8 ms to batch 32, 7.7 ms at 128${SCALE !== 1 ? `, times x ${SCALE}` : ''}; one batch at a time). ` +
    `Curve's best: ${BEST.toFixed(0)} samples/s at batch 128 · ${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} · Node ${process.version}`,
);
console.log(`${SECONDS} s per path and point (two interleaved halves)`);
for (const inflight of INFLIGHT) {
  const paths = PATHS.map((name) => makePath(name, inflight));
  // Warm-up (the zero-config batcher learns the curve here too).
  for (const p of paths) await saturation(p, 0.5 * SCALE);
  console.log('');
  console.log(`### ${inflight} batch${inflight > 1 ? 'es' : ''} in flight (device contexts ${inflight})`);
  console.log('');
  const sat = paths.map(() => ({ rps: [] as number[], batches: 0, rows: 0 }));
  for (const order of [paths.map((_, i) => i), paths.map((_, i) => i).reverse()]) {
    for (const i of order) {
      const r = await saturation(paths[i]!, SECONDS / 2);
      sat[i]!.rps.push(r.rps);
      sat[i]!.batches += r.batches;
      sat[i]!.rows += r.rows;
    }
  }
  for (let i = 0; i < paths.length; i++) {
    const rps = sat[i]!.rps.reduce((a, x) => a + x, 0) / sat[i]!.rps.length;
    console.log(
      `Saturation, ${paths[i]!.name} (closed loop, ${4 * MAX_BATCH} outstanding): ${rps.toFixed(0)} req/s = ${((rps / BEST) * 100).toFixed(1)}% of the curve's best; mean batch ${(sat[i]!.rows / sat[i]!.batches).toFixed(1)}`,
    );
  }
  console.log('');
  console.log('| path | offered load | offered req/s | achieved req/s | p50 ms | p90 ms | p99 ms | mean batch | device busy |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const at70: { p99: number; meanBatch: number; maxBatchMs: number }[] = [];
  for (const frac of LOADS) {
    const rows = paths.map(() => ({ lat: [] as number[], wall: 0, n: 0, batches: 0, rows: 0, maxBatchMs: 0, busyMs: 0 }));
    let half = 0;
    for (const order of [paths.map((_, i) => i), paths.map((_, i) => i).reverse()]) {
      half++;
      for (const i of order) {
        const r = await openLoop(paths[i]!, BEST * frac, SECONDS / 2, 12345 + half);
        const row = rows[i]!;
        row.lat.push(...r.lat);
        row.wall += r.wall;
        row.n += r.lat.length;
        row.batches += r.batches;
        row.rows += r.rows;
        row.maxBatchMs = Math.max(row.maxBatchMs, r.maxBatchMs);
        row.busyMs += r.busyMs;
      }
    }
    for (let i = 0; i < paths.length; i++) {
      const row = rows[i]!;
      const sorted = Float64Array.from(row.lat).sort();
      const meanBatch = row.rows / row.batches;
      const p99 = quantile(sorted, 0.99);
      if (frac === 0.7) at70[i] = { p99, meanBatch, maxBatchMs: row.maxBatchMs };
      console.log(
        `| ${paths[i]!.name} | ${(frac * 100).toFixed(0)}% | ${(BEST * frac).toFixed(0)} | ${((row.n / row.wall) * 1000).toFixed(0)} | ${quantile(sorted, 0.5).toFixed(2)} | ${quantile(sorted, 0.9).toFixed(2)} | ${p99.toFixed(2)} | ${meanBatch.toFixed(1)} | ${((row.busyMs / row.wall) * 100).toFixed(0)}% |`,
      );
    }
  }
  console.log('');
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i]!;
    const a = at70[i]!;
    const strict = p.delayMs + 2 * curveMs(a.meanBatch);
    const lenient = p.delayMs + 2 * a.maxBatchMs;
    const cm = p.b.stats().costModel;
    console.log(
      `- ${p.name}: p99 at 70% load ${a.p99.toFixed(2)} ms; queue delay + 2 x batch latency = ${p.delayMs} + 2 x ${curveMs(a.meanBatch).toFixed(2)} (mean batch ${a.meanBatch.toFixed(1)}) = ${strict.toFixed(2)} ms: ${a.p99 <= strict ? 'within' : 'OVER'}; ` +
        `${p.delayMs} + 2 x ${a.maxBatchMs.toFixed(2)} (largest batch run) = ${lenient.toFixed(2)} ms: ${a.p99 <= lenient ? 'within' : 'OVER'}. ` +
        `Simulator noticed batch ends ${(p.dev.lateMs / p.dev.batchLatencies.length).toFixed(2)} ms late on average (timer lateness). ` +
        `Learned: serialization ${cm.serialization.value.toFixed(2)} (${cm.serialization.samples} samples), ${cm.holds.count} holds; best rows ${cm.bestRows.map((r) => `${r.rows} (${r.ms.toFixed(2)} ms)`).join(', ')}`,
    );
    await p.b.close();
  }
}
