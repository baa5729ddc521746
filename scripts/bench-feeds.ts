/**
 * The feed validator's cost per run() call (tinybench), side by side in one run:
 *
 * - a 2-input model (an encoder: input_ids, attention_mask int64 [batch, sequence]) and a
 *   6-input model (a decoder step: input_ids, attention_mask, position_ids int64 [batch, *],
 *   past key and value float32 [batch, 4, past, 16], a float32 [1] scale), batch 4 x 128;
 * - FeedValidator.check() with our Tensors, with plain { type, data, dims } tensors (what
 *   onnxruntime-node's and transformers.js's Tensors look like: wrapped, not copied), and
 *   with a dim limit (the 6-input model's sequence at most 512);
 * - baselines: the floor (a loop that only reads each feed and compares its type) and the
 *   validator it replaced (validateFeeds of backends/common.ts before this change, kept here
 *   only to be measured against).
 *
 *   node scripts/run-ts.mjs scripts/bench-feeds.ts [--time 300] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { DTypeError, InvalidArgumentError, ShapeError, describe } from '../src/errors.js';
import { FeedValidator } from '../src/backends/feeds.js';
import { Tensor, formatDims } from '../src/tensor.js';
import type { TensorInfo } from '../src/session.js';

const { values } = parseArgs({ options: { time: { type: 'string', default: '300' }, json: { type: 'string' } } });
const TIME = Number(values.time);
const INNER = 1000;

const ENCODER: TensorInfo[] = [
  { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
];
const DECODER: TensorInfo[] = [
  { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'total_sequence_length'] },
  { name: 'position_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'past_key_values.0.key', dtype: 'float32', dims: ['batch', 4, 'past_sequence_length', 16] },
  { name: 'past_key_values.0.value', dtype: 'float32', dims: ['batch', 4, 'past_sequence_length', 16] },
  { name: 'scale', dtype: 'float32', dims: [1] },
];
const B = 4;
const S = 128;
const PAST = 128;

function feedsFor(inputs: readonly TensorInfo[]): Record<string, Tensor> {
  const size: Record<string, number> = { batch: B, sequence: S, total_sequence_length: S + PAST, past_sequence_length: PAST };
  return Object.fromEntries(
    inputs.map((i) => [
      i.name,
      Tensor.zeros(
        i.dtype,
        i.dims.map((d) => (typeof d === 'number' ? d : size[d]!)),
      ),
    ]),
  );
}
const plain = (feeds: Record<string, Tensor>) =>
  Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { type: t.type as string, data: t.data, dims: [...t.dims] }]));

/** The validator before this change (backends/common.ts validateFeeds), for the side-by-side only. */
function previousValidateFeeds(inputs: readonly TensorInfo[], feeds: unknown): Map<string, number> {
  if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds) || feeds instanceof Tensor) {
    throw new InvalidArgumentError(`feeds must be an object mapping input names to Tensors, got ${describe(feeds)}`);
  }
  const record = feeds as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!inputs.some((i) => i.name === key)) throw new InvalidArgumentError(`feeds has an unknown input ${JSON.stringify(key)}`);
  }
  const symbols = new Map<string, { size: number; from: string }>();
  for (const input of inputs) {
    const t = record[input.name];
    if (t === undefined) throw new InvalidArgumentError(`feeds is missing input ${JSON.stringify(input.name)}`);
    if (!(t instanceof Tensor)) throw new InvalidArgumentError(`feeds[${JSON.stringify(input.name)}] must be a Tensor, got ${describe(t)}`);
    if (t.type !== input.dtype) throw new DTypeError(`input ${JSON.stringify(input.name)} must be ${input.dtype}, got ${t.type}`);
    if (t.dims.length !== input.dims.length)
      throw new ShapeError(`input ${JSON.stringify(input.name)} must have rank ${input.dims.length}, got ${formatDims(t.dims)}`);
    input.dims.forEach((d, axis) => {
      const got = t.dims[axis]!;
      if (typeof d === 'number' && d >= 0 && d !== got) throw new ShapeError(`input ${JSON.stringify(input.name)} dim ${axis} must be ${d}`);
      if (typeof d === 'string' && d !== '') {
        const seen = symbols.get(d);
        if (seen === undefined) symbols.set(d, { size: got, from: input.name });
        else if (seen.size !== got) throw new ShapeError(`input ${JSON.stringify(input.name)} dim ${axis} (${d}) disagrees`);
      }
    });
  }
  return new Map([...symbols].map(([k, v]) => [k, v.size]));
}

