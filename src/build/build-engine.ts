/**
 * buildEngine(model, options): an ONNX model to a TensorRT plan.
 *
 * Steps: validate options (zod); load TensorRT (ERR_TENSORRT_NOT_FOUND says where it looked);
 * hash the model (and its external data); look the engine up in the cache; for precision
 * 'fp16' convert the model with convertToFloat16 (strongly typed build, any TensorRT) or, on
 * TensorRT 10.x only, set kFP16 on a weakly typed network (fp16Mode 'builder-flag'); parse it
 * with TensorRT's ONNX parser on a worker thread (errors list node, op type and message);
 * derive the optimization profiles; build on a worker thread with progress events and
 * cancellation through the AbortSignal; save the timing cache; write the cache entry.
 * The network is freed whatever happens; an out-of-memory build rejects with ERR_CUDA_OOM.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  InvalidArgumentError,
  OnnxParseError,
  TensorRTError,
  TensorRTNodeError,
  TensorRTNotFoundError,
  abortErrorFrom,
  describe,
} from '../errors.js';
import { formatDims } from '../tensor.js';
import { loadAddon, type NativeBuildEvent, type NativeNetworkTensor, type NativeParseResult } from '../native.js';
import { parseOptions } from '../options.js';
import { requireTensorRT, type TensorRTRuntime } from '../backends/tensorrt-libs.js';
import {
  decodeModel,
  allTensors,
  isExternal,
  externalDataInfo,
  resolveExternalLocation,
  readModel,
  encodeModel,
  inspectModel,
  type ModelProto,
} from '../onnx/index.js';
import { convertToFloat16 } from '../fp16/index.js';
import { cacheKey, defaultCacheDir, EngineCache, sha256 } from './cache.js';
import { writeFileAtomic } from '../files.js';
import { BuildOptionsSchema, HARDWARE_COMPATIBILITY, normaliseForKey, type BuildOptions, type ParsedBuildOptions } from './options.js';
import { deriveProfiles, profilesAsRecords, type Profile } from './profiles.js';
import { findInputLimits, splitInputLimits } from '../backends/input-limits.js';
import { engineDimRanges, generationDimRanges, generationLimits } from './generation.js';
import { BuildProgressTracker } from './progress.js';
import { ENGINE_INFO_FORMAT, sidecarPath, writeSidecar, type EngineInfo } from './sidecar.js';

export interface BuiltEngine {
  /** TensorRT's serialized engine: what trtexec --saveEngine writes and Triton loads as model.plan. */
  plan: Uint8Array;
  info: EngineInfo;
  /** True when the plan came from the engine cache (no build ran). */
  fromCache: boolean;
  /** The cache entry's plan file, when a cache was used. */
  cachePath: string | null;
}

interface ModelSource {
  bytes: Uint8Array;
  /** The model file (for external data), or null for bytes without a modelPath. */
  path: string | null;
  sha256: string;
  /**
   * The ONNX graph's output dims by output name, with their symbolic names: TensorRT's parser
   * names the dims of inputs only, and the sidecar (hence the session, and the batcher's
   * zero-config padding and trimming) needs the outputs' too.
   */
  outputDims: Map<string, readonly (number | string)[] | null>;
  /** The ONNX graph's inputs (initializers excluded), for the default decoder ranges. */
  inputs: readonly { name: string; dims: readonly (number | string)[] | null }[];
  /** Limits the graph puts on the inputs (a position table's rows), for the sidecar. */
  inputLimits: ReturnType<typeof splitInputLimits>;
}

/**
 * sha256 of the model and of every external data file it names, so a change to either gives
 * another cache key.
 */
export async function modelDigest(bytes: Uint8Array, path: string | null): Promise<string> {
  return digestOf(decodeModel(bytes, path === null ? 'model' : `ONNX model ${JSON.stringify(path)}`), bytes, path);
}

