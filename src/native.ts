/**
 * The one place that loads the native addon. Loading is lazy: importing the library never
 * touches the addon, so the ONNX Runtime backend, FP16 conversion and the accuracy harness
 * work where the addon is missing or cannot load. A failed load gives one AddonLoadError
 * with every cause and the remedy.
 *
 * The addon comes in one variant per TensorRT major (tensorrt_node-trt10.node,
 * tensorrt_node-trt11.node; a plain tensorrt_node.node where it was built without TensorRT
 * headers), in build/Release (a local build) or prebuilds/<platform>-<arch> (shipped in the
 * package); a local build of a major wins over the prebuilt one, as node-gyp-build does. Every
 * candidate is first loaded in a child process (as node-llama-cpp does), so a binary that
 * cannot load here (another glibc or Node ABI, a crash in an initialiser) never takes this
 * process down; the child also reports which majors' TensorRT libraries are installed, so this
 * process loads exactly one variant: TENSORRT_NODE_ADDON when set (the only place looked at),
 * else the major TENSORRT_NODE_TRT_MAJOR names, else the newest major whose libnvinfer loads,
 * else the newest variant (which then reports TensorRT not found). The verdict is kept for the
 * process and handed to worker threads started later.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads';
import { AddonLoadError, errorFromCode, type ErrorDetails } from './errors.js';
import { tensorrtLibraryDirs } from './backends/tensorrt-libs.js';

export interface NativeBuildInfo {
  /** CUDA version of the headers the addon was compiled with (the driver may be older or newer). */
  readonly cuda: string;
  /** TensorRT version of the headers this variant was compiled with, or null without TensorRT. */
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
  /** The device pointer. */
  readonly address: bigint;
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
  /** trtLoad only (trtProbe looks for libnvinfer alone): */
  parserPath?: string | null;
  parserVersion?: number;
  parserError?: string | null;
  /** libnvinfer_plugin, loaded where present; its plugins were registered when `pluginsRegistered`. */
  pluginPath?: string | null;
  pluginError?: string | null;
  pluginsRegistered?: boolean;
  /** Siblings loaded by full path beside libnvinfer (builder resource, lean/dispatch runtimes). */
  preloaded?: string[];
  preloadErrors?: string[];
  /** libnvinfer_lean beside libnvinfer (IRuntime::loadRuntime takes it), or null. */
  leanRuntimePath?: string | null;
  /** ERR_TENSORRT_NOT_FOUND or ERR_TENSORRT_VERSION when not found. */
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
  /**
   * A timing-cache file (absolute path; null: no timing cache). The addon reads it under a
   * lock on "<file>.lock" (missing: a new cache), and after the build merges its timings
   * with what the file holds then and replaces it, under the same lock.
   */
  timingCachePath: string | null;
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
  /** Outputs: the input whose buffer the output is written into (getAliasedInputTensor), '' when none. */
  aliasOf?: string;
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
  /** > 0: the completion thread spin-waits this long before it blocks (default 0). */
  spinWaitMicros?: number;
}

export interface NativeRunOutput {
  /** Index among the engine's outputs. */
  index: number;
  dims: number[];
  /** Absent for an output written into its caller-provided target. */
  data?: ArrayBuffer;
  /** True when `data` is a block of the pinned output pool handed over without a copy. */
  pinned?: boolean;
}

export interface NativeContextStats {
  graphs: number;
  graphFailures: number;
  outputCapacity: number[];
  /** The environment's completion queue: completions found while spin-waiting, and otherwise. */
  queueSpinHits?: number;
  queueWaitHits?: number;
}

export interface NativeTrtContext {
  readonly profile: number;
  readonly disposed: boolean;
  /**
   * inputs in engine input order; dims all inputs' dims concatenated; wanted: output indices;
   * targets: caller-provided output memory parallel to wanted (undefined entries: none), with
   * targetDims the given targets' dims concatenated. Resolves undefined when every wanted
   * output went to a target; otherwise target outputs come back without `data`.
   */
  run(
    inputs: (ArrayBufferView | NativeDeviceBuffer)[],
    dims: number[],
    wanted?: number[],
    targets?: (ArrayBufferView | NativeDeviceBuffer | undefined)[],
    targetDims?: number[],
    /** Record CUDA events around the stages: resolves { outputs, timings: { h2dMs, computeMs, d2hMs } } instead. */
    timed?: boolean,
  ): Promise<NativeRunOutput[] | undefined>;
  stats(): NativeContextStats;
  dispose(): void;
}

