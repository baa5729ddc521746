/**
 * The whole native path through the public API (buildEngine, saveEngine, the engine cache,
 * createSession, TensorRTSession, DynamicBatcher) on the stand-in CUDA driver and TensorRT, for
 * each TensorRT major. The scenarios (api/*-scenarios.ts) run in child processes, because the
 * stand-ins must be on LD_LIBRARY_PATH when the process starts; each child runs a group of them
 * and prints one JSON line per scenario; the tests here assert on those lines. Outputs are
 * checked element by element against the stand-in's output function (reference.ts).
 *
 * These prove our glue (lifetimes, threads, promises, errors, shapes, addresses, copies, the
 * engine-path fixes of issue 13), never TensorRT's own behaviour: see README.md.
 *
 * TRTN_STANDIN_DIR and TRTN_STANDIN_ADDON_DIR point the children at other builds (the
 * sanitizer run, scripts/test-sanitized.mjs), TRTN_STANDIN_PRELOAD at a library they preload.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonSkipReason, bundleScenarios, repoRoot, runScenarioChild, sdkVersions, standinChildEnv, standinDir, type ScenarioChild } from './helpers.js';

const versions = sdkVersions();
const control = join(standinDir, 'trtn_standin_control.node');

function skipReason(): string {
  const s = addonSkipReason();
  if (s) return s;
  return existsSync(control) ? '' : `${control} was not built (node-api-headers missing?)`;
}
const skip = skipReason();
if (skip) console.warn(`public-API stand-in tests skipped: ${skip}`);
const majors = skip ? [0] : Object.keys(versions).map(Number);

const GROUPS = ['build', 'run', 'sticky', 'io', 'exit'] as const;
type Group = (typeof GROUPS)[number];

const results = new Map<string, ScenarioChild>();
let bundleDir = '';
let bundle = '';

function run(major: number, group: Group): Promise<ScenarioChild> {
  const env = standinChildEnv(major, {
    TENSORRT_NODE_CACHE: join(bundleDir, `cache-${major}-${group}`),
    TRTN_STANDIN_CONTROL: control,
    // Two GPUs that differ, for the timing-cache scenario; device 0 is the default one.
    TRTN_STANDIN_DEVICES: 'name=tensorrt-node stand-in GPU,cc=8.9,sms=76;name=tensorrt-node stand-in GPU B,cc=8.9,sms=132,memory=24GiB',
  });
  // --expose-gc: the io group measures allocations per run from a collected heap.
  return runScenarioChild(bundle, ['--expose-gc'], [group], env);
}

beforeAll(async () => {
  if (skip) return;
  ({ dir: bundleDir, bundle } = await bundleScenarios(join(repoRoot, 'test', 'standin', 'api', 'main.ts'), 'standin-api'));
  const jobs = majors.flatMap((major) => GROUPS.map((group) => ({ major, group })));
  await Promise.all(jobs.map(async ({ major, group }) => results.set(`${major}/${group}`, await run(major, group))));
}, 300_000);

afterAll(() => {
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

/** The value scenario `name` of `group` returned; fails with the child's error otherwise. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function value(major: number, group: Group, name: string): any {
  const r = results.get(`${major}/${group}`);
  if (r === undefined) throw new Error(`the ${group} child for TensorRT ${major} did not run`);
  const line = r.lines.get(name);
  if (line === undefined) {
    throw new Error(`scenario "${name}" printed nothing (exit ${r.status ?? r.signal}); stderr:\n${r.stderr.slice(-4000)}`);
  }
  if (!line.ok) throw new Error(`scenario "${name}" failed: ${line.error?.stack ?? line.error?.message}`);
  return line.value;
}

/** Crash reports a child must not print: signals, aborts, sanitizer findings. */
const CRASH = /AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault|Aborted|terminate called|FATAL ERROR|is not implemented by the stand-in/;

function expectCleanChild(major: number, group: Group): void {
  const r = results.get(`${major}/${group}`)!;
  expect(r.stderr).not.toMatch(CRASH);
  expect(r.signal).toBeNull();
  expect(r.status).toBe(0);
}

