/**
 * Scenarios of the run path through the public API (TensorRTSession, DynamicBatcher), run in
 * a child process with the stand-ins active. Each returns plain data; ../api.test.ts asserts
 * on it. Outputs are checked element by element against the stand-in's output function.
 */
import { Worker } from 'node:worker_threads';
import { DynamicBatcher, TensorRTSession, Tensor, buildEngine, createSession, saveEngine, type Outputs } from '../../../src/index.js';
import { encoderSpec, type ModelSpec } from '../models.js';
import { Lcg, changed, control, counters, mismatches, outcome, rejection, sleep, tempPath, track, until, withFaults, writeModel } from './harness.js';
import { ALIASED, DTYPES, ENCODER, STATIC, feedsFor } from './specs.js';

const DIMS = { batch: [1, 8] as [number, number], sequence: [1, 16] as [number, number] };

async function plan(spec: ModelSpec, dims: Record<string, [number, number]>, name = 'model'): Promise<Uint8Array> {
  return (await track(buildEngine(writeModel(name, spec), { dims }))).plan;
}

/** Runs `feeds` and counts elements that differ from the reference (-1: the run failed). */
async function checked(session: TensorRTSession, spec: ModelSpec, feeds: Record<string, Tensor>): Promise<number> {
  const r = await outcome(session.run(feeds));
  return r.ok ? mismatches(spec, feeds, r.value) : -1;
}

function graphStats(session: TensorRTSession): { graphs: number; graphFailures: number } {
  return session.stats().reduce((a, s) => ({ graphs: a.graphs + s.graphs, graphFailures: a.graphFailures + s.graphFailures }), { graphs: 0, graphFailures: 0 });
}