export interface NativeTrtEngine {
  readonly lost: boolean;
  readonly disposed: boolean;
  describe(): NativeEngineDescription;
  createContexts(specs: NativeContextSpec[]): Promise<NativeTrtContext[]>;
  /** An ArrayBuffer over pinned memory of the engine's pool, back to the pool when collected. */
  allocPinned(bytes: number): ArrayBuffer;
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
  /** CUDA_VERSION of the headers the addon was compiled with (1000 * major + 10 * minor). */
  cudaHeaderVersion(): number;
  cudaDeviceCount(): number;
  cudaDeviceProperties(device: number): NativeDeviceProperties;
  cudaMemGetInfo(device: number): { free: number; total: number };
  Stream: new (device: number) => NativeStream;
  Event: { new (device: number, timing: boolean): NativeEvent; elapsedMs(start: NativeEvent, end: NativeEvent): number };
  DeviceBuffer: {
    new (stream: NativeStream, bytes: number): NativeDeviceBuffer;
    /** A view of device memory another library owns: checked with the driver, never freed. */
    new (address: bigint, bytes: number, device: number): NativeDeviceBuffer;
  };
  PinnedPool: new (maxCachedBytes: number) => NativePinnedPool;
  PinnedBuffer: abstract new () => NativePinnedBuffer;
  trimMemoryPool(device: number, keepBytes: number): void;
  copyAsync(dst: CopyEndpoint, dstOffset: number, src: CopyEndpoint, srcOffset: number, bytes: number, stream: NativeStream): Promise<void>;
  memsetAsync(buffer: NativeDeviceBuffer, offset: number, value: number, bytes: number, stream: NativeStream): void;
  bandwidthProbe(device: number, bytes: number, iterations: number, direction: 'h2d' | 'd2h'): Promise<number[]>;
  /** Present only in variants built with TensorRT headers. */
  trtLoad?(dirs: string[]): TrtLoadResult;
  /** What trtLoad would find, keeping nothing loaded (used by the child that picks the variant). */
  trtProbe?(dirs: string[]): TrtLoadResult;
  trtLibraryNames?: [string, string];
  trtParseOnnx?(model: Uint8Array, modelPath: string | null, options: { device: number; stronglyTyped: boolean }): Promise<NativeParseResult>;
  /** leanRuntime: deserialize through IRuntime::loadRuntime (plans built with excludeLeanRuntime). */
  trtDeserialize?(plan: Uint8Array, options: { device: number; allowHostCode: boolean; leanRuntime?: boolean }): Promise<NativeTrtEngine>;
  /** Benchmarks only (scripts/bench-trt-overhead.ts); present only in builds with TENSORRT_NODE_STAGING_PROBE=ON. */
  TrtStagingProbe?: new (device: number, inputBytes: number[], outputs: { bytes: number; dims: number[] }[]) => NativeTrtStagingProbe;
}

/** Where an addon binary came from. */
export type AddonSource = 'TENSORRT_NODE_ADDON' | 'local build' | 'prebuilt';

/** One candidate binary and what loading it in a child process showed. */
export interface AddonVariant {
  path: string;
  source: AddonSource;
  /** TensorRT version of its headers; null for the plain addon (or one that did not load). */
  tensorrt: string | null;
  loadable: boolean;
  /** Why it did not load; null when it did. */
  error: string | null;
  /** Its trtProbe of the TensorRT libraries of its major (the first loadable variant of each major). */
  probe: TrtLoadResult | null;
}