async function digestOf(model: ModelProto, bytes: Uint8Array, path: string | null): Promise<string> {
  const locations = new Set<string>();
  for (const tp of allTensors(model)) if (isExternal(tp)) locations.add(externalDataInfo(tp).location);
  if (locations.size === 0) return sha256(bytes);
  if (path === null) {
    throw new InvalidArgumentError(
      'the model keeps weights in external data files; pass its path as model, or options.modelPath with the bytes, so they can be found',
    );
  }
  const parts = [sha256(bytes)];
  for (const location of [...locations].sort()) {
    const file = resolveExternalLocation(location, dirname(path));
    parts.push(`${location}:${sha256(await readFile(file))}`);
  }
  return sha256(parts.join('\n'));
}

async function loadModel(model: string | Uint8Array, modelPath: string | undefined): Promise<ModelSource> {
  let bytes: Uint8Array;
  let path: string | null;
  if (typeof model === 'string') {
    path = resolve(model);
    try {
      bytes = await readFile(path);
    } catch (e) {
      throw new TensorRTNodeError('ERR_IO', `cannot read ONNX model ${JSON.stringify(model)}: ${(e as Error).message}`, { cause: e });
    }
  } else if (model instanceof Uint8Array) {
    bytes = model;
    path = modelPath === undefined ? null : resolve(modelPath);
  } else {
    throw new InvalidArgumentError(`model must be an ONNX file path or a Uint8Array of ONNX bytes, got ${describe(model)}`);
  }
  const decoded = decodeModel(bytes, path === null ? 'model' : `ONNX model ${JSON.stringify(path)}`);
  const inspected = inspectModel(decoded);
  const outputDims = new Map(inspected.outputs.map((o) => [o.name, o.dims] as const));
  const inputs = inspected.inputs.map((i) => ({ name: i.name, dims: i.dims }));
  return { bytes, path, sha256: await digestOf(decoded, bytes, path), outputDims, inputs, inputLimits: splitInputLimits(findInputLimits(decoded)) };
}

function formatParserErrors(result: NativeParseResult): string {
  return result.errors
    .map((e) => {
      const where = e.node >= 0 ? `node ${e.node}${e.nodeName ? ` ${JSON.stringify(e.nodeName)}` : ''}${e.opType ? ` (${e.opType})` : ''}` : 'model';
      return `${where}: ${e.message} [${e.code}]`;
    })
    .join('\n  ');
}

/** I/O for the sidecar: -1 dims replaced by their symbolic name, from TensorRT or else from `onnxDims`. */
function ioInfo(tensors: readonly NativeNetworkTensor[], onnxDims?: ModelSource['outputDims']): EngineInfo['inputs'] {
  return tensors.map((t) => {
    const fromOnnx = onnxDims?.get(t.name);
    return {
      name: t.name,
      dtype: t.dtype,
      dims: t.dims.map((d, axis) => {
        if (d >= 0) return d;
        const named = t.dimNames[axis] || fromOnnx?.[axis];
        return typeof named === 'string' && named !== '' ? named : d;
      }),
    };
  });
}

/**
 * TensorRT's shape-tensor inputs (int32/int64 inputs whose values, not only their shape, set
 * the shapes of what follows, e.g. a Reshape target) need their values in every optimization
 * profile and at every run (setShapeValues / host-resident input), which tensorrt-node does
 * not provide: refused here, right after parsing, instead of failing inside the build.
 */
function refuseShapeTensorInputs(inputs: readonly NativeNetworkTensor[]): void {
  const shape = inputs.filter((i) => i.isShapeTensor);
  if (shape.length === 0) return;
  const list = shape.map((i) => `${JSON.stringify(i.name)} (${i.dtype} ${formatDims(i.dims)})`).join(', ');
  throw new TensorRTError(
    `the model's input${shape.length > 1 ? 's' : ''} ${list} ${shape.length > 1 ? 'are shape tensors' : 'is a shape tensor'}: ` +
      'TensorRT reads its values (not only its shape) to size what follows, e.g. a Reshape target. tensorrt-node ' +
      'supports inputs that are data only; make the value a constant (or an initializer) of the model, or compute it ' +
      'from the shape of a data input (Shape -> Gather) instead of passing it in',
    { inputs: shape.map((i) => i.name) },
  );
}

