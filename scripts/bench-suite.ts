/**
 * The benchmark suite: `tensorrt-node bench` (runBench) over the workloads the README quotes,
 * with wider sweeps than the command's defaults, every report written to one folder.
 *
 *   node scripts/run-ts.mjs scripts/bench-suite.ts [--out DIR] [--encoder tiny] [--duration 2]
 *     [--backends onnxruntime,tensorrt] [--threads N] [--only fixed|mixed]
 *
 * Workloads (each: direct and batcher, closed loop at concurrency 1, 2, 4, 8, 16, 32, open
 * loop with Poisson arrivals at 25%, 50%, 75% and 90% of the backend's best closed-loop
 * throughput):
 *   fixed  1 row x 128 tokens per request
 *   mixed  1 row x 16..128 tokens (uniform per request); the batcher pads within buckets
 *          of 16 tokens
 * TensorRT runs where its libraries load (engines built once and cached), else it is
 * skipped and the reports say why. Writes bench-<workload>.json / .md / .html to DIR
 * (default $OUT, else bench-results/) and prints the markdown tables.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/files.js';
import { runBench, type BenchOptions } from '../src/bench/runner.js';
import { benchHtml, benchJson, benchMarkdown } from '../src/bench/report.js';
import { createEncoderModel, encodeModel, type EncoderOptions } from '../src/onnx/index.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    encoder: { type: 'string', default: 'tiny' },
    duration: { type: 'string', default: '2' },
    backends: { type: 'string', default: 'onnxruntime,tensorrt' },
    threads: { type: 'string', default: '0' },
    only: { type: 'string' },
  },
});
const outDir = values.out ?? process.env.OUT ?? 'bench-results';
mkdirSync(outDir, { recursive: true });
const preset = values.encoder as EncoderOptions['preset'];
const proto = createEncoderModel({ preset });
const model = { source: encodeModel(proto), proto, label: `embedded encoder "${preset}"` };

const common: BenchOptions = {
  backends: values.backends.split(',') as ('onnxruntime' | 'tensorrt')[],
  concurrency: [1, 2, 4, 8, 16, 32],
  rates: [{ percent: 25 }, { percent: 50 }, { percent: 75 }, { percent: 90 }],
  durationMs: Number(values.duration) * 1000,
  warmupMs: 500,
  timeLimitMs: 1_800_000,
  intraOpNumThreads: Number(values.threads),
  onProgress: (e) => {
    if (e.kind === 'point') process.stderr.write(`[suite ${e.index}/${e.points}] ${e.label}\n`);
    else if (e.kind === 'note' || e.kind === 'setup') process.stderr.write(`[suite] ${e.message}\n`);
  },
};
const workloads: { name: string; options: BenchOptions }[] = [
  { name: 'fixed', options: { seq: { min: 128, max: 128 } } },
  { name: 'mixed', options: { seq: { min: 16, max: 128 }, batcherOptions: { buckets: [16, 32, 48, 64, 80, 96, 112, 128] } } },
];

for (const w of workloads.filter((x) => values.only === undefined || x.name === values.only)) {
  const command = `node scripts/run-ts.mjs scripts/bench-suite.ts ${process.argv.slice(2).join(' ')} (workload ${w.name})`.replace(/\s+/g, ' ');
  const report = await runBench(model, { ...common, ...w.options, command });
  const base = join(outDir, `bench-${w.name}`);
  await writeFileAtomic(`${base}.json`, benchJson(report));
  await writeFileAtomic(`${base}.md`, benchMarkdown(report));
  await writeFileAtomic(`${base}.html`, benchHtml(report));
  process.stdout.write(`${benchMarkdown(report)}\n`);
  process.stderr.write(`[suite] wrote ${base}.json, .md, .html\n`);
}
