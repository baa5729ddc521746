/**
 * Accuracy-metrics benchmark: analyze() (every statistic, the quantiles and the verdict) over
 * two 10M-element float32 outputs, as compare() runs it for an FP16-vs-FP32 check.
 *
 *   node scripts/run-ts.mjs scripts/bench-metrics.ts [--elements N] [--runs R] [--atol X --rtol Y] [--no-generic]
 *
 * Each run times the pair through analyze() (the float32 fast path) and through
 * analyzeGeneric() (the path every output took before), alternating which goes first, so
 * both see the same machine state; both answers are checked to be identical. Prints per-run
 * wall times, the medians, the median per output, CPU time (less sensitive to other load on
 * the machine than wall time) and the load average. The goal: < 200 ms for the pair.
 */
import { loadavg } from 'node:os';
import { analyze, analyzeGeneric, DEFAULT_TOLERANCE, type Analysis } from '../src/accuracy/metrics.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const n = arg('--elements', 10_000_000);
const runs = arg('--runs', 7);
const withGeneric = !process.argv.includes('--no-generic');

// A reference and an output with FP16-like error: b, and b rounded to ~11 bits of mantissa.
function pair(seed: number): [Float32Array, Float32Array] {
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const v = ((x >>> 0) / 2 ** 32 - 0.5) * 8;
    b[i] = v;
    a[i] = Math.fround(v * (1 + (((x >>> 7) & 1023) - 512) * 2 ** -21));
  }
  return [a, b];
}

const outputs = [pair(1), pair(2)];
const tol = { ...DEFAULT_TOLERANCE, atol: arg('--atol', 1e-2), rtol: arg('--rtol', 1e-2) };

interface Timing {
  wall: number[];
  cpu: number[];
  perOutput: number[];
}
const timing = (): Timing => ({ wall: [], cpu: [], perOutput: [] });
const fast = timing();
const generic = timing();

function timePair(fn: typeof analyze, into: Timing): Analysis[] {
  const results: Analysis[] = [];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const [a, b] of outputs) {
    const t = performance.now();
    results.push(fn(a, b, tol));
    into.perOutput.push(performance.now() - t);
  }
  into.wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  into.cpu.push((c.user + c.system) / 1000);
  return results;
}

const same = (x: Analysis[], y: Analysis[]) => JSON.stringify(x, replacer) === JSON.stringify(y, replacer);
// JSON drops the difference between NaN, Infinity and null; keep it.
function replacer(_key: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
}

const load0 = loadavg();
for (let r = 0; r < runs; r++) {
  if (!withGeneric) {
    timePair(analyze, fast);
    continue;
  }
  const first = r % 2 === 0;
  const g1 = first ? undefined : timePair(analyzeGeneric, generic);
  const f = timePair(analyze, fast);
  const g = g1 ?? timePair(analyzeGeneric, generic);
  if (!same(f, g)) throw new Error(`run ${r}: the fast and generic paths disagree`);
}
const load1 = loadavg();

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => x.toFixed(0);
function report(name: string, t: Timing): void {
  console.log(`${name}: runs (ms) ${t.wall.map(ms).join(', ')}`);
  console.log(
    `  median ${ms(median(t.wall))} ms for the pair, best ${ms(Math.min(...t.wall))} ms; median ${ms(median(t.perOutput))} ms per output; CPU median ${ms(median(t.cpu))} ms`,
  );
}
console.log(`analyze() over 2 outputs of ${n.toLocaleString('en-US')} float32 elements, ${runs} runs, atol ${tol.atol} rtol ${tol.rtol}`);
report('fast path (analyze)', fast);
if (withGeneric) {
  report('generic path (analyzeGeneric)', generic);
  console.log(`  speed-up, median wall: ${(median(generic.wall) / median(fast.wall)).toFixed(2)}x; results identical in every run`);
}
const verdict = analyze(outputs[0]![0], outputs[0]![1], tol).verdict;
console.log(`first output: passed ${verdict.passed}, mismatches ${verdict.mismatchCount}`);
console.log(`load average (1/5/15 min): before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${load1.map((x) => x.toFixed(2)).join(' ')} (2 cores)`);
console.log('first run includes JIT warm-up');
