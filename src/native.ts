/**
 * The one place that loads the native addon. Loading is lazy: importing the library never
 * touches the addon, so the ONNX Runtime backend, FP16 conversion and the accuracy harness
 * work where the addon is missing or cannot load. A failed load gives one AddonLoadError
 * with every cause and the remedy.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AddonLoadError, errorFromCode, type ErrorDetails } from './errors.js';

export interface NativeBuildInfo {
  readonly cuda: string;
  /** TensorRT version of the headers the addon was compiled with, or null without TensorRT. */
  readonly tensorrt: string | null;
  readonly napiVersion: number;
  readonly compiler?: string;
}

export interface NativeDeviceProperties {
  index: number;
  name: string;
  computeCapability: string;
  major: number;
  minor: number;
  totalMemory: number;
  multiProcessorCount: number;
  pciBusId: string;
  uuid: string;
  l2CacheBytes: number;
  memoryBusWidth: number;
  integrated: boolean;
}

export interface NativeStream {
  readonly device: number;
  readonly disposed: boolean;
  query(): boolean;
  synchronize(): Promise<void>;
  dispose(): void;
}

export interface NativeEvent {
  readonly device: number;
  record(stream: NativeStream): void;
  query(): boolean;
  synchronize(): Promise<void>;
  dispose(): void;
}

export interface NativeDeviceBuffer {
  readonly byteLength: number;
  readonly device: number;
  readonly freed: boolean;
  free(): void;
}

export interface NativePinnedBuffer {
  /** A Uint8Array over the pinned bytes, made on first access (detached by release()). */
  readonly array: Uint8Array;
  /** Copies all of `source` into the buffer at `offset`. */
  write(source: ArrayBufferView | ArrayBuffer, offset?: number): void;
  /** Fills all of `target` from the buffer at `offset`. */
  read(target: ArrayBufferView | ArrayBuffer, offset?: number): void;
  readonly byteLength: number;
  readonly capacity: number;
  readonly released: boolean;
  release(): void;
}

export interface PinnedPoolStats {
  /** cudaHostAlloc calls. */
  allocations: number;
  /** Requests served from cached blocks. */
  reuses: number;
  /** cudaFreeHost calls. */
  frees: number;
  cachedBytes: number;
  inUseBytes: number;
  maxCachedBytes: number;
}

export interface NativePinnedPool {
  acquire(bytes: number): NativePinnedBuffer;
  stats(): PinnedPoolStats;
  trim(): void;
}

export type CopyEndpoint = NativeDeviceBuffer | NativePinnedBuffer | ArrayBufferView | ArrayBuffer;

export interface TrtLoadAttempt {
  path: string;
  error: string | null;
}

export interface TrtLoadResult {
  found: boolean;
  searched: TrtLoadAttempt[];
  version?: number;
  libraryPath?: string;
  parserPath?: string | null;
  parserVersion?: number;
  parserError?: string | null;
  code?: string;
  error?: string;
}

/** A network input or output as TensorRT's ONNX parser made it (-1 for dynamic dims). */
export interface NativeNetworkTensor {
  name: string;
  /** A DataType name, or "unsupported:<TensorRT type>". */
  dtype: string;
  dims: number[];
  /** Inputs: the ONNX dim_param of each dim ("" where none); outputs: []. */
  dimNames: string[];
  isShapeTensor: boolean;
}

/** One error of TensorRT's ONNX parser (nvonnxparser::IParserError). */
export interface NativeParserError {
  code: string;
  message: string;
  /** Index of the failing node, -1 when the error is not tied to a node. */
  node: number;
  nodeName: string;
  opType: string;
  file: string;
  line: number;
  func: string;
  localFunctionStack: string[];
}

export interface NativeParseResult {
  /** null when parsing failed (see errors). */
  network: NativeTrtNetwork | null;
  errors: NativeParserError[];
  inputs: NativeNetworkTensor[];
  outputs: NativeNetworkTensor[];
}

export interface NativeInputRange {
  input: string;
  min: number[];
  opt: number[];
  max: number[];
}

