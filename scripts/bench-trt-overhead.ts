/**
 * The TensorRT session's own cost per run(), measured on a GPU without TensorRT: the run path
 * with the engine step left out. A TensorRTSession is put over TrtStagingProbe contexts (a
 * diagnostic of the addon that does everything TrtContext.run does except setInputShape and
 * enqueueV3), so a run is: feed validation and profile selection in TypeScript, a context from
 * the pool, the inputs (input_ids and attention_mask, 2 x 128 int64) copied into pinned
 * staging, H2D, D2H of last_hidden_state (2 x 128 x 768 float32), an event through the
 * completion thread, and a Tensor built from a new ArrayBuffer. The baseline is the same
 * copies in a C++ loop (cuMemcpyAsync x3 + cuStreamSynchronize), in the same process.
 *
 * TrtStagingProbe is not in user builds: build the addon with it first,
 *   node scripts/build-addon.mjs --staging-probe     (npm run build:addon drops it again)
 *   node scripts/run-ts.mjs scripts/bench-trt-overhead.ts [--iterations 20000] [--device 0]
 *
 * Prints, in one table each (issue 11's figures; goals in brackets):
 *  1. median microseconds per call and calls/s at concurrency 1 and 8 (8 contexts), the session
 *     against the bare copies [wrapper cost over bare copies: median <= 10 us];
 *  2. small I/O (1 x 16 int64 in, logits 1 x 2 float32 out) pipelined over --contexts (4,8):
 *     4 requests in flight per context, --pipelined-calls calls [>= 100k calls/s];
 *  3. --calls (100000) calls at concurrency 1 with the large output, plain run() against
 *     run(feeds, { outputs: { name: tensor } }) into one preallocated tensor: median, p99,
 *     p99 / median, GCs (major and all, from perf_hooks) and heap growth, and whether the values
 *     are identical [p99 <= 2 x median with caller-provided outputs]. A build without
 *     caller-provided outputs on TensorRT says so instead.
 * Device-resident chaining needs real engines: scripts/gpu-check-trt.ts measures it.
 * Writes bench-trt-overhead-<output>.json to $OUT when set. On the stand-in driver (test/standin,
 * LD_LIBRARY_PATH=build/standin) it runs too, to show the script works; those figures are of a
 * test double and say so. Without a GPU it exits 2 with one line saying why.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TensorRTSession, TensorRTSessionOptionsSchema } from '../src/backends/tensorrt.js';
import { loadAddon, type NativeContextSpec, type NativeEngineDescription, type NativeTrtEngine, type NativeTrtStagingProbe } from '../src/native.js';
import { Tensor } from '../src/tensor.js';
import { countGcs, type GcCount } from '../src/bench/gc.js';
import type { InferenceSession, Feeds } from '../src/session.js';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '20000' },
    calls: { type: 'string', default: '100000' },
    'pipelined-calls': { type: 'string', default: '200000' },
    contexts: { type: 'string', default: '4,8' },
    device: { type: 'string', default: '0' },
    logits: { type: 'boolean', default: false },
  },
});
const ITERATIONS = Number(values.iterations);
const CALLS = Number(values.calls);
const PIPELINED_CALLS = Number(values['pipelined-calls']);
const PIPELINE_CONTEXTS = values.contexts.split(',').map(Number);
for (const [flag, v] of [
  ['--iterations', ITERATIONS],
  ['--calls', CALLS],
  ['--pipelined-calls', PIPELINED_CALLS],
  ...PIPELINE_CONTEXTS.map((c) => ['--contexts', c] as const),
] as const) {
  if (!Number.isSafeInteger(v) || v < 1) {
    console.error(`bench-trt-overhead: ${flag} must be a positive integer, got ${String(v)}`);
    process.exit(2);
  }
}
const DEVICE = Number(values.device);
const BATCH = 2;
const SEQ = 128;
const HIDDEN = 768;
// --logits: the output is logits [2, 2] instead of last_hidden_state, to see the fixed cost.
const OUT_NAME = values.logits ? 'logits' : 'last_hidden_state';
const OUT_DIMS = values.logits ? [BATCH, 2] : [BATCH, SEQ, HIDDEN];

const addon = loadAddon();
if (addon.TrtStagingProbe === undefined) {
  console.error('this addon has no TrtStagingProbe: build it with `node scripts/build-addon.mjs --staging-probe` first');
  process.exit(2);
}
const Probe = addon.TrtStagingProbe;

/** The I/O of a probe engine: two int64 inputs of batch x seq, one float32 output. */
interface Shape {
  batch: number;
  seq: number;
  outName: string;
  outDims: number[];
}
const LARGE: Shape = { batch: BATCH, seq: SEQ, outName: OUT_NAME, outDims: OUT_DIMS };
const SMALL: Shape = { batch: 1, seq: 16, outName: 'logits', outDims: [1, 2] };
const bytesOf = (dims: readonly number[], size: number) => dims.reduce((a, b) => a * b, size);