export interface AddonStatus {
  loaded: boolean;
  /** The binary that loaded. */
  path: string | null;
  /** One message with every cause and the remedy, or null when loaded. */
  error: string | null;
  /** Every candidate binary, in the order considered, with its verdict. */
  variants: AddonVariant[];
  /** Why the loaded variant was chosen. */
  reason: string | null;
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** prebuilds/<this folder>/ holds the binaries shipped in the package. */
export const PREBUILD_PLATFORM = `${process.platform}-${process.arch}`;
const ADDON_FILE = /^tensorrt_node(?:-trt(\d+))?\.node$/;
const VERDICT_KEY = 'tensorrt-node:addon-verdict';

/** True where the package was installed (inside node_modules), false in a checkout. */
export function installedAsDependency(root = packageRoot): boolean {
  return root.split(sep).includes('node_modules');
}

/** The command that builds the addon from source where this package is. */
export function buildFromSourceCommand(root = packageRoot): string {
  return installedAsDependency(root) ? 'npx tensorrt-node build-addon' : 'npm run build:addon';
}

function majorOfFile(name: string): number {
  const m = ADDON_FILE.exec(name);
  return m?.[1] ? Number(m[1]) : 0;
}

/**
 * The binaries considered, in order: TENSORRT_NODE_ADDON alone when set (an explicit choice
 * that fails should say so, not fall back to another build); else the local build, then the
 * prebuilt binaries, each newest major first.
 */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env, root = packageRoot): { path: string; source: AddonSource }[] {
  if (env.TENSORRT_NODE_ADDON) return [{ path: resolve(env.TENSORRT_NODE_ADDON), source: 'TENSORRT_NODE_ADDON' }];
  const folders: [string, AddonSource][] = [
    [join(root, 'build', 'Release'), 'local build'],
    [join(root, 'build', 'Debug'), 'local build'],
    [join(root, 'prebuilds', PREBUILD_PLATFORM), 'prebuilt'],
  ];
  const out: { path: string; source: AddonSource }[] = [];
  for (const [dir, source] of folders) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names.filter((n) => ADDON_FILE.test(n)).sort((a, b) => majorOfFile(b) - majorOfFile(a))) {
      out.push({ path: join(dir, name), source });
    }
  }
  return out;
}

// Runs in a child process: loads each candidate in turn and reports, one JSON line per step
// (written before the next step, so a crash shows where it happened), whether it loaded, its
// TensorRT headers and, once per major, which libnvinfer of that major loads. It creates no
// CUDA context and loads TensorRT lazily (trtProbe reads the version only).
const PROBE_SCRIPT = String.raw`
const { writeSync } = require('node:fs');
const { paths, dirs } = JSON.parse(process.env.TENSORRT_NODE_PROBE_INPUT);
const say = (o) => writeSync(1, JSON.stringify(o) + '\n');
const probed = new Set();
for (let i = 0; i < paths.length; i++) {
  const mod = { exports: {} };
  try {
    process.dlopen(mod, paths[i]);
  } catch (e) {
    say({ i, error: String((e && e.message) || e).split('\n')[0] });
    continue;
  }
  const info = mod.exports.buildInfo;
  if (!info || typeof info.cuda !== 'string') { say({ i, error: 'not a tensorrt-node addon (no buildInfo)' }); continue; }
  const tensorrt = typeof info.tensorrt === 'string' ? info.tensorrt : null;
  say({ i, loaded: true, tensorrt });
  const major = tensorrt && tensorrt.split('.')[0];
  if (major && typeof mod.exports.trtProbe === 'function' && !probed.has(major)) {
    probed.add(major);
    say({ i, probing: true });
    try { say({ i, probe: mod.exports.trtProbe(dirs) }); } catch (e) { say({ i, probeError: String((e && e.message) || e) }); }
  }
}
`;

interface ProbeLine {
  i: number;
  error?: string;
  loaded?: boolean;
  tensorrt?: string | null;
  probing?: boolean;
  probe?: TrtLoadResult;
  probeError?: string;
}

/**
 * Loads each binary in a child process and reports whether it loads there, its TensorRT
 * headers and (once per major) which TensorRT library of that major loads from `dirs`. A
 * child that crashes is restarted after the binary it died on. Never throws.
 */