/** The flat, validated build configuration handed to the addon (see src/build/options.ts). */
export interface NativeBuildConfig {
  /** One entry per optimization profile. */
  profiles: NativeInputRange[][];
  workspaceBytes?: number;
  optimizationLevel: number;
  /** 0 none, 1 Ampere and newer, 2 same compute capability. */
  hardwareCompatibility: 0 | 1 | 2;
  versionCompatible: boolean;
  excludeLeanRuntime: boolean;
  refit: boolean;
  /** TensorRT 10.x only: BuilderFlag::kFP16 on a weakly typed network. */
  fp16BuilderFlag: boolean;
  tf32: boolean;
  /** -1: TensorRT decides. */
  maxAuxStreams: number;
  /** A serialized timing cache to start from (empty: a new cache); null: no timing cache. */
  timingCache: Uint8Array | null;
  /** TensorRT log lines of this severity and worse are reported as 'log' events; null: none. */
  logLevel: 'error' | 'warning' | 'info' | 'verbose' | null;
}

export type NativeBuildEvent =
  | { kind: 'phaseStart'; phase: string; parent: string | null; steps: number }
  | { kind: 'step'; phase: string; step: number; steps: number }
  | { kind: 'phaseFinish'; phase: string; steps: number }
  | { kind: 'log'; severity: 'internal-error' | 'error' | 'warning' | 'info' | 'verbose'; message: string };

export interface NativeBuildResult {
  plan: Uint8Array;
  timingCache: Uint8Array | null;
  warnings: string[];
}

export interface NativeTrtNetwork {
  readonly disposed: boolean;
  readonly building: boolean;
  build(config: NativeBuildConfig, onEvent?: (event: NativeBuildEvent) => void): Promise<NativeBuildResult>;
  /** Asks a running build to stop at TensorRT's next progress step; false when none runs. */
  cancelBuild(): boolean;
  dispose(): void;
}

export interface NativeProfileShape {
  min: number[];
  opt: number[];
  max: number[];
}

export interface NativeEngineTensor {
  name: string;
  mode: 'input' | 'output';
  dtype: string;
  dims: number[];
  isShapeTensor: boolean;
  onHost: boolean;
  linear: boolean;
  /** Inputs: one range per optimization profile; outputs: []. */
  profiles: NativeProfileShape[];
}

export interface NativeEngineDescription {
  tensors: NativeEngineTensor[];
  profiles: number;
  deviceMemoryBytes: number;
}

export interface NativeContextSpec {
  profile: number;
  /** Per engine input, in engine order: bytes of its device and staging buffers. */
  inputBytes: number[];
  cudaGraphs: boolean;
}

export interface NativeRunOutput {
  /** Index among the engine's outputs. */
  index: number;
  dims: number[];
  data: ArrayBuffer;
}

export interface NativeContextStats {
  graphs: number;
  graphFailures: number;
  outputCapacity: number[];
}

export interface NativeTrtContext {
  readonly profile: number;
  readonly disposed: boolean;
  /** inputs in engine input order; dims all inputs' dims concatenated; wanted: output indices. */
  run(inputs: ArrayBufferView[], dims: number[], wanted?: number[]): Promise<NativeRunOutput[]>;
  stats(): NativeContextStats;
  dispose(): void;
}

export interface NativeTrtEngine {
  readonly lost: boolean;
  readonly disposed: boolean;
  describe(): NativeEngineDescription;
  createContexts(specs: NativeContextSpec[]): Promise<NativeTrtContext[]>;
  dispose(): void;
}

/** Diagnostic for benchmarks: TrtContext's run path with the engine step left out. */
export interface NativeTrtStagingProbe extends NativeTrtContext {
  /** The same copies in a C++ loop on a worker thread: wall microseconds per round trip. */
  bareRoundTrips(iterations: number): Promise<number[]>;
}

