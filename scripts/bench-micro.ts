/**
 * Microbenchmarks (tinybench) of the host-side costs around an inference, side by side in
 * one run, each group against a baseline measured in the same run:
 *
 * 1. Tensor marshalling: Tensor construction with its checks (type, detached buffer,
 *    dims vs length; no copy), validateFeeds() on the encoder's two inputs (what every
 *    session.run() does first), float16 conversion of a [8, 128, 64] activation both ways;
 *    baseline: a plain copy of the same float32 elements.
 * 2. Batch assembly: the DynamicBatcher's copy routines (tensor-ops.ts concatPadded and
 *    sliceBox, the same copyBox the batcher's assembly and split run) on encoder-shaped
 *    data: 8 requests of mixed lengths 8..128 padded into input_ids and attention_mask
 *    [8, 128] int64, and last_hidden_state [8, 128, 64] float32 plus logits [8, 4] split
 *    back and trimmed per request; baseline: one contiguous copy of the same bytes.
 * 3. Addon call overhead: a JS function call (baseline); cudaHeaderVersion() on the addon
 *    object and through src/cuda.ts (a native call that only returns a constant); and
 *    deviceCount() where no CUDA driver is installed (as here): a native call in which
 *    loading libcuda.so.1 fails, the addon builds a CudaError (ERR_CUDA) through its JS
 *    error factory and throws, and JS catches it; next to it, the same CudaError built and
 *    thrown from JS alone. On a machine with a driver deviceCount() does not throw, and the
 *    row says so.
 *
 *   node scripts/run-ts.mjs scripts/bench-micro.ts [--time 400] [--json FILE]
 *
 * Fast operations run `inner` times per tinybench sample (tinybench times each sample with
 * performance.now, which costs tens of ns); ops/s and ns/op are per operation.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { Tensor } from '../src/tensor.js';
import { validateFeeds } from '../src/backends/feeds.js';
import { concatPadded, sliceBox } from '../src/batching/tensor-ops.js';
import { generateInputs } from '../src/accuracy/inputs.js';
import { Random } from '../src/random.js';
import { CudaError } from '../src/errors.js';
import { loadAddon } from '../src/native.js';
import * as cuda from '../src/cuda.js';
import type { Feeds, TensorInfo } from '../src/session.js';

const { values } = parseArgs({ options: { time: { type: 'string', default: '400' }, json: { type: 'string' } } });
const TIME = Number(values.time);

interface Row {
  group: string;
  task: string;
  opsPerSecond: number | null;
  nsPerOp: number | null;
  /** This row's time per op over the group's baseline. */
  vsBaseline: number | null;
  note: string;
}
const rows: Row[] = [];

async function group(name: string, tasks: { task: string; fn: () => void; inner?: number; note?: string; skip?: string }[]): Promise<void> {
  const bench = new Bench({ time: TIME, warmupTime: 100 });
  const run = tasks.filter((t) => t.skip === undefined);
  for (const t of run) {
    const inner = t.inner ?? 1;
    const f = t.fn;
    bench.add(
      t.task,
      inner === 1
        ? f
        : () => {
            for (let i = 0; i < inner; i++) f();
          },
    );
  }
  await bench.run();
  let baseNs: number | null = null;
  for (const t of tasks) {
    if (t.skip !== undefined) {
      rows.push({ group: name, task: t.task, opsPerSecond: null, nsPerOp: null, vsBaseline: null, note: `not measured: ${t.skip}` });
      continue;
    }
    const task = bench.getTask(t.task)!;
    const r = task.result;
    if (r.state !== 'completed') {
      rows.push({
        group: name,
        task: t.task,
        opsPerSecond: null,
        nsPerOp: null,
        vsBaseline: null,
        note: `not measured: ${r.state === 'errored' ? r.error.message : r.state}`,
      });
      continue;
    }
    // period: mean ms per sample (total time / runs), over `inner` operations.
    const ns = (r.period * 1e6) / (t.inner ?? 1);
    baseNs ??= ns;
    rows.push({ group: name, task: t.task, opsPerSecond: 1e9 / ns, nsPerOp: ns, vsBaseline: ns / baseNs, note: t.note ?? '' });
  }
}

