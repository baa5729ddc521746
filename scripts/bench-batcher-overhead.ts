/**
 * Benchmark 1: DynamicBatcher scheduler overhead per request, with an instant session (one
 * that returns its outputs on the next microtask, doing no work), side by side with calling
 * that same session directly once per request.
 *
 *   taskset -c 0 node scripts/run-ts.mjs scripts/bench-batcher-overhead.ts [--rate 100000] [--seconds 2]
 *
 * Paths: direct calls; the zero-config batcher (`new DynamicBatcher(session)`: the cost
 * scheduler, learning as it goes); the batcher with scheduler 'triton' (Triton's rule, the
 * previous default).
 *
 * Per-request overhead is measured per burst: the load generator submits, every ~1 ms,
 * the requests due at the offered rate, and times the burst from its first run() call to
 * the last of its promises settling; that time / burst size is one sample. The table gives
 * the median and p99 of those samples, the achieved rate, and the process CPU time per
 * request (process.cpuUsage, all threads) with the CPU load (CPU time / wall time; under
 * 100% means the rate is sustained on one core).
 */
import { loadavg } from 'node:os';
import { DynamicBatcher } from '../src/batching/index.js';
import { Tensor } from '../src/tensor.js';
import type { Feeds, InferenceSession, Outputs, TensorInfo } from '../src/session.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const RATE = arg('rate', 100_000);
const SECONDS = arg('seconds', 2);

/** Returns zero outputs of the right dims on the next microtask. */
class InstantSession implements InferenceSession {
  readonly backend = 'onnxruntime' as const;
  readonly inputs: TensorInfo[] = [
    { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
    { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
  ];
  readonly outputs: TensorInfo[];
  disposed = false;
  constructor(readonly withHidden: boolean) {
    this.outputs = [{ name: 'logits', dtype: 'float32', dims: ['batch', 2] }];
    if (withHidden) this.outputs.push({ name: 'hidden', dtype: 'float32', dims: ['batch', 'sequence', 4] });
  }
  run(feeds: Feeds): Promise<Outputs> {
    const [b, s] = feeds.input_ids!.dims as [number, number];
    const out: Outputs = { logits: new Tensor('float32', new Float32Array(b * 2), [b, 2]) };
    if (this.withHidden) out.hidden = new Tensor('float32', new Float32Array(b * s * 4), [b, s, 4]);
    return Promise.resolve(out);
  }
  async dispose(): Promise<void> {}
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

function feedsOf(len: number): Feeds {
  return {
    input_ids: new Tensor('int64', new BigInt64Array(len).fill(7n), [1, len]),
    attention_mask: new Tensor('int64', new BigInt64Array(len).fill(1n), [1, len]),
  };
}

interface Result {
  achieved: number;
  p50: number;
  p99: number;
  cpuPerReq: number;
  load: number;
  requests: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Open-loop load at `rate` req/s for `seconds`, in bursts every ~1 ms. */
function paced(submit: (i: number) => Promise<unknown>, rate: number, seconds: number): Promise<Result> {
  return new Promise((resolve) => {
    const samples: number[] = [];
    let submitted = 0;
    let completed = 0;
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    let stopped = false;
    const finish = (): void => {
      const wall = performance.now() - start;
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      samples.sort((a, b) => a - b);
      resolve({
        achieved: (completed / wall) * 1000,
        p50: quantile(samples, 0.5),
        p99: quantile(samples, 0.99),
        cpuPerReq: (cpuMs * 1000) / completed,
        load: cpuMs / wall,
        requests: completed,
      });
    };
    const tick = (): void => {
      const elapsed = performance.now() - start;
      if (elapsed >= seconds * 1000) {
        stopped = true;
        if (completed === submitted) finish();
        return;
      }
      const due = Math.floor((elapsed * rate) / 1000) - submitted;
      if (due > 0) {
        const t0 = performance.now();
        const ps = new Array<Promise<unknown>>(due);
        for (let i = 0; i < due; i++) ps[i] = submit(submitted + i);
        submitted += due;
        void Promise.all(ps).then(() => {
          samples.push(((performance.now() - t0) * 1000) / due);
          completed += due;
          if (stopped && completed === submitted) finish();
        });
      }
      setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
  });
}

/** Closed loop: bursts of 1000 as fast as they complete, for `seconds`; returns req/s. */
async function saturate(submit: (i: number) => Promise<unknown>, seconds: number): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < seconds * 1000) {
    const ps = new Array<Promise<unknown>>(1000);
    for (let i = 0; i < 1000; i++) ps[i] = submit(n + i);
    await Promise.all(ps);
    n += 1000;
  }
  return (n / (performance.now() - start)) * 1000;
}

const scenarios = [
  { name: 'fixed length 16', withHidden: false, lens: [16] },
  { name: 'mixed lengths 4..64, padded + trimmed', withHidden: true, lens: Array.from({ length: 61 }, (_, i) => i + 4) },
];

const rows: string[] = [];
console.log(
  `${new Date().toISOString()} · Node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, ${RATE} req/s offered for ${SECONDS} s per row; per-request µs = burst wall time / burst size`,
);
for (const sc of scenarios) {
  const pool = sc.lens.map(feedsOf);
  const pick = (i: number): Feeds => pool[(i * 7919) % pool.length]!;
  const session = new InstantSession(sc.withHidden);
  const zero = new DynamicBatcher(session, { metrics: false });
  const triton = new DynamicBatcher(session, { scheduler: 'triton', metrics: false });
  const direct = (i: number): Promise<unknown> => session.run(pick(i));
  const paths = [
    ['direct session.run', direct],
    ['DynamicBatcher, zero config (cost)', (i: number): Promise<unknown> => zero.run(pick(i))],
    ["DynamicBatcher, scheduler 'triton'", (i: number): Promise<unknown> => triton.run(pick(i))],
  ] as const;
  // Warm up every path (JIT) before measuring.
  for (const [, submit] of paths) await saturate(submit, 0.5);
  for (const [path, submit] of paths) {
    const r = await paced(submit, RATE, SECONDS);
    const max = await saturate(submit, 1);
    rows.push(
      `| ${sc.name} | ${path} | ${RATE} | ${r.achieved.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuPerReq.toFixed(2)} | ${(r.load * 100).toFixed(0)}% | ${max.toFixed(0)} |`,
    );
  }
  for (const [name, b] of [
    ['zero config', zero],
    ['triton', triton],
  ] as const) {
    const st = b.stats();
    rows.push(
      `| ${sc.name} | (${name}: ${st.batches.succeeded} batches, mean size ${st.batches.meanSize.toFixed(1)}, padding ratio ${st.padding.ratio.toFixed(2)}) | | | | | | | |`,
    );
    await b.close();
  }
}
console.log('');
console.log('| scenario | path | offered req/s | achieved req/s | µs/request p50 | µs/request p99 | CPU µs/request | CPU load | closed-loop max req/s |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
