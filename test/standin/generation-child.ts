/**
 * The child process of ./generation.test.ts: the Generator over a TensorRT session on the
 * stand-in CUDA driver and TensorRT (they must be on LD_LIBRARY_PATH when the process starts).
 * Prints one JSON line per scenario ({ scenario, ok, value | error }); the test asserts on them.
 *
 * The stand-in's engine computes a hash of each row's inputs, not a decoder (README.md): these
 * runs prove the glue (profiles chosen for generation, an empty past at prefill, present fed
 * back as past, rows kept apart, admission against the engine's profile, abort and close), not
 * TensorRT's numerics. Every run's feeds and outputs are recorded by a wrapper around the real
 * session (it only watches), and checked against the stand-in's output function.
 *
 *   node generation-child.mjs <work dir> <repo root>
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { buildEngine, createSession, Generator, saveEngine, Tensor, type InferenceSession, type Outputs, type TensorData } from '../../src/index.js';
import type { Feeds, RunOptions } from '../../src/session.js';
import { createDecoderModel, encodeModel, inspectModel } from '../../src/onnx/index.js';
import { errorData } from './api/harness.js';
import type { ModelSpec } from './models.js';
import { mismatches } from './api/harness.js';

const [work = '', repoRoot = ''] = process.argv.slice(2);

const say = (o: unknown): void => {
  writeSync(1, `${JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
};

// A small decoder (1 layer, 2 heads of 8, vocabulary 64): the stand-in hashes every element of a
// row's past for every output element, so small KV tensors keep the runs quick.
const decoderProto = createDecoderModel({ preset: 'tiny', layers: 1, hidden: 16, heads: 2, intermediate: 32, vocabSize: 64, maxPositions: 64 });
const decoderPath = join(work, 'decoder.onnx');
writeFileSync(decoderPath, encodeModel(decoderProto));
const inspected = inspectModel(decoderProto);
/** The decoder's I/O as the reference function takes it (engine order = graph order). */
const spec: ModelSpec = {
  inputs: inspected.inputs.map((i) => ({ name: i.name, dtype: i.dtype as never, dims: i.dims ?? [] })),
  outputs: inspected.outputs.map((o) => ({ name: o.name, dtype: o.dtype as never, dims: o.dims ?? [] })),
};
const GENERATION = { maxBatchSize: 4, maxSeqLen: 48, maxInputLen: 16 };

interface Recorded {
  feeds: Record<string, Tensor>;
  outputs: Outputs;
}

const copyAll = (ts: Record<string, Tensor>): Record<string, Tensor> =>
  Object.fromEntries(Object.entries(ts).map(([k, t]) => [k, new Tensor(t.dtype, (t.data as TensorData).slice() as TensorData, [...t.dims])]));

/** Watches every run of `inner` (the real session): its feeds and outputs, in order. */
function recording(inner: InferenceSession): { session: InferenceSession; runs: Recorded[]; onRun: Array<(n: number) => void> } {
  const runs: Recorded[] = [];
  const onRun: Array<(n: number) => void> = [];
  const session: InferenceSession = {
    backend: inner.backend,
    inputs: inner.inputs,
    outputs: inner.outputs,
    async run(feeds: Feeds, options?: RunOptions) {
      // Copies, taken when the call is made and when it returns: the Generator may reuse its buffers.
      const fed = copyAll(feeds as Record<string, Tensor>);
      const outputs = await inner.run(feeds, options);
      runs.push({ feeds: fed, outputs: copyAll(outputs) });
      for (const f of onRun) f(runs.length);
      return outputs;
    },
    get disposed() {
      return inner.disposed;
    },
    dispose: () => inner.dispose(),
    [Symbol.asyncDispose]: () => inner.dispose(),
  } as InferenceSession;
  return { session, runs, onRun };
}

const num = (d: TensorData, i: number): number => Number(d[i]);
const kvNames = spec.inputs.filter((i) => i.name.startsWith('past_key_values.')).map((i) => i.name);
const presentOf = (past: string): string => past.replace('past_key_values.', 'present.');

