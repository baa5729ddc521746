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
 * Prints median microseconds per call and calls/s at concurrency 1 and 8 (8 contexts), the
 * session against the bare copies, and writes bench-trt-overhead.json to $OUT when set.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TensorRTSession, TensorRTSessionOptionsSchema } from '../src/backends/tensorrt.js';
import { loadAddon, type NativeContextSpec, type NativeEngineDescription, type NativeTrtEngine, type NativeTrtStagingProbe } from '../src/native.js';
import { Tensor } from '../src/tensor.js';
import type { InferenceSession, Feeds } from '../src/session.js';

const { values } = parseArgs({
  options: { iterations: { type: 'string', default: '20000' }, device: { type: 'string', default: '0' }, logits: { type: 'boolean', default: false } },
});
const ITERATIONS = Number(values.iterations);
const DEVICE = Number(values.device);
const BATCH = 2;
const SEQ = 128;
const HIDDEN = 768;
// --logits: the output is logits [2, 2] instead of last_hidden_state, to see the fixed cost.
const OUT_NAME = values.logits ? 'logits' : 'last_hidden_state';
const OUT_DIMS = values.logits ? [BATCH, 2] : [BATCH, SEQ, HIDDEN];
const OUT_BYTES = OUT_DIMS.reduce((a, b) => a * b, 4);

const addon = loadAddon();
if (addon.TrtStagingProbe === undefined) {
  console.error('this addon has no TrtStagingProbe: build it with `node scripts/build-addon.mjs --staging-probe` first');
  process.exit(2);
}
const Probe = addon.TrtStagingProbe;

/** An engine of the probe's shape: what a BERT encoder engine built for batch 2 x seq 128 describes. */
class ProbeEngine implements NativeTrtEngine {
  lost = false;
  disposed = false;
  probes: NativeTrtStagingProbe[] = [];
  describe(): NativeEngineDescription {
    const range = { min: [1, 1], opt: [BATCH, SEQ], max: [BATCH, SEQ] };
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
          name: OUT_NAME,
          mode: 'output',
          dtype: 'float32',
          dims: OUT_DIMS.map((d, i) => (i === 0 || (i === 1 && !values.logits) ? -1 : d)),
          isShapeTensor: false,
          onHost: false,
          linear: true,
          profiles: [],
        },
      ],
    };
  }
  async createContexts(specs: NativeContextSpec[]) {
    this.probes = specs.map((s) => new Probe(DEVICE, s.inputBytes, [{ bytes: OUT_BYTES, dims: OUT_DIMS }]));
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!;
}

async function closedLoop(run: () => Promise<unknown>, concurrency: number, iterations: number) {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < iterations) {
        next++;
        const s = performance.now();
        await run();
        lat.push((performance.now() - s) * 1000);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { medianUs: median(lat), p99Us: p99(lat), callsPerSecond: lat.length / seconds, runs: lat.length };
}

async function session(contexts: number): Promise<{ session: InferenceSession; engine: ProbeEngine }> {
  const engine = new ProbeEngine();
  const s = await TensorRTSession.fromEngine(engine, TensorRTSessionOptionsSchema.parse({ contexts }), null);
  return { session: s, engine };
}

async function main(): Promise<void> {
  const ids = new BigInt64Array(BATCH * SEQ).map((_, i) => BigInt(i % 1000));
  const feeds: Feeds = {
    input_ids: new Tensor('int64', ids, [BATCH, SEQ]),
    attention_mask: new Tensor('int64', new BigInt64Array(BATCH * SEQ).fill(1n), [BATCH, SEQ]),
  };
  const warm = Math.min(2000, ITERATIONS);

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
  await one.session.dispose();

  const eight = await session(8);
  const bare8 = await eight.engine.probes[0]!.bareRoundTrips(warm).then(() => eight.engine.probes[0]!.bareRoundTrips(ITERATIONS));
  const run8 = () => eight.session.run(feeds);
  await closedLoop(run8, 8, warm);
  const session8 = await closedLoop(run8, 8, ITERATIONS);
  console.log(`output pools after the session at concurrency 8: ${eight.engine.probes.map(poolStats).join(' ')}`);
  await eight.session.dispose();

  const props = addon.cudaDeviceProperties(DEVICE);
  console.log(
    `TensorRT run path without the engine on ${props.name}: H2D 2 x ${BATCH}x${SEQ} int64, D2H ${OUT_NAME} ${OUT_DIMS.join('x')} float32, ${ITERATIONS} calls each`,
  );
  const rows = [
    ['path', 'concurrency', 'median us/call', 'p99 us', 'calls/s', 'median over bare (us)'],
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
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(`| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`);
  if (process.env.OUT) {
    writeFileSync(
      join(process.env.OUT, `bench-trt-overhead-${OUT_NAME}.json`),
      JSON.stringify({ device: props.name, output: OUT_NAME, iterations: ITERATIONS, bareMedianUs: bareMedian, native1, session1, session8 }, null, 2),
    );
  }
}

try {
  await main();
} catch (e) {
  // No GPU (or no driver): say so in one line instead of a stack trace.
  console.error(`bench-trt-overhead needs a CUDA GPU: ${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`);
  process.exitCode = 2;
}
