/**
 * Caller-provided outputs on the ONNX Runtime backend against plain runs, in both execution
 * modes: what each run allocates on the calling thread, the garbage collections over many
 * runs, what the heap keeps, and the time per run.
 *
 *   node scripts/run-ts.mjs scripts/bench-ort-outputs.ts [--runs 10000] [--reps 3] [--batch 4]
 *        [--seq 64] [--encoder tiny] [--threads 1]
 *
 * Variants: plain (session.run(feeds): new output buffers every run) and caller-provided
 * (session.run(feeds, { outputs: { name: tensor } }), the same tensors every run), each in-thread
 * and with one worker. Each variant runs in a fresh Node process (so no variant's garbage is
 * collected in another's time), the four taking turns `--reps` times; the table gives the
 * median of the reps. In each process, after 200 warm-up runs:
 * - allocated per run: the growth of heapUsed + arrayBuffers over windows of 20 runs in which
 *   no GC ran (so it is what was allocated), median of 15 windows. ArrayBuffers moved in from a
 *   worker are not counted by process.memoryUsage() on this thread; their effect shows in the GCs.
 * - GCs: perf_hooks 'gc' entries during `--runs` runs one after another (this thread only; a
 *   worker's heap is its own), and their total duration.
 * - heap growth: heapUsed + arrayBuffers after the runs and a forced GC, against before.
 * Before that, every variant's outputs are compared with in-thread plain runs, byte for byte,
 * over every feed used; the script exits 1 if any differs.
 */
import { spawnSync } from 'node:child_process';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { availableParallelism, cpus } from 'node:os';
import { OnnxRuntimeSession } from '../src/backends/onnxruntime.js';
import { createEncoderModel, encodeModel, resolveEncoderConfig, Xoshiro128, type EncoderOptions } from '../src/onnx/index.js';
import { Tensor } from '../src/tensor.js';
import type { Feeds, Outputs } from '../src/session.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const RUNS = Number(arg('runs', '10000'));
const REPS = Number(arg('reps', '3'));
const BATCH = Number(arg('batch', '4'));
const SEQ = Number(arg('seq', '64'));
const ENCODER = arg('encoder', 'tiny') as 'tiny' | 'small';
const THREADS = Number(arg('threads', '1'));
const CHILD = process.argv.includes('--child') ? Number(arg('child', '0')) : -1;

const encoderOptions: EncoderOptions = { preset: ENCODER, seed: 11 };
const cfg = resolveEncoderConfig(encoderOptions);
const model = encodeModel(createEncoderModel(encoderOptions));

function feeds(seed: number): Feeds {
  const rng = Xoshiro128.forStream(seed, 'bench-ort-outputs');
  const ids = new BigInt64Array(BATCH * SEQ);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(rng.nextInt(1, cfg.vocabSize));
  return {
    input_ids: new Tensor('int64', ids, [BATCH, SEQ]),
    attention_mask: new Tensor('int64', new BigInt64Array(BATCH * SEQ).fill(1n), [BATCH, SEQ]),
  };
}
const pool = Array.from({ length: 8 }, (_, k) => feeds(k));
const threads = THREADS > 0 ? { intraOpNumThreads: THREADS } : {};

interface VariantSpec {
  name: string;
  execution: 'in-thread' | 'workers';
  provided: boolean;
}
const specs: VariantSpec[] = [
  { name: 'in-thread, plain', execution: 'in-thread', provided: false },
  { name: 'in-thread, caller-provided', execution: 'in-thread', provided: true },
  { name: 'workers, plain', execution: 'workers', provided: false },
  { name: 'workers, caller-provided', execution: 'workers', provided: true },
];

const open = (execution: 'in-thread' | 'workers'): Promise<OnnxRuntimeSession> => OnnxRuntimeSession.create(model, { execution, ...threads });
const targetsFor = (s: OnnxRuntimeSession): Record<string, Tensor> => {
  const out: Record<string, Tensor> = {};
  for (const o of s.outputs)
    out[o.name] = Tensor.zeros(
      o.dtype,
      o.dims.map((d) => (d === 'batch' ? BATCH : d === 'sequence' ? SEQ : (d as number))),
    );
  return out;
};
const runner = (s: OnnxRuntimeSession, provided: boolean): ((f: Feeds) => Promise<Outputs>) => {
  if (!provided) return (f) => s.run(f);
  const outputs = targetsFor(s);
  return (f) => s.run(f, { outputs });
};

interface Measured {
  allocatedPerRun: number;
  windows: number;
  gcMinor: number;
  gcMajor: number;
  gcOther: number;
  gcMs: number;
  heapGrowth: number;
  usPerRun: number;
}

const turn = (ms = 2): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (a: number[]): number => (a.length === 0 ? NaN : [...a].sort((x, y) => x - y)[a.length >> 1]!);