/** An engine of the probe's shape: what a BERT encoder engine built for batch x seq describes. */
class ProbeEngine implements NativeTrtEngine {
  lost = false;
  disposed = false;
  probes: NativeTrtStagingProbe[] = [];
  constructor(readonly shape: Shape) {}
  describe(): NativeEngineDescription {
    const { batch, seq, outName, outDims } = this.shape;
    const range = { min: [1, 1], opt: [batch, seq], max: [batch, seq] };
    const input = (name: string) => ({
      name,
      mode: 'input' as const,
      dtype: 'int64',
      dims: [-1, -1],
      isShapeTensor: false,
      onHost: false,
      linear: true,
      profiles: [range],
    });
    return {
      profiles: 1,
      deviceMemoryBytes: 0,
      tensors: [
        input('input_ids'),
        input('attention_mask'),
        {
          name: outName,
          mode: 'output',
          dtype: 'float32',
          dims: outDims.map((d, i) => (i === 0 || (i === 1 && outDims.length === 3) ? -1 : d)),
          isShapeTensor: false,
          onHost: false,
          linear: true,
          profiles: [],
        },
      ],
    };
  }
  async createContexts(specs: NativeContextSpec[]) {
    const outBytes = bytesOf(this.shape.outDims, 4);
    this.probes = specs.map((s) => new Probe(DEVICE, s.inputBytes, [{ bytes: outBytes, dims: this.shape.outDims }]));
    return this.probes;
  }
  allocPinned(): ArrayBuffer {
    throw new Error('the staging probe has no pinned pool');
  }
  dispose(): void {
    this.disposed = true;
    for (const p of this.probes) p.dispose();
  }
}

function median(xs: ArrayLike<number>): number {
  const s = Float64Array.from(xs).sort();
  return s[Math.floor(s.length / 2)]!;
}
function p99(xs: ArrayLike<number>): number {
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!;
}

interface Loop {
  medianUs: number;
  p99Us: number;
  callsPerSecond: number;
  runs: number;
}

/** `concurrency` workers calling `run` back to back until `iterations` calls; latencies into a preallocated array. */
async function closedLoop(run: () => Promise<unknown>, concurrency: number, iterations: number): Promise<Loop> {
  const lat = new Float64Array(iterations);
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < iterations) {
        next++;
        const s = performance.now();
        await run();
        lat[done++] = (performance.now() - s) * 1000;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const got = lat.subarray(0, done);
  return { medianUs: median(got), p99Us: p99(got), callsPerSecond: done / seconds, runs: done };
}

async function session(contexts: number, shape: Shape = LARGE): Promise<{ session: InferenceSession; engine: ProbeEngine }> {
  const engine = new ProbeEngine(shape);
  const s = await TensorRTSession.fromEngine(engine, TensorRTSessionOptionsSchema.parse({ contexts }), null);
  return { session: s, engine };
}

function feedsOf(shape: Shape): Feeds {
  const n = shape.batch * shape.seq;
  return {
    input_ids: new Tensor(
      'int64',
      new BigInt64Array(n).map((_, i) => BigInt(i % 1000)),
      [shape.batch, shape.seq],
    ),
    attention_mask: new Tensor('int64', new BigInt64Array(n).fill(1n), [shape.batch, shape.seq]),
  };
}

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
}