export function testLoadAddons(candidates: { path: string; source: AddonSource }[], dirs: string[]): AddonVariant[] {
  const variants: AddonVariant[] = candidates.map((c) => ({ ...c, tensorrt: null, loadable: false, error: null, probe: null }));
  const pending: number[] = [];
  variants.forEach((v, i) => {
    if (existsSync(v.path)) pending.push(i);
    else v.error = 'not built (no such file)';
  });
  let from = 0;
  while (from < pending.length) {
    const batch = pending.slice(from);
    const env: NodeJS.ProcessEnv = { ...process.env, TENSORRT_NODE_PROBE_INPUT: JSON.stringify({ paths: batch.map((i) => variants[i]!.path), dirs }) };
    delete env.NODE_OPTIONS; // a debugger or loader flag of this process has no business there
    const r = spawnSync(process.execPath, ['-e', PROBE_SCRIPT], { env, encoding: 'utf8', timeout: 60_000, maxBuffer: 16 << 20 });
    let last = -1;
    let probing = -1;
    for (const line of (r.stdout ?? '').split('\n')) {
      if (!line.startsWith('{')) continue;
      let msg: ProbeLine;
      try {
        msg = JSON.parse(line) as ProbeLine;
      } catch {
        continue;
      }
      const v = variants[batch[msg.i]!];
      if (v === undefined) continue;
      last = Math.max(last, msg.i);
      if (msg.error !== undefined) v.error = msg.error;
      if (msg.loaded) {
        v.loadable = true;
        v.tensorrt = msg.tensorrt ?? null;
      }
      if (msg.probing) probing = msg.i;
      if (msg.probe) {
        v.probe = msg.probe;
        probing = -1;
      }
      if (msg.probeError !== undefined) {
        v.probe = { found: false, searched: [], code: 'ERR_TENSORRT_NOT_FOUND', error: msg.probeError };
        probing = -1;
      }
    }
    const done = last + 1 === batch.length && probing === -1;
    if (done) break;
    // The child died (or hung) on batch[last + 1]'s load, or on batch[last]'s TensorRT probe.
    const how = r.error ? `${r.error.message}` : r.signal ? `the test process was killed by ${r.signal}` : `the test process exited with code ${r.status}`;
    const tail = (r.stderr ?? '').trim().split('\n').slice(-3).join(' / ');
    const why = `${how}${tail ? `: ${tail}` : ''}`;
    if (probing >= 0) {
      variants[batch[probing]!]!.probe = { found: false, searched: [], code: 'ERR_TENSORRT_NOT_FOUND', error: `loading TensorRT's library failed: ${why}` };
      from += probing + 1;
    } else {
      variants[batch[last + 1]!]!.error = `loading it failed: ${why}`;
      from += last + 2;
    }
  }
  return variants;
}

function majorOf(v: AddonVariant): number {
  return v.tensorrt === null ? 0 : Number(v.tensorrt.split('.')[0]);
}

/** Picks the variant to load (see the header of this file). */
export function chooseVariant(
  variants: AddonVariant[],
  env: NodeJS.ProcessEnv = process.env,
): { variant: AddonVariant | null; reason: string | null; error: string | null } {
  const loadable = variants.filter((v) => v.loadable);
  if (env.TENSORRT_NODE_ADDON) {
    const v = loadable[0] ?? null;
    return { variant: v, reason: v ? 'TENSORRT_NODE_ADDON' : null, error: null };
  }
  // The first loadable variant of each major (local builds come first), newest major first.
  const byMajor = new Map<number, AddonVariant>();
  for (const v of loadable) if (!byMajor.has(majorOf(v))) byMajor.set(majorOf(v), v);
  const majors = [...byMajor.keys()].filter((m) => m > 0).sort((a, b) => b - a);
  const forced = env.TENSORRT_NODE_TRT_MAJOR;
  if (forced !== undefined && forced !== '') {
    const v = /^\d+$/.test(forced) ? byMajor.get(Number(forced)) : undefined;
    if (v === undefined || Number(forced) === 0) {
      const have = majors.length > 0 ? majors.join(', ') : 'none';
      return {
        variant: null,
        reason: null,
        error: `TENSORRT_NODE_TRT_MAJOR=${forced}: there is no loadable addon variant for TensorRT ${forced} (variants for: ${have})`,
      };
    }
    return { variant: v, reason: `TENSORRT_NODE_TRT_MAJOR=${forced}`, error: null };
  }
  for (const m of majors) {
    const v = byMajor.get(m)!;
    if (v.probe?.found) return { variant: v, reason: `TensorRT ${m} found (${v.probe.libraryPath})`, error: null };
  }
  // None loads: prefer a major whose library is there but unusable (too old), so the error
  // says that rather than "not found".
  for (const m of majors) {
    const v = byMajor.get(m)!;
    if (v.probe?.code === 'ERR_TENSORRT_VERSION') return { variant: v, reason: `a TensorRT ${m} library was found but cannot be used`, error: null };
  }
  if (majors.length > 0) return { variant: byMajor.get(majors[0]!)!, reason: 'no TensorRT library found; the newest variant', error: null };
  const plain = byMajor.get(0);
  return { variant: plain ?? null, reason: plain ? 'the only addon (built without TensorRT headers)' : null, error: null };
}

