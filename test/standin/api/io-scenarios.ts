/**
 * Scenarios of the I/O path (issue 11) through the public API on the stand-ins: caller-provided
 * outputs, pinned tensors, detached buffers, the size-overflow check, and allocations per run.
 * Each returns plain data; ../api.test.ts asserts on it. Outputs are checked element by element
 * against the stand-in's output function.
 */
import { DeviceTensor, TensorRTSession, Tensor, buildEngine, createSession, stageTimings, type Outputs } from '../../../src/index.js';
import { DeviceBuffer, Stream, copy } from '../../../src/cuda.js';
import { loadAddon } from '../../../src/native.js';
import { engineMeta, profileInputBytes } from '../../../src/backends/tensorrt-io.js';
import { validateFeeds } from '../../../src/backends/feeds.js';
import { encoderSpec, type ModelSpec } from '../models.js';
import { Lcg, changed, counters, mismatches, outcome, rejection, sleep, track, withFaults, writeModel } from './harness.js';
import { ALIASED, DTYPES, ENCODER, feedsFor } from './specs.js';

const DIMS = { batch: [1, 8] as [number, number], sequence: [1, 16] as [number, number] };

async function plan(spec: ModelSpec, dims: Record<string, [number, number]>, name: string): Promise<Uint8Array> {
  return (await track(buildEngine(writeModel(name, spec), { dims }))).plan;
}

/** Tensors to fill for `spec`'s outputs at `sizes`, each filled with `sentinel` (bytes). */
function targetsFor(spec: ModelSpec, sizes: Record<string, number>, sentinel = 0x5a, names?: string[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const t of spec.outputs) {
    if (names !== undefined && !names.includes(t.name)) continue;
    const dims = t.dims.map((d) => (typeof d === 'number' ? d : sizes[d]!));
    const z = Tensor.zeros(t.dtype, dims);
    new Uint8Array(z.data.buffer, z.data.byteOffset, z.data.byteLength).fill(sentinel);
    out[t.name] = z;
  }
  return out;
}

const untouched = (t: Tensor, sentinel = 0x5a): boolean => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).every((b) => b === sentinel);

/** Takes what the encoder's last_hidden_state is: the second stage of a chain. */
const HEAD: ModelSpec = {
  inputs: [{ name: 'h', dtype: 'float32', dims: ['batch', 'sequence', 4] }],
  outputs: [{ name: 'z', dtype: 'float32', dims: ['batch', 2] }],
};