/** Whether this build fills caller-provided outputs on TensorRT (issue 11); the reason when not. */
async function targetsSupported(s: InferenceSession, feeds: Feeds, target: Tensor): Promise<string> {
  try {
    const out = await s.run(feeds, { outputs: { [target.dims.length === 3 ? OUT_NAME : 'logits']: target } as never });
    return Object.values(out)[0] === target ? '' : 'run() returned new tensors instead of the caller-provided one';
  } catch (e) {
    return `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`;
  }
}

async function main(): Promise<void> {
  const props = addon.cudaDeviceProperties(DEVICE);
  const standin = /stand-in/i.test(props.name);
  if (standin) {
    console.log(`*** ${props.name}: the stand-in CUDA driver (a test double). These figures show the script runs; they are not GPU figures. ***`);
  }
  const feeds = feedsOf(LARGE);
  const warm = Math.min(2000, ITERATIONS);
  const results: Record<string, unknown> = { device: props.name, standin, output: OUT_NAME, iterations: ITERATIONS };

  // ---- 1. the wrapper's cost over bare copies -------------------------------------------------
  const one = await session(1);
  const probe = one.engine.probes[0]!;
  await probe.bareRoundTrips(warm);
  const bare = await probe.bareRoundTrips(ITERATIONS);
  const bareMedian = median(bare);
  // The addon alone (no TypeScript session): inputs -> probe.run -> ArrayBuffers.
  const dims = [BATCH, SEQ, BATCH, SEQ];
  const direct = () => probe.run([feeds.input_ids!.data, feeds.attention_mask!.data], dims);
  await closedLoop(direct, 1, warm);
  const native1 = await closedLoop(direct, 1, ITERATIONS);
  const poolStats = (p: NativeTrtStagingProbe) => JSON.stringify((p.stats() as unknown as { outputPool: unknown }).outputPool);
  console.log(`output pool after probe.run: ${poolStats(probe)}`);
  const run = () => one.session.run(feeds);
  const out = (await run())[OUT_NAME]!;
  if (out.dims.join('x') !== OUT_DIMS.join('x') || out.type !== 'float32') throw new Error(`unexpected output ${out.type} ${out.dims}`);
  await closedLoop(run, 1, warm);
  const session1 = await closedLoop(run, 1, ITERATIONS);
  console.log(`output pool after the session at concurrency 1: ${poolStats(probe)}`);

  // ---- 3. caller-provided outputs against plain runs, CALLS calls each ------------------------
  const target = new Tensor('float32', new Float32Array(bytesOf(OUT_DIMS, 1)), OUT_DIMS);
  const unsupported = await targetsSupported(one.session, feeds, target);
  let plainCalls: (GcCount & { value: Loop }) | undefined;
  let targetCalls: (GcCount & { value: Loop }) | undefined;
  let identical: boolean | undefined;
  if (unsupported === '') {
    const plainOut = (await run())[OUT_NAME]!.data as Float32Array;
    await one.session.run(feeds, { outputs: { [OUT_NAME]: target } as never });
    identical = plainOut.length === target.data.length && (target.data as Float32Array).every((v, i) => Object.is(v, plainOut[i]));
    const intoTarget = () => one.session.run(feeds, { outputs: { [OUT_NAME]: target } as never });
    await closedLoop(intoTarget, 1, warm);
    plainCalls = await countGcs(() => closedLoop(run, 1, CALLS));
    targetCalls = await countGcs(() => closedLoop(intoTarget, 1, CALLS));
  }
  await one.session.dispose();

  const eight = await session(8);
  const bare8 = await eight.engine.probes[0]!.bareRoundTrips(warm).then(() => eight.engine.probes[0]!.bareRoundTrips(ITERATIONS));
  const run8 = () => eight.session.run(feeds);
  await closedLoop(run8, 8, warm);
  const session8 = await closedLoop(run8, 8, ITERATIONS);
  console.log(`output pools after the session at concurrency 8: ${eight.engine.probes.map(poolStats).join(' ')}`);
  await eight.session.dispose();

  // ---- 2. small I/O pipelined over several contexts ------------------------------------------
  const small = feedsOf(SMALL);
  const pipelined: { contexts: number; inFlight: number; loop: Loop }[] = [];
  for (const contexts of PIPELINE_CONTEXTS) {
    const p = await session(contexts, SMALL);
    const go = () => p.session.run(small);
    await closedLoop(go, 4 * contexts, Math.min(PIPELINED_CALLS, 5000));
    pipelined.push({ contexts, inFlight: 4 * contexts, loop: await closedLoop(go, 4 * contexts, PIPELINED_CALLS) });
    await p.session.dispose();
  }

  console.log('');
  console.log(
    `1. TensorRT run path without the engine on ${props.name}: H2D 2 x ${BATCH}x${SEQ} int64, D2H ${OUT_NAME} ${OUT_DIMS.join('x')} float32, ${ITERATIONS} calls each`,
  );
  table([
    ['path', 'concurrency', 'median us/call', 'p99 us', 'calls/s', 'median over bare (us) [goal <= 10]'],
    ['bare copies, C++ loop', '1', bareMedian.toFixed(1), p99(bare).toFixed(1), (1e6 / (bare.reduce((a, b) => a + b, 0) / bare.length)).toFixed(0), '0'],
    [
      'addon probe.run (no TS session)',
      '1',
      native1.medianUs.toFixed(1),
      native1.p99Us.toFixed(1),
      native1.callsPerSecond.toFixed(0),
      (native1.medianUs - bareMedian).toFixed(1),
    ],
    [
      'TensorRTSession.run',
      '1',
      session1.medianUs.toFixed(1),
      session1.p99Us.toFixed(1),
      session1.callsPerSecond.toFixed(0),
      (session1.medianUs - bareMedian).toFixed(1),
    ],
    ['TensorRTSession.run, 8 contexts', '8', session8.medianUs.toFixed(1), session8.p99Us.toFixed(1), session8.callsPerSecond.toFixed(0), '-'],
    ['bare copies (again, after)', '1', median(bare8).toFixed(1), p99(bare8).toFixed(1), '-', '-'],
  ]);

  console.log('');
  console.log(
    `2. small I/O (2 x ${SMALL.batch}x${SMALL.seq} int64 in, logits ${SMALL.outDims.join('x')} float32 out), pipelined, ${PIPELINED_CALLS} calls each`,
  );
  table([
    ['contexts', 'in flight', 'calls/s [goal >= 100k]', 'median us', 'p99 us'],
    ...pipelined.map((r) => [String(r.contexts), String(r.inFlight), r.loop.callsPerSecond.toFixed(0), r.loop.medianUs.toFixed(1), r.loop.p99Us.toFixed(1)]),
  ]);

  console.log('');
  console.log(`3. ${CALLS} calls at concurrency 1, D2H ${OUT_NAME} ${OUT_DIMS.join('x')} float32: plain run() against caller-provided outputs`);
  if (plainCalls === undefined || targetCalls === undefined) {
    console.log(`   not measured: this build does not fill caller-provided outputs on TensorRT (${unsupported})`);
  } else {
    const row = (name: string, r: NonNullable<typeof plainCalls>) => [
      name,
      r.value.medianUs.toFixed(1),
      r.value.p99Us.toFixed(1),
      (r.value.p99Us / r.value.medianUs).toFixed(2),
      String(r.gcs),
      String(r.majorGcs),
      r.gcMs.toFixed(1),
      r.heapGrowthMiB.toFixed(1),
    ];
    table([
      ['run', 'median us', 'p99 us', 'p99 / median [goal <= 2]', 'GCs', 'major GCs', 'GC ms', 'heap growth MiB'],
      row('plain run(feeds)', plainCalls),
      row('run(feeds, { outputs: { name: tensor } })', targetCalls),
    ]);
    console.log(`   values identical to a plain run's: ${identical}`);
  }
  console.log('');
  console.log('4. device-resident chaining of two sessions needs real engines: scripts/gpu-check-trt.ts --io measures it.');

  Object.assign(results, {
    bareMedianUs: bareMedian,
    native1,
    session1,
    session8,
    pipelined,
    callerOutputs: { unsupported, identical, plainCalls, targetCalls },
  });
  if (process.env.OUT) writeFileSync(join(process.env.OUT, `bench-trt-overhead-${OUT_NAME}.json`), JSON.stringify(results, null, 2));
}

try {
  await main();
} catch (e) {
  // No GPU (or no driver): say so in one line instead of a stack trace.
  console.error(`bench-trt-overhead needs a CUDA GPU: ${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`);
  process.exitCode = 2;
}