export interface NativeAddon {
  init(options: { makeError: (code: string, message: string, details: ErrorDetails) => Error }): void;
  readonly buildInfo: NativeBuildInfo;
  cudaDriverVersion(): number;
  cudaRuntimeVersion(): number;
  cudaDeviceCount(): number;
  cudaDeviceProperties(device: number): NativeDeviceProperties;
  cudaMemGetInfo(device: number): { free: number; total: number };
  Stream: new (device: number) => NativeStream;
  Event: { new (device: number, timing: boolean): NativeEvent; elapsedMs(start: NativeEvent, end: NativeEvent): number };
  DeviceBuffer: new (stream: NativeStream, bytes: number) => NativeDeviceBuffer;
  PinnedPool: new (maxCachedBytes: number) => NativePinnedPool;
  PinnedBuffer: abstract new () => NativePinnedBuffer;
  trimMemoryPool(device: number, keepBytes: number): void;
  copyAsync(dst: CopyEndpoint, dstOffset: number, src: CopyEndpoint, srcOffset: number, bytes: number, stream: NativeStream): Promise<void>;
  memsetAsync(buffer: NativeDeviceBuffer, offset: number, value: number, bytes: number, stream: NativeStream): void;
  bandwidthProbe(device: number, bytes: number, iterations: number, direction: 'h2d' | 'd2h'): Promise<number[]>;
  /** Present only in builds with TensorRT headers. */
  trtLoad?(dirs: string[]): TrtLoadResult;
  trtLibraryNames?: [string, string];
  trtParseOnnx?(model: Uint8Array, modelPath: string | null, options: { device: number; stronglyTyped: boolean }): Promise<NativeParseResult>;
  trtDeserialize?(plan: Uint8Array, options: { device: number; allowHostCode: boolean }): Promise<NativeTrtEngine>;
  /** Benchmarks only (scripts/bench-trt-overhead.ts); present in every build. */
  TrtStagingProbe?: new (device: number, inputBytes: number[], outputs: { bytes: number; dims: number[] }[]) => NativeTrtStagingProbe;
}

export interface AddonStatus {
  loaded: boolean;
  path: string | null;
  /** One message with every cause and the remedy, or null when loaded. */
  error: string | null;
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ADDON_FILE = 'tensorrt_node.node';

/**
 * Where the addon is looked for, in order. TENSORRT_NODE_ADDON, when set, is the only place:
 * an explicit choice that fails should say so, not fall back to another build.
 */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.TENSORRT_NODE_ADDON) return [resolve(env.TENSORRT_NODE_ADDON)];
  return [join(packageRoot, 'build', 'Release', ADDON_FILE), join(packageRoot, 'build', 'Debug', ADDON_FILE)];
}

let addon: NativeAddon | undefined;
let status: AddonStatus | undefined;

function remedyFor(messages: string[]): string {
  const text = messages.join('\n');
  if (/NODE_MODULE_VERSION|napi_|undefined symbol/.test(text)) {
    return 'The addon was built for another Node.js or is damaged: rebuild it with `npm rebuild tensorrt-node` (in a checkout: `npm run build:addon`).';
  }
  if (/GLIBC|GLIBCXX|CXXABI/.test(text)) {
    return "The addon was built on a system with a newer C/C++ runtime than this one: rebuild it here with `npm rebuild tensorrt-node`.";
  }
  return (
    'Build the addon with `npm rebuild tensorrt-node` (in a checkout: `npm run build:addon`); it needs the CUDA ' +
    'toolkit (nvcc), cmake >= 3.18 and a C++17 compiler. The ONNX Runtime backend, FP16 conversion and the ' +
    'accuracy harness work without it.'
  );
}

function tryLoad(): void {
  const require = createRequire(import.meta.url);
  const causes: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      causes.push(`${path}: not built (no such file)`);
      continue;
    }
    try {
      const mod = require(path) as NativeAddon;
      mod.init({ makeError: errorFromCode });
      addon = mod;
      status = { loaded: true, path, error: null };
      return;
    } catch (e) {
      causes.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  status = {
    loaded: false,
    path: null,
    error: `the tensorrt-node native addon could not be loaded:\n${causes.map((c) => `  - ${c}`).join('\n')}\n${remedyFor(causes)}`,
  };
}

/** Whether the addon loaded, from where, or why not. Never throws. */
export function addonStatus(): AddonStatus {
  if (status === undefined) tryLoad();
  return status!;
}

/** The addon; throws AddonLoadError (ERR_ADDON_LOAD) with every cause and the remedy. */
export function loadAddon(): NativeAddon {
  if (addon !== undefined) return addon;
  const s = addonStatus();
  if (addon === undefined) throw new AddonLoadError(s.error ?? 'the native addon is not loaded');
  return addon;
}