if (CHILD >= 0) {
  // One variant in this process (started with --expose-gc).
  const gc = (globalThis as unknown as { gc: () => void }).gc;
  const spec = specs[CHILD]!;
  const session = await open(spec.execution);
  const run = runner(session, spec.provided);
  const mem = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  let gcSeen = 0;
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcSeen++;
      entries.push(e);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < 200; i++) await run(pool[i % pool.length]!);
  const perRun: number[] = [];
  for (let k = 0; k < 15; k++) {
    gc();
    await turn();
    const seen = gcSeen;
    const before = mem();
    for (let r = 0; r < 20; r++) await run(pool[r % pool.length]!);
    const after = mem();
    await turn();
    if (gcSeen === seen) perRun.push((after - before) / 20);
  }
  gc();
  await turn();
  const heapBefore = mem();
  entries.length = 0;
  const start = performance.now();
  for (let r = 0; r < RUNS; r++) await run(pool[r % pool.length]!);
  const end = performance.now();
  await turn(20);
  const inRuns = entries.filter((e) => e.startTime >= start && e.startTime < end);
  const kindOf = (e: PerformanceEntry): number | undefined => (e as unknown as { detail?: { kind?: number } }).detail?.kind;
  gc();
  await turn();
  const result: Measured = {
    allocatedPerRun: median(perRun),
    windows: perRun.length,
    gcMinor: inRuns.filter((e) => kindOf(e) === constants.NODE_PERFORMANCE_GC_MINOR).length,
    gcMajor: inRuns.filter((e) => kindOf(e) === constants.NODE_PERFORMANCE_GC_MAJOR).length,
    gcOther: inRuns.filter((e) => kindOf(e) !== constants.NODE_PERFORMANCE_GC_MINOR && kindOf(e) !== constants.NODE_PERFORMANCE_GC_MAJOR).length,
    gcMs: inRuns.reduce((n, e) => n + e.duration, 0),
    heapGrowth: mem() - heapBefore,
    usPerRun: ((end - start) / RUNS) * 1000,
  };
  observer.disconnect();
  await session.dispose();
  console.log(JSON.stringify(result));
  process.exit(0);
}

// Identical values: every variant on every feed against in-thread plain runs.
const bytes = (o: Outputs): Buffer =>
  Buffer.concat(
    Object.keys(o)
      .sort()
      .map((k) => Buffer.from(o[k]!.data.buffer, o[k]!.data.byteOffset, o[k]!.data.byteLength)),
  );
const sessions = { 'in-thread': await open('in-thread'), workers: await open('workers') };
let differ = 0;
for (const spec of specs) {
  const s = sessions[spec.execution];
  const targets = spec.provided ? targetsFor(s) : undefined;
  for (const f of pool) {
    const want = bytes(await sessions['in-thread'].run(f));
    const got = targets ? await s.run(f, { outputs: targets }) : await s.run(f);
    if (!bytes(got).equals(want)) {
      differ++;
      console.error(`${spec.name}: outputs differ from in-thread plain runs`);
    }
    if (targets && Object.keys(got).some((k) => got[k] !== targets[k])) {
      differ++;
      console.error(`${spec.name}: run() did not return the caller's tensors`);
    }
  }
}
const outBytes = Object.values(targetsFor(sessions['in-thread'])).reduce((n, t) => n + t.byteLength, 0);
await Promise.all(Object.values(sessions).map((s) => s.dispose()));

const results: Measured[][] = specs.map(() => []);
for (let rep = 0; rep < REPS; rep++) {
  for (let i = 0; i < specs.length; i++) {
    const args = ['--expose-gc', process.argv[1]!, '--child', String(i), '--runs', String(RUNS), '--batch', String(BATCH), '--seq', String(SEQ)];
    const r = spawnSync(process.execPath, [...args, '--encoder', ENCODER, '--threads', String(THREADS)], { encoding: 'utf8' });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) {
      console.error(`${specs[i]!.name}: the measuring process failed (status ${r.status}): ${r.stderr}`);
      process.exit(1);
    }
    results[i]!.push(JSON.parse(line) as Measured);
  }
}

const kib = (b: number): string => (Number.isNaN(b) ? 'n/a' : (b / 1024).toFixed(1));
const med = (i: number, key: keyof Measured): number => median(results[i]!.map((r) => r[key]));
console.log(
  `# ONNX Runtime: caller-provided outputs against plain runs\n\n${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? 'unknown CPU'}, ` +
    `${availableParallelism()} cores, Node ${process.version}; encoder "${ENCODER}" (${cfg.layers} layers, hidden ${cfg.hidden}), batch ${BATCH} x ${SEQ} tokens, ` +
    `outputs ${kib(outBytes)} KiB per run; ${RUNS} runs per variant one after another, each variant in its own process, median of ${REPS} reps; ` +
    `intra-op threads ${THREADS || 'default'}\n`,
);
console.log(
  '| variant | allocated per run on the calling thread, KiB | GCs in the runs (minor / major / other) | GC time ms | heap growth KiB | time per run µs |',
);
console.log('|---|---|---|---|---|---|');
specs.forEach((v, i) => {
  console.log(
    `| ${v.name} | ${kib(med(i, 'allocatedPerRun'))} | ${med(i, 'gcMinor') + med(i, 'gcMajor') + med(i, 'gcOther')} (${med(i, 'gcMinor')} / ${med(i, 'gcMajor')} / ${med(i, 'gcOther')}) | ` +
      `${med(i, 'gcMs').toFixed(1)} | ${kib(med(i, 'heapGrowth'))} | ${med(i, 'usPerRun').toFixed(0)} |`,
  );
});
console.log(`\nvalues: ${differ === 0 ? `identical to in-thread plain runs (every variant, ${pool.length} feeds, byte for byte)` : `${differ} DIFFERENCES`}`);
if (differ > 0) process.exit(1);
