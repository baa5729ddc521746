/**
 * The TensorRT stand-ins (libnvinfer / libnvonnxparser / siblings, one set per header version)
 * driven through TensorRT's own headers by the probe program, the way the addon drives them:
 * parse -> build -> serialize -> deserialize -> context -> setInputShape -> enqueueV3 on a
 * stream -> event -> outputs. Every output value is checked against the reference of the
 * stand-in's output function (reference.ts). These check the test doubles, not TensorRT.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeModel } from '../../src/onnx/index.js';
import { ensureStandins, runProbe, sdkVersions, standinDir, tempDir, trtSkipReason, writeTemp, type Json, type ProbeResult } from './helpers.js';
import { encoderSpec, standinModel, standinModelProto, type ModelSpec } from './models.js';
import { fromNumbers, standinOutputs, toNumbers, type StandinDataType } from './reference.js';

const skip = ensureStandins() || trtSkipReason();
if (skip) console.warn(`TensorRT stand-in tests skipped: ${skip}`);
const versions = sdkVersions();
const majors = skip ? [0] : Object.keys(versions).map(Number);

// nvinfer1::ErrorCode and nvonnxparser::ErrorCode values the tests expect.
const kFAILED_ALLOCATION = 5;
const kFAILED_EXECUTION = 7;
const PARSER = { kMODEL_DESERIALIZE_FAILED: 3, kINVALID_VALUE: 4, kUNSUPPORTED_GRAPH: 7, kUNSUPPORTED_NODE: 8 };
const SEVERITY_ERROR = 1;

for (const major of majors) {
  const version = versions[major] ?? '';
  describe.skipIf(skip !== '')(`TensorRT ${version || 'stand-ins'} stand-ins${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const dir = skip ? '' : tempDir(`trt${major}`);
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
    const model = (name: string, spec: ModelSpec) => writeTemp(dir, `${name}.onnx`, standinModel(spec));
    const probe = (args: string[], env: Record<string, string> = {}, libraryPath?: string): ProbeResult =>
      runProbe(`standin-trt-probe-${major}`, ['--lib', standinDir, ...args], env, libraryPath);
    const ok = (args: string[], env: Record<string, string> = {}): Json => {
      const r = probe(args, env);
      expect(r.status, r.stderr).toBe(0);
      return r.json;
    };
    const recorder = (j: Json) => (j.recorder as Array<{ code: number; desc: string }>).map((e) => e.desc).join(' | ');

    /** Every output of run `i` equals the reference function of that run's inputs. */
    function expectReference(j: Json, i: number): void {
      const run = j.runs[i];
      const inputs = j.network.inputs.map((t: Json) => ({
        name: t.name,
        dtype: t.type as StandinDataType,
        dims: run.inputs[t.name].dims,
        dimNames: t.dimNames,
        data: fromNumbers(t.type, run.inputs[t.name].values),
      }));
      const outputs = j.network.outputs.map((t: Json) => ({
        name: t.name,
        dtype: t.type as StandinDataType,
        dims: run.outputs[t.name].dims,
        dimNames: t.dimNames,
      }));
      const ref = standinOutputs(inputs, outputs);
      for (const o of outputs) expect(run.outputs[o.name].values, `${o.name} of run ${i}`).toEqual(toNumbers(o.dtype, ref[o.name]!));
    }

    /** Row `row` of an output, cut to the first `length` positions of its sequence axis (axis 1 named "sequence"). */
    function row(j: Json, run: number, output: string, r: number, length: number): number[] {
      const t = j.runs[run].outputs[output];
      const names = j.network.outputs.find((o: Json) => o.name === output).dimNames as string[];
      const perRow = t.dims.slice(1).reduce((a: number, b: number) => a * b, 1);
      const values = t.values.slice(r * perRow, (r + 1) * perRow) as number[];
      if (names[1] !== 'sequence') return values;
      const perPosition = perRow / t.dims[1];
      return values.slice(0, length * perPosition);
    }

    it('builds, serializes, deserializes and runs an encoder: every value is the reference function of its row', () => {
      const file = model('encoder', encoderSpec());
      const j = ok(['--model', file, '--run', '3x6:6@11,4@12,2@13', '--run', '1x4:4@12', '--run', '1x2:2@13', '--run', '1x6:6@11']);
      expect(j.stages).toMatchObject({ builder: true, parse: true, build: true, runtime: true, engine: true, context: true, profile: true });
      expect(j.version).toBe(Number(version.split('.')[0]) * 10000 + Number(version.split('.')[1]) * 100 + Number(version.split('.')[2]));
      expect(j.network.inputs).toEqual([
        { name: 'input_ids', type: 'int64', dims: [-1, -1], dimNames: ['batch', 'sequence'], shapeTensor: false },
        { name: 'attention_mask', type: 'int64', dims: [-1, -1], dimNames: ['batch', 'sequence'], shapeTensor: false },
      ]);
      expect(j.network.outputs.map((o: Json) => [o.name, o.type, o.dims])).toEqual([
        ['last_hidden_state', 'float32', [-1, -1, 4]],
        ['logits', 'float16', [-1, 3]],
      ]);
      expect(j.engine.profiles).toBe(1);
      expect(j.engine.tensors[0]).toMatchObject({ name: 'input_ids', input: true, shapeInference: false, host: false, linear: true });
      expect(j.engine.tensors[0].profiles).toEqual([{ min: [1, 1], opt: [2, 8], max: [4, 16] }]);
      expect(j.engine.deviceMemory).toBeGreaterThan(0);
      for (let i = 0; i < 4; i++) {
        expect(j.runs[i]).toMatchObject({ shapes: true, enqueue: true, sync: 'CUDA_SUCCESS' });
        expectReference(j, i);
      }
      // A row padded to the batch's length gives its unpadded values at its real positions.
      for (const output of ['last_hidden_state', 'logits']) {
        expect(row(j, 0, output, 1, 4)).toEqual(row(j, 1, output, 0, 4));
        expect(row(j, 0, output, 2, 2)).toEqual(row(j, 2, output, 0, 2));
        expect(row(j, 0, output, 0, 6)).toEqual(row(j, 3, output, 0, 6));
      }
      expect(row(j, 0, 'logits', 0, 1)).not.toEqual(row(j, 0, 'logits', 1, 1));
      expect(j.recorder).toEqual([]);
      expect(j.counters.counters).toMatchObject({ 'trt.enqueueV3.ok': 4, 'cuda.launchHostFunc': 4, 'trt.kernelsRun': 4 });
      expect(j.liveAtEnd).toBe(0);
    });

    it('exchanges int64, int32, int8, uint8, bool, float16, bfloat16 and float32 tensors', () => {
      const types: StandinDataType[] = ['int32', 'int8', 'uint8', 'bool', 'float16', 'bfloat16', 'float32'];
      const spec: ModelSpec = {
        inputs: [
          { name: 'ids', dtype: 'int64', dims: ['batch', 'sequence'] },
          ...types.map((t) => ({ name: `in_${t}`, dtype: t, dims: ['batch', 'sequence'] as (string | number)[] })),
        ],
        outputs: ['int64', ...types].map((t) => ({ name: `out_${t}`, dtype: t as StandinDataType, dims: ['batch', 'sequence', 2] as (string | number)[] })),
      };
      const j = ok(['--model', model('types', spec), '--run', '2x3:3@5,2@6']);
      expect(j.runs[0]).toMatchObject({ enqueue: true, sync: 'CUDA_SUCCESS' });
      expectReference(j, 0);
      expect(new Set(j.runs[0].outputs.out_bool.values)).toEqual(new Set([0, 1]));
    });

    it('refuses shapes outside the profile with the profile range, and runs a second profile', () => {
      const file = model('profiles', encoderSpec());
      const out = ok(['--model', file, '--run', '5x4:4@1,4@2,4@3,4@4,4@5']);
      expect(out.runs[0].shapes).toBe(false);
      expect(recorder(out)).toMatch(/satisfyProfile.*dimension 0 must be in \[1, 4\]/);
      const two = ok([
        '--model',
        file,
        '--profile',
        'input_ids:1x1/1x4/1x8;attention_mask:1x1/1x4/1x8',
        '--profile',
        'input_ids:4x8/8x16/8x32;attention_mask:4x8/8x16/8x32',
        '--profile-index',
        '1',
        '--run',
        '6x20:20@1,1@2,2@3,3@4,4@5,5@6',
      ]);
      expect(two.engine.profiles).toBe(2);
      expect(two.engine.tensors[1].profiles[1]).toEqual({ min: [4, 8], opt: [8, 16], max: [8, 32] });
      expect(two.runs[0]).toMatchObject({ shapes: true, enqueue: true });
      expectReference(two, 0);
    });

    it('marks shape-tensor inputs (a Reshape shape) so they can be refused', () => {
      const spec: ModelSpec = {
        inputs: [
          { name: 'x', dtype: 'float32', dims: ['batch', 8] },
          { name: 'shape', dtype: 'int64', dims: [2] },
        ],
        outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 8] }],
        nodes: [{ name: '/reshape', op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
      };
      const j = ok(['--model', model('shape-tensor', spec)]);
      expect(j.network.inputs.map((t: Json) => [t.name, t.shapeTensor])).toEqual([
        ['x', false],
        ['shape', true],
      ]);
      expect(j.stages.build).toBe(false);
      expect(recorder(j)).toContain('missing values for shape input "shape"');
    });

    it('describes aliased outputs and requires them to share their input memory', () => {
      const spec: ModelSpec = {
        inputs: [
          { name: 'past', dtype: 'float32', dims: ['batch', 'sequence', 4] },
          { name: 'step', dtype: 'int32', dims: ['batch', 'sequence'] },
        ],
        outputs: [{ name: 'present', dtype: 'float32', dims: ['batch', 'sequence', 4] }],
        metadata: { 'standin.aliases': 'present=past' },
      };
      const file = model('kv-cache', spec);
      const same = ok(['--model', file, '--run', '2x3:3@1,3@2', '--alias-bind', 'same']);
      expect(same.engine.tensors.find((t: Json) => t.name === 'present').alias).toBe('past');
      expect(same.runs[0]).toMatchObject({ enqueue: true, sync: 'CUDA_SUCCESS' });
      expectReference(same, 0);
      const apart = ok(['--model', file, '--run', '2x3:3@1,3@2', '--alias-bind', 'separate']);
      expect(apart.runs[0].enqueue).toBe(false);
      expect(recorder(apart)).toContain('output present aliases input past (getAliasedInputTensor) and must be bound to the same address');
    });

    it('leaves data-dependent output shapes unknown (NonZero) and says an output allocator is needed', () => {
      const spec: ModelSpec = {
        inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 'sequence'] }],
        outputs: [{ name: 'indices', dtype: 'int64', dims: [2, 'nonzero'] }],
        nodes: [{ name: '/nonzero', op: 'NonZero', inputs: ['x'], outputs: ['indices'] }],
      };
      const j = ok(['--model', model('nonzero', spec), '--run', '1x4:4@1']);
      expect(j.runs[0].enqueue).toBe(false);
      expect(j.runs[0].outputs.indices.dims).toEqual([2, -1]);
      expect(recorder(j)).toContain('data-dependent shape');
    });

    it('reports parse errors as TensorRT does: code, description, node index, name and operator', () => {
      const file = model('parse', encoderSpec());
      const node = ok(['--model', file], { TRTN_STANDIN_FAULTS: 'trt.parse_node=/head/logits' });
      expect(node.stages.parse).toBe(false);
      expect(node.parseErrors).toEqual([expect.objectContaining({ code: PARSER.kUNSUPPORTED_NODE, node: 1, nodeName: '/head/logits', op: 'Compute' })]);
      expect(node.log.some((l: Json) => l.severity === SEVERITY_ERROR && l.msg.includes('/head/logits'))).toBe(true);
      const garbage = ok(['--model', writeTemp(dir, 'garbage.onnx', new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x7f, 1, 2]))]);
      expect(garbage.parseErrors[0]).toMatchObject({ code: PARSER.kMODEL_DESERIALIZE_FAILED, node: -1 });
      expect(garbage.parseErrors[0].desc).toContain('not a well-formed ONNX ModelProto');
    });

    it('refuses an unsupported element type and missing external weights', async () => {
      const spec = encoderSpec();
      spec.inputs[1] = { name: 'attention_mask', dtype: 'float64', dims: ['batch', 'sequence'] };
      const j = ok(['--model', model('double', spec)]);
      expect(j.parseErrors[0]).toMatchObject({ code: PARSER.kUNSUPPORTED_GRAPH, node: -1 });
      expect(j.parseErrors[0].desc).toContain('DOUBLE');
      // Initializers are not inputs; external weights must be where the model says.
      const weighted = join(dir, 'weighted.onnx');
      await writeModel(standinModelProto({ ...encoderSpec(), initializers: [{ name: 'w', elements: 1024 }] }), weighted, { externalData: true });
      const present = ok(['--model', weighted]);
      expect(present.stages.parse).toBe(true);
      expect(present.network.inputs.map((t: Json) => t.name)).toEqual(['input_ids', 'attention_mask']);
      rmSync(`${weighted}.data`);
      const missing = ok(['--model', weighted]);
      expect(missing.parseErrors[0]).toMatchObject({ code: PARSER.kINVALID_VALUE, node: -1 });
      expect(missing.parseErrors[0].desc).toContain('Failed to open file');
    });

    it('calls the progress monitor through phases and steps, and stops the build when it cancels', () => {
      const file = model('progress', encoderSpec());
      const full = ok(['--model', file]);
      expect(full.progress.phases.map((p: Json) => [p.name, p.parent, p.steps])).toEqual([
        ['Building engine', '', 3],
        ['Optimizing network', 'Building engine', 4],
        ['Selecting tactics', 'Building engine', 2],
        ['Serializing engine', 'Building engine', 2],
      ]);
      expect(full.progress).toMatchObject({ steps: 4 + 2 + 2 + 3, finished: 4, cancelled: false });
      const cancelled = ok(['--model', file, '--cancel-at', '6']);
      expect(cancelled.stages.build).toBe(false);
      expect(cancelled.progress).toMatchObject({ steps: 6, cancelled: true, finished: 3 });
      expect(recorder(cancelled)).toContain('the build was cancelled');
      expect(cancelled.counters.counters['trt.build.cancelled']).toBe(1);
    });

    it('honours the timing cache: hits on a rebuild, refused from another device unless ignoreMismatch', () => {
      const file = model('cache', encoderSpec());
      const c1 = join(dir, 'c1.cache');
      const first = ok(['--model', file, '--cache-out', c1]);
      expect(first.stages).toMatchObject({ timingCacheRead: true, timingCacheSet: true, build: true });
      expect(first.counters.counters).toMatchObject({ 'trt.timingCache.hits': 0, 'trt.timingCache.misses': 2 });
      const second = ok(['--model', file, '--cache-in', c1, '--cache-out', join(dir, 'c2.cache')]);
      expect(second.counters.counters).toMatchObject({ 'trt.timingCache.hits': 2, 'trt.timingCache.misses': 0 });
      const other = join(dir, 'other.cache');
      ok(['--model', file, '--cache-out', other], { TRTN_STANDIN_DEVICES: 'name=Other GPU,cc=9.0,sms=132' });
      const refused = ok(['--model', file, '--cache-in', other]);
      expect(refused.stages.timingCacheSet).toBe(false);
      expect(recorder(refused)).toContain('created on another device (Other GPU');
      const ignored = ok(['--model', file, '--cache-in', other, '--ignore-mismatch']);
      expect(ignored.stages).toMatchObject({ timingCacheSet: true, build: true });
      const corrupt = ok(['--model', file, '--cache-in', writeTemp(dir, 'corrupt.cache', 'not a cache')]);
      expect(corrupt.stages.timingCacheRead).toBe(false);
      expect(recorder(corrupt)).toContain('not a timing cache');
    });

    it('deserializes only its own plans: not other bytes, other versions, other majors or other GPUs', () => {
      const file = model('plans', encoderSpec());
      const plan = join(dir, 'encoder.plan');
      ok(['--model', file, '--plan-out', plan]);
      const loaded = ok(['--plan-in', plan, '--run', '1x3:3@4']);
      expect(loaded.runs[0]).toMatchObject({ enqueue: true, sync: 'CUDA_SUCCESS' });
      const garbage = ok(['--plan-in', writeTemp(dir, 'garbage.plan', 'definitely not a plan')]);
      expect(garbage.stages.engine).toBe(false);
      expect(recorder(garbage)).toContain('not a TensorRT plan');
      const truncated = ok(['--plan-in', writeTemp(dir, 'truncated.plan', readFileSync(plan).subarray(0, 40))]);
      expect(recorder(truncated)).toContain('truncated or corrupt');
      const [maj, min, patch] = version.split('.').map(Number);
      const newer = join(dir, 'newer.plan');
      ok(['--model', file, '--plan-out', newer], { TRTN_STANDIN_TRT_VERSION: `${maj}.${min}.${patch! + 1}` });
      const refused = ok(['--plan-in', newer]);
      expect(recorder(refused)).toContain(`built by TensorRT ${maj}.${min}.${patch! + 1} and this is TensorRT ${version}`);
      const hopper = join(dir, 'hopper.plan');
      ok(['--model', file, '--plan-out', hopper], { TRTN_STANDIN_DEVICES: 'name=NVIDIA H100,cc=9.0' });
      expect(recorder(ok(['--plan-in', hopper]))).toContain('built for compute capability 9.0 (NVIDIA H100)');
      const portable = join(dir, 'portable.plan');
      ok(['--model', file, '--plan-out', portable, '--hw-compat', '1'], { TRTN_STANDIN_DEVICES: 'name=NVIDIA H100,cc=9.0' });
      expect(ok(['--plan-in', portable]).stages.engine).toBe(true);
      const otherMajor = Object.keys(versions)
        .map(Number)
        .find((m) => m !== major);
      if (otherMajor !== undefined) {
        const foreign = join(dir, 'foreign.plan');
        const built = runProbe(`standin-trt-probe-${otherMajor}`, ['--lib', standinDir, '--model', file, '--plan-out', foreign]);
        expect(built.status, built.stderr).toBe(0);
        expect(recorder(ok(['--plan-in', foreign]))).toContain(`built by TensorRT ${otherMajor}.x`);
      }
    });

    it('runs version-compatible plans only with host code allowed, and lean-runtime plans only through loadRuntime', () => {
      const file = model('vc', encoderSpec());
      const vc = ok(['--model', file, '--vc', '--run', '1x2:2@1']);
      expect(vc.stages.engine).toBe(false);
      expect(recorder(vc)).toContain('setEngineHostCodeAllowed(true)');
      expect(ok(['--model', file, '--vc', '--host-code', '--run', '1x2:2@1']).runs[0].enqueue).toBe(true);
      const lean = ok(['--model', file, '--vc', '--exclude-lean']);
      expect(recorder(lean)).toContain('IRuntime::loadRuntime');
      const loaded = ok(['--model', file, '--vc', '--exclude-lean', '--lean', join(standinDir, `libnvinfer_lean.so.${major}`), '--run', '1x2:2@1']);
      expect(loaded.stages).toMatchObject({ loadRuntime: true, engine: true });
      expectReference(loaded, 0);
      const notLean = ok(['--model', file, '--vc', '--exclude-lean', '--lean', join(standinDir, `libnvinfer_dispatch.so.${major}`)]);
      expect(notLean.stages.loadRuntime).toBe(false);
      expect(ok(['--model', file, '--exclude-lean']).stages.build).toBe(false);
    });

    it('needs initLibNvInferPlugins for models and plans with TensorRT plugins, and counts the calls', () => {
      const spec = encoderSpec();
      spec.nodes = [{ name: '/nms', op: 'EfficientNMS_TRT', inputs: ['attention_mask'], outputs: ['nms_out'] }];
      const file = model('plugins', spec);
      const without = ok(['--model', file]);
      expect(without.parseErrors[0]).toMatchObject({ code: PARSER.kUNSUPPORTED_NODE, node: 0, op: 'EfficientNMS_TRT' });
      expect(without.parseErrors[0].desc).toContain('initLibNvInferPlugins');
      const plan = join(dir, 'plugins.plan');
      const withPlugins = ok(['--model', file, '--plugins', '--plan-out', plan]);
      expect(withPlugins).toMatchObject({ pluginsInitialized: true, stages: { parse: true, build: true, engine: true } });
      expect(withPlugins.counters.counters['trt.plugin.initLibNvInferPlugins']).toBe(1);
      expect(recorder(ok(['--plan-in', plan]))).toContain('call initLibNvInferPlugins first');
      expect(ok(['--plan-in', plan, '--plugins']).stages.engine).toBe(true);
    });

    it('fails to make a builder when libnvinfer_builder_resource is not on the loader path, unless preloaded', () => {
      // Only the driver on LD_LIBRARY_PATH; TensorRT loaded from its folder by full path.
      const driverOnly = join(dir, 'driver-only');
      mkdirSync(driverOnly, { recursive: true });
      for (const lib of ['libcuda.so.1', 'libtrtn_standin.so']) {
        if (!existsSync(join(driverOnly, lib))) symlinkSync(join(standinDir, lib), join(driverOnly, lib));
      }
      const file = model('resource', encoderSpec());
      const missing = probe(['--model', file], {}, driverOnly).json;
      expect(missing.stages.builder).toBe(false);
      expect(missing.log.map((l: Json) => l.msg).join('\n')).toContain(`Unable to load library: libnvinfer_builder_resource.so.${version}`);
      const preloaded = probe(['--model', file, '--preload-builder-resource', '--run', '1x2:2@3'], {}, driverOnly).json;
      expect(preloaded.stages).toMatchObject({ builder: true, build: true, engine: true });
      expect(preloaded.counters.counters['trt.builder_resource.loaded']).toBe(1);
    });

    it('gives only the logger the reason when a factory returns null', () => {
      const file = model('factories', encoderSpec());
      const builder = ok(['--model', file], { TRTN_STANDIN_FAULTS: 'trt.builder_null=1' });
      expect(builder.stages.builder).toBe(false);
      expect(builder.recorder).toEqual([]);
      expect(builder.log).toEqual([expect.objectContaining({ severity: SEVERITY_ERROR, msg: expect.stringContaining('builder could not be created') })]);
      const runtime = ok(['--model', file], { TRTN_STANDIN_FAULTS: 'trt.runtime_null=1' });
      expect(runtime.stages).toMatchObject({ build: true, runtime: false });
      expect(runtime.log.map((l: Json) => l.msg).join()).toContain('runtime could not be created');
    });

    it('injects build, out-of-memory and enqueue failures, with TensorRT-style errors on the recorder', () => {
      const file = model('faults', encoderSpec());
      const build = ok(['--model', file], { TRTN_STANDIN_FAULTS: 'trt.build_fail=1' });
      expect(build.stages.build).toBe(false);
      expect(recorder(build)).toContain('trt.build_fail');
      const buildOom = ok(['--model', file], { TRTN_STANDIN_FAULTS: 'trt.build_oom=1' });
      expect(buildOom.recorder[0]).toMatchObject({ code: kFAILED_ALLOCATION, desc: expect.stringContaining('could not be allocated') });
      // The second device allocation (the build's workspace is the first) is the context's
      // activation memory: it fails in the driver itself.
      const contextOom = ok(['--model', file], { TRTN_STANDIN_FAULTS: 'cuda.oom_alloc=2' });
      expect(contextOom.stages).toMatchObject({ engine: true, context: false });
      expect(contextOom.recorder[0]).toMatchObject({ code: kFAILED_ALLOCATION, desc: expect.stringContaining('out of memory') });
      expect(ok(['--model', file], { TRTN_STANDIN_FAULTS: 'trt.context_oom=1' }).recorder[0].code).toBe(kFAILED_ALLOCATION);
      const enqueue = ok(['--model', file, '--run', '1x2:2@1', '--run', '1x2:2@1'], { TRTN_STANDIN_FAULTS: 'trt.enqueue_fail=1' });
      expect(enqueue.runs.map((r: Json) => r.enqueue)).toEqual([false, true]);
      expect(enqueue.recorder[0]).toMatchObject({ code: kFAILED_EXECUTION, desc: expect.stringContaining('trt.enqueue_fail') });
    });

    it('turns a kernel fault into a sticky error that every later call reports', () => {
      const file = model('sticky', encoderSpec());
      const j = ok(['--model', file, '--run', '1x2:2@1', '--run', '1x2:2@1'], { TRTN_STANDIN_FAULTS: 'cuda.sticky_kernel=1' });
      // The fault is asynchronous: it surfaces at the event, or already in the enqueue's last copy
      // when the kernel ran first, as a real kernel fault can.
      expect(j.runs[0].sync).toBe('CUDA_ERROR_ILLEGAL_ADDRESS');
      expect(j.runs[1]).toMatchObject({ setup: 'CUDA_ERROR_ILLEGAL_ADDRESS', enqueue: false, sync: 'CUDA_ERROR_ILLEGAL_ADDRESS' });
      expect(recorder(j)).toContain('CUDA_ERROR_ILLEGAL_ADDRESS');
    });

    it('captures enqueueV3 into a CUDA graph once warmed up; a first-run capture is invalidated', () => {
      const file = model('graphs', encoderSpec());
      const cold = ok(['--model', file, '--graph', '3', '--run', '2x4:4@1,3@2', '--run', '2x4:4@1,3@2']);
      // The first enqueue loads kernels (an allocation), which capture forbids; the plain retry works.
      expect(cold.runs[0].capture).toEqual({ enqueue: false, end: 'CUDA_ERROR_STREAM_CAPTURE_INVALIDATED', replayed: 0 });
      expect(cold.runs[1].capture).toEqual({ enqueue: true, end: 'CUDA_SUCCESS', replayed: 3 });
      expect(cold.counters.counters).toMatchObject({ 'cuda.graph.instantiated': 1, 'cuda.graph.launched': 3 });
      expectReference(cold, 0);
      expectReference(cold, 1);
      const warm = ok(['--model', file, '--graph', '2', '--warmup', '--run', '1x3:3@5']);
      expect(warm.runs[0].capture).toEqual({ enqueue: true, end: 'CUDA_SUCCESS', replayed: 2 });
      expectReference(warm, 0);
    });

    it('allocates per strategy: static, on profile change, user managed', () => {
      const file = model('strategy', encoderSpec());
      for (const strategy of ['static', 'profile', 'user']) {
        const j = ok(['--model', file, '--strategy', strategy, '--run', '2x3:3@1,1@2']);
        expect(j.runs[0], strategy).toMatchObject({ enqueue: true, sync: 'CUDA_SUCCESS' });
        expectReference(j, 0);
        expect(j.liveAtEnd).toBe(0);
      }
    });

    if (major === 10) {
      it('allows the kFP16 builder flag for weakly typed networks only (10.x)', () => {
        const file = model('fp16', encoderSpec());
        expect(recorder(ok(['--model', file, '--fp16']))).toContain('kFP16 is not allowed for a strongly typed network');
        expect(ok(['--model', file, '--fp16', '--weak']).stages.build).toBe(true);
      });
    }

    it('reports the version TRTN_STANDIN_TRT_VERSION gives, for the loader floor', () => {
      const file = model('version', encoderSpec());
      expect(ok(['--model', file], { TRTN_STANDIN_TRT_VERSION: `${major}.0.1` }).version).toBe(major * 10000 + 1);
    });

    it('aborts with the name of a method the stand-in does not implement (generated default)', () => {
      const r = probe(['--model', model('unimplemented', encoderSpec()), '--unimplemented']);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('nvinfer1::apiv::VCudaEngine::createEngineInspector is not implemented by the stand-in');
    });

    it('exports only TensorRT entry points, with no RUNPATH, so they load as the real libraries do', () => {
      const exported = (lib: string) =>
        execFileSync('nm', ['-D', '--defined-only', join(standinDir, lib)], { encoding: 'utf8' })
          .split('\n')
          .map((l) => l.trim().split(/\s+/)[2])
          .filter(Boolean)
          .sort();
      expect(exported(`libnvinfer.so.${major}`)).toEqual([
        'createInferBuilder_INTERNAL',
        'createInferRuntime_INTERNAL',
        'getInferLibBuildVersion',
        'getInferLibMajorVersion',
        'getInferLibMinorVersion',
        'getInferLibPatchVersion',
        'getInferLibVersion',
        'getLogger',
        'trtn_standin_network_add_output',
        'trtn_standin_network_mark_shape_tensor',
        'trtn_standin_network_set_alias',
        'trtn_standin_network_set_uses_plugins',
      ]);
      expect(exported(`libnvonnxparser.so.${major}`)).toEqual(['createNvOnnxParser_INTERNAL', 'getNvOnnxParserVersion']);
      expect(exported(`libnvinfer_plugin.so.${major}`)).toEqual(['initLibNvInferPlugins']);
      for (const lib of [`libnvinfer.so.${major}`, `libnvonnxparser.so.${major}`, `libnvinfer_builder_resource.so.${version}`]) {
        expect(execFileSync('readelf', ['-d', join(standinDir, lib)], { encoding: 'utf8' }), lib).not.toMatch(/RUNPATH|RPATH/);
      }
      const generated = readFileSync(join(standinDir, 'gen', version, 'defaults.h'), 'utf8');
      expect(generated).toContain('class VExecutionContextDefaults : public VExecutionContext');
      expect(generated.match(/override \{/g)!.length).toBeGreaterThan(500);
    });
  });
}
