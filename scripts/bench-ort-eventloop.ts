/**
 * ONNX Runtime in-thread against worker threads, side by side in one run: what a run does to
 * the event loop, how long a session takes to give its first result, and the throughput of
 * direct concurrent session.run() calls.
 *
 *   node scripts/run-ts.mjs scripts/bench-ort-eventloop.ts [--encoder tiny] [--batch 8] [--seq 128]
 *        [--seconds 4] [--threads 0] [--contexts 2] [--parts ttfr,same,loop,throughput]
 *
 * 1. Time to first result: createSession() + the first run, per mode, measured alternately.
 * 2. Event-loop delay: perf_hooks.monitorEventLoopDelay (1 ms resolution) while one closed-loop
 *    client runs the model back to back; the max delay against one run's median time (the
 *    goal: max <= 0.25 x one run for runs of >= 8 ms). Modes take turns in 0.5 s slices.
 * 3. Throughput: closed loop at concurrency 1, 8 and 32, runs/s per mode (median over
 *    rounds of 0.5 s slices taken in turn) and the median of the per-round ratios to
 *    in-thread.
 * Modes: in-thread (ONNX Runtime's defaults), in-thread without spinning threads (what the
 * workers default to); workers with 1 context and with --contexts contexts (the worker default:
 * max(1, floor(min(cores - 1, physical cores) / contexts)) intra-op threads each); and, side by
 * side with those, workers with 1 context at ONNX Runtime's own count (one per physical core:
 * the worker default before it left a core to the event loop).
 * --threads sets intra-op threads for every mode (0: the defaults just described; the last row
 * is then left out).
 * Encoders: tiny and bert-base (the presets), small (4 layers, hidden 256: the demo's default).
 * Before timing, every mode's outputs are compared with in-thread's, byte for byte.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { OnnxRuntimeSession, type OrtSessionOptions } from '../src/backends/onnxruntime.js';
import { intraOpThreadsFor, physicalCores } from '../src/backends/ort-execution.js';
import { createEncoderModel, encodeModel, resolveEncoderConfig, Xoshiro128, type EncoderOptions } from '../src/onnx/index.js';
import { Tensor } from '../src/tensor.js';
import type { Feeds, Outputs } from '../src/session.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const ENCODER = arg('encoder', 'tiny');
const BATCH = Number(arg('batch', '8'));
const SEQ = Number(arg('seq', '128'));
const SECONDS = Number(arg('seconds', '4'));
const THREADS = Number(arg('threads', '0'));
const CONTEXTS = Number(arg('contexts', '2'));
const PARTS = new Set(arg('parts', 'ttfr,same,loop,throughput').split(','));
const SLICE = 0.5;
const ROUNDS = Math.max(1, Math.round(SECONDS / SLICE));

const encoderOptions: EncoderOptions =
  ENCODER === 'small' ? { layers: 4, hidden: 256, heads: 4, intermediate: 1024, seed: 7 } : { preset: ENCODER as 'tiny' | 'bert-base', seed: 7 };
const cfg = resolveEncoderConfig(encoderOptions);
const model = encodeModel(createEncoderModel(encoderOptions));

function feeds(seed: number): Feeds {
  const rng = Xoshiro128.forStream(seed, 'bench-eventloop');
  const ids = new BigInt64Array(BATCH * SEQ);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(rng.nextInt(1, cfg.vocabSize));
  return {
    input_ids: new Tensor('int64', ids, [BATCH, SEQ]),
    attention_mask: new Tensor('int64', new BigInt64Array(BATCH * SEQ).fill(1n), [BATCH, SEQ]),
  };
}
const pool = Array.from({ length: 16 }, (_, k) => feeds(k));

interface Mode {
  name: string;
  options: OrtSessionOptions;
}
const threads = THREADS > 0 ? { intraOpNumThreads: THREADS } : {};
const physical = await physicalCores();
const ortOwn = physical ?? availableParallelism();
const defaultThreads = (contexts: number): string => (THREADS > 0 ? `${THREADS}` : `${intraOpThreadsFor(contexts, 0, availableParallelism(), physical)}`);
const modes: Mode[] = [
  { name: 'in-thread', options: { execution: 'in-thread', ...threads } },
  // Workers do not spin by default; this row tells the threads' effect from the spinning's.
  { name: 'in-thread, no spinning', options: { execution: 'in-thread', allowSpinning: false, ...threads } },
  { name: `workers, 1 context (${defaultThreads(1)} thr)`, options: { execution: 'workers', contexts: 1, ...threads } },
  { name: `workers, ${CONTEXTS} contexts (${defaultThreads(CONTEXTS)} thr each)`, options: { execution: 'workers', contexts: CONTEXTS, ...threads } },
  ...(THREADS > 0
    ? []
    : [
        {
          name: `workers, 1 context (${ortOwn} thr: ONNX Runtime's own count, the default before)`,
          options: { execution: 'workers', contexts: 1, intraOpNumThreads: ortOwn },
        } as Mode,
      ]),
];

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

console.log(
  `# ONNX Runtime: in-thread vs worker threads\n\n${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? 'unknown CPU'}, ` +
    `${availableParallelism()} cores (${physical ?? 'unknown'} physical), load average ${loadavg()[0]!.toFixed(1)}, Node ${process.version}; encoder "${ENCODER}" (${cfg.layers} layers, hidden ${cfg.hidden}), ` +
    `batch ${BATCH} x ${SEQ} tokens; intra-op threads ${THREADS > 0 ? THREADS : 'default'}; ${ROUNDS} rounds of ${SLICE} s slices in turn\n`,
);

// 1. Time to first result, alternating modes (3 tries each).
if (PARTS.has('ttfr')) {
  const ttfr: number[][] = modes.map(() => []);
  for (let k = 0; k < 3; k++) {
    for (let i = 0; i < modes.length; i++) {
      const t0 = performance.now();
      const s = await OnnxRuntimeSession.create(model, modes[i]!.options);
      await s.run(pool[0]!);
      ttfr[i]!.push(performance.now() - t0);
      await s.dispose();
    }
  }
  console.log('## Time to first result (create + first run, median of 3)\n');
  console.log('| mode | ms | vs in-thread |');
  console.log('|---|---|---|');
  modes.forEach((m, i) => console.log(`| ${m.name} | ${ms(median(ttfr[i]!))} | ${(median(ttfr[i]!) / median(ttfr[0]!)).toFixed(2)}x |`));
}

const sessions =
  PARTS.has('same') || PARTS.has('loop') || PARTS.has('throughput') ? await Promise.all(modes.map((m) => OnnxRuntimeSession.create(model, m.options))) : [];

// Outputs of every mode against in-thread's, byte for byte.
if (PARTS.has('same')) {
  const bytes = (o: Outputs): Buffer =>
    Buffer.concat(
      Object.keys(o)
        .sort()
        .map((k) => Buffer.from(o[k]!.data.buffer, o[k]!.data.byteOffset, o[k]!.data.byteLength)),
    );
  const want = await Promise.all(pool.slice(0, 4).map((f) => sessions[0]!.run(f)));
  for (let i = 1; i < modes.length; i++) {
    const got = await Promise.all(pool.slice(0, 4).map((f) => sessions[i]!.run(f)));
    const same = got.every((g, k) => bytes(g).equals(bytes(want[k]!)));
    console.log(`\n${modes[i]!.name}: outputs ${same ? 'identical to' : 'DIFFER from'} in-thread's (4 runs, byte for byte)`);
  }
}

/** `concurrency` clients back to back for `seconds`: completions per second of the window; latencies of every run, also those drained after it. */
async function closedLoop(session: OnnxRuntimeSession, concurrency: number, seconds: number): Promise<{ rps: number; runMs: number[] }> {
  const runMs: number[] = [];
  let next = 0;
  let stop = false;
  let done = 0;
  const start = performance.now();
  const client = async (): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      await session.run(pool[next++ % pool.length]!);
      runMs.push(performance.now() - t0);
      if (!stop) done++;
    }
  };
  const clients = Array.from({ length: concurrency }, client);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  const wall = performance.now() - start;
  await Promise.all(clients);
  return { rps: (done / wall) * 1000, runMs };
}