/** Values of a [batch, heads, time, dim] tensor's row `r` at the time positions `keep`, per head. */
function rowAt(t: Tensor, r: number, keep: number[]): number[] {
  const [, heads, time, dim] = t.dims as number[];
  const out: number[] = [];
  for (let h = 0; h < heads!; h++) {
    for (const p of keep) {
      const base = ((r * heads! + h) * time! + p) * dim!;
      for (let k = 0; k < dim!; k++) out.push(num(t.data as TensorData, base + k));
    }
  }
  return out;
}

/**
 * The checks on a recording, as counts and lists the test asserts on:
 * - every run's outputs are the stand-in's function of its feeds (the bytes went in and came out);
 * - each row's past holds, at the positions its mask marks real, exactly what an earlier run
 *   returned as that row's present at its real positions (present -> past, rows not mixed);
 * - each row fed after its prefill feeds the argmax of those earlier logits (the token chosen
 *   from its own row), and position_ids count the real positions before it.
 */
function analyse(runs: Recorded[]) {
  const shapes: { batch: number; sequence: number; past: number }[] = [];
  let referenceMismatches = 0;
  let pastRows = 0;
  let pastNotFound = 0;
  let tokensChecked = 0;
  let tokenMismatches = 0;
  let positionMismatches = 0;
  const seen = new Map<string, { logits: number[] }>();
  for (const run of runs) {
    referenceMismatches += mismatches(spec, run.feeds, run.outputs);
    const ids = run.feeds.input_ids!;
    const mask = run.feeds.attention_mask!;
    const positions = run.feeds.position_ids;
    const [batch, sequence] = ids.dims as number[];
    const total = mask.dims[1] as number;
    const past = total - sequence!;
    shapes.push({ batch: batch!, sequence: sequence!, past });
    const logits = run.outputs.logits!;
    const vocab = logits.dims[2] as number;
    for (let r = 0; r < batch!; r++) {
      const real = (n: number): number[] => [...Array(n).keys()].filter((t) => num(mask.data as TensorData, r * total + t) !== 0);
      const realPast = real(past);
      const realTotal = real(total);
      for (let j = 0; j < sequence!; j++) {
        const t = past + j;
        if (positions && num(mask.data as TensorData, r * total + t) !== 0) {
          const before = realTotal.filter((x) => x < t).length;
          if (num(positions.data as TensorData, r * sequence! + j) !== before) positionMismatches++;
        }
      }
      if (realPast.length > 0) {
        pastRows++;
        const key = kvNames.map((n) => rowAt(run.feeds[n]!, r, realPast).join(',')).join('|');
        const previous = seen.get(key);
        if (previous === undefined) pastNotFound++;
        else if (sequence === 1) {
          tokensChecked++;
          let best = 0;
          for (let v = 1; v < vocab; v++) if (previous.logits[v]! > previous.logits[best]!) best = v;
          if (num(ids.data as TensorData, r) !== best) tokenMismatches++;
        }
      }
      // This row's present at its real positions, and its logits at its last real position.
      const last = realTotal.filter((x) => x >= past).at(-1)! - past;
      const rowLogits = Array.from({ length: vocab }, (_, v) => num(logits.data as TensorData, (r * sequence! + last) * vocab + v));
      const key = kvNames.map((n) => rowAt(run.outputs[presentOf(n)]!, r, realTotal).join(',')).join('|');
      seen.set(key, { logits: rowLogits });
    }
  }
  return { runs: runs.length, shapes, referenceMismatches, pastRows, pastNotFound, tokensChecked, tokenMismatches, positionMismatches };
}

const profilesOf = (s: InferenceSession) => Object.fromEntries(s.inputs.filter((i) => i.profiles).map((i) => [i.name, i.profiles]));

async function openEngine(): Promise<{ session: InferenceSession; planPath: string }> {
  const planPath = join(work, 'decoder.plan');
  const built = await buildEngine(decoderPath, { generation: GENERATION, cache: false });
  await saveEngine(planPath, built);
  return { session: await createSession(planPath, { backend: 'tensorrt', contexts: 2 }), planPath };
}

