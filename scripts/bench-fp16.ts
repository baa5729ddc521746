/**
 * FP16 conversion benchmark: a BERT-base-sized encoder (about 110M parameters, 438 MB of
 * float32 weights) read, converted and written, timed and with its peak memory, each in a
 * fresh process (the measured work is all the process does):
 *
 *   node scripts/run-ts.mjs scripts/bench-fp16.ts [--model FILE] [--runs 3]
 *
 * Targets from issue 3: under 10 s and under 3x the model's size in peak memory (peak
 * resident set size of the process, Node itself included; a process that only loads the same
 * code is measured alongside as the baseline). The peak is VmHWM from /proc/self/status:
 * getrusage's maxRSS would also count the parent's memory, which a spawned child inherits
 * across fork and exec on Linux.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEncoderModel, readModel, writeModel } from '../src/onnx/index.js';
import { convertToFloat16 } from '../src/fp16/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function peakRssBytes(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

const child = process.argv[2] === '--child' ? process.argv[3] : undefined;
if (child !== undefined) {
  const [input, output] = [process.argv[4]!, process.argv[5]!];
  const t0 = performance.now();
  if (child === 'convert') {
    const model = await readModel(input);
    const t1 = performance.now();
    // The graph conversion alone: the default calibration run (ONNX Runtime on generated inputs) is not part of it.
    const { model: fp16, report } = await convertToFloat16(model, { calibrate: false });
    const t2 = performance.now();
    await writeModel(fp16, output);
    const t3 = performance.now();
    process.stdout.write(
      JSON.stringify({
        readS: (t1 - t0) / 1000,
        convertS: (t2 - t1) / 1000,
        writeS: (t3 - t2) / 1000,
        totalS: (t3 - t0) / 1000,
        maxRssBytes: peakRssBytes(),
        fp16Nodes: Object.values(report.convertedNodes).reduce((a, b) => a + b, 0),
        keptFp32: report.keptFp32.length,
      }),
    );
  } else if (child === 'make') {
    await writeModel(createEncoderModel({ preset: 'bert-base' }), output);
    process.stdout.write(JSON.stringify({ totalS: (performance.now() - t0) / 1000 }));
  } else {
    process.stdout.write(JSON.stringify({ totalS: 0, maxRssBytes: peakRssBytes() }));
  }
  process.exit(0);
}

const runs = Number(arg('runs') ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'bench-fp16-'));
try {
  const self = fileURLToPath(import.meta.url);
  const run = (mode: string, input: string, output = join(dir, 'out.onnx')) => {
    const r = spawnSync(process.execPath, [self, '--child', mode, input, output], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, number>;
  };
  let input = arg('model');
  if (!input) {
    input = join(dir, 'bert-base.onnx');
    console.log(`built the bert-base encoder in ${run('make', '', input).totalS!.toFixed(1)} s`);
  }
  const size = statSync(input).size;
  const base = run('baseline', input);
  console.log(`model ${input}: ${(size / 2 ** 20).toFixed(1)} MiB; baseline process peak RSS ${(base.maxRssBytes! / 2 ** 20).toFixed(0)} MiB`);
  console.log('run  read s  convert s  write s  total s  peak RSS MiB  peak/model  out MiB');
  const totals: number[] = [];
  const peaks: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = run('convert', input);
    totals.push(r.totalS!);
    peaks.push(r.maxRssBytes!);
    const out = statSync(join(dir, 'out.onnx')).size;
    console.log(
      `${String(i + 1).padStart(3)}  ${r.readS!.toFixed(2).padStart(6)}  ${r.convertS!.toFixed(2).padStart(9)}  ${r.writeS!.toFixed(2).padStart(7)}  ` +
        `${r.totalS!.toFixed(2).padStart(7)}  ${(r.maxRssBytes! / 2 ** 20).toFixed(0).padStart(12)}  ${(r.maxRssBytes! / size).toFixed(2).padStart(10)}  ${(out / 2 ** 20).toFixed(1).padStart(7)}`,
    );
  }
  const worstT = Math.max(...totals);
  const worstP = Math.max(...peaks) / size;
  console.log(
    `worst of ${runs}: ${worstT.toFixed(2)} s (target < 10 s: ${worstT < 10 ? 'met' : 'NOT met'}), peak ${worstP.toFixed(2)}x the model (target < 3x: ${worstP < 3 ? 'met' : 'NOT met'})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
