/**
 * Where TensorRT's libraries are looked for, in order: TENSORRT_LIB_DIR (one folder or a
 * colon-separated list), the dynamic loader's own search (LD_LIBRARY_PATH, ld.so cache), the
 * usual install folders (Debian/Ubuntu multiarch, /usr/local/tensorrt/lib, tarball folders)
 * and the folders of TensorRT's pip wheels (tensorrt_libs, tensorrt_cu12_libs, ...).
 * The addon dlopens libnvinfer.so.<major> in each folder until one of the right major loads.
 */
import { readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadAddon, type TrtLoadResult } from '../native.js';
import { TensorRTNotFoundError, TensorRTVersionError } from '../errors.js';

/** The empty string stands for the dynamic loader's own search path. */
export const LOADER_PATH = '';

export interface SearchEnvironment {
  env: NodeJS.ProcessEnv;
  arch: string;
  home: string;
  /** Lists a folder's entries; [] when it does not exist. */
  list: (dir: string) => string[];
  isDir: (dir: string) => boolean;
}

function defaultEnvironment(): SearchEnvironment {
  return {
    env: process.env,
    arch: process.arch,
    home: homedir(),
    list: (dir) => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    },
    isDir: (dir) => {
      try {
        return statSync(dir).isDirectory();
      } catch {
        return false;
      }
    },
  };
}

const WHEEL_LIBS = /^tensorrt(_cu\d+)?_libs$/;
const PYTHON_DIR = /^python3(\.\d+)?$/;

/** Site-packages folders of the Python environments we know where to look for. */
function pythonSitePackages(e: SearchEnvironment): string[] {
  const prefixes: string[] = [];
  if (e.env.VIRTUAL_ENV) prefixes.push(e.env.VIRTUAL_ENV);
  if (e.env.CONDA_PREFIX) prefixes.push(e.env.CONDA_PREFIX);
  prefixes.push(join(e.home, '.local'), '/usr/local', '/usr');
  const out: string[] = [];
  for (const prefix of prefixes) {
    const lib = join(prefix, 'lib');
    for (const py of e.list(lib).filter((n) => PYTHON_DIR.test(n)).sort().reverse()) {
      for (const kind of ['site-packages', 'dist-packages']) out.push(join(lib, py, kind));
    }
  }
  return out;
}

/** Candidate folders in search order (LOADER_PATH for the dynamic loader's own search). */
export function tensorrtLibraryDirs(environment: Partial<SearchEnvironment> = {}): string[] {
  const e = { ...defaultEnvironment(), ...environment };
  const dirs: string[] = [];
  for (const d of (e.env.TENSORRT_LIB_DIR ?? '').split(':')) if (d.trim()) dirs.push(d.trim());
  dirs.push(LOADER_PATH);
  const multiarch = e.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const fixed = [`/usr/lib/${multiarch}`, '/usr/local/tensorrt/lib', '/opt/tensorrt/lib', '/usr/lib64'];
  for (const root of ['/usr/local', '/opt']) {
    for (const n of e.list(root).filter((x) => /^TensorRT/i.test(x)).sort().reverse()) fixed.push(join(root, n, 'lib'));
  }
  for (const d of fixed) if (e.isDir(d)) dirs.push(d);
  for (const site of pythonSitePackages(e)) {
    for (const n of e.list(site).filter((x) => WHEEL_LIBS.test(x)).sort()) dirs.push(join(site, n));
  }
  return [...new Set(dirs)];
}

export interface TensorRTRuntime {
  version: string;
  libraryPath: string;
  parserPath: string | null;
  parserError: string | null;
}

export function formatTrtVersion(v: number): string {
  return `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`;
}

/** Result of looking for TensorRT, for diagnostics; never throws. */
export function probeTensorRT(): { buildVersion: string | null; result: TrtLoadResult | null; error: string | null } {
  let addon;
  try {
    addon = loadAddon();
  } catch (e) {
    return { buildVersion: null, result: null, error: (e as Error).message };
  }
  if (addon.trtLoad === undefined || addon.buildInfo.tensorrt === null) {
    return {
      buildVersion: null,
      result: null,
      error:
        'this build of the addon has no TensorRT support: it was built without TensorRT headers. Set TENSORRT_ROOT ' +
        'to a folder with include/NvInfer.h (a TensorRT SDK) and rebuild: TENSORRT_ROOT=/path npm rebuild tensorrt-node',
    };
  }
  const result = addon.trtLoad(tensorrtLibraryDirs());
  // dlerror() repeats the path; keep only what went wrong.
  for (const s of result.searched) {
    if (s.error?.startsWith(`${s.path}: `)) s.error = s.error.slice(s.path.length + 2);
  }
  return { buildVersion: addon.buildInfo.tensorrt, result, error: null };
}

/** Loads TensorRT or throws ERR_TENSORRT_NOT_FOUND / ERR_TENSORRT_VERSION saying where it looked. */
export function requireTensorRT(): TensorRTRuntime {
  const { buildVersion, result, error } = probeTensorRT();
  if (result === null) throw new TensorRTNotFoundError(`TensorRT is not available: ${error}`);
  if (!result.found) {
    const where = result.searched.map((s) => `  - ${s.path}: ${s.error ?? 'ok'}`).join('\n');
    const remedy =
      `Install TensorRT ${buildVersion?.split('.')[0]}.x (NVIDIA's .deb or .tar packages, or the pip wheels: \`pip install tensorrt-cu13\` for CUDA 13, \`tensorrt-cu12\` for CUDA 12) ` +
      'and/or set TENSORRT_LIB_DIR to the folder holding its libraries.';
    const Err = result.code === 'ERR_TENSORRT_VERSION' ? TensorRTVersionError : TensorRTNotFoundError;
    throw new Err(`${result.error}; searched:\n${where}\n${remedy}`, { searched: result.searched });
  }
  return {
    version: formatTrtVersion(result.version ?? 0),
    libraryPath: result.libraryPath ?? '',
    parserPath: result.parserPath ?? null,
    parserError: result.parserError ?? null,
  };
}
