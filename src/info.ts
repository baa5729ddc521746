/**
 * runtimeInfo(): what this process can use — the addon, the CUDA driver and its devices,
 * TensorRT — and why not where it cannot. Never throws; each part carries its own error.
 * `tensorrt-node info --json` prints it; users and tools read it, so its shape is a contract.
 */
import { createRequire } from 'node:module';
import { TensorRTNodeError } from './errors.js';
import { addonStatus, loadAddon, type AddonVariant, type NativeDeviceProperties } from './native.js';
import { formatCudaVersion } from './cuda.js';
import { formatTrtVersion, probeTensorRT, unprobedSearch } from './backends/tensorrt-libs.js';

export interface ErrorInfo {
  code: string;
  message: string;
  /** The CUDA driver's error name (CUDA_ERROR_NO_DEVICE, CUDA_ERROR_NO_DRIVER, ...). */
  cudaError?: string;
}

export interface RuntimeInfo {
  package: { name: string; version: string };
  node: { version: string; napi: string; platform: string; arch: string };
  addon: {
    loaded: boolean;
    /** The binary that loaded: a local build or a prebuilt one. */
    path: string | null;
    error: string | null;
    /** Why this binary was chosen among the variants. */
    reason: string | null;
    builtWith: {
      /** CUDA headers the addon was compiled with. */
      cuda: string | null;
      /** TensorRT header versions this install can drive: every loadable variant, e.g. ["10.16.0", "11.1.0"]. */
      tensorrt: string[];
    };
    /** Every candidate binary with its verdict. */
    variants: { path: string; source: AddonVariant['source']; tensorrt: string | null; loadable: boolean; error: string | null }[];
  };
  cuda: {
    /** The CUDA version the installed driver supports (cuDriverGetVersion), e.g. "12.4". */
    driverVersion: string | null;
    /** Absent when the driver cannot be used; [] when it sees no GPU. */
    devices?: (NativeDeviceProperties & { freeMemory: number | null })[];
    error?: ErrorInfo;
  };
  tensorrt: {
    found: boolean;
    version: string | null;
    libraryPath: string | null;
    parserPath: string | null;
    pluginPath: string | null;
    /** Every path tried, for every TensorRT major this install can drive (also when nothing is found). */
    searched: { path: string; error: string | null }[];
    error: { code: string; message: string } | null;
  };
}

function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof TensorRTNodeError) {
    const cudaError = (e as { cudaError?: string }).cudaError;
    return { code: e.code, message: e.message, ...(cudaError ? { cudaError } : {}) };
  }
  return { code: 'ERR_INTERNAL', message: String((e as Error)?.message ?? e) };
}

export function runtimeInfo(): RuntimeInfo {
  const require = createRequire(import.meta.url);
  const pkg = require('../package.json') as { name: string; version: string };
  const status = addonStatus();
  const drivable = [...new Set(status.variants.filter((v) => v.loadable && v.tensorrt !== null).map((v) => v.tensorrt!))];
  drivable.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const info: RuntimeInfo = {
    package: { name: pkg.name, version: pkg.version },
    node: { version: process.version, napi: process.versions.napi ?? '', platform: process.platform, arch: process.arch },
    addon: {
      loaded: status.loaded,
      path: status.path,
      error: status.error,
      reason: status.reason,
      builtWith: { cuda: null, tensorrt: drivable },
      variants: status.variants.map(({ path, source, tensorrt, loadable, error }) => ({ path, source, tensorrt, loadable, error })),
    },
    cuda: { driverVersion: null },
    tensorrt: { found: false, version: null, libraryPath: null, parserPath: null, pluginPath: null, searched: [], error: null },
  };

  if (!status.loaded) {
    const notLoaded = { code: 'ERR_ADDON_LOAD', message: 'the native addon is not loaded (see addon.error)' };
    info.cuda.error = notLoaded;
    info.tensorrt.error = notLoaded;
    return info;
  }
  const addon = loadAddon();
  info.addon.builtWith.cuda = addon.buildInfo.cuda;
  try {
    info.cuda.driverVersion = formatCudaVersion(addon.cudaDriverVersion());
    const n = addon.cudaDeviceCount();
    info.cuda.devices = [];
    for (let i = 0; i < n; i++) {
      const p = addon.cudaDeviceProperties(i);
      let freeMemory: number | null = null;
      try {
        freeMemory = addon.cudaMemGetInfo(i).free;
      } catch {
        freeMemory = null;
      }
      info.cuda.devices.push({ ...p, freeMemory });
    }
  } catch (e) {
    delete info.cuda.devices;
    info.cuda.error = errorInfo(e);
  }

  const trt = probeTensorRT();
  const otherSearches = trt.others.flatMap((r) => r.searched);
  if (trt.result === null) {
    info.tensorrt.error = { code: 'ERR_TENSORRT_NOT_FOUND', message: trt.error ?? 'TensorRT is not available' };
    info.tensorrt.searched = otherSearches.length > 0 ? otherSearches : unprobedSearch();
    return info;
  }
  const r = trt.result;
  info.tensorrt.found = r.found;
  info.tensorrt.searched = [...r.searched, ...otherSearches];
  if (r.found) {
    info.tensorrt.version = formatTrtVersion(r.version ?? 0);
    info.tensorrt.libraryPath = r.libraryPath ?? null;
    info.tensorrt.parserPath = r.parserPath ?? null;
    info.tensorrt.pluginPath = r.pluginPath ?? null;
    if (r.parserError) {
      info.tensorrt.error = {
        code: 'ERR_TENSORRT_NOT_FOUND',
        message: `TensorRT's ONNX parser was not loaded (${r.parserError}): engines load and run, but none can be built`,
      };
    }
  } else {
    const all = [r, ...trt.others];
    const versionProblem = all.find((x) => x.code === 'ERR_TENSORRT_VERSION');
    info.tensorrt.error = versionProblem
      ? { code: 'ERR_TENSORRT_VERSION', message: versionProblem.error ?? 'TensorRT of an unusable version was found' }
      : {
          code: 'ERR_TENSORRT_NOT_FOUND',
          message:
            all
              .map((x) => x.error)
              .filter(Boolean)
              .join('; ') || 'TensorRT was not found',
        };
  }
  return info;
}