export const ioScenarios: Record<string, () => Promise<unknown>> = {
  async 'caller-provided outputs are filled in place'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS, 'encoder'), { contexts: 2 }));
    const rng = new Lcg(31);
    const sizes = { batch: 3, sequence: 7 };
    const feeds = feedsFor(ENCODER, sizes, rng);
    const plain = await track(session.run(feeds));
    const targets = targetsFor(ENCODER, sizes);
    const got = await track(session.run(feeds, { outputs: targets }));
    const same = Object.keys(targets).every((k) => got[k] === targets[k]);
    const equal = Object.keys(plain).every((k) => Buffer.compare(Buffer.from(plain[k]!.data.buffer), Buffer.from(targets[k]!.data.buffer)) === 0);
    // One output only: the others are not returned, and their memory is not needed.
    const one = targetsFor(ENCODER, sizes, 0x5a, ['logits']);
    const only = await track(session.run(feeds, { outputs: one }));
    // Concurrent runs over both contexts, each into its own tensors, of changing shapes.
    const shapes = [
      [1, 1],
      [8, 16],
      [2, 5],
      [4, 9],
      [8, 3],
      [3, 16],
    ];
    const concurrent = await Promise.all(
      shapes.flatMap(([b, s]) =>
        [0, 1].map(async () => {
          const sz = { batch: b!, sequence: s! };
          const f = feedsFor(ENCODER, sz, rng);
          const t = targetsFor(ENCODER, sz);
          const o = await track(session.run(f, { outputs: t }));
          return Object.keys(t).every((k) => o[k] === t[k]) ? mismatches(ENCODER, f, o) : -1;
        }),
      ),
    );
    const result = {
      same,
      equal,
      mismatches: mismatches(ENCODER, feeds, got),
      only: { keys: Object.keys(only), same: only.logits === one.logits, mismatches: mismatches(ENCODER, feeds, only) },
      concurrent,
    };
    await track(session.dispose());
    return result;
  },

  async 'caller-provided outputs of every element type, and an aliased output'() {
    const dt = await track(TensorRTSession.create(await plan(DTYPES, DIMS, 'dtypes'), { contexts: 1 }));
    const rng = new Lcg(32);
    const sizes = { batch: 3, sequence: 5 };
    const feeds = feedsFor(DTYPES, sizes, rng);
    const got = await track(dt.run(feeds, { outputs: targetsFor(DTYPES, sizes) }));
    await track(dt.dispose());
    const al = await track(TensorRTSession.create(await plan(ALIASED, { batch: [1, 4] }, 'aliased'), { contexts: 1 }));
    const af = feedsFor(ALIASED, { batch: 2 }, rng);
    const ao = await track(al.run(af, { outputs: targetsFor(ALIASED, { batch: 2 }) }));
    await track(al.dispose());
    return { dtypes: mismatches(DTYPES, feeds, got), aliased: mismatches(ALIASED, af, ao), aliasedKeys: Object.keys(ao) };
  },

  async 'wrong caller-provided outputs are refused before anything runs'() {
    // From ONNX through the engine cache: the sidecar names the output dims, so the dims the
    // feeds bind are checked in TypeScript.
    const session = await track(createSession(writeModel('encoder', ENCODER), { backend: 'tensorrt', contexts: 1, build: { dims: DIMS } }));
    const built = await plan(ENCODER, DIMS, 'encoder');
    const rng = new Lcg(33);
    const sizes = { batch: 2, sequence: 6 };
    const feeds = feedsFor(ENCODER, sizes, rng);
    const before = counters();
    const wrongBatch = targetsFor(ENCODER, { batch: 3, sequence: 6 });
    const shape = await rejection(session.run(feeds, { outputs: wrongBatch }));
    const dtype = await rejection(session.run(feeds, { outputs: { logits: Tensor.zeros('float32', [2, 3]) } }));
    const unknown = await rejection(session.run(feeds, { outputs: { nope: Tensor.zeros('float32', [2, 3]) } }));
    // A plan opened from bytes has no sidecar: output dims are -1 to TypeScript, so the dims
    // the run produces are checked natively, still before anything is enqueued.
    const bare = await track(TensorRTSession.create(built, { contexts: 1 }));
    const bareTargets = { last_hidden_state: Tensor.zeros('float32', [2, 5, 4]) };
    new Uint8Array(bareTargets.last_hidden_state.data.buffer).fill(0x5a);
    const native = await rejection(bare.run(feeds, { outputs: bareTargets }));
    const delta = changed(before);
    const after = await outcome(bare.run(feeds, { outputs: targetsFor(ENCODER, sizes) }));
    const result = {
      shape,
      dtype,
      unknown,
      native,
      nativeUntouched: untouched(bareTargets.last_hidden_state),
      untouched: Object.values(wrongBatch).every((t) => untouched(t)),
      enqueued: delta['trt.enqueueV3'] ?? 0,
      copied: delta['cuda.memcpy.bytes'] ?? 0,
      after: after.ok ? mismatches(ENCODER, feeds, after.value) : -1,
    };
    await Promise.all([track(session.dispose()), track(bare.dispose())]);
    return result;
  },

  async 'a target detached while its run is in flight rejects that run only'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS, 'encoder'), { contexts: 1 }));
    const rng = new Lcg(34);
    const sizes = { batch: 2, sequence: 4 };
    const feeds = feedsFor(ENCODER, sizes, rng);
    // Before the run reaches the addon (still in run()'s own microtasks): refused at enqueue.
    const early = targetsFor(ENCODER, sizes);
    const p0 = session.run(feeds, { outputs: early });
    structuredClone(early.logits!.data.buffer, { transfer: [early.logits!.data.buffer as ArrayBuffer] });
    const beforeEnqueue = await rejection(p0);
    // While the stream works (each stand-in operation delayed 20 ms): refused when it settles.
    const late = targetsFor(ENCODER, sizes);
    const inFlight = await withFaults('cuda.op_delay_us=20000', async () => {
      const p = track(session.run(feeds, { outputs: late }));
      await sleep(10);
      structuredClone(late.logits!.data.buffer, { transfer: [late.logits!.data.buffer as ArrayBuffer] });
      return rejection(p);
    });
    const after = await outcome(session.run(feeds));
    await track(session.dispose());
    return {
      beforeEnqueue,
      inFlight,
      lateOther: untouched(late.last_hidden_state!) ? 'untouched' : 'written',
      after: after.ok ? mismatches(ENCODER, feeds, after.value) : -1,
    };
  },

  async 'detached feeds and targets are refused (P0-3)'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS, 'encoder'), { contexts: 1 }));
    const rng = new Lcg(35);
    const feeds = feedsFor(ENCODER, { batch: 2, sequence: 4 }, rng);
    const gone = feedsFor(ENCODER, { batch: 2, sequence: 4 }, rng);
    structuredClone(gone.input_ids!.data.buffer, { transfer: [gone.input_ids!.data.buffer as ArrayBuffer] });
    const before = counters();
    const feed = await rejection(session.run(gone));
    const targets = targetsFor(ENCODER, { batch: 2, sequence: 4 });
    structuredClone(targets.logits!.data.buffer, { transfer: [targets.logits!.data.buffer as ArrayBuffer] });
    const target = await rejection(session.run(feeds, { outputs: targets }));
    const enqueued = changed(before)['trt.enqueueV3'] ?? 0;
    const after = await outcome(session.run(feeds));
    await track(session.dispose());
    return { feed, target, enqueued, after: after.ok ? mismatches(ENCODER, feeds, after.value) : -1 };
  },

  async 'pinned tensors from the session are fed and filled without staging'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS, 'encoder'), { contexts: 2 }));
    const rng = new Lcg(36);
    const sizes = { batch: 4, sequence: 8 };
    const plainFeeds = feedsFor(ENCODER, sizes, rng);
    const feeds: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(plainFeeds)) {
      const p = session.allocPinned(t.type, t.dims);
      (p.data as BigInt64Array).set(t.data as BigInt64Array);
      feeds[k] = p;
    }
    const targets: Record<string, Tensor> = {};
    for (const o of ENCODER.outputs) {
      const dims = o.dims.map((d) => (typeof d === 'number' ? d : sizes[d as 'batch' | 'sequence']));
      targets[o.name] = session.allocPinned(o.dtype, dims);
    }
    const zero = session.allocPinned('float32', [2, 3]);
    const locations = {
      feed: feeds.input_ids!.location,
      target: targets.logits!.location,
      plain: plainFeeds.input_ids!.location,
      zeroed: zero.data.every((x) => x === 0),
    };
    const before = counters();
    const out: Outputs[] = [];
    for (let i = 0; i < 5; i++) out.push(await track(session.run(feeds, { outputs: targets })));
    const delta = changed(before);
    const bad = out.map((o) => mismatches(ENCODER, plainFeeds, o));
    const wrongType = await outcome(Promise.resolve().then(() => session.allocPinned('float64' as never, [2])));
    await track(session.dispose());
    const disposed = await outcome(Promise.resolve().then(() => session.allocPinned('float32', [2])));
    return {
      locations,
      bad,
      same: out.every((o) => o.logits === targets.logits),
      pageable: delta['cuda.memcpy.pageable'] ?? 0,
      hostAllocations: delta['cuda.live.hostAllocations'] ?? 0,
      wrongType: wrongType.ok ? 'allocated' : wrongType.error,
      disposed: disposed.ok ? 'allocated' : disposed.error,
    };
  },

  async 'outputs handed over as pinned blocks say cpu-pinned and are read in place when fed back'() {
    // last_hidden_state at 8 x 16 x 256 float32 is 128 KiB: above the zero-copy threshold (64 KiB).
    const WIDE = encoderSpec({ hidden: 256 });
    const session = await track(TensorRTSession.create(await plan(WIDE, DIMS, 'wide'), { contexts: 1 }));
    const feeds = feedsFor(WIDE, { batch: 8, sequence: 16 }, new Lcg(41));
    const out = await track(session.run(feeds));
    const locations = { hidden: out.last_hidden_state!.location, logits: out.logits!.location };
    const bad = mismatches(WIDE, feeds, out);
    // Aborted while it runs, a run reading a pinned feed in place rejects only when it is done.
    const pinned = session.allocPinned('int64', [8, 16]);
    (pinned.data as BigInt64Array).set(feeds.input_ids!.data as BigInt64Array);
    const ac = new AbortController();
    const aborted = session.run({ input_ids: pinned, attention_mask: feeds.attention_mask! }, { signal: ac.signal });
    ac.abort();
    const abortedRun = await outcome(aborted);
    const after = await outcome(session.run(feeds));
    await track(session.dispose());
    return { locations, bad, aborted: abortedRun.ok ? 'resolved' : abortedRun.error, after: after.ok ? mismatches(WIDE, feeds, after.value) : -1 };
  },

  async 'no allocation per run with caller-provided outputs'() {
    const session = await track(TensorRTSession.create(await plan(ENCODER, DIMS, 'encoder'), { contexts: 2 }));
    const rng = new Lcg(37);
    const sizes = { batch: 8, sequence: 16 };
    const feeds = feedsFor(ENCODER, sizes, rng);
    const targets = targetsFor(ENCODER, sizes);
    await track(session.run(feeds, { outputs: targets }));
    await track(session.run(feeds));
    const runs = 2000;
    // The child runs with --expose-gc: start each loop from a collected heap.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) throw new Error('run the io group with node --expose-gc');
    const settle = async (): Promise<void> => {
      // Backing stores of collected ArrayBuffers are freed after the collection: let that finish.
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
    };
    const measure = async (options: { outputs?: Record<string, Tensor> }) => {
      await settle();
      const c0 = counters();
      const ab0 = process.memoryUsage().arrayBuffers;
      for (let i = 0; i < runs; i++) await session.run(feeds, options);
      const d = changed(c0);
      return {
        arrayBufferGrowth: process.memoryUsage().arrayBuffers - ab0,
        hostAllocations: d['cuda.live.hostAllocations'] ?? 0,
        deviceAllocations: d['cuda.live.deviceAllocations'] ?? 0,
      };
    };
    // Plain runs allocate an ArrayBuffer per output per run (collected later): measured for the report only.
    const filled = await measure({ outputs: targets });
    const plain = await measure({});
    const outputBytes = Object.values(targets).reduce((a, t) => a + t.byteLength, 0);
    const result = { runs, outputBytes, plain, filled, mismatches: mismatches(ENCODER, feeds, targets) };
    await track(session.dispose());
    return result;
  },

  async 'sizes that overflow are refused natively (ERR_INVALID_ARG)'() {
    const addon = loadAddon();
    const engine = await track(addon.trtDeserialize!(await plan(ENCODER, DIMS, 'encoder'), { device: 0, allowHostCode: false }));
    const meta = engineMeta(engine.describe());
    const [ctx] = await track(engine.createContexts([{ profile: 0, inputBytes: profileInputBytes(meta, 0), cudaGraphs: false }]));
    const before = counters();
    // 2^31 x 2^30 int64 elements are 2^64 bytes: the product wraps to 0, which matched an empty array before.
    const huge = [2 ** 31, 2 ** 30];
    const overflow = await rejection(Promise.resolve().then(() => ctx!.run([new BigInt64Array(0), new BigInt64Array(0)], [...huge, ...huge])));
    const enqueued = changed(before)['trt.enqueueV3'] ?? 0;
    const rng = new Lcg(38);
    const f = feedsFor(ENCODER, { batch: 2, sequence: 3 }, rng);
    const after = await outcome(Promise.resolve().then(() => ctx!.run([f.input_ids!.data, f.attention_mask!.data], [2, 3, 2, 3])));
    ctx!.dispose();
    engine.dispose();
    return { overflow, enqueued, after: after.ok ? (after.value ?? []).length : after.error };
  },
  async 'device tensors: outputs kept on the GPU feed a second session without host copies'() {
    const a = await track(TensorRTSession.create(await plan(ENCODER, DIMS, 'encoder'), { contexts: 2 }));
    const b = await track(TensorRTSession.create(await plan(HEAD, DIMS, 'head'), { contexts: 1 }));
    const rng = new Lcg(39);
    const sizes = { batch: 3, sequence: 5 };
    const feeds = feedsFor(ENCODER, sizes, rng);
    const hidden = await a.allocDevice('float32', [3, 5, 4]);
    const zeroed = (await hidden.getData()).every((x) => x === 0);
    const before = counters();
    const first = await track(a.run(feeds, { outputs: { last_hidden_state: hidden } }));
    const chained = await track(b.run({ h: hidden }));
    const delta = changed(before);
    // The same through the host: the device tensor copied back, then fed as a host tensor.
    const host = await hidden.toHost();
    const viaHost = await track(b.run({ h: host }));
    const plainA = await track(a.run(feeds));
    // A device feed and a device output in one run, and a host output beside a device one.
    const z = await b.allocDevice('float32', [3, 2]);
    await track(b.run({ h: hidden }, { outputs: { z } }));
    const zHost = await z.toHost();
    // A DeviceTensor over the caller's own DeviceBuffer (not freed by the tensor's dispose()).
    const stream = new Stream(0);
    const own = new DeviceBuffer(host.byteLength, { stream });
    await copy(own, host.data, { stream });
    const wrapped = DeviceTensor.fromBuffer(own, 'float32', [3, 5, 4]);
    const fromOwn = await track(b.run({ h: wrapped }));
    wrapped.dispose();
    // The same memory as a raw device pointer with its owner (as another library would give it).
    const pointer = DeviceTensor.fromPointer(own.address, 'float32', [3, 5, 4], { owner: own });
    const fromPointer = await track(b.run({ h: pointer }));
    const badPointer = {
      pastEnd: await rejection(Promise.resolve().then(() => DeviceTensor.fromPointer(own.address + 16n, 'float32', [3, 5, 4], { owner: own }))),
      otherGpu: await rejection(Promise.resolve().then(() => DeviceTensor.fromPointer(own.address, 'float32', [3, 5, 4], { device: 1 }))),
      notDevice: await rejection(Promise.resolve().then(() => DeviceTensor.fromPointer(0x1000n, 'float32', [2]))),
    };
    pointer.dispose();
    const ownAlive = !own.freed;
    own.free();
    stream.dispose();
    const result = {
      zeroed,
      location: hidden.location,
      returned: first.last_hidden_state === hidden,
      hiddenEqual: Buffer.compare(Buffer.from(host.data.buffer), Buffer.from(plainA.last_hidden_state!.data.buffer)) === 0,
      chainMismatches: mismatches(HEAD, { h: host }, chained),
      sameAsHost: Buffer.compare(Buffer.from(chained.z!.data.buffer), Buffer.from(viaHost.z!.data.buffer)) === 0,
      deviceOut: Buffer.compare(Buffer.from(zHost.data.buffer), Buffer.from(viaHost.z!.data.buffer)) === 0,
      fromOwn: mismatches(HEAD, { h: host }, fromOwn),
      fromPointer: mismatches(HEAD, { h: host }, fromPointer),
      badPointer,
      ownAlive,
      pageable: delta['cuda.memcpy.pageable'] ?? 0,
    };
    hidden.dispose();
    z.dispose();
    await Promise.all([track(a.dispose()), track(b.dispose())]);
    return result;
  },

  async 'device tensors: dispose, wrong dims or dtype, another GPU, the ONNX Runtime backend'() {
    const built = await plan(HEAD, DIMS, 'head');
    const s0 = await track(TensorRTSession.create(built, { contexts: 1 }));
    const s1 = await track(TensorRTSession.create(built, { contexts: 1, device: 1 }));
    const rng = new Lcg(40);
    const on1 = await s1.allocDevice('float32', [2, 3, 4]);
    const before = counters();
    const otherGpu = await rejection(s0.run({ h: on1 }));
    const otherGpuTarget = await rejection(s0.run(feedsFor(HEAD, { batch: 2, sequence: 3 }, rng), { outputs: { z: await s1.allocDevice('float32', [2, 2]) } }));
    const wrongDtype = await rejection(s0.run(feedsFor(HEAD, { batch: 2, sequence: 3 }, rng), { outputs: { z: await s0.allocDevice('int32', [2, 2]) } }));
    const wrongDims = await rejection(s0.run(feedsFor(HEAD, { batch: 2, sequence: 3 }, rng), { outputs: { z: await s0.allocDevice('float32', [3, 2]) } }));
    const onS1 = await outcome(s1.run({ h: on1 }));
    const gone = await s0.allocDevice('float32', [2, 3, 4]);
    gone.dispose();
    const disposedFeed = await rejection(s0.run({ h: gone }));
    const disposedHost = await rejection(gone.toHost());
    const enqueued = changed(before)['trt.enqueueV3'] ?? 0;
    // The feed check the ONNX Runtime backend (and compare(), the batcher) runs: no DeviceTensors.
    const onnxruntime = await rejection(Promise.resolve().then(() => validateFeeds(s0.inputs, { h: on1 })));
    on1.dispose();
    await Promise.all([track(s0.dispose()), track(s1.dispose())]);
    return {
      otherGpu,
      otherGpuTarget,
      wrongDtype,
      wrongDims,
      onS1: onS1.ok ? Object.keys(onS1.value) : onS1.error,
      disposedFeed,
      disposedHost,
      enqueued,
      onnxruntime,
    };
  },
  async 'stage timings per run and summed in stats()'() {
    const built = await plan(ENCODER, DIMS, 'encoder');
    const timed = await track(TensorRTSession.create(built, { contexts: 2, timings: true, cudaGraphs: true }));
    const rng = new Lcg(41);
    const runs = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const sizes = { batch: 1 + (i % 4), sequence: 3 };
        const feeds = feedsFor(ENCODER, sizes, rng);
        const out = await track(timed.run(feeds, i % 2 === 0 ? { outputs: targetsFor(ENCODER, sizes) } : {}));
        return { t: stageTimings(out), bad: mismatches(ENCODER, feeds, out) };
      }),
    );
    const valid = (t: { h2dMs: number; computeMs: number; d2hMs: number } | undefined): boolean =>
      t !== undefined && [t.h2dMs, t.computeMs, t.d2hMs].every((x) => Number.isFinite(x) && x >= 0);
    const totals = timed.stageTotals();
    const perContext = timed.stats().map((s) => s.timings.runs);
    const sum = (k: 'h2dMs' | 'computeMs' | 'd2hMs') => runs.reduce((a, r) => a + r.t![k], 0);
    const consistent = (['h2dMs', 'computeMs', 'd2hMs'] as const).every((k) => Math.abs(sum(k) - totals[k]) <= 1e-6 * Math.max(1, totals[k]));
    await track(timed.dispose());
    const plain = await track(TensorRTSession.create(built, { contexts: 1 }));
    const feeds = feedsFor(ENCODER, { batch: 2, sequence: 2 }, rng);
    const untimed = stageTimings(await track(plain.run(feeds)));
    const perRun = stageTimings(await track(plain.run(feeds, { timings: true })));
    const plainTotals = plain.stageTotals();
    await track(plain.dispose());
    return {
      allValid: runs.every((r) => valid(r.t)),
      bad: runs.map((r) => r.bad),
      totalRuns: totals.runs,
      perContext: perContext.reduce((a, b) => a + b, 0),
      consistent,
      untimed: untimed === undefined,
      perRun: valid(perRun),
      plainRuns: plainTotals.runs,
    };
  },
};
