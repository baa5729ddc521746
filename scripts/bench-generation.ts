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
 * in session.run(), and the cache assembly alone, into fresh memory and into pooled memory.
 *
 *   node scripts/run-ts.mjs scripts/bench-generation.ts [--preset small|tiny|gpt2] [--repeats 5]
 *     [--requests-per-client 1] [--threads N] [--json FILE]
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { createRequire } from 'node:module';
import { formatGenerationBench, pairedRatio, runGenerationBench, type GenerationBenchReport, type GenerationMode } from '../src/generation/bench.js';
import { KvBufferPool, assembleCache, type BatchCache, type RowSource } from '../src/generation/batch-cache.js';
import { detectDecoder } from '../src/generation/decoder-io.js';
import { createDecoderModel, decoderParameterCount, resolveDecoderConfig, type DecoderPreset } from '../src/onnx/decoder.js';
import { encodeModel } from '../src/onnx/model.js';
import { createSession } from '../src/session.js';
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

const json = arg('json');
if (json)
  await writeFile(
    json,
    `${JSON.stringify({ date: new Date().toISOString(), preset, repeats, perClient, a, b, ratioA, ratioB, assembly: { fresh, pooled, bytes } }, null, 2)}\n`,
  );
await session.dispose();