// ---------------------------------------------------------------- data

const ENCODER_INPUTS: TensorInfo[] = [
  { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
];
const feeds1x128: Feeds = generateInputs(ENCODER_INPUTS, { batch: 1, seq: 128, seed: 1 })[0]!;
const ids = feeds1x128.input_ids!.data as BigInt64Array;
const ACT = 8 * 128 * 64;
const act = Float32Array.from({ length: ACT }, (_, i) => Math.sin(i) * 4);
const act16 = Tensor.fromFloat32('float16', act, [8, 128, 64]);

const rng = new Random(3);
const lengths = Array.from({ length: 8 }, (_, i) => (i === 0 ? 128 : rng.nextInt(8, 129)));
const requests = lengths.map((len, k) => generateInputs(ENCODER_INPUTS, { batch: 1, seq: len, seed: 10 + k, maskPattern: 'none' })[0]!);
const maxLen = Math.max(...lengths);
const hidden = new Tensor('float32', act, [8, 128, 64]);
const logits = new Tensor(
  'float32',
  Float32Array.from({ length: 32 }, (_, i) => i),
  [8, 4],
);
const assembledBytes = 2 * 8 * maxLen * 8;
const splitBytes = lengths.reduce((s, l) => s + l * 64 * 4 + 4 * 4, 0);
const copySrc = new Uint8Array(assembledBytes + splitBytes);
const copyDst = new Uint8Array(copySrc.length);

function assemble(): void {
  for (const name of ['input_ids', 'attention_mask']) {
    concatPadded(
      'int64',
      requests.map((r) => r[name]!),
      [8, maxLen],
      0,
      0n,
    );
  }
}
function split(): void {
  for (let k = 0; k < 8; k++) {
    sliceBox(hidden, [1, lengths[k]!, 64], 0, k);
    sliceBox(logits, [1, 4], 0, k);
  }
}

// ---------------------------------------------------------------- groups

let held: unknown;
await group('tensor marshalling: construction and feed checks', [
  { task: 'baseline: a plain { type, data, dims } object', fn: () => void (held = { type: 'int64', data: ids, dims: [1, 128] }), inner: 100 },
  { task: 'new Tensor(int64, [1, 128]) (checks, no copy)', fn: () => void (held = new Tensor('int64', ids, [1, 128])), inner: 100 },
  { task: 'new Tensor(float32, [8, 128, 64]) (checks, no copy)', fn: () => void (held = new Tensor('float32', act, [8, 128, 64])), inner: 100 },
  { task: 'validateFeeds(encoder inputs, 1 x 128 feeds)', fn: () => void (held = validateFeeds(ENCODER_INPUTS, feeds1x128)), inner: 100 },
]);

await group(`tensor marshalling: float16 conversion of [8, 128, 64] (${ACT} elements)`, [
  { task: 'baseline: copy the float32 elements (Float32Array.slice)', fn: () => void (held = act.slice()) },
  { task: 'Tensor.fromFloat32(float16, ...)', fn: () => void (held = Tensor.fromFloat32('float16', act, [8, 128, 64])) },
  { task: 'float16 tensor .toFloat32()', fn: () => void (held = act16.toFloat32()) },
]);

await group('batch assembly (batcher copy routines)', [
  { task: `baseline: one contiguous copy of the same ${((assembledBytes + splitBytes) / 1024).toFixed(0)} KiB`, fn: () => copyDst.set(copySrc) },
  { task: `assemble: 8 requests (lengths ${Math.min(...lengths)}..${maxLen}) -> 2 x [8, ${maxLen}] int64, padded`, fn: assemble },
  { task: 'split: [8, 128, 64] + [8, 4] float32 -> 8 requests, trimmed (new buffers each)', fn: split },
  {
    task: "split's allocations alone: 8 x (new Float32Array(len x 64) + new Float32Array(4))",
    fn: () => {
      for (let k = 0; k < 8; k++) held = [new Float32Array(lengths[k]! * 64), new Float32Array(4)];
    },
  },
  { task: 'assemble + split (one batch round trip)', fn: () => (assemble(), split()) },
]);

let addonSkip: string | undefined;
let native: ReturnType<typeof loadAddon> | undefined;
try {
  native = loadAddon();
} catch (e) {
  addonSkip = `the addon did not load (${(e as Error).message.split('\n')[0]})`;
}
let throwsHere: string | undefined;
try {
  if (native) cuda.deviceCount();
  throwsHere = 'deviceCount() did not throw on this machine (a CUDA driver is present)';
} catch (e) {
  if ((e as { code?: string }).code !== 'ERR_CUDA') throwsHere = `deviceCount() threw ${(e as { code?: string }).code ?? (e as Error).message}, not ERR_CUDA`;
}
let sink = 0;
const noop = (x: number): number => x + 1;
await group('addon call overhead', [
  { task: 'baseline: JS function call', fn: () => void (sink = noop(sink)), inner: 1000 },
  {
    task: 'addon.cudaHeaderVersion() (native, returns a constant)',
    fn: () => void (sink = native!.cudaHeaderVersion()),
    inner: 1000,
    ...(addonSkip ? { skip: addonSkip } : {}),
  },
  {
    task: 'cuda.cudaHeaderVersion() (through src/cuda.ts)',
    fn: () => void (sink = cuda.cudaHeaderVersion()),
    inner: 1000,
    ...(addonSkip ? { skip: addonSkip } : {}),
  },
  {
    task: 'JS only: throw + catch new CudaError(...)',
    fn: () => {
      try {
        throw new CudaError('no NVIDIA driver: libcuda.so.1 could not be loaded: cannot open shared object file: No such file or directory');
      } catch {
        sink++;
      }
    },
    inner: 10,
  },
  {
    task: 'cuda.deviceCount() failing natively: ERR_CUDA thrown from the addon, caught',
    fn: () => {
      try {
        cuda.deviceCount();
      } catch {
        sink++;
      }
    },
    inner: 10,
    ...(addonSkip ? { skip: addonSkip } : throwsHere ? { skip: throwsHere } : {}),
  },
]);

// ---------------------------------------------------------------- report

const fmt = (v: number | null, d: number): string =>
  v === null ? 'n/a' : v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(d);
console.log(
  `tinybench ${TIME} ms per task; ${cpus().length} x ${cpus()[0]?.model.trim()}, Node ${process.version}${native ? `, CUDA headers ${cuda.formatCudaVersion(cuda.cudaHeaderVersion())} (addon)` : ''}`,
);
let current = '';
for (const r of rows) {
  if (r.group !== current) {
    current = r.group;
    console.log('');
    console.log(`### ${current}`);
    console.log('');
    console.log('| task | ops/s | ns/op | vs baseline |');
    console.log('|---|---:|---:|---:|');
  }
  const ratio = r.vsBaseline === null ? '-' : r.task.startsWith('baseline') ? '1.00x' : `${r.vsBaseline.toFixed(2)}x`;
  console.log(
    `| ${r.task}${r.note ? ` (${r.note})` : ''} | ${fmt(r.opsPerSecond, 0)} | ${r.nsPerOp === null ? 'n/a' : r.nsPerOp.toFixed(r.nsPerOp < 100 ? 1 : 0)} | ${ratio} |`,
  );
}
console.log('');
console.log("vs baseline: time per operation over the group baseline's, measured in the same run.");
if (values.json) writeFileSync(values.json, `${JSON.stringify({ timeMsPerTask: TIME, node: process.version, rows }, null, 2)}\n`);
if (sink === -1 && held === null) console.log('');
