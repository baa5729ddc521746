/**
 * Benchmark 3: DynamicBatcher against direct session.run() on ONNX Runtime (CPU) with the
 * embedded encoder, at concurrency 1, 8 and 32, side by side in one run.
 *
 *   node scripts/run-ts.mjs scripts/bench-batcher-ort.ts [--seconds 4] [--preset tiny] [--threads 1]
 *
 * Closed loop: C workers each send one request (one row), await it, and send the next.
 * The paths of a cell take turns in 0.5 s slices for --seconds in all (8 rounds by default),
 * so that load from other processes on a shared machine hits them alike; the table gives
 * the median req/s over rounds, the median of the per-round ratios to direct, and latency
 * quantiles over all rounds.
 * Workloads: mixed lengths (uniform 8..128 tokens) and a fixed length of 64. Paths: direct
 * session.run per request; the batcher zero-config (pads to the longest in the batch); for
 * the mixed workload also the batcher with length buckets every 16 tokens. Before timing, the
 * batched outputs of a sample of requests are checked against direct runs (max abs diff).
 *
 * --threads sets ONNX Runtime's intra-op threads (0 = its default, one per core). The
 * default here is 1: on a 2-core machine shared with the JS thread (and other processes),
 * ORT's spinning thread pool makes multi-threaded timings erratic for both paths alike.
 */
import { OnnxRuntimeSession } from '../src/backends/onnxruntime.js';
import { createEncoderModel, encodeModel, Xoshiro128 } from '../src/onnx/index.js';
import { DynamicBatcher, type DynamicBatcherOptions } from '../src/batching/index.js';
import { Tensor } from '../src/tensor.js';
import type { Feeds, Outputs } from '../src/session.js';
import { cpus } from 'node:os';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const SECONDS = Number(arg('seconds', '4'));
const PRESET = arg('preset', 'tiny') as 'tiny' | 'bert-base';
const THREADS = Number(arg('threads', '1'));
const CONCURRENCY = [1, 8, 32];

function requestFeeds(len: number, seed: number, vocab: number): Feeds {
  const rng = Xoshiro128.forStream(seed, 'bench-request');
  const ids = new BigInt64Array(len);
  for (let i = 0; i < len; i++) ids[i] = BigInt(rng.nextInt(1, vocab));
  return {
    input_ids: new Tensor('int64', ids, [1, len]),
    attention_mask: new Tensor('int64', new BigInt64Array(len).fill(1n), [1, len]),
  };
}

function maxAbsDiff(a: Outputs, b: Outputs): number {
  let m = 0;
  for (const name of Object.keys(b)) {
    const x = a[name]!.data as Float32Array;
    const y = b[name]!.data as Float32Array;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  }
  return m;
}

async function closedLoop(run: (f: Feeds) => Promise<Outputs>, pool: Feeds[], concurrency: number, seconds: number): Promise<{ rps: number; lat: number[] }> {
  const lat: number[] = [];
  let next = 0;
  let stop = false;
  let done = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (!stop) {
      const f = pool[next++ % pool.length]!;
      const t0 = performance.now();
      await run(f);
      if (!stop) {
        lat.push(performance.now() - t0);
        done++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  const wall = performance.now() - start;
  await Promise.all(workers);
  return { rps: (done / wall) * 1000, lat };
}

const model = encodeModel(createEncoderModel({ preset: PRESET, seed: 7 }));
const session = await OnnxRuntimeSession.create(model, { intraOpNumThreads: THREADS });
const vocab = PRESET === 'tiny' ? 1024 : 30522;
console.log(
  `ONNX Runtime CPU (intra-op threads: ${THREADS === 0 ? 'ORT default' : THREADS}), embedded encoder preset "${PRESET}", ${cpus().length} cores, Node ${process.version}; ${SECONDS} s per path and cell in 0.5 s interleaved slices, closed loop, 1 row per request`,
);

const workloads = [
  { name: 'mixed 8..128', pool: Array.from({ length: 512 }, (_, k) => requestFeeds(8 + ((k * 7919) % 121), k, vocab)) },
  { name: 'fixed 64', pool: Array.from({ length: 512 }, (_, k) => requestFeeds(64, 1000 + k, vocab)) },
];
const paths: { name: string; options: DynamicBatcherOptions | null; workloads: string[] }[] = [
  { name: 'direct session.run', options: null, workloads: ['mixed 8..128', 'fixed 64'] },
  { name: 'batcher (zero-config)', options: {}, workloads: ['mixed 8..128', 'fixed 64'] },
  { name: 'batcher (buckets every 16 to 128)', options: { buckets: [16, 32, 48, 64, 80, 96, 112, 128] }, workloads: ['mixed 8..128'] },
];

// Accuracy check: batched results against direct runs for a sample of requests.
{
  const sample = workloads[0]!.pool.slice(0, 64);
  const want: Outputs[] = [];
  for (const f of sample) want.push(await session.run(f));
  for (const p of paths.slice(1)) {
    const b = new DynamicBatcher(session, p.options!);
    const got = await Promise.all(sample.map((f) => b.run(f)));
    const diff = Math.max(...got.map((g, i) => maxAbsDiff(g, want[i]!)));
    console.log(
      `${p.name}: max |batched - direct| over 64 mixed-length requests = ${diff.toExponential(2)} (mean batch ${b.stats().batches.meanSize.toFixed(1)})`,
    );
    await b.close();
  }
}

const SLICE = 0.5;
const ROUNDS = Math.max(1, Math.round(SECONDS / SLICE));
for (const w of workloads) {
  const ps = paths.filter((q) => q.workloads.includes(w.name));
  console.log('');
  console.log(`### ${w.name} tokens`);
  console.log('');
  console.log('| concurrency | path | req/s (median of rounds) | vs direct (median of paired rounds) | p50 ms | p99 ms | mean batch | padding / real |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const c of CONCURRENCY) {
    // One batcher per path, kept across rounds; paths take turns in SLICE-second slices so
    // that background load on a shared machine hits them alike.
    const batchers = ps.map((p) => (p.options ? new DynamicBatcher(session, p.options) : null));
    const runs = batchers.map((b) => (b ? (f: Feeds) => b.run(f) : (f: Feeds) => session.run(f)));
    for (const run of runs) await closedLoop(run, w.pool, c, 0.3); // warm-up
    const rps: number[][] = ps.map(() => []);
    const lats: number[][] = ps.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < ps.length; i++) {
        const r = await closedLoop(runs[i]!, w.pool, c, SLICE);
        rps[i]!.push(r.rps);
        lats[i]!.push(...r.lat);
      }
    }
    const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
    for (let i = 0; i < ps.length; i++) {
      const b = batchers[i];
      const st = b?.stats();
      await b?.close();
      const lat = lats[i]!.sort((x, y) => x - y);
      const ratio = median(rps[i]!.map((v, round) => v / rps[0]![round]!));
      console.log(
        `| ${c} | ${ps[i]!.name} | ${median(rps[i]!).toFixed(0)} | ${ratio.toFixed(2)}x | ${lat[lat.length >> 1]!.toFixed(2)} | ${lat[Math.floor(lat.length * 0.99)]!.toFixed(2)} | ` +
          `${st ? st.batches.meanSize.toFixed(1) : '1 (no batcher)'} | ${st ? st.padding.ratio.toFixed(2) : '-'} |`,
      );
    }
  }
}
await session.dispose();
