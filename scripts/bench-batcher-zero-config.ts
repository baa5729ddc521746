/**
 * Benchmark 4: the zero-config DynamicBatcher (`new DynamicBatcher(session)`: the cost model
 * chooses) against direct session.run() on ONNX Runtime (CPU), with the embedded encoder
 * taking Hugging Face-style inputs (input_ids, attention_mask, token_type_ids), side by side
 * in one run.
 *
 *   node scripts/run-ts.mjs scripts/bench-batcher-zero-config.ts [--model bert-tiny] [--threads 0]
 *       [--execution workers] [--contexts 1] [--seconds 6] [--concurrency 1,8,32] [--workloads mixed,fixed] [--triton]
 *       [--also '{"maxInflightBatches":2}' ...]
 *
 * Models: the embedded encoder (src/onnx/encoder.ts) with seeded weights at the sizes of a
 * BERT family member: "bert-tiny" (2 layers, hidden 128, 2 heads, the shape of the Hugging
 * Face export the issue measured; default), "bert-mini" (4 layers, hidden 256) or "tiny"
 * (the encoder's own preset: 2 layers, hidden 64); all with a 30522-token vocabulary and
 * token types.
 *
 * Closed loop: C workers each send one request (one row), await it and send the next.
 * Workloads: request lengths uniform 1..128 (seeded), and a fixed length of 128. Paths:
 * direct session.run per request; the zero-config batcher; with --triton also the batcher's
 * previous default (scheduler 'triton': greedy batches of up to 32 padded to the longest).
 * The paths of a cell take turns in 0.5 s slices for --seconds in all, so that load from
 * other processes on a shared machine hits them alike; the table gives the median req/s over
 * rounds, the median of the per-round ratios to direct, and latency quantiles over all
 * rounds. Each batcher lives for the whole cell (it keeps what it learned across rounds)
 * after a 0.5 s warm-up slice. Before timing, batched outputs of a sample of mixed-length
 * requests are checked against direct runs (max abs difference).
 *
 * --threads sets ONNX Runtime's intra-op threads (0: the backend's default, which fits
 * workers x threads to the cores). --execution and --contexts are the session's: 'workers'
 * (the default: worker threads, --contexts of them run at once, and direct calls use them
 * all) or 'in-thread' (onnxruntime-node on the JS thread, one run at a time).
 */
import { cpus, loadavg } from 'node:os';
import { OnnxRuntimeSession } from '../src/backends/onnxruntime.js';
import { createEncoderModel, encodeModel, Xoshiro128 } from '../src/onnx/index.js';
import { DynamicBatcher, type DynamicBatcherOptions } from '../src/batching/index.js';
import { Tensor } from '../src/tensor.js';
import type { Feeds, InferenceSession, Outputs } from '../src/session.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const MODELS = {
  'bert-tiny': { layers: 2, hidden: 128, heads: 2, intermediate: 512 },
  'bert-mini': { layers: 4, hidden: 256, heads: 4, intermediate: 1024 },
  tiny: { layers: 2, hidden: 64, heads: 4, intermediate: 256 },
} as const;
const MODEL = arg('model', 'bert-tiny') as keyof typeof MODELS;
if (!(MODEL in MODELS)) throw new Error(`--model must be one of ${Object.keys(MODELS).join(', ')}`);
const THREADS = Number(arg('threads', '0'));
const EXECUTION = arg('execution', 'workers') as 'workers' | 'in-thread';
const CONTEXTS = Number(arg('contexts', '1'));
const SECONDS = Number(arg('seconds', '6'));
const CONCURRENCY = arg('concurrency', '1,8,32').split(',').map(Number);
const WORKLOADS = arg('workloads', 'mixed,fixed').split(',');
const WITH_TRITON = process.argv.includes('--triton');
/** --also '{"maxInflightBatches":2}' (repeatable): a further batcher path with those options, to compare settings side by side. */
const ALSO = process.argv.flatMap((a, i) => (a === '--also' ? [process.argv[i + 1]!] : []));
const VOCAB = 30522;
const SLICE = 0.5;