// 2. Event-loop delay, one client running back to back.
if (PARTS.has('loop')) {
  for (const s of sessions) await closedLoop(s, 1, 0.3); // warm-up
  const maxDelay: number[][] = modes.map(() => []);
  const p99Delay: number[][] = modes.map(() => []);
  const runs: number[][] = modes.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < modes.length; i++) {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const r = await closedLoop(sessions[i]!, 1, SLICE);
      // One more timer turn, so a delay at the very end is sampled too.
      await new Promise((res) => setTimeout(res, 5));
      h.disable();
      maxDelay[i]!.push(h.max / 1e6);
      p99Delay[i]!.push(h.percentile(99) / 1e6);
      runs[i]!.push(...r.runMs);
    }
  }
  console.log('\n## Event-loop delay while one client runs the model back to back\n');
  console.log('| mode | one run, median ms | loop delay max ms, median of rounds (worst) | max / one run | loop delay p99 ms (median of rounds) |');
  console.log('|---|---|---|---|---|');
  modes.forEach((m, i) => {
    const run = median(runs[i]!);
    const max = median(maxDelay[i]!);
    console.log(`| ${m.name} | ${ms(run)} | ${ms(max)} (${ms(Math.max(...maxDelay[i]!))}) | ${(max / run).toFixed(2)} | ${ms(median(p99Delay[i]!))} |`);
  });
  const run0 = median(runs[0]!);
  const runW = median(runs[2]!);
  if (Math.min(run0, runW) < 8) {
    console.log(
      `\n(one run takes ${ms(Math.min(run0, runW))} ms here, under the 8 ms the goal is stated for: use --encoder small, or a larger --batch or --seq)`,
    );
  }
}

// 3. Throughput of direct concurrent runs.
if (PARTS.has('throughput')) {
  console.log('\n## Throughput, direct session.run(), closed loop\n');
  console.log('| concurrency | mode | runs/s (median of rounds) | vs in-thread (median of paired rounds) | p50 ms | p99 ms |');
  console.log('|---|---|---|---|---|---|');
  for (const c of [1, 8, 32]) {
    for (const s of sessions) await closedLoop(s, c, 0.3); // warm-up
    const rps: number[][] = modes.map(() => []);
    const lat: number[][] = modes.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < modes.length; i++) {
        const r = await closedLoop(sessions[i]!, c, SLICE);
        rps[i]!.push(r.rps);
        lat[i]!.push(...r.runMs);
      }
    }
    modes.forEach((m, i) => {
      const l = lat[i]!.sort((x, y) => x - y);
      const ratio = median(rps[i]!.map((v, round) => v / rps[0]![round]!));
      console.log(
        `| ${c} | ${m.name} | ${rps[i]! && median(rps[i]!).toFixed(1)} | ${ratio.toFixed(2)}x | ${ms(l[l.length >> 1]!)} | ${ms(l[Math.floor(l.length * 0.99)]!)} |`,
      );
    });
  }
}

console.log(`\nload average at the end: ${loadavg()[0]!.toFixed(1)}`);
await Promise.all(sessions.map((s) => s.dispose()));