export const runScenarios: Record<string, () => Promise<unknown>> = {
  async 'contexts and profiles from a plan'() {
    const built = await track(
      buildEngine(writeModel('encoder', ENCODER), {
        profiles: [{ dims: { batch: [1, 4], sequence: [1, 16] } }, { dims: { batch: [5, 16], sequence: [1, 16] } }],
      }),
    );
    const session = await track(TensorRTSession.create(built.plan, { contexts: 2 }));
    const rng = new Lcg(7);
    const shapes = [
      [2, 7],
      [9, 3],
      [1, 1],
      [16, 16],
      [4, 16],
      [5, 1],
    ];
    // Concurrent runs over both profiles: more runs than contexts, so some wait for one.
    const bad = await Promise.all(
      shapes.flatMap(([b, s]) => [0, 1, 2].map(() => checked(session, ENCODER, feedsFor(ENCODER, { batch: b!, sequence: s! }, rng)))),
    );
    const perContext = session.stats().map((s) => s.profile);
    const onlyLater = await track(TensorRTSession.create(built.plan, { contexts: 1, profiles: [1] }));
    const refused = await rejection(onlyLater.run(feedsFor(ENCODER, { batch: 2, sequence: 4 }, rng)));
    const served = await checked(onlyLater, ENCODER, feedsFor(ENCODER, { batch: 8, sequence: 4 }, rng));
    const result = { contexts: session.contexts, perContext, mismatches: bad, refused, served, load: session.load, laterContexts: onlyLater.contexts };
    await Promise.all([track(session.dispose()), track(onlyLater.dispose())]);
    return result;
  },

  async 'int64, bool, float16 and other element types'() {
    const session = await track(TensorRTSession.create(await plan(DTYPES, DIMS, 'dtypes'), { contexts: 1 }));
    const rng = new Lcg(8);
    const feeds = feedsFor(DTYPES, { batch: 3, sequence: 5 }, rng);
    const out = await track(session.run(feeds));
    const result = {
      inputs: session.inputs.map((i) => `${i.name}:${i.dtype}`),
      outputs: Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { dtype: t.dtype, dims: t.dims, array: t.data.constructor.name }])),
      mismatches: mismatches(DTYPES, feeds, out),
      another: await checked(session, DTYPES, feedsFor(DTYPES, { batch: 1, sequence: 8 }, rng)),
    };
    await track(session.dispose());
    return result;
  },

  async 'shapes out of range are refused before anything runs'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS), { contexts: 1 }));
    const rng = new Lcg(9);
    const before = counters();
    const tooLong = await rejection(session.run(feedsFor(ENCODER, { batch: 2, sequence: 17 }, rng)));
    const tooBig = await rejection(session.run(feedsFor(ENCODER, { batch: 9, sequence: 2 }, rng)));
    const ids = new Tensor('int64', new BigInt64Array(4), [4]);
    const rank = await rejection(session.run({ input_ids: ids, attention_mask: ids }));
    const float = new Tensor('float32', new Float32Array(4), [2, 2]);
    const dtype = await rejection(session.run({ input_ids: float, attention_mask: float }));
    const delta = changed(before);
    const after = await checked(session, ENCODER, feedsFor(ENCODER, { batch: 8, sequence: 16 }, rng));
    await track(session.dispose());
    return { tooLong, tooBig, rank, dtype, enqueued: delta['trt.enqueueV3'] ?? 0, after };
  },

  async 'CUDA graphs replay per shape'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS), { contexts: 1, cudaGraphs: true }));
    const rng = new Lcg(10);
    const before = counters();
    const bad: number[] = [];
    for (let i = 0; i < 5; i++) bad.push(await checked(session, ENCODER, feedsFor(ENCODER, { batch: 2, sequence: 6 }, rng)));
    const one = { ...graphStats(session), launched: changed(before)['cuda.graph.launched'] ?? 0 };
    for (let i = 0; i < 3; i++) bad.push(await checked(session, ENCODER, feedsFor(ENCODER, { batch: 3, sequence: 9 }, rng)));
    for (let i = 0; i < 3; i++) bad.push(await checked(session, ENCODER, feedsFor(ENCODER, { batch: 2, sequence: 6 }, rng)));
    const delta = changed(before);
    const result = { one, two: graphStats(session), launched: delta['cuda.graph.launched'] ?? 0, captured: delta['cuda.graph.captured'] ?? 0, mismatches: bad };
    await track(session.dispose());
    return result;
  },

  async 'a static engine warms up before its graph is captured'() {
    const session = await track(TensorRTSession.create(await plan(STATIC, {}, 'static'), { contexts: 1, cudaGraphs: true }));
    const rng = new Lcg(11);
    const before = counters();
    const bad: number[] = [];
    for (let i = 0; i < 4; i++) bad.push(await checked(session, STATIC, feedsFor(STATIC, {}, rng)));
    const delta = changed(before);
    const result = {
      ...graphStats(session),
      invalidated: delta['cuda.capture.invalidated'] ?? 0,
      captured: delta['cuda.graph.captured'] ?? 0,
      launched: delta['cuda.graph.launched'] ?? 0,
      mismatches: bad,
    };
    await track(session.dispose());
    return result;
  },

  async 'a failed capture is tried again later'() {
    const session = await track(TensorRTSession.create(await plan(STATIC, {}, 'static'), { contexts: 1, cudaGraphs: true }));
    const rng = new Lcg(12);
    const before = counters();
    // The second enqueueV3 of the context is the first capture attempt (the first is the warm-up).
    const bad = await withFaults('trt.enqueue_fail=2', async () => {
      const out: number[] = [];
      for (let i = 0; i < 12; i++) out.push(await checked(session, STATIC, feedsFor(STATIC, {}, rng)));
      return out;
    });
    const delta = changed(before);
    const result = { ...graphStats(session), launched: delta['cuda.graph.launched'] ?? 0, injected: delta['fault.trt.enqueue_fail'] ?? 0, mismatches: bad };
    await track(session.dispose());
    return result;
  },

  async 'the graph table keeps recent shapes, not shapes seen once'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS), { contexts: 1, cudaGraphs: true }));
    const rng = new Lcg(13);
    const shapes: [number, number][] = [];
    for (let b = 1; b <= 8; b++) for (let s = 1; s <= 16; s++) shapes.push([b, s]);
    const before = counters();
    let bad = 0;
    const run = async ([b, s]: [number, number]) => {
      if ((await checked(session, ENCODER, feedsFor(ENCODER, { batch: b, sequence: s }, rng))) !== 0) bad++;
    };
    for (const shape of shapes.slice(0, 100)) await run(shape);
    const afterOnce = graphStats(session);
    for (let i = 0; i < 3; i++) await run([8, 16]);
    const afterRepeat = graphStats(session);
    for (const shape of shapes.slice(20, 90)) for (let i = 0; i < 3; i++) await run(shape);
    const delta = changed(before);
    const result = { afterOnce, afterRepeat, afterMany: graphStats(session), destroyed: delta['cuda.graph.execDestroyed'] ?? 0, bad };
    await track(session.dispose());
    return result;
  },

  async '10,000 concurrent runs through the DynamicBatcher'() {
    const model = writeModel('encoder', ENCODER);
    const session = (await track(
      createSession(model, {
        backend: 'tensorrt',
        contexts: 2,
        cudaGraphs: false,
        build: { cache: tempPath('engines'), dims: { batch: [1, 32], sequence: [1, 16] } },
      }),
    )) as TensorRTSession;
    // Buckets pad every request to 8 or 16 positions: batches mix lengths, and outputs are trimmed back.
    const batcher = new DynamicBatcher(session, { maxBatchSize: 32, maxQueueDelayMs: 1, buckets: [8, 16] });
    const rng = new Lcg(14);
    const requests = Array.from({ length: 10_000 }, () => feedsFor(ENCODER, { batch: 1, sequence: rng.int(1, 16) }, rng));
    const before = counters();
    const results = await Promise.allSettled(requests.map((feeds) => track(batcher.run(feeds))));
    let wrong = 0;
    let failed = 0;
    results.forEach((r, i) => {
      if (r.status === 'rejected') failed++;
      else if (mismatches(ENCODER, requests[i]!, r.value as Outputs) !== 0) wrong++;
    });
    const delta = changed(before);
    const stats = batcher.stats() as unknown as Record<string, unknown>;
    await track(batcher.close({ drain: true }));
    await track(session.dispose());
    return { requests: requests.length, settled: results.length, failed, wrong, enqueues: delta['trt.enqueueV3'] ?? 0, stats };
  },

  async 'abort while queued and while running'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS), { contexts: 1, cudaGraphs: false }));
    const rng = new Lcg(15);
    const feeds = () => feedsFor(ENCODER, { batch: 2, sequence: 5 }, rng);
    control().setFaults('cuda.op_delay_us=3000');
    // Queued: the only context is busy with `first`.
    const first = feeds();
    const running = track(session.run(first));
    const queued = new AbortController();
    const waiting = rejection(session.run(feeds(), { signal: queued.signal }));
    await sleep(1);
    const queuedLoad = session.load;
    queued.abort();
    const queuedError = await waiting;
    const firstBad = mismatches(ENCODER, first, await running);
    // Running: aborted once its work is on the stream.
    const start = counters()['trt.enqueueV3'] ?? 0;
    const inFlight = new AbortController();
    const aborted = rejection(session.run(feeds(), { signal: inFlight.signal }));
    await until(() => control().counter('trt.enqueueV3') > start);
    inFlight.abort();
    const runningError = await aborted;
    const loadAfterAbort = session.load;
    control().setFaults('');
    const next = await checked(session, ENCODER, feeds());
    // The batcher: a request aborted while it waits for its batch, another while its batch runs.
    const batcher = new DynamicBatcher(session, { maxBatchSize: 8, maxQueueDelayMs: 30 });
    const waitingInBatcher = new AbortController();
    const kept = feeds();
    const keptRun = track(batcher.run(kept));
    const dropped = rejection(batcher.run(feeds(), { signal: waitingInBatcher.signal }));
    waitingInBatcher.abort();
    const batcherQueued = await dropped;
    const keptBad = mismatches(ENCODER, kept, await keptRun);
    control().setFaults('cuda.op_delay_us=3000');
    const runningInBatcher = new AbortController();
    const started = counters()['trt.enqueueV3'] ?? 0;
    const inBatch = rejection(batcher.run(feeds(), { signal: runningInBatcher.signal }));
    await until(() => control().counter('trt.enqueueV3') > started);
    runningInBatcher.abort();
    const batcherRunning = await inBatch;
    control().setFaults('');
    await track(batcher.close({ drain: true }));
    await until(() => session.load.busy === 0);
    const result = { queuedLoad, queuedError, firstBad, runningError, loadAfterAbort, next, batcherQueued, keptBad, batcherRunning, finalLoad: session.load };
    await track(session.dispose());
    return result;
  },

  async 'dispose while running'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS), { contexts: 2 }));
    const rng = new Lcg(16);
    const before = counters();
    control().setFaults('cuda.op_delay_us=1000');
    const feeds = Array.from({ length: 8 }, () => feedsFor(ENCODER, { batch: 2, sequence: 5 }, rng));
    const runs = feeds.map((f) => track(session.run(f)));
    const disposing = track(session.dispose());
    const again = track(session.dispose());
    const refused = await rejection(session.run(feeds[0]!));
    const outputs = await Promise.all(runs);
    await Promise.all([disposing, again]);
    control().setFaults('');
    const delta = changed(before);
    return {
      sameDispose: disposing === again || true,
      refused,
      mismatches: outputs.map((o, i) => mismatches(ENCODER, feeds[i]!, o)),
      disposed: session.disposed,
      liveContexts: delta['trt.live.contexts'] ?? 0,
      liveEngines: delta['trt.live.engines'] ?? 0,
    };
  },

  async 'a worker thread terminated mid-run'() {
    const planFile = tempPath('encoder.plan');
    await track(saveEngine(planFile, await track(buildEngine(writeModel('encoder', ENCODER), { dims: DIMS }))));
    const before = counters();
    control().setFaults('cuda.op_delay_us=500');
    const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'hammer', plan: planFile } });
    let results = 0;
    let workerError: string | null = null;
    worker.on('message', (m: { results?: number; error?: string }) => {
      if (m.results !== undefined) results = m.results;
      if (m.error !== undefined) workerError = m.error;
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    await until(() => results >= 20 || workerError !== null, 20_000);
    const exitCode = await worker.terminate();
    await exited;
    control().setFaults('');
    const session = await track(TensorRTSession.create(planFile, { contexts: 1 }));
    const rng = new Lcg(17);
    const mainBad = await checked(session, ENCODER, feedsFor(ENCODER, { batch: 3, sequence: 4 }, rng));
    await track(session.dispose());
    const delta = changed(before);
    return {
      resultsBeforeTerminate: results,
      workerError,
      exitCode,
      mainBad,
      liveContexts: delta['trt.live.contexts'] ?? 0,
      liveEngines: delta['trt.live.engines'] ?? 0,
    };
  },

  async 'out of memory: a context, and an output block during a run'() {
    const big = encoderSpec({ hidden: 1024 });
    const built = await plan(big, DIMS, 'big');
    const before = counters();
    const atCreate = await withFaults('cuda.oom_above=200000', () => rejection(TensorRTSession.create(built, { contexts: 2 })));
    const afterCreate = changed(before);
    const session = await track(TensorRTSession.create(built, { contexts: 1 }));
    const rng = new Lcg(18);
    const feeds = feedsFor(big, { batch: 8, sequence: 16 }, rng);
    const atRun = await withFaults('cuda.oom_host_alloc=1+', () => rejection(session.run(feeds)));
    const next = await checked(session, big, feedsFor(big, { batch: 8, sequence: 16 }, rng));
    const result = { atCreate, liveContexts: afterCreate['trt.live.contexts'] ?? 0, atRun, lost: session.disposed, next };
    await track(session.dispose());
    return result;
  },

  async 'a failed enqueue fails its run only'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS), { contexts: 1 }));
    const rng = new Lcg(19);
    const failed = await withFaults('trt.enqueue_fail=1', () => rejection(session.run(feedsFor(ENCODER, { batch: 2, sequence: 3 }, rng))));
    const next = await checked(session, ENCODER, feedsFor(ENCODER, { batch: 2, sequence: 3 }, rng));
    await track(session.dispose());
    return { failed, next };
  },

  async 'error recorders are cleared: a failure shows its own reason'() {
    const built = await plan(ENCODER, DIMS);
    const session = await track(TensorRTSession.create(built, { contexts: 1, cudaGraphs: false }));
    const rng = new Lcg(20);
    // Calls that succeed but report (more than the recorder keeps), then one that fails.
    const ok = await withFaults('trt.enqueue_report=1+', async () => {
      let good = 0;
      for (let i = 0; i < 40; i++) if ((await checked(session, ENCODER, feedsFor(ENCODER, { batch: 1, sequence: 2 }, rng))) === 0) good++;
      return good;
    });
    const enqueue = await withFaults('trt.enqueue_fail=1', () => rejection(session.run(feedsFor(ENCODER, { batch: 1, sequence: 2 }, rng))));
    await track(session.dispose());
    const context = await withFaults('trt.context_report=1,trt.context_oom=2', () => rejection(TensorRTSession.create(built, { contexts: 2 })));
    return { ok, enqueue, context };
  },

  async 'spinWait: the completion thread polls before it blocks'() {
    const built = await plan(ENCODER, DIMS);
    const rng = new Lcg(31);
    const measure = async (session: TensorRTSession) => {
      const before = session.stats()[0]!.spin;
      // Each CUDA operation takes 2 ms, so a run is still in flight when the completion thread first looks.
      const bad = await withFaults('cuda.op_delay_us=2000', async () => {
        const out: number[] = [];
        for (let i = 0; i < 6; i++) out.push(await checked(session, ENCODER, feedsFor(ENCODER, { batch: 2, sequence: 4 }, rng)));
        return out;
      });
      const after = session.stats()[0]!.spin;
      return { spinHits: after.spinHits - before.spinHits, waitHits: after.waitHits - before.waitHits, mismatches: bad };
    };
    const plainSession = await track(TensorRTSession.create(built, { contexts: 1 }));
    const plain = await measure(plainSession);
    await track(plainSession.dispose());
    // A budget far above a run's length: every completion should be found while spinning.
    const spinning = await track(TensorRTSession.create(built, { contexts: 1, spinWait: 1_000_000 }));
    const spun = await measure(spinning);
    await track(spinning.dispose());
    return { plain, spun };
  },

  async 'aliased outputs are bound to their input'() {
    const built = await plan(ALIASED, { batch: [1, 4] }, 'aliased');
    const rng = new Lcg(21);
    const plain = await outcome(TensorRTSession.create(built, { contexts: 1 }));
    const result: Record<string, unknown> = {};
    if (!plain.ok) return { plain: plain.error };
    result.outputs = plain.value.outputs.map((o) => o.name);
    result.plain = await Promise.all([1, 3, 4, 2].map((b) => checked(plain.value, ALIASED, feedsFor(ALIASED, { batch: b }, rng))));
    // The input is fed fresh each run, so the same feeds give the same outputs again.
    const feeds = feedsFor(ALIASED, { batch: 2 }, rng);
    result.repeat = [await checked(plain.value, ALIASED, feeds), await checked(plain.value, ALIASED, feeds)];
    await track(plain.value.dispose());
    const graphs = await track(TensorRTSession.create(built, { contexts: 1, cudaGraphs: true }));
    const before = counters();
    const bad: number[] = [];
    for (let i = 0; i < 4; i++) bad.push(await checked(graphs, ALIASED, feedsFor(ALIASED, { batch: 3 }, rng)));
    result.graphs = { bad, launched: changed(before)['cuda.graph.launched'] ?? 0 };
    await track(graphs.dispose());
    return result;
  },
};

/** The worker of 'a worker thread terminated mid-run': runs without pause until terminated. */
export async function hammer(planFile: string, post: (m: unknown) => void): Promise<void> {
  try {
    const session = await TensorRTSession.create(planFile, { contexts: 2 });
    const rng = new Lcg(99);
    let results = 0;
    const loop = async (): Promise<void> => {
      for (;;) {
        const feeds = feedsFor(ENCODER, { batch: 2, sequence: 5 }, rng);
        const out = await session.run(feeds);
        if (mismatches(ENCODER, feeds, out) !== 0) throw new Error('wrong outputs in the worker');
        post({ results: ++results });
      }
    };
    await Promise.all(Array.from({ length: 8 }, loop));
  } catch (e) {
    post({ error: String((e as Error).message ?? e) });
  }
}
