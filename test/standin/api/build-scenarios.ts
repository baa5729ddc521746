/**
 * Scenarios of the build path through the public API (buildEngine, saveEngine, the engine
 * cache, createSession from ONNX), run in a child process with the stand-ins active. Each
 * returns plain data; ../api.test.ts asserts on it. The child is started with two stand-in
 * devices that differ (the timing-cache scenario builds on both).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { TensorRTSession, buildEngine, createSession, saveEngine, type BuildProgressEvent, type BuiltEngine } from '../../../src/index.js';
import { changed, counters, errorData, outcome, rejection, tempPath, track, until, withFaults, writeModel, Lcg, mismatches, control } from './harness.js';
import { ENCODER, ENCODER_B, SHAPE_INPUT, feedsFor } from './specs.js';

const major = Number(process.env.TENSORRT_NODE_TRT_MAJOR);
const DIMS = { batch: [1, 8] as [number, number], sequence: [1, 16] as [number, number] };

function summarize(events: BuildProgressEvent[]): { starts: string[]; finishes: string[]; steps: Record<string, number[]> } {
  const steps: Record<string, number[]> = {};
  for (const e of events) if (e.kind === 'step') (steps[e.phase] ??= []).push(e.step);
  return {
    starts: events.filter((e) => e.kind === 'phaseStart').map((e) => `${e.phase}@${e.depth}`),
    finishes: events.filter((e) => e.kind === 'phaseFinish').map((e) => e.phase),
    steps,
  };
}

async function runOnce(session: TensorRTSession, seed: number): Promise<number> {
  const feeds = feedsFor(ENCODER, { batch: 2, sequence: 5 }, new Lcg(seed));
  return mismatches(ENCODER, feeds, await track(session.run(feeds)));
}

export const buildScenarios: Record<string, () => Promise<unknown>> = {
  async 'profiles and progress'() {
    const model = writeModel('encoder', ENCODER);
    const events: BuildProgressEvent[] = [];
    const before = counters();
    const built = await track(
      buildEngine(model, {
        profiles: [{ dims: { batch: [1, 4], sequence: { min: 1, opt: 8, max: 16 } } }, { dims: { batch: [5, 16], sequence: [1, 32] } }],
        onProgress: (e) => events.push(e),
      }),
    );
    const delta = changed(before);
    const session = await track(TensorRTSession.create(built.plan, { contexts: 1 }));
    const result = {
      fromCache: built.fromCache,
      planBytes: built.plan.byteLength,
      profiles: built.info.profiles,
      sessionProfiles: session.inputs.map((i) => ({ name: i.name, profiles: i.profiles })),
      contexts: session.contexts,
      mismatches: await runOnce(session, 1),
      progress: summarize(events),
      builds: delta['trt.build.completed'] ?? 0,
    };
    await track(session.dispose());
    return result;
  },

  async fp16() {
    const model = writeModel('encoder', ENCODER);
    const flag = await outcome(buildEngine(model, { precision: 'fp16', fp16Mode: 'builder-flag', dims: DIMS }));
    const convert = await outcome(buildEngine(model, { precision: 'fp16', dims: DIMS }));
    return {
      major,
      builderFlag: flag.ok ? { ok: true, options: (flag.value as BuiltEngine).info.options } : { ok: false, error: flag.error },
      convert: convert.ok ? { ok: true, fp16: convert.value.info.fp16 !== undefined, inputs: convert.value.info.inputs } : { ok: false, error: convert.error },
    };
  },

  async 'timing cache reused'() {
    const model = writeModel('encoder', ENCODER);
    const cacheFile = tempPath('timing.cache');
    const first = changed(counters(), await build(model, { timingCache: cacheFile, dims: DIMS }));
    const written = existsSync(cacheFile) ? readFileSync(cacheFile).byteLength : 0;
    const second = changed(counters(), await build(model, { timingCache: cacheFile, dims: DIMS, optimizationLevel: 2 }));
    return {
      written,
      first: { hits: first['trt.timingCache.hits'] ?? 0, misses: first['trt.timingCache.misses'] ?? 0 },
      second: { hits: second['trt.timingCache.hits'] ?? 0, misses: second['trt.timingCache.misses'] ?? 0 },
    };
  },

  async 'timing cache from another device'() {
    // Device 0 and device 1 of this process are different GPUs (TRTN_STANDIN_DEVICES).
    const model = writeModel('encoder', ENCODER);
    const cacheFile = tempPath('timing.cache');
    await build(model, { timingCache: cacheFile, dims: DIMS, device: 0 });
    const other = await buildInfo(model, { timingCache: cacheFile, dims: DIMS, device: 1 });
    const sizes = readFileSync(cacheFile).byteLength;
    // Both devices' timings are in the file now: neither device misses.
    const again0 = changed(counters(), await build(model, { timingCache: cacheFile, dims: DIMS, device: 0, optimizationLevel: 1 }));
    const again1 = changed(counters(), await build(model, { timingCache: cacheFile, dims: DIMS, device: 1, optimizationLevel: 1 }));
    return {
      warnings: other.warnings,
      bytes: sizes,
      device0: { hits: again0['trt.timingCache.hits'] ?? 0, misses: again0['trt.timingCache.misses'] ?? 0 },
      device1: { hits: again1['trt.timingCache.hits'] ?? 0, misses: again1['trt.timingCache.misses'] ?? 0 },
    };
  },

  async 'timing cache written by concurrent builds'() {
    const a = writeModel('encoder-a', ENCODER);
    const b = writeModel('encoder-b', ENCODER_B);
    const cacheFile = tempPath('shared.cache');
    // Several builds at once, each merging its timings into the same file.
    await Promise.all([
      build(a, { timingCache: cacheFile, dims: DIMS }),
      build(b, { timingCache: cacheFile, dims: DIMS }),
      build(a, { timingCache: cacheFile, dims: { ...DIMS, batch: [1, 4] } }),
    ]);
    const before = counters();
    await build(a, { timingCache: cacheFile, dims: DIMS, optimizationLevel: 1 });
    await build(b, { timingCache: cacheFile, dims: DIMS, optimizationLevel: 1 });
    await build(a, { timingCache: cacheFile, dims: { ...DIMS, batch: [1, 4] }, optimizationLevel: 1 });
    const delta = changed(before);
    return { hits: delta['trt.timingCache.hits'] ?? 0, misses: delta['trt.timingCache.misses'] ?? 0, lockFile: existsSync(`${cacheFile}.lock`) };
  },

  async 'cancel by AbortSignal'() {
    const model = writeModel('encoder', ENCODER);
    const before = counters();
    const early = new AbortController();
    early.abort(new Error('not wanted'));
    const refused = await rejection(buildEngine(model, { dims: DIMS, signal: early.signal }));
    const afterEarly = changed(before);
    control().setFaults('trt.build_step_ms=20');
    const controller = new AbortController();
    let steps = 0;
    const cancelled = await rejection(
      buildEngine(model, {
        dims: DIMS,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.kind === 'step' && ++steps === 2) controller.abort();
        },
      }),
    );
    control().setFaults('');
    const delta = changed(before);
    return {
      refused,
      startedBeforeStart: afterEarly['trt.build.started'] ?? 0,
      cancelled,
      steps,
      buildsCancelled: delta['trt.build.cancelled'] ?? 0,
      buildsCompleted: delta['trt.build.completed'] ?? 0,
      liveNetworks: counters()['trt.live.networks'] ?? 0,
      liveBuilders: counters()['trt.live.builders'] ?? 0,
    };
  },

  async 'saveEngine and the sidecar'() {
    const model = writeModel('encoder', ENCODER);
    const built = await track(buildEngine(model, { dims: DIMS }));
    const plan = tempPath('encoder.plan');
    await track(saveEngine(plan, built));
    const sidecar = JSON.parse(readFileSync(`${plan}.json`, 'utf8')) as Record<string, unknown>;
    const session = await track(createSession(plan, { backend: 'tensorrt', contexts: 1 }));
    const result = {
      planEqual: Buffer.compare(readFileSync(plan), Buffer.from(built.plan)) === 0,
      sidecar: { format: sidecar.format, inputs: sidecar.inputs, outputs: sidecar.outputs, profiles: sidecar.profiles, tensorrt: sidecar.tensorrt },
      sessionInputs: session.inputs.map((i) => ({ name: i.name, dtype: i.dtype, dims: i.dims })),
      info: session instanceof TensorRTSession ? session.info?.format : null,
      mismatches: await runOnce(session as TensorRTSession, 2),
    };
    await track(session.dispose());
    return result;
  },

  async 'engine cache and createSession from ONNX'() {
    const model = writeModel('encoder', ENCODER);
    const cacheDir = tempPath('engines');
    const before = counters();
    const open = async () => {
      const s = (await track(createSession(model, { backend: 'tensorrt', contexts: 1, build: { cache: cacheDir, dims: DIMS } }))) as TensorRTSession;
      const r = { engine: s.selection?.engine, mismatches: await runOnce(s, 3), inputs: s.inputs.map((i) => i.dims) };
      await track(s.dispose());
      return r;
    };
    const first = await open();
    const second = await open();
    // A torn cache entry (the plan cut short) is a miss and is rebuilt, never a wrong engine.
    const planPath = (first.engine as { cachePath: string }).cachePath;
    writeFileSync(planPath, readFileSync(planPath).subarray(0, 10));
    const third = await open();
    const delta = changed(before);
    return { first, second, third, builds: delta['trt.build.completed'] ?? 0, sidecarExists: existsSync(`${planPath}.json`) };
  },

  async 'build failures'() {
    const model = writeModel('encoder', ENCODER);
    const parse = await withFaults('trt.parse_node=/head/logits', () => rejection(buildEngine(model, { dims: DIMS })));
    const failed = await withFaults('trt.build_fail=1', () => rejection(buildEngine(model, { dims: DIMS })));
    const oom = await withFaults('trt.build_oom=1', () => rejection(buildEngine(model, { dims: DIMS })));
    const after = await outcome(buildEngine(model, { dims: DIMS }));
    return { parse, failed, oom, afterwards: after.ok, liveNetworks: counters()['trt.live.networks'] ?? 0 };
  },

  async 'null builder and runtime say why'() {
    const model = writeModel('encoder', ENCODER);
    const builder = await withFaults('trt.builder_null=1', () => rejection(buildEngine(model, { dims: DIMS })));
    const built = await track(buildEngine(model, { dims: DIMS }));
    const runtime = await withFaults('trt.runtime_null=1', () => rejection(TensorRTSession.create(built.plan)));
    return { builder, runtime };
  },

  async 'shape-tensor inputs refused after parsing'() {
    const model = writeModel('shape-input', SHAPE_INPUT);
    const before = counters();
    const error = await rejection(buildEngine(model, { dims: { batch: [1, 4] } }));
    const delta = changed(before);
    return { error, parsed: delta['trt.parse.calls'] ?? 0, buildsStarted: delta['trt.build.started'] ?? 0, liveNetworks: counters()['trt.live.networks'] ?? 0 };
  },

  async 'onLog is scoped to its build'() {
    const a = writeModel('encoder-a', ENCODER);
    const b = writeModel('encoder-b', ENCODER_B);
    const plan = (await track(buildEngine(a, { dims: DIMS }))).plan;
    control().setFaults('trt.build_step_ms=5');
    const logsA: string[] = [];
    const logsB: string[] = [];
    // Two builds and a deserialization at once: each build hears its own TensorRT messages.
    const [, , session] = await Promise.all([
      track(buildEngine(a, { dims: DIMS, logLevel: 'info', onLog: (_s, m) => logsA.push(m) })),
      track(buildEngine(b, { dims: DIMS, logLevel: 'info', onLog: (_s, m) => logsB.push(m) })),
      track(TensorRTSession.create(plan, { contexts: 1 })),
    ]);
    control().setFaults('');
    await track(session.dispose());
    const mentions = (logs: string[], what: string) => logs.filter((m) => m.includes(what)).length;
    return {
      a: { own: mentions(logsA, 'outputs last_hidden_state, logits'), other: mentions(logsA, 'pooled_b'), deserialize: mentions(logsA, 'Loaded engine') },
      b: { own: mentions(logsB, 'outputs pooled_b, scores_b'), other: mentions(logsB, 'last_hidden_state'), deserialize: mentions(logsB, 'Loaded engine') },
    };
  },

  async 'model and plan bytes stay valid when JavaScript detaches them'() {
    const model = writeModel('encoder', ENCODER);
    const bytes = new Uint8Array(readFileSync(model));
    control().setFaults('trt.read_delay_ms=100');
    // Detaches the bytes once the native side has started reading them and scribbles over the
    // memory that now belongs to the transferred copy.
    const detachWhen = async (counter: string, view: Uint8Array) => {
      const start = counters()[counter] ?? 0;
      await until(() => control().counter(counter) > start);
      const buffer = view.buffer as ArrayBuffer;
      const moved = new Uint8Array(structuredClone(buffer, { transfer: [buffer] }));
      moved.fill(0xff);
      return view.byteLength === 0;
    };
    const [built, detached] = await Promise.all([outcome(buildEngine(bytes, { dims: DIMS })), detachWhen('trt.parse.calls', bytes)]);
    let deserialized: unknown = 'not run';
    if (built.ok) {
      const plan = new Uint8Array(built.value.plan);
      const [opened, planDetached] = await Promise.all([outcome(TensorRTSession.create(plan, { contexts: 1 })), detachWhen('trt.deserialize.calls', plan)]);
      deserialized = opened.ok ? { ok: true, detached: planDetached, mismatches: await runOnce(opened.value, 4) } : { ok: false, error: opened.error };
      if (opened.ok) await track(opened.value.dispose());
    }
    control().setFaults('');
    return { built: built.ok ? { ok: true, detached } : { ok: false, error: built.error }, deserialized };
  },

  async 'lean runtime plans (excludeLeanRuntime)'() {
    const model = writeModel('encoder', ENCODER);
    const built = await track(buildEngine(model, { dims: DIMS, versionCompatible: true, excludeLeanRuntime: true }));
    const plan = tempPath('lean.plan');
    await track(saveEngine(plan, built));
    const before = counters();
    const fromFile = (await track(createSession(plan, { backend: 'tensorrt', contexts: 1 }))) as TensorRTSession;
    const viaFile = { mismatches: await runOnce(fromFile, 5), loadRuntime: changed(before)['trt.runtime.loadRuntime'] ?? 0 };
    await track(fromFile.dispose());
    // Bytes without a sidecar: TensorRT's refusal comes back, with how to load it.
    const bare = await rejection(TensorRTSession.create(built.plan));
    const asked = await outcome(TensorRTSession.create(built.plan, { leanRuntime: true, contexts: 1 }));
    let viaOption: unknown = asked.ok ? null : asked.error;
    if (asked.ok) {
      viaOption = { mismatches: await runOnce(asked.value, 6) };
      await track(asked.value.dispose());
    }
    return { viaFile, bare, viaOption };
  },
};

async function buildInfo(model: string, options: Parameters<typeof buildEngine>[1]): Promise<BuiltEngine['info']> {
  return (await track(buildEngine(model, options))).info;
}

async function build(model: string, options: Parameters<typeof buildEngine>[1]): Promise<Record<string, number>> {
  await buildInfo(model, options);
  return counters();
}

export { errorData };