function floor(inputs: readonly TensorInfo[], feeds: Record<string, Tensor>): number {
  let n = 0;
  for (let k = 0; k < inputs.length; k++) if (feeds[inputs[k]!.name]!.type === inputs[k]!.dtype) n++;
  return n;
}

interface Row {
  model: string;
  task: string;
  usPerCall: number | null;
  vsPrevious: number | null;
}
const rows: Row[] = [];
let held: unknown;

async function model(name: string, inputs: readonly TensorInfo[], limits?: ConstructorParameters<typeof FeedValidator>[1]): Promise<void> {
  const feeds = feedsFor(inputs);
  const foreign = plain(feeds);
  const v = new FeedValidator(inputs);
  const limited = limits ? new FeedValidator(inputs, limits) : undefined;
  const tasks: [string, () => void][] = [
    ['floor: read each feed, compare its type', () => void (held = floor(inputs, feeds))],
    ['previous validateFeeds (common.ts)', () => void (held = previousValidateFeeds(inputs, feeds))],
    ['FeedValidator.check, our Tensors', () => void (held = v.check(feeds))],
    ['FeedValidator.check, plain { type, data, dims } tensors (wrapped)', () => void (held = v.check(foreign))],
  ];
  if (limited) tasks.push(['FeedValidator.check, our Tensors, with a dim limit', () => void (held = limited.check(feeds))]);
  const bench = new Bench({ time: TIME, warmupTime: 100 });
  for (const [task, f] of tasks) {
    bench.add(task, () => {
      for (let i = 0; i < INNER; i++) f();
    });
  }
  await bench.run();
  let previous: number | null = null;
  for (const [task] of tasks) {
    const r = bench.getTask(task)!.result;
    if (r.state !== 'completed') {
      rows.push({ model: name, task: `${task} (not measured: ${r.state})`, usPerCall: null, vsPrevious: null });
      continue;
    }
    const us = (r.period * 1e3) / INNER;
    if (task.startsWith('previous')) previous = us;
    rows.push({ model: name, task, usPerCall: us, vsPrevious: null });
  }
  for (const row of rows) if (row.model === name && row.usPerCall !== null && previous !== null) row.vsPrevious = row.usPerCall / previous;
}

await model(`2 inputs (encoder, ${B} x ${S})`, ENCODER);
await model(`6 inputs (decoder step, ${B} x ${S}, past ${PAST})`, DECODER, {
  limits: { input_ids: [{ axis: 1, max: 512, reason: "the model's position embedding has 512 rows" }] },
});

console.log(
  `tinybench ${TIME} ms per task, ${INNER} calls per sample; ${cpus().length} x ${cpus()[0]?.model.trim()}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
);
console.log('');
console.log('| model | task | µs per call | vs previous |');
console.log('|---|---|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.model} | ${r.task} | ${r.usPerCall === null ? 'n/a' : r.usPerCall.toFixed(3)} | ${r.vsPrevious === null ? '-' : `${r.vsPrevious.toFixed(2)}x`} |`,
  );
}
if (values.json) writeFileSync(values.json, `${JSON.stringify({ timeMsPerTask: TIME, node: process.version, rows }, null, 2)}\n`);
if (held === Symbol.for('never')) console.log('');
