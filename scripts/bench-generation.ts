/**
 * Issue 12's generation measurements on the embedded decoder with ONNX Runtime (CPU), each a
 * ratio of modes measured side by side in one run (interleaved rounds; the median over rounds
 * of the ratio within a round):
 *
 *   A. 16 concurrent prompts of 1..40 tokens, 32 new tokens each: continuous batching against
 *      one request at a time (target >= 3x tokens/s);
 *   B. the same prompts, 8..64 new tokens: continuous against static batches, a batch waiting
 *      for its longest request (target >= 1.3x).
 * "16 concurrent prompts" is one burst of 16 (--requests-per-client 1, the default); more per
 * client makes it a closed loop where continuous batching also refills finished rows.
 *
 * Then the host work per step (cache assembly, feeds, token choice) against the model's time
 * in session.run(), the cache assembly alone, into fresh memory and into pooled memory, and the
 * main thread's time per step in worker mode with each decode step's past moved to the worker
 * (the Generator's default) against cloned to it.
 *
 *   node scripts/run-ts.mjs scripts/bench-generation.ts [--preset small|tiny|gpt2] [--repeats 5]
 *     [--requests-per-client 1] [--threads N] [--json FILE] [--main-thread-only]
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { createRequire } from 'node:module';
import { formatGenerationBench, pairedRatio, runGenerationBench, type GenerationBenchReport, type GenerationMode } from '../src/generation/bench.js';
import { KvBufferPool, assembleCache, type BatchCache, type RowSource } from '../src/generation/batch-cache.js';
import { detectDecoder } from '../src/generation/decoder-io.js';
import { createDecoderModel, decoderParameterCount, resolveDecoderConfig, type DecoderPreset } from '../src/onnx/decoder.js';
import { encodeModel } from '../src/onnx/model.js';
import { Generator } from '../src/generation/generator.js';
import { Random } from '../src/random.js';
import { createSession, type FeedsLike, type InferenceSession, type RunOptions } from '../src/session.js';
import { Tensor } from '../src/tensor.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const preset = (arg('preset') ?? 'small') as DecoderPreset;
const repeats = Number(arg('repeats') ?? 5);
const perClient = Number(arg('requests-per-client') ?? 1);
const threads = arg('threads') === undefined ? undefined : Number(arg('threads'));

const require = createRequire(import.meta.url);
const ortVersion = (require('onnxruntime-node/package.json') as { version: string }).version;
const cfg = resolveDecoderConfig({ preset });
console.log(`# generation benchmark, ${new Date().toISOString()}`);
console.log(
  `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'} x ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; Node ${process.version}, ONNX Runtime ${ortVersion} (CPU)` +
    (threads ? `, ${threads} intra-op threads` : ''),
);
console.log(
  `model: embedded decoder "${preset}": ${cfg.layers} layers, hidden ${cfg.hidden}, ${cfg.heads} heads, vocabulary ${cfg.vocabSize}, ${(decoderParameterCount(cfg) / 1e6).toFixed(1)}M parameters\n`,
);

const session = await createSession(encodeModel(createDecoderModel({ preset })), {
  backend: 'onnxruntime',
  ...(threads ? { intraOpNumThreads: threads } : {}),
});
const common = {
  concurrency: [16],
  requestsPerClient: perClient,
  promptLength: { min: 1, max: 40 },
  repeats,
  onProgress: (m: string) => process.stderr.write(`- ${m}\n`),
};

// --main-thread-only skips A, B and the assembly timing (the last measurement alone).
async function modesAndAssembly() {
  const a = await runGenerationBench(session, { ...common, newTokens: { min: 32, max: 32 } });
  console.log(`## A. 32 new tokens each\n${formatGenerationBench(a)}\n`);
  const b = await runGenerationBench(session, { ...common, newTokens: { min: 8, max: 64 } });
  console.log(`## B. 8..64 new tokens\n${formatGenerationBench(b)}\n`);

  // Each ratio is the median over rounds of the two modes' tokens/s in the same round (a shared
  // machine's load moves between rounds; within one, the modes run back to back).
  const paired = (r: GenerationBenchReport, mode: GenerationMode, base: GenerationMode) => pairedRatio(r, 16, mode, base);
  const ra = paired(a, 'continuous', 'sequential');
  const rb = paired(b, 'continuous', 'static');
  const ratioA = ra.median;
  const ratioB = rb.median;
  const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  console.log(`A: continuous / one at a time = ${ratioA.toFixed(2)}x (target >= 3); per round: ${list(ra.ratios)}`);
  console.log(`B: continuous / static batches = ${ratioB.toFixed(2)}x (target >= 1.3); per round: ${list(rb.ratios)}`);
  for (const [name, r] of [
    ['A', a],
    ['B', b],
  ] as const) {
    const c = r.rows.find((x) => x.mode === 'continuous')!;
    const share = c.hostMsPerStep! / (c.hostMsPerStep! + c.sessionMsPerStep!);
    console.log(
      `${name}: continuous host work ${c.hostMsPerStep!.toFixed(2)} ms per step against ${c.sessionMsPerStep!.toFixed(2)} ms in session.run() (${(share * 100).toFixed(1)}% of a step)`,
    );
  }

  // Cache assembly alone: the copy a join or a leave costs, for 16 rows of 100 positions.
  const io = detectDecoder(session);
  const rows = 16;
  const width = 100;
  const full: BatchCache = {
    rows,
    width,
    tensors: io.kv.map((s) => Tensor.zeros(s.dtype, [rows, ...s.dims.slice(1).map((d, i) => (i + 1 === s.timeAxis ? width : (d as number)))])),
  };
  const sources: RowSource[] = Array.from({ length: rows - 1 }, (_, r) => ({ cache: full, row: r + 1, len: width - r }));
  const bytes = (rows - 1) * width * io.kvBytesPerToken;
  const time = (f: () => void): number => {
    for (let i = 0; i < 3; i++) f();
    const n = 20;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    return (performance.now() - t0) / n;
  };
  const fresh = time(() => void assembleCache(io, sources, width));
  const pool = new KvBufferPool(2 * io.kv.length);
  const pooled = time(() => pool.release(assembleCache(io, sources, width, pool)));
  console.log(
    `cache assembly, ${rows - 1} rows x ${width} positions (${(bytes / 2 ** 20).toFixed(1)} MiB): fresh memory ${fresh.toFixed(2)} ms ` +
      `(${(bytes / 2 ** 30 / (fresh / 1000)).toFixed(1)} GiB/s), pooled ${pooled.toFixed(2)} ms (${(bytes / 2 ** 30 / (pooled / 1000)).toFixed(1)} GiB/s)`,
  );
  return { a, b, ratioA, ratioB, assembly: { fresh, pooled, bytes } };
}
const modes = process.argv.includes('--main-thread-only') ? undefined : await modesAndAssembly();

// P1-6: the main thread's time per step in worker mode, the past moved to the worker (the
// Generator's default) against cloned there (postMessage's structured clone, as before), side
// by side: interleaved rounds of one burst of 16 prompts, 32 new tokens each; the event loop's
// active time (performance.eventLoopUtilization) over the burst, per step.
const cloning = (inner: InferenceSession): InferenceSession =>
  new Proxy(inner, {
    get: (target, key, receiver) =>
      key === 'run'
        ? (feeds: FeedsLike, options?: RunOptions) => target.run(feeds, { ...options, transferFeeds: false } as RunOptions)
        : (Reflect.get(target, key, receiver) as unknown),
  });
const burstRandom = new Random(7);
const burst = Array.from({ length: 16 }, () => Array.from({ length: burstRandom.nextInt(1, 41) }, () => burstRandom.nextInt(0, cfg.vocabSize)));
interface Burst {
  activeMsPerStep: number;
  tokensPerSecond: number;
  tokens: string;
}
async function runBurst(s: InferenceSession): Promise<Burst> {
  const gen = new Generator(s, { maxBatchSize: 16 });
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const results = await Promise.all(burst.map((p) => gen.generate(p, { maxNewTokens: 32 })));
  const wall = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const { steps } = gen.stats();
  await gen.close();
  const n = results.reduce((a, r) => a + r.tokens.length, 0);
  return {
    activeMsPerStep: elu.active / (steps.prefill + steps.decode),
    tokensPerSecond: (n / wall) * 1000,
    tokens: results.map((r) => r.tokens.join(',')).join('|'),
  };
}
const mainRounds = Math.max(3, repeats);
const movedRuns: Burst[] = [];
const clonedRuns: Burst[] = [];
await runBurst(session); // warm-up
for (let round = 0; round < mainRounds; round++) {
  // Alternate which goes first, so a slow patch of a shared machine hits both alike.
  const order = round % 2 === 0 ? (['moved', 'cloned'] as const) : (['cloned', 'moved'] as const);
  for (const which of order) (which === 'moved' ? movedRuns : clonedRuns).push(await runBurst(which === 'moved' ? session : cloning(session)));
}
const median = (xs: number[]): number => {
  const s2 = [...xs].sort((x, y) => x - y);
  const m = s2.length >> 1;
  return s2.length % 2 ? s2[m]! : (s2[m - 1]! + s2[m]!) / 2;
};
const sameTokens = movedRuns.every((r, i) => r.tokens === clonedRuns[i]!.tokens);
const mainRatio = median(clonedRuns.map((c, i) => c.activeMsPerStep / movedRuns[i]!.activeMsPerStep));
const tpsRatio = median(movedRuns.map((m, i) => m.tokensPerSecond / clonedRuns[i]!.tokensPerSecond));
console.log(
  `main thread per step, worker mode (16 prompts, 32 new tokens, ${mainRounds} interleaved rounds): past moved ` +
    `${median(movedRuns.map((r) => r.activeMsPerStep)).toFixed(2)} ms, past cloned ${median(clonedRuns.map((r) => r.activeMsPerStep)).toFixed(2)} ms ` +
    `(cloned / moved ${mainRatio.toFixed(2)}x); tokens/s moved / cloned ${tpsRatio.toFixed(2)}x; same tokens: ${sameTokens}`,
);

const json = arg('json');
if (json)
  await writeFile(
    json,
    `${JSON.stringify({ date: new Date().toISOString(), preset, repeats, perClient, ...modes, mainThread: { moved: movedRuns, cloned: clonedRuns, mainRatio, tpsRatio, sameTokens } }, null, 2)}\n`,
  );
await session.dispose();