const isError = (code: string, ...parts: string[]) =>
  expect.objectContaining({ code, message: expect.stringMatching(new RegExp(parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^]*'))) });

for (const major of majors) {
  const version = versions[major] ?? '';
  describe.skipIf(skip !== '')(`public API on the TensorRT ${version || '(none)'} stand-ins${skip ? ` (skipped: ${skip})` : ''}`, () => {
    // ---- builds ------------------------------------------------------------------------------

    it('builds from ONNX with two optimization profiles, reporting nested progress', () => {
      const v = value(major, 'build', 'profiles and progress');
      const p0 = { min: [1, 1], opt: [4, 8], max: [4, 16] };
      const p1 = { min: [5, 1], opt: [16, 32], max: [16, 32] };
      expect(v.profiles).toEqual([
        { input_ids: p0, attention_mask: p0 },
        { input_ids: p1, attention_mask: p1 },
      ]);
      expect(v.sessionProfiles).toEqual([
        { name: 'input_ids', profiles: [p0, p1] },
        { name: 'attention_mask', profiles: [p0, p1] },
      ]);
      expect(v).toMatchObject({ fromCache: false, contexts: 2, mismatches: 0, builds: 1 });
      expect(v.progress.starts).toEqual(['Building engine@0', 'Optimizing network@1', 'Selecting tactics@1', 'Serializing engine@1']);
      expect(v.progress.finishes).toEqual(['Optimizing network', 'Selecting tactics', 'Serializing engine', 'Building engine']);
      // Steps are throttled, but each phase's last step is always reported (4 tactics: 2 outputs x 2 profiles).
      expect(v.progress.steps['Selecting tactics'].at(-1)).toBe(3);
      expect(v.progress.steps['Building engine'].at(-1)).toBe(2);
    });

    it(
      major >= 11
        ? 'refuses FP16 through the builder flag on 11.x, converts the model instead'
        : 'builds FP16 with the kFP16 builder flag on 10.x, and by conversion',
      () => {
        const v = value(major, 'build', 'fp16');
        if (major >= 11) {
          expect(v.builderFlag.ok).toBe(false);
          expect(v.builderFlag.error).toEqual(isError('ERR_INVALID_ARG', "fp16Mode 'builder-flag' needs TensorRT 10.x", 'removed BuilderFlag::kFP16'));
        } else {
          expect(v.builderFlag).toMatchObject({ ok: true, options: { precision: 'fp16', fp16Mode: 'builder-flag' } });
        }
        expect(v.convert).toMatchObject({ ok: true, fp16: true });
      },
    );

    it('writes a timing cache and hits every tactic from it on the next build', () => {
      const v = value(major, 'build', 'timing cache reused');
      expect(v.written).toBeGreaterThan(0);
      expect(v.first).toEqual({ hits: 0, misses: 2 });
      expect(v.second).toEqual({ hits: 2, misses: 0 });
    });

    it("uses a timing cache from another GPU (ignoreMismatch) and keeps that GPU's timings in the file", () => {
      const v = value(major, 'build', 'timing cache from another device');
      expect(v.warnings).toEqual([expect.stringContaining('was made on another device; it was used anyway')]);
      expect(v.device0).toEqual({ hits: 2, misses: 0 });
      expect(v.device1).toEqual({ hits: 2, misses: 0 });
    });

    it('merges concurrent builds into one timing-cache file under a lock, losing none', () => {
      const v = value(major, 'build', 'timing cache written by concurrent builds');
      expect(v).toEqual({ hits: 6, misses: 0, lockFile: true });
    });

    it('cancels a build by AbortSignal, before it starts and at a progress step, freeing the network', () => {
      const v = value(major, 'build', 'cancel by AbortSignal');
      expect(v.refused).toEqual(isError('ERR_ABORTED', 'buildEngine() was aborted'));
      expect(v.startedBeforeStart).toBe(0);
      expect(v.cancelled).toEqual(isError('ERR_ABORTED', 'buildEngine() was aborted'));
      // Aborted at the second step; steps already on their way to JS may still arrive.
      expect(v.steps).toBeGreaterThanOrEqual(2);
      expect(v).toMatchObject({ buildsCancelled: 1, buildsCompleted: 0, liveNetworks: 0, liveBuilders: 0 });
    });

    it('saveEngine writes the plan and its sidecar; a session from the file has the symbolic dims', () => {
      const v = value(major, 'build', 'saveEngine and the sidecar');
      expect(v.planEqual).toBe(true);
      expect(v.sidecar.format).toBe('tensorrt-node/engine-info@1');
      expect(v.sidecar.tensorrt).toEqual({ version: version, headers: version });
      // Output dims are named from the ONNX graph (TensorRT's parser names inputs' only).
      expect(v.sidecar.outputs).toEqual([
        { name: 'last_hidden_state', dtype: 'float32', dims: ['batch', 'sequence', 4] },
        { name: 'logits', dtype: 'float16', dims: ['batch', 3] },
      ]);
      expect(v.sessionInputs).toEqual([
        { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
        { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
      ]);
      expect(v).toMatchObject({ info: 'tensorrt-node/engine-info@1', mismatches: 0 });
    });

    it('createSession from ONNX builds through the engine cache, reuses it, and rebuilds a torn entry', () => {
      const v = value(major, 'build', 'engine cache and createSession from ONNX');
      expect(v.first.engine.fromCache).toBe(false);
      expect(v.second.engine).toEqual({ fromCache: true, cachePath: v.first.engine.cachePath });
      expect(v.third.engine.fromCache).toBe(false);
      expect([v.first.mismatches, v.second.mismatches, v.third.mismatches]).toEqual([0, 0, 0]);
      expect(v).toMatchObject({ builds: 2, sidecarExists: true });
    });

    it('parse errors, failed builds and out-of-memory builds reject with their codes and free the network', () => {
      const v = value(major, 'build', 'build failures');
      expect(v.parse).toEqual(isError('ERR_ONNX_PARSE', 'node 1 "/head/logits" (Compute)', 'kUNSUPPORTED_NODE'));
      expect(v.failed).toEqual(isError('ERR_TENSORRT', 'buildSerializedNetwork failed', 'stand-in fault trt.build_fail'));
      expect(v.oom).toEqual(isError('ERR_CUDA_OOM', 'out of memory'));
      expect(v).toMatchObject({ afterwards: true, liveNetworks: 0 });
    });

    it('a null builder or runtime reports what TensorRT logged (bug 2)', () => {
      const v = value(major, 'build', 'null builder and runtime say why');
      expect(v.builder).toEqual(isError('ERR_TENSORRT', 'createInferBuilder failed: ', 'stand-in fault trt.builder_null'));
      expect(v.runtime).toEqual(isError('ERR_TENSORRT', 'createInferRuntime failed: ', 'stand-in fault trt.runtime_null'));
      expect(v.builder.message).not.toContain('gave no reason');
    });

    it('refuses shape-tensor inputs right after parsing, naming them (bug 6)', () => {
      const v = value(major, 'build', 'shape-tensor inputs refused after parsing');
      expect(v.error).toEqual(isError('ERR_TENSORRT', '"target_shape" (int64 [2]) is a shape tensor'));
      expect(v).toMatchObject({ parsed: 1, buildsStarted: 0, liveNetworks: 0 });
    });

    it("a build's onLog hears its own TensorRT messages, not a concurrent build's or deserialization's (bug 10)", () => {
      const v = value(major, 'build', 'onLog is scoped to its build');
      expect(v.a).toEqual({ own: 1, other: 0, deserialize: 0 });
      expect(v.b).toEqual({ own: 1, other: 0, deserialize: 0 });
    });

    it('model and plan bytes detached by JavaScript mid-call do not reach the native side (bug 8)', () => {
      const v = value(major, 'build', 'model and plan bytes stay valid when JavaScript detaches them');
      expect(v.built).toEqual({ ok: true, detached: true });
      expect(v.deserialized).toEqual({ ok: true, detached: true, mismatches: 0 });
    });

    it('plans built with excludeLeanRuntime load through the lean runtime (bug 9)', () => {
      const v = value(major, 'build', 'lean runtime plans (excludeLeanRuntime)');
      expect(v.viaFile).toEqual({ mismatches: 0, loadRuntime: 1 });
      expect(v.bare).toEqual(isError('ERR_TENSORRT', 'kEXCLUDE_LEAN_RUNTIME', 'loadRuntime'));
      expect(v.viaOption).toEqual({ mismatches: 0 });
    });

    it('the build child settled every promise and exited cleanly', () => {
      const v = value(major, 'build', '__promises');
      expect(v.created).toBeGreaterThan(40);
      expect(v.settled).toBe(v.created);
      expectCleanChild(major, 'build');
    });

    // ---- runs --------------------------------------------------------------------------------

    it('a plan with two profiles gets contexts per profile; runs of both are right; options.profiles limits them', () => {
      const v = value(major, 'run', 'contexts and profiles from a plan');
      expect(v.contexts).toBe(4);
      expect(v.perContext).toEqual([0, 0, 1, 1]);
      expect(v.mismatches).toEqual(new Array(18).fill(0));
      expect(v.refused).toEqual(isError('ERR_PROFILE_RANGE', 'fit optimization profile(s) 0', 'profile(s) 1 only (options.profiles)'));
      expect(v).toMatchObject({ served: 0, load: { queued: 0, busy: 0, contexts: 4 }, laterContexts: 1 });
    });

    it('exchanges int64, bool, float16, int32, int8, uint8 and float32 tensors', () => {
      const v = value(major, 'run', 'int64, bool, float16 and other element types');
      expect(v.inputs).toEqual(['ids:int64', 'flags:bool', 'scale:float16', 'bias:int32']);
      expect(v.outputs).toEqual({
        o_f16: { dtype: 'float16', dims: [3, 5], array: 'Uint16Array' },
        o_i64: { dtype: 'int64', dims: [3], array: 'BigInt64Array' },
        o_bool: { dtype: 'bool', dims: [3, 5], array: 'Uint8Array' },
        o_i32: { dtype: 'int32', dims: [3, 2], array: 'Int32Array' },
        o_i8: { dtype: 'int8', dims: [3, 3], array: 'Int8Array' },
        o_u8: { dtype: 'uint8', dims: [3], array: 'Uint8Array' },
        o_f32: { dtype: 'float32', dims: [3, 5, 2], array: 'Float32Array' },
      });
      expect(v).toMatchObject({ mismatches: 0, another: 0 });
    });

    it('refuses dims outside the profile (ERR_PROFILE_RANGE), wrong ranks and dtypes before anything is enqueued', () => {
      const v = value(major, 'run', 'shapes out of range are refused before anything runs');
      expect(v.tooLong).toEqual(isError('ERR_PROFILE_RANGE', 'input "input_ids" dims [2, 17]', 'dim 1 is 17, allowed 1..16'));
      expect(v.tooBig).toEqual(isError('ERR_PROFILE_RANGE', 'dims [9, 2]', 'dim 0 is 9, allowed 1..8'));
      expect(v.rank).toEqual(isError('ERR_SHAPE', 'must have rank 2'));
      expect(v.dtype).toEqual(isError('ERR_DTYPE', 'must be int64, got float32'));
      expect(v).toMatchObject({ enqueued: 0, after: 0 });
    });

    it('spinWait: completions are found by polling instead of a blocking wait; without it the thread blocks', () => {
      const v = value(major, 'run', 'spinWait: the completion thread polls before it blocks');
      expect(v.plain.spinHits).toBe(0);
      expect(v.plain.waitHits).toBeGreaterThanOrEqual(6);
      expect(v.spun.spinHits).toBeGreaterThanOrEqual(1);
      expect(v.spun.spinHits + v.spun.waitHits).toBeGreaterThanOrEqual(6);
      expect([...v.plain.mismatches, ...v.spun.mismatches]).toEqual(new Array(12).fill(0));
    });

    it('CUDA graphs: captured per shape, replayed (counted by the driver and session.stats())', () => {
      const v = value(major, 'run', 'CUDA graphs replay per shape');
      expect(v.one).toEqual({ graphs: 1, graphFailures: 0, launched: 4 });
      expect(v.two).toEqual({ graphs: 2, graphFailures: 0 });
      expect(v).toMatchObject({ launched: 8, captured: 2 });
      expect(v.mismatches).toEqual(new Array(11).fill(0));
    });

    it("a context's first run is not captured: a static engine gets its graph on the second (bug 1)", () => {
      const v = value(major, 'run', 'a static engine warms up before its graph is captured');
      expect(v).toEqual({ graphs: 1, graphFailures: 0, invalidated: 0, captured: 1, launched: 3, mismatches: [0, 0, 0, 0] });
    });

    it('a failed capture does not disable graphs for its shape for good (bug 1)', () => {
      const v = value(major, 'run', 'a failed capture is tried again later');
      expect(v.injected).toBe(1);
      expect(v.graphFailures).toBe(1);
      expect(v.graphs).toBe(1);
      expect(v.launched).toBeGreaterThan(0);
      expect(v.mismatches).toEqual(new Array(12).fill(0));
    });

    it('the graph table takes no slot for shapes run once and evicts the least recently used (bug 4)', () => {
      const v = value(major, 'run', 'the graph table keeps recent shapes, not shapes seen once');
      expect(v.afterOnce).toEqual({ graphs: 0, graphFailures: 0 });
      expect(v.afterRepeat).toEqual({ graphs: 1, graphFailures: 0 });
      expect(v.afterMany).toEqual({ graphs: 64, graphFailures: 0 });
      // 71 shapes captured, 64 kept.
      expect(v.destroyed).toBe(7);
      expect(v.bad).toBe(0);
    });

    it('10,000 concurrent runs through the DynamicBatcher: none lost, none mixed up', () => {
      const v = value(major, 'run', '10,000 concurrent runs through the DynamicBatcher');
      expect(v).toMatchObject({ requests: 10_000, settled: 10_000, failed: 0, wrong: 0 });
      expect(v.stats.requests).toMatchObject({ accepted: 10_000, succeeded: 10_000, failed: 0 });
      expect(v.stats.batches.meanSize).toBeGreaterThan(4);
      expect(v.stats.padding.paddedElements).toBeGreaterThan(0);
      expect(v.enqueues).toBe(v.stats.batches.succeeded);
    });

    it('abort while queued and while running, in the session and in the batcher', () => {
      const v = value(major, 'run', 'abort while queued and while running');
      expect(v.queuedLoad).toEqual({ queued: 1, busy: 1, contexts: 1 });
      expect(v.queuedError).toEqual(isError('ERR_ABORTED', 'run() was aborted'));
      expect(v.runningError).toEqual(isError('ERR_ABORTED', 'run() was aborted'));
      expect(v.batcherQueued).toEqual(isError('ERR_ABORTED', 'DynamicBatcher.run() was aborted'));
      expect(v.batcherRunning).toEqual(isError('ERR_ABORTED', 'DynamicBatcher.run() was aborted'));
      expect(v).toMatchObject({ firstBad: 0, next: 0, keptBad: 0, finalLoad: { queued: 0, busy: 0, contexts: 1 } });
    });

    it('dispose while running waits for the runs, then frees the contexts and the engine', () => {
      const v = value(major, 'run', 'dispose while running');
      expect(v.refused).toEqual(isError('ERR_DISPOSED', 'run() on a disposed tensorrt session'));
      expect(v.mismatches).toEqual(new Array(8).fill(0));
      expect(v).toMatchObject({ disposed: true, liveContexts: -2, liveEngines: -1 });
    });

    it('a worker thread terminated mid-run takes only its own state down', () => {
      const v = value(major, 'run', 'a worker thread terminated mid-run');
      expect(v.workerError).toBeNull();
      expect(v.resultsBeforeTerminate).toBeGreaterThanOrEqual(20);
      expect(v.exitCode).toBe(1);
      expect(v.mainBad).toBe(0);
      // The worker's contexts and engine were freed with its environment.
      expect(v).toMatchObject({ liveContexts: 0, liveEngines: 0 });
    });

    it('out of memory creating a context or during a run is ERR_CUDA_OOM; the session stays usable', () => {
      const v = value(major, 'run', 'out of memory: a context, and an output block during a run');
      expect(v.atCreate).toEqual(isError('ERR_CUDA_OOM', 'createExecutionContext failed', 'out of memory'));
      expect(v.liveContexts).toBe(0);
      expect(v.atRun).toEqual(expect.objectContaining({ code: 'ERR_CUDA_OOM', cudaError: 'CUDA_ERROR_OUT_OF_MEMORY', sticky: false }));
      expect(v).toMatchObject({ lost: false, next: 0 });
    });

    it("a failed enqueue rejects its run with TensorRT's reason and the next run succeeds", () => {
      const v = value(major, 'run', 'a failed enqueue fails its run only');
      expect(v.failed).toEqual(isError('ERR_TENSORRT', 'enqueueV3 failed', 'stand-in fault trt.enqueue_fail'));
      expect(v.next).toBe(0);
    });

    it('error recorders are cleared before each enqueue and context: a failure shows its own reason (bug 3)', () => {
      const v = value(major, 'run', 'error recorders are cleared: a failure shows its own reason');
      expect(v.ok).toBe(40);
      expect(v.enqueue).toEqual(isError('ERR_TENSORRT', 'stand-in fault trt.enqueue_fail'));
      expect(v.enqueue.message).not.toContain('enqueue_report');
      expect(v.context).toEqual(isError('ERR_CUDA_OOM', 'createExecutionContext failed'));
      expect(v.context.message).not.toContain('context_report');
    });

    it('an output aliased to an input (getAliasedInputTensor) is bound to its buffer, with and without graphs (bug 7)', () => {
      const v = value(major, 'run', 'aliased outputs are bound to their input');
      expect(v.outputs).toEqual(['y', 'present']);
      expect(v.plain).toEqual([0, 0, 0, 0]);
      expect(v.repeat).toEqual([0, 0]);
      expect(v.graphs.bad).toEqual([0, 0, 0, 0]);
      expect(v.graphs.launched).toBeGreaterThan(0);
    });

    it('the run child settled every promise and exited cleanly', () => {
      const v = value(major, 'run', '__promises');
      expect(v.created).toBeGreaterThan(10_000);
      expect(v.settled).toBe(v.created);
      expectCleanChild(major, 'run');
    });

    // ---- I/O: caller-provided outputs, pinned tensors, allocations (issue 11) ------------------

    it('fills caller-provided outputs in place and returns those tensors, also concurrently over two contexts', () => {
      const v = value(major, 'io', 'caller-provided outputs are filled in place');
      expect(v).toMatchObject({ same: true, equal: true, mismatches: 0, only: { keys: ['logits'], same: true, mismatches: 0 } });
      expect(v.concurrent).toEqual(new Array(12).fill(0));
    });

    it('fills caller-provided outputs of every element type, and an output aliased to its input', () => {
      expect(value(major, 'io', 'caller-provided outputs of every element type, and an aliased output')).toEqual({
        dtypes: 0,
        aliased: 0,
        aliasedKeys: ['y', 'present'],
      });
    });

    it('refuses wrong caller-provided outputs (ERR_SHAPE, ERR_DTYPE) before anything is copied or enqueued', () => {
      const v = value(major, 'io', 'wrong caller-provided outputs are refused before anything runs');
      expect(v.shape).toEqual(isError('ERR_SHAPE', 'options.outputs["last_hidden_state"] has dims [3, 6, 4]', 'has 2 at axis 0 ("batch", bound by the feeds)'));
      expect(v.dtype).toEqual(isError('ERR_DTYPE', 'options.outputs["logits"] is a float32 tensor but output "logits" is float16'));
      expect(v.unknown).toEqual(isError('ERR_INVALID_ARG', 'unknown output "nope"'));
      // Dims TypeScript cannot know (a plan without its sidecar) are checked natively, before the copies.
      expect(v.native).toEqual(isError('ERR_SHAPE', 'options.outputs["last_hidden_state"] has dims [2, 5, 4]', 'produces', 'with dims [2, 6, 4]'));
      expect(v).toMatchObject({ nativeUntouched: true, untouched: true, enqueued: 0, copied: 0, after: 0 });
    });

    it('a caller-provided output detached before or during its run rejects that run only, writing none of its targets', () => {
      const v = value(major, 'io', 'a target detached while its run is in flight rejects that run only');
      expect(v.beforeEnqueue).toEqual(isError('ERR_INVALID_ARG', 'options.outputs["logits"] holds 0 bytes', 'detached'));
      expect(v.inFlight).toEqual(isError('ERR_INVALID_ARG', 'options.outputs["logits"] was detached (transferred) while the run was in flight'));
      expect(v).toMatchObject({ lateOther: 'untouched', after: 0 });
    });

    it('refuses feeds and targets whose ArrayBuffer was transferred, before anything runs (P0-3)', () => {
      const v = value(major, 'io', 'detached feeds and targets are refused (P0-3)');
      expect(v.feed).toEqual(isError('ERR_INVALID_ARG', 'input "input_ids"', 'detached', 'holds 0 of the 8 elements'));
      expect(v.target).toEqual(isError('ERR_INVALID_ARG', 'options.outputs["logits"]', 'detached'));
      expect(v).toMatchObject({ enqueued: 0, after: 0 });
    });

    it('pinned tensors from session.allocPinned() are fed and filled without staging or pageable copies', () => {
      const v = value(major, 'io', 'pinned tensors from the session are fed and filled without staging');
      expect(v.locations).toEqual({ feed: 'cpu-pinned', target: 'cpu-pinned', plain: 'cpu', zeroed: true });
      expect(v).toMatchObject({ bad: [0, 0, 0, 0, 0], same: true, pageable: 0, hostAllocations: 0 });
      expect(v.wrongType).toEqual(isError('ERR_DTYPE', 'allocPinned() type must be one of', 'got "float64"'));
      expect(v.disposed).toEqual(isError('ERR_DISPOSED', 'allocPinned() on a disposed tensorrt session'));
    });

    it('an output handed over as a pinned block says cpu-pinned; an aborted run over a pinned feed rejects and the session serves on', () => {
      const v = value(major, 'io', 'outputs handed over as pinned blocks say cpu-pinned and are read in place when fed back');
      expect(v.locations).toEqual({ hidden: 'cpu-pinned', logits: 'cpu' });
      expect(v.bad).toBe(0);
      expect(v.aborted).toEqual(isError('ERR_ABORTED'));
      expect(v.after).toBe(0);
    });

    it('with caller-provided outputs, 2,000 runs allocate no ArrayBuffer, pinned or device memory', () => {
      const v = value(major, 'io', 'no allocation per run with caller-provided outputs');
      // No ArrayBuffer is made per run: the bytes held in ArrayBuffers do not grow (they may
      // shrink, as collected ones are freed late).
      expect(v.filled.arrayBufferGrowth).toBeLessThanOrEqual(0);
      expect(v.filled).toMatchObject({ hostAllocations: 0, deviceAllocations: 0 });
      expect(v.mismatches).toBe(0);
      // For the record (not asserted: collections in between vary): plain runs' ArrayBuffer growth.
      console.info(
        `TensorRT ${major} stand-ins, ${v.runs} runs: plain runs grew ArrayBuffers by ${v.plain.arrayBufferGrowth} B, with targets by ${v.filled.arrayBufferGrowth} B`,
      );
    });

    it('refuses input dims whose byte size overflows size_t (native check, ERR_INVALID_ARG)', () => {
      const v = value(major, 'io', 'sizes that overflow are refused natively (ERR_INVALID_ARG)');
      expect(v.overflow).toEqual(isError('ERR_INVALID_ARG', 'input "input_ids" dims [2147483648, 1073741824] describe more bytes than fit'));
      expect(v).toMatchObject({ enqueued: 0, after: 2 });
    });

    it('DeviceTensors: an output kept on the GPU feeds a second session, as a host round trip would, with no pageable copy', () => {
      const v = value(major, 'io', 'device tensors: outputs kept on the GPU feed a second session without host copies');
      expect(v).toEqual({
        zeroed: true,
        location: 'gpu-buffer',
        returned: true,
        hiddenEqual: true,
        chainMismatches: 0,
        sameAsHost: true,
        deviceOut: true,
        fromOwn: 0,
        fromPointer: 0,
        badPointer: {
          pastEnd: isError('ERR_INVALID_ARG', '+ 240 bytes runs past its allocation (224 bytes from there)'),
          otherGpu: isError('ERR_INVALID_ARG', 'is memory of GPU 0, not of GPU 1'),
          notDevice: isError('ERR_INVALID_ARG', 'the device pointer 0x1000 is not device memory the CUDA driver knows'),
        },
        ownAlive: true,
        pageable: 0,
      });
    });

    it('DeviceTensors: another GPU names both devices; wrong dtype or dims and use after dispose are refused before anything runs', () => {
      const v = value(major, 'io', 'device tensors: dispose, wrong dims or dtype, another GPU, the ONNX Runtime backend');
      expect(v.otherGpu).toEqual(isError('ERR_INVALID_ARG', 'input "h" is a DeviceTensor on GPU 1, but this session runs on GPU 0'));
      expect(v.otherGpuTarget).toEqual(isError('ERR_INVALID_ARG', 'options.outputs["z"] is a DeviceTensor on GPU 1', 'GPU 0'));
      expect(v.wrongDtype).toEqual(isError('ERR_DTYPE', 'options.outputs["z"] is a int32 DeviceTensor but output "z" is float32'));
      expect(v.wrongDims).toEqual(isError('ERR_SHAPE', 'options.outputs["z"] has dims [3, 2]', 'with dims [2, 2]'));
      expect(v.onS1).toEqual(['z']);
      expect(v.disposedFeed).toEqual(isError('ERR_DISPOSED', 'input "h" was disposed'));
      expect(v.disposedHost).toEqual(isError('ERR_DISPOSED', 'the DeviceTensor was disposed'));
      expect(v.onnxruntime).toEqual(isError('ERR_INVALID_ARG', 'feeds["h"] is a DeviceTensor (its data is on GPU 1)', 'toHost()'));
      // Only the run on GPU 1's own session reached the engine.
      expect(v.enqueued).toBe(1);
    });

    it('stage timings: each timed run has its own H2D / compute / D2H (present, non-negative), summed consistently in stats()', () => {
      const v = value(major, 'io', 'stage timings per run and summed in stats()');
      expect(v).toEqual({
        allValid: true,
        bad: new Array(12).fill(0),
        totalRuns: 12,
        perContext: 12,
        consistent: true,
        untimed: true,
        perRun: true,
        plainRuns: 1,
      });
    });

    it('the io child settled every promise and exited cleanly', () => {
      const v = value(major, 'io', '__promises');
      expect(v.created).toBeGreaterThan(40);
      expect(v.settled).toBe(v.created);
      expectCleanChild(major, 'io');
    });

    // ---- the end of a process's GPU ------------------------------------------------------------

    it('a sticky CUDA error rejects the runs in flight and marks the session lost', () => {
      const v = value(major, 'sticky', 'a sticky CUDA error marks the session lost');
      for (const e of v.errors) expect(e).toEqual(expect.objectContaining({ code: 'ERR_CUDA', sticky: true, cudaError: 'CUDA_ERROR_ILLEGAL_ADDRESS' }));
      expect(v.errors.some((e: { message: string }) => e.message.includes('the CUDA context is lost'))).toBe(true);
      expect(v.later).toEqual(isError('ERR_CUDA', 'the CUDA context is lost'));
      expect(v.viaBatcher).toEqual(isError('ERR_CUDA', 'the CUDA context is lost'));
      expect(v).toMatchObject({ stickyErrors: 1, disposed: true });
      const promises = value(major, 'sticky', '__promises');
      expect(promises.settled).toBe(promises.created);
      expectCleanChild(major, 'sticky');
    });

    it('process.exit() with runs, batches and a build in flight exits cleanly', () => {
      const r = results.get(`${major}/exit`)!;
      const line = r.lines.get('exit');
      expect(line, r.stderr).toBeDefined();
      expect(line!.inFlight.busy).toBeGreaterThan(0);
      expect(line!.inFlight.queued).toBeGreaterThan(0);
      expectCleanChild(major, 'exit');
    });
  });
}