let addon: NativeAddon | undefined;
let status: AddonStatus | undefined;

function remedyFor(messages: string[]): string {
  const text = messages.join('\n');
  const command = buildFromSourceCommand();
  if (/NODE_MODULE_VERSION|napi_|undefined symbol/.test(text)) {
    return `The addon was built for another Node.js or is damaged: build it from source with \`${command}\`.`;
  }
  if (/GLIBC|GLIBCXX|CXXABI/.test(text)) {
    return `The addon needs a newer C/C++ runtime (glibc, libstdc++) than this system has: build it here from source with \`${command}\`.`;
  }
  return (
    `Build the addon from source with \`${command}\`: it needs the CUDA toolkit's headers, cmake >= 3.18 and a C++17 ` +
    'compiler, and builds one variant per TensorRT major whose headers it finds (TENSORRT_ROOT, the usual install ' +
    'folders). The ONNX Runtime backend, FP16 conversion and the accuracy harness work without it.'
  );
}

interface Verdict {
  input: string;
  variants: AddonVariant[];
  chosen: number;
  reason: string | null;
  error: string | null;
}

function decide(): Verdict {
  const candidates = addonCandidates();
  const dirs = tensorrtLibraryDirs();
  const input = JSON.stringify({ candidates, dirs, major: process.env.TENSORRT_NODE_TRT_MAJOR ?? '' });
  const cached = getEnvironmentData(VERDICT_KEY) as Verdict | undefined;
  if (cached?.input === input) return cached;
  const variants = testLoadAddons(candidates, dirs);
  const choice = chooseVariant(variants);
  const verdict: Verdict = { input, variants, chosen: choice.variant ? variants.indexOf(choice.variant) : -1, reason: choice.reason, error: choice.error };
  setEnvironmentData(VERDICT_KEY, verdict);
  return verdict;
}

function tryLoad(): void {
  const verdict = decide();
  const variants = verdict.variants;
  const chosen = variants[verdict.chosen];
  const causes = variants.filter((v) => v.error !== null).map((v) => `${v.path}: ${v.error}`);
  if (chosen !== undefined) {
    try {
      // Through require for .node files, so a second load of the same file (a user's own
      // require) gets this instance instead of registering the module again.
      let mod: NativeAddon;
      if (chosen.path.endsWith('.node')) {
        mod = createRequire(import.meta.url)(chosen.path) as NativeAddon;
      } else {
        const holder = { exports: {} as NativeAddon };
        process.dlopen(holder, chosen.path);
        mod = holder.exports;
      }
      mod.init({ makeError: errorFromCode });
      addon = mod;
      status = { loaded: true, path: chosen.path, error: null, variants, reason: verdict.reason };
      return;
    } catch (e) {
      causes.push(`${chosen.path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (verdict.error !== null) causes.unshift(verdict.error);
  if (causes.length === 0) {
    causes.push(`no addon binary in ${join(packageRoot, 'build', 'Release')} or ${join(packageRoot, 'prebuilds', PREBUILD_PLATFORM)}`);
  }
  status = {
    loaded: false,
    path: null,
    error: `the tensorrt-node native addon could not be loaded:\n${causes.map((c) => `  - ${c}`).join('\n')}\n${remedyFor(causes)}`,
    variants,
    reason: null,
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