function requestFeeds(len: number, seed: number): Feeds {
  const rng = Xoshiro128.forStream(seed, 'bench-request');
  const ids = new BigInt64Array(len);
  for (let i = 0; i < len; i++) ids[i] = BigInt(rng.nextInt(1, VOCAB));
  return {
    input_ids: new Tensor('int64', ids, [1, len]),
    attention_mask: new Tensor('int64', new BigInt64Array(len).fill(1n), [1, len]),
    token_type_ids: new Tensor('int64', new BigInt64Array(len), [1, len]),
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

async function closedLoop(
  run: (f: Feeds) => Promise<Outputs>,
  pool: Feeds[],
  concurrency: number,
  seconds: number,
): Promise<{ rps: number; lat: number[]; cpuMs: number; done: number }> {
  const lat: number[] = [];
  let next = 0;
  let stop = false;
  let done = 0;
  const cpu0 = process.cpuUsage();
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
  const cpu = process.cpuUsage(cpu0);
  return { rps: (done / wall) * 1000, lat, cpuMs: (cpu.user + cpu.system) / 1000, done };
}

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const q = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

const model = encodeModel(createEncoderModel({ preset: 'tiny', ...MODELS[MODEL], vocabSize: VOCAB, typeVocabSize: 2, classes: 2, seed: 7 }));
const session: InferenceSession = await OnnxRuntimeSession.create(model, {
  intraOpNumThreads: THREADS,
  execution: EXECUTION,
  ...(EXECUTION === 'workers' ? { contexts: CONTEXTS } : {}),
});
const contexts = session.contexts ?? 1;
console.log(
  `${new Date().toISOString()} · ONNX Runtime CPU (execution: ${EXECUTION}; contexts: ${contexts}; intra-op threads: ${THREADS === 0 ? 'the backend default' : THREADS}) · ` +
    `embedded encoder "${MODEL}" (${MODELS[MODEL].layers} layers, hidden ${MODELS[MODEL].hidden}, inputs ${session.inputs.map((i) => i.name).join(', ')}) · ` +
    `${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} · Node ${process.version}`,
);
console.log(`closed loop, 1 row per request; ${SECONDS} s per path and cell in ${SLICE} s interleaved slices`);

const rng = Xoshiro128.forStream(42, 'bench-lengths');
const workloads = [
  { name: 'mixed', title: 'lengths uniform 1..128', pool: Array.from({ length: 512 }, (_, k) => requestFeeds(rng.nextInt(1, 129), k)) },
  { name: 'fixed', title: 'fixed length 128', pool: Array.from({ length: 512 }, (_, k) => requestFeeds(128, 1000 + k)) },
].filter((w) => WORKLOADS.includes(w.name));
const paths: { name: string; options: DynamicBatcherOptions | null }[] = [
  { name: 'direct session.run', options: null },
  { name: 'batcher, zero config (cost model)', options: {} },
  ...(WITH_TRITON ? [{ name: "batcher, scheduler 'triton' (the old default)", options: { scheduler: 'triton' } as DynamicBatcherOptions }] : []),
  ...ALSO.map((json) => ({ name: `batcher, ${json}`, options: JSON.parse(json) as DynamicBatcherOptions })),
];

// Accuracy: batched against direct for a sample of mixed-length requests, in waves so that
// the cost model (not the cold-start rule) forms most of the batches.
{
  const sample = Array.from({ length: 96 }, (_, k) => requestFeeds(1 + ((k * 37) % 128), 5000 + k));
  const want: Outputs[] = [];
  for (const f of sample) want.push(await session.run(f));
  for (const p of paths.slice(1)) {
    const b = new DynamicBatcher(session, { ...p.options!, metrics: false });
    let diff = 0;
    for (let wave = 0; wave < 4; wave++) {
      const part = sample.slice(wave * 24, wave * 24 + 24);
      const got = await Promise.all(part.map((f) => b.run(f)));
      got.forEach((g, i) => (diff = Math.max(diff, maxAbsDiff(g, want[wave * 24 + i]!))));
    }
    const st = b.stats();
    console.log(
      `${p.name}: max |batched - direct| over 96 mixed-length requests = ${diff.toExponential(2)} (${st.batches.succeeded} batches, mean ${st.batches.meanSize.toFixed(1)} rows)`,
    );
    await b.close();
  }
}

for (const w of workloads) {
  console.log('');
  console.log(`### ${w.title}`);
  console.log('');
  console.log(
    '| concurrency | path | req/s (median of rounds) | vs direct (median of paired rounds) | p50 ms | p99 ms | CPU ms / request (all threads) | mean batch | padded / real tokens |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  const explain: string[] = [];
  for (const c of CONCURRENCY) {
    const batchers = paths.map((p) => (p.options ? new DynamicBatcher(session, { ...p.options, metrics: false }) : null));
    const runs = batchers.map((b) => (b ? (f: Feeds) => b.run(f) : (f: Feeds) => session.run(f)));
    for (const run of runs) await closedLoop(run, w.pool, c, SLICE); // warm-up (and first lessons)
    const start = batchers.map((b) => b?.stats().totals);
    const rps: number[][] = paths.map(() => []);
    const lats: number[][] = paths.map(() => []);
    const cpu = paths.map(() => ({ ms: 0, done: 0 }));
    const rounds = Math.max(1, Math.round(SECONDS / SLICE));
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so that neither path always runs right after the other.
      const order = paths.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        const r = await closedLoop(runs[i]!, w.pool, c, SLICE);
        rps[i]!.push(r.rps);
        lats[i]!.push(...r.lat);
        cpu[i]!.ms += r.cpuMs;
        cpu[i]!.done += r.done;
      }
    }
    for (let i = 0; i < paths.length; i++) {
      const b = batchers[i];
      const st = b?.stats();
      const t0 = start[i];
      const lat = lats[i]!.sort((x, y) => x - y);
      const ratio = median(rps[i]!.map((v, round) => v / rps[0]![round]!));
      const batches = st && t0 ? st.totals.batches - t0.batches : 0;
      const meanBatch = st && t0 && batches > 0 ? ((st.totals.rows - t0.rows) / batches).toFixed(1) : '1 (no batcher)';
      const padding = st && t0 ? ((st.totals.paddedTokens - t0.paddedTokens) / (st.totals.realTokens - t0.realTokens)).toFixed(2) : '-';
      console.log(
        `| ${c} | ${paths[i]!.name} | ${median(rps[i]!).toFixed(0)} | ${ratio.toFixed(2)}x | ${q(lat, 0.5).toFixed(2)} | ${q(lat, 0.99).toFixed(2)} | ${(cpu[i]!.ms / cpu[i]!.done).toFixed(3)} | ${meanBatch} | ${padding} |`,
      );
      if (st && paths[i]!.options && Object.keys(paths[i]!.options!).length === 0) {
        const cm = st.costModel;
        explain.push(
          `concurrency ${c}: ${cm.samples} runs learned; base line ${cm.fixedMs.toFixed(3)} ms + ${(cm.perTokenMs * 1000).toFixed(2)} µs/token; ` +
            `best rows by length ${cm.bestRows.map((r) => `${r.length}:${r.rows} (${r.perRowVsSingle.toFixed(2)}x per row)`).join(', ')}; ` +
            `serialization ${cm.serialization.value.toFixed(2)} (${cm.serialization.samples} samples), holds ${cm.holds.count}`,
        );
      }
      await b?.close();
    }
  }
  console.log('');
  for (const e of explain) console.log(`- cost model after ${e}`);
}
await session.dispose();