function checkFp16Mode(opts: ParsedBuildOptions, runtime: TensorRTRuntime): void {
  if (opts.precision !== 'fp16' || opts.fp16Mode !== 'builder-flag') return;
  const major = Number(runtime.version.split('.')[0]);
  if (major >= 11) {
    throw new InvalidArgumentError(
      `fp16Mode 'builder-flag' needs TensorRT 10.x, but TensorRT ${runtime.version} is loaded: TensorRT 11 removed ` +
        "BuilderFlag::kFP16 (networks are always strongly typed). Use fp16Mode 'convert' (the default), which converts " +
        'the model to mixed precision with convertToFloat16 before a strongly typed build',
    );
  }
  if (opts.fp16 !== undefined) {
    throw new InvalidArgumentError("options.fp16 (convertToFloat16 options) applies to fp16Mode 'convert', not 'builder-flag'");
  }
}

/** Builds a TensorRT engine from an ONNX model (a path or its bytes); see the module comment. */
export async function buildEngine(model: string | Uint8Array, options: BuildOptions = {}): Promise<BuiltEngine> {
  const opts = parseOptions(BuildOptionsSchema, options, 'buildEngine options');
  const signal = opts.signal;
  const aborted = (): never => {
    throw abortErrorFrom(signal!, 'buildEngine()');
  };
  if (signal?.aborted) aborted();
  const runtime = requireTensorRT();
  checkFp16Mode(opts, runtime);
  const addon = loadAddon();
  if (addon.trtParseOnnx === undefined || addon.buildInfo.tensorrt === null) {
    throw new TensorRTNotFoundError('this build of the addon has no TensorRT support (built without TensorRT headers)');
  }
  if (runtime.parserPath === null) {
    throw new TensorRTNotFoundError(`TensorRT's ONNX parser was not found: ${runtime.parserError ?? 'libnvonnxparser is missing'}`);
  }
  const gpu = addon.cudaDeviceProperties(opts.device);
  const source = await loadModel(model, opts.modelPath);
  // A decoder gets generation's ranges for the dims the caller left out (generation.ts); the
  // resolved ranges, not their spelling, go into the cache key.
  const dims = engineDimRanges(source.inputs, opts);
  const generation = generationDimRanges(source.inputs, opts.generation ?? {}) === undefined ? undefined : generationLimits(opts.generation);
  const normalised = normaliseForKey({ ...opts, dims });
  const key = cacheKey({ modelSha256: source.sha256, options: normalised, tensorrtVersion: runtime.version, computeCapability: gpu.computeCapability });
  const cacheDir = opts.cache === false ? null : opts.cache === true ? defaultCacheDir() : resolve(opts.cache);
  const cache = cacheDir === null ? null : new EngineCache(cacheDir);
  if (cache !== null) {
    const hit = await cache.get(key);
    if (hit !== null) return { plan: hit.plan, info: hit.info, fromCache: true, cachePath: hit.path };
  }
  if (signal?.aborted) aborted();

  const started = performance.now();
  let onnx = source.bytes;
  let fp16Report: unknown;
  const convert = opts.precision === 'fp16' && opts.fp16Mode === 'convert';
  if (convert) {
    const parsed = await readModel(source.bytes, source.path === null ? {} : { baseDir: dirname(source.path) });
    const converted = await convertToFloat16(parsed, opts.fp16 ?? {});
    onnx = encodeModel(converted.model);
    fp16Report = converted.report;
    if (signal?.aborted) aborted();
  }

  const parsed = await addon.trtParseOnnx(onnx, convert ? null : source.path, {
    device: opts.device,
    stronglyTyped: !(opts.precision === 'fp16' && opts.fp16Mode === 'builder-flag'),
  });
  if (parsed.network === null) {
    throw new OnnxParseError(`TensorRT's ONNX parser refused the model:\n  ${formatParserErrors(parsed)}`, {
      parserErrors: parsed.errors,
    });
  }
  const network = parsed.network;
  let result;
  let profiles: Profile[];
  try {
    refuseShapeTensorInputs(parsed.inputs);
    profiles = deriveProfiles(
      parsed.inputs.map((i) => ({ name: i.name, dims: i.dims, dimNames: i.dimNames })),
      { dims, profiles: opts.profiles },
    );
    if (signal?.aborted) aborted();
    const tracker = new BuildProgressTracker();
    const onEvent = (e: NativeBuildEvent): void => {
      try {
        if (e.kind === 'log') opts.onLog?.(e.severity, e.message);
        else {
          const event = tracker.event(e);
          if (event !== null) opts.onProgress?.(event);
        }
      } catch {
        // A throwing callback must not disturb the build.
      }
    };
    const cancel = (): void => {
      network.cancelBuild();
    };
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      result = await network.build(
        {
          profiles: profiles.map((p) => p.map((r) => ({ input: r.input, min: [...r.min], opt: [...r.opt], max: [...r.max] }))),
          ...(opts.workspaceBytes === undefined ? {} : { workspaceBytes: opts.workspaceBytes }),
          optimizationLevel: opts.optimizationLevel,
          hardwareCompatibility: HARDWARE_COMPATIBILITY[opts.hardwareCompatibility],
          versionCompatible: opts.versionCompatible,
          excludeLeanRuntime: opts.excludeLeanRuntime,
          refit: opts.refit,
          fp16BuilderFlag: opts.precision === 'fp16' && opts.fp16Mode === 'builder-flag',
          tf32: opts.tf32,
          maxAuxStreams: opts.maxAuxStreams ?? -1,
          // Read, merged and written back under a file lock by the addon (trtexec's --timingCacheFile).
          timingCachePath: opts.timingCache === undefined ? null : resolve(opts.timingCache),
          logLevel: opts.onLog === undefined ? null : opts.logLevel,
        },
        onEvent,
      );
    } catch (e) {
      if (signal?.aborted && (e as { code?: string }).code === 'ERR_ABORTED') aborted();
      throw e;
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  } finally {
    network.dispose();
  }

  const info: EngineInfo = {
    format: ENGINE_INFO_FORMAT,
    createdAt: new Date().toISOString(),
    cacheKey: key,
    model: { sha256: source.sha256, bytes: source.bytes.byteLength, path: source.path },
    options: normalised as unknown as EngineInfo['options'],
    tensorrt: { version: runtime.version, headers: addon.buildInfo.tensorrt },
    gpu: { device: opts.device, name: gpu.name, computeCapability: gpu.computeCapability },
    plan: { bytes: result.plan.byteLength, sha256: sha256(result.plan) },
    inputs: ioInfo(parsed.inputs).map((t) => {
      const limits = source.inputLimits.perInput[t.name];
      const valueRange = source.inputLimits.valueRanges[t.name];
      return { ...t, ...(limits && limits.length > 0 ? { limits } : {}), ...(valueRange ? { valueRange: { ...valueRange } } : {}) };
    }),
    outputs: ioInfo(parsed.outputs, source.outputDims),
    profiles: profilesAsRecords(profiles),
    buildSeconds: (performance.now() - started) / 1000,
    warnings: result.warnings,
    ...(fp16Report === undefined ? {} : { fp16: fp16Report }),
    ...(generation === undefined ? {} : { generation }),
  };
  const cachePath = cache === null ? null : await cache.put(result.plan, info);
  return { plan: result.plan, info, fromCache: false, cachePath };
}

/**
 * Writes a built engine: the plan to `path` (TensorRT's bytes, for trtexec --loadEngine or a
 * Triton model repository) and its sidecar to `<path>.json`, each through a temporary file.
 */
export async function saveEngine(path: string, engine: Pick<BuiltEngine, 'plan' | 'info'>): Promise<void> {
  await writeFileAtomic(path, engine.plan);
  await writeSidecar(sidecarPath(path), engine.info);
}
