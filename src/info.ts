/**
 * runtimeInfo(): what this process can use — the addon, CUDA and its devices, TensorRT —
 * and why not where it cannot. Never throws; each part carries its own error.
 */
import { createRequire } from 'node:module';
import { TensorRTNodeError } from './errors.js';
import { addonStatus, loadAddon, type NativeDeviceProperties } from './native.js';
import { formatCudaVersion } from './cuda.js';
import { formatTrtVersion, probeTensorRT } from './backends/tensorrt-libs.js';

export interface ErrorInfo {
  code: string;
  message: string;
  cudaError?: string;
}

export interface RuntimeInfo {
  package: { name: string; version: string };
  node: { version: string; napi: string; platform: string; arch: string };
  addon: {
    loaded: boolean;
    path: string | null;
    error: string | null;
    builtWith: { cuda: string | null; tensorrt: string | null };
  };
  cuda: {
    driverVersion: string | null;
    runtimeVersion: string | null;
    devices?: (NativeDeviceProperties & { freeMemory: number | null })[];
    error?: ErrorInfo;
  };
  tensorrt: {
    found: boolean;
    version: string | null;
    libraryPath: string | null;
    parserPath: string | null;
    searched: { path: string; error: string | null }[];
    error: string | null;
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
  const info: RuntimeInfo = {
    package: { name: pkg.name, version: pkg.version },
    node: { version: process.version, napi: process.versions.napi ?? '', platform: process.platform, arch: process.arch },
    addon: { loaded: status.loaded, path: status.path, error: status.error, builtWith: { cuda: null, tensorrt: null } },
    cuda: { driverVersion: null, runtimeVersion: null },
    tensorrt: { found: false, version: null, libraryPath: null, parserPath: null, searched: [], error: null },
  };

  if (!status.loaded) {
    info.cuda.error = { code: 'ERR_ADDON_LOAD', message: 'the native addon is not loaded (see addon.error)' };
    info.tensorrt.error = 'the native addon is not loaded (see addon.error)';
    return info;
  }
  const addon = loadAddon();
  info.addon.builtWith = { cuda: addon.buildInfo.cuda, tensorrt: addon.buildInfo.tensorrt };
  const runtime = addon.cudaRuntimeVersion();
  info.cuda.runtimeVersion = runtime > 0 ? formatCudaVersion(runtime) : null;
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
  if (trt.result === null) {
    info.tensorrt.error = trt.error;
  } else {
    const r = trt.result;
    info.tensorrt.found = r.found;
    info.tensorrt.searched = r.searched;
    if (r.found) {
      info.tensorrt.version = formatTrtVersion(r.version ?? 0);
      info.tensorrt.libraryPath = r.libraryPath ?? null;
      info.tensorrt.parserPath = r.parserPath ?? null;
      info.tensorrt.error = r.parserError ? `ONNX parser not loaded: ${r.parserError}` : null;
    } else {
      info.tensorrt.error = `${r.code}: ${r.error}`;
    }
  }
  return info;
}