const scenarios: Record<string, () => Promise<unknown>> = {
  async 'profiles from buildEngine, createSession and the CLI'() {
    const built = await buildEngine(decoderPath, { generation: GENERATION, cache: false });
    const viaCreate = await createSession(decoderPath, { backend: 'tensorrt', build: { generation: GENERATION, cache: join(work, 'cache') } });
    const defaults = await createSession(decoderPath, { backend: 'tensorrt', build: { cache: join(work, 'cache') } });
    const cliPlan = join(work, 'cli.plan');
    const cli = spawnSync(
      process.execPath,
      [
        join(repoRoot, 'bin', 'tensorrt-node.js'),
        'build',
        '--onnx',
        decoderPath,
        '--saveEngine',
        cliPlan,
        '--max-seq-len',
        '48',
        '--max-input-len',
        '16',
        '--max-batch-size',
        '4',
        '--json',
        '--no-progress',
      ],
      { encoding: 'utf8', env: process.env },
    );
    const cliInfo = cli.status === 0 ? (JSON.parse(cli.stdout) as { profiles: unknown; generation: unknown }) : null;
    const fromCliPlan = cliInfo ? await createSession(cliPlan, { backend: 'tensorrt' }) : null;
    // The position table (64 rows) is below the default profile's 2048: the sidecar's limit refuses.
    const gen = new Generator(defaults, { metrics: false });
    const beyondTable = await gen
      .generate(
        Array.from({ length: 10 }, (_, i) => i + 1),
        { maxNewTokens: 60 },
      )
      .catch(errorData);
    await gen.close();
    const valueRanges = (s: InferenceSession | null) => s && Object.fromEntries(s.inputs.filter((i) => i.valueRange).map((i) => [i.name, i.valueRange!.max]));
    const out = {
      positionLimit: gen.config.decoder.positionLimit,
      beyondTable,
      valueRanges: { createSession: valueRanges(defaults), fromPlanFile: valueRanges(fromCliPlan) },
      built: { profiles: built.info.profiles, generation: built.info.generation },
      createSession: profilesOf(viaCreate),
      defaults: profilesOf(defaults),
      cli: {
        status: cli.status,
        stderr: cli.stderr.slice(-2000),
        profiles: cliInfo?.profiles,
        generation: cliInfo?.generation,
        session: fromCliPlan && profilesOf(fromCliPlan),
      },
    };
    await Promise.all([viaCreate.dispose(), defaults.dispose(), fromCliPlan?.dispose()]);
    return out;
  },

  async 'one sequence: empty past at prefill, present fed back as past, tokens from its logits'() {
    const { session: inner } = await openEngine();
    const { session, runs } = recording(inner);
    const gen = new Generator(session, { metrics: false });
    const result = await gen.generate([5, 9, 2, 7], { maxNewTokens: 6 });
    // Alone, each token is the argmax of the logits of its run's last position.
    const argmaxes = runs.map((r) => {
      const l = r.outputs.logits!;
      const [, s, v] = l.dims as number[];
      const d = l.data as Float32Array;
      let best = 0;
      for (let k = 1; k < v!; k++) if (d[(s! - 1) * v! + k]! > d[(s! - 1) * v! + best]!) best = k;
      return best;
    });
    const a = analyse(runs);
    await gen.close();
    await inner.dispose();
    return { result, argmaxes, ...a, decoder: gen.config.decoder.maxTotalLength };
  },

  async 'sequences join and leave the running batch'() {
    const { session: inner } = await openEngine();
    const { session, runs, onRun } = recording(inner);
    const gen = new Generator(session, { metrics: false });
    const prompts = [[1, 2, 3, 4, 5], [6, 7], [8, 9, 10, 11, 12, 13, 14], [15, 16, 17], [18]];
    const maxNew = [10, 3, 5, 8, 2];
    const results: Promise<unknown>[] = [gen.generate(prompts[0]!, { maxNewTokens: maxNew[0] }), gen.generate(prompts[1]!, { maxNewTokens: maxNew[1] })];
    // Later ones join while the first ones run: at the 3rd and 5th runs.
    const joins: number[] = [];
    onRun.push((n) => {
      if (n === 3 || n === 5) {
        joins.push(n);
        const k = results.length;
        results.push(gen.generate(prompts[k]!, { maxNewTokens: maxNew[k] }));
        if (n === 5) results.push(gen.generate(prompts[k + 1]!, { maxNewTokens: maxNew[k + 1] }));
      }
    });
    const first = await Promise.all(results.slice(0, 2));
    while (results.length < 5) await new Promise((r) => setTimeout(r, 1));
    const all = (await Promise.all(results)) as { tokens: number[]; finishReason: string }[];
    void first;
    const stats = gen.stats();
    await gen.close();
    await inner.dispose();
    return {
      joins,
      results: all.map((r) => ({ n: r.tokens.length, finishReason: r.finishReason })),
      ...analyse(runs),
      kvInUse: stats.kv.inUse,
      running: stats.running,
    };
  },

  async "admission against the engine's profile: prompt + maxNewTokens beyond maxSeqLen, a prompt beyond maxInputLen"() {
    const { session: inner } = await openEngine();
    const { session, runs } = recording(inner);
    const gen = new Generator(session, { metrics: false });
    const prompt10 = Array.from({ length: 10 }, (_, i) => i + 1);
    const tooMany = await gen.generate(prompt10, { maxNewTokens: 40 }).catch(errorData);
    const tooLong = await gen
      .generate(
        Array.from({ length: 20 }, (_, i) => i + 1),
        { maxNewTokens: 2 },
      )
      .catch(errorData);
    const refusedRuns = runs.length;
    // The longest that fits: 10 + 39 - 1 = 48 positions, the profile's total max (past up to 47).
    const fits = (await gen.generate(prompt10, { maxNewTokens: 39 })) as { tokens: number[]; finishReason: string };
    const a = analyse(runs);
    await gen.close();
    await inner.dispose();
    return {
      tooMany,
      tooLong,
      refusedRuns,
      fits: { n: fits.tokens.length, finishReason: fits.finishReason },
      maxPast: Math.max(...a.shapes.map((s) => s.past)),
      maxTotal: Math.max(...a.shapes.map((s) => s.past + s.sequence)),
      referenceMismatches: a.referenceMismatches,
      pastNotFound: a.pastNotFound,
    };
  },

  async 'abort mid-generation frees its cache; close drains, then refuses'() {
    const { session: inner } = await openEngine();
    const { session, runs, onRun } = recording(inner);
    const gen = new Generator(session, { metrics: false });
    const ac = new AbortController();
    onRun.push((n) => {
      if (n === 3) ac.abort();
    });
    const aborted = (await gen.generate([3, 1, 4, 1, 5], { maxNewTokens: 30, signal: ac.signal })) as { tokens: number[]; finishReason: string };
    // The step it was in finishes on the device; its rows leave the cache when it returns.
    const atAbort = gen.stats().kv.inUse;
    const t0 = Date.now();
    while (gen.stats().kv.inUse !== 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 1));
    const afterAbort = { ...gen.stats(), atAbort };
    const next = (await gen.generate([2, 7, 1], { maxNewTokens: 4 })) as { tokens: number[]; finishReason: string };
    const running = gen.generate([9, 9], { maxNewTokens: 5 });
    const closing = gen.close({ drain: true });
    const late = await gen.generate([1], { maxNewTokens: 1 }).catch(errorData);
    const drained = (await running) as { tokens: number[]; finishReason: string };
    await closing;
    const a = analyse(runs);
    const closedStats = gen.stats();
    await inner.dispose();
    return {
      aborted: { n: aborted.tokens.length, finishReason: aborted.finishReason },
      afterAbort: { running: afterAbort.running, kvInUse: afterAbort.kv.inUse, atAbort: afterAbort.atAbort },
      next: { n: next.tokens.length, finishReason: next.finishReason },
      drained: { n: drained.tokens.length, finishReason: drained.finishReason },
      late,
      closed: closedStats.closed,
      referenceMismatches: a.referenceMismatches,
      pastNotFound: a.pastNotFound,
    };
  },
};

async function main(): Promise<void> {
  for (const [name, run] of Object.entries(scenarios)) {
    const t0 = performance.now();
    try {
      say({ scenario: name, ok: true, value: await run(), ms: Math.round(performance.now() - t0) });
    } catch (e) {
      say({ scenario: name, ok: false, error: { ...errorData(e), stack: (e as Error).stack }, ms: Math.round(performance.now() - t0) });
    }
  }
}

main().catch((e: unknown) => {
  say({ scenario: '__main', ok: false, error: errorData(e) });
  process.exitCode = 1;
});
