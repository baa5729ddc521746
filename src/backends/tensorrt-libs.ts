/**
 * Where TensorRT's libraries are looked for, in order: TENSORRT_LIB_DIR (one folder or a
 * colon-separated list), the dynamic loader's own search (LD_LIBRARY_PATH, ld.so cache), the
 * usual install folders (Debian/Ubuntu multiarch, /usr/local/tensorrt/lib, tarball folders)
 * and the folders of TensorRT's pip wheels (tensorrt_libs, tensorrt_cu12_libs, ...).
 * The addon variant of each major dlopens libnvinfer.so.<major> in each folder until one of
 * its major, no older than its headers' minor, loads (src/native.ts picks the variant).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { addonStatus, buildFromSourceCommand, loadAddon, type TrtLoadAttempt, type TrtLoadResult } from '../native.js';
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
    for (const py of e
      .list(lib)
      .filter((n) => PYTHON_DIR.test(n))
      .sort()
      .reverse()) {
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
    for (const n of e
      .list(root)
      .filter((x) => /^TensorRT/i.test(x))
      .sort()
      .reverse())
      fixed.push(join(root, n, 'lib'));
  }
  for (const d of fixed) if (e.isDir(d)) dirs.push(d);
  for (const site of pythonSitePackages(e)) {
    for (const n of e
      .list(site)
      .filter((x) => WHEEL_LIBS.test(x))
      .sort())
      dirs.push(join(site, n));
  }
  return [...new Set(dirs)];
}

export interface TensorRTRuntime {
  version: string;
  libraryPath: string;
  parserPath: string | null;
  parserError: string | null;
  pluginPath: string | null;
}

export function formatTrtVersion(v: number): string {
  return `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`;
}

/** The TensorRT majors this install has a loadable addon variant for, newest first. */
export function drivableMajors(): number[] {
  const majors = addonStatus()
    .variants.filter((v) => v.loadable && v.tensorrt !== null)
    .map((v) => Number(v.tensorrt!.split('.')[0]));
  return [...new Set(majors)].sort((a, b) => b - a);
}

// dlerror() repeats the path (or the bare name it was given); keep only what went wrong.
function trimmed(searched: TrtLoadAttempt[]): TrtLoadAttempt[] {
  return searched.map((s) => {
    const name = s.path.split(' ')[0]!;
    for (const prefix of [`${s.path}: `, `${name}: `]) {
      if (s.error?.startsWith(prefix)) return { ...s, error: s.error.slice(prefix.length) };
    }
    return s;
  });
}

export interface TensorRTProbe {
  /** The loaded variant's TensorRT headers, or null. */
  buildVersion: string | null;
  /** The loaded variant's trtLoad, or null when it cannot look (no addon, no TensorRT support). */
  result: TrtLoadResult | null;
  /** What the other variants' test loads found for their majors (searched paths, version problems). */
  others: TrtLoadResult[];
  /** Why there is no result. */
  error: string | null;
}

const NO_TENSORRT_BUILD = (command: string): string =>
  'this build of the addon has no TensorRT support: it was built without TensorRT headers. Build it again where ' +
  `TensorRT's headers are (TENSORRT_ROOT=/path/to/TensorRT ${command}), or install a tensorrt-node package that ` +
  'ships the prebuilt TensorRT 10 and 11 binaries';

/** Result of looking for TensorRT with the loaded addon variant, for diagnostics; never throws. */
export function probeTensorRT(): TensorRTProbe {
  let addon;
  try {
    addon = loadAddon();
  } catch (e) {
    return { buildVersion: null, result: null, others: [], error: (e as Error).message };
  }
  const status = addonStatus();
  const major = (version: string | null) => version?.split('.')[0] ?? null;
  const others = status.variants
    .filter((v) => v.path !== status.path && v.probe !== null && major(v.tensorrt) !== major(addon.buildInfo.tensorrt))
    .map((v) => ({ ...v.probe!, searched: trimmed(v.probe!.searched) }));
  if (addon.trtLoad === undefined || addon.buildInfo.tensorrt === null) {
    return { buildVersion: null, result: null, others, error: NO_TENSORRT_BUILD(buildFromSourceCommand()) };
  }
  const result = addon.trtLoad(tensorrtLibraryDirs());
  result.searched = trimmed(result.searched);
  return { buildVersion: addon.buildInfo.tensorrt, result, others, error: null };
}

/**
 * Where libnvinfer.so.<major> would be looked for, for an addon that cannot look itself (built
 * without TensorRT headers): each folder's file, as present or missing.
 */
export function unprobedSearch(majors: number[] = [11, 10]): TrtLoadAttempt[] {
  const out: TrtLoadAttempt[] = [];
  for (const major of majors) {
    for (const dir of tensorrtLibraryDirs()) {
      const file = `libnvinfer.so.${major}`;
      if (dir === LOADER_PATH) {
        out.push({ path: `${file} (dynamic loader path)`, error: 'not tried: this build of the addon has no TensorRT support' });
      } else {
        const path = join(dir, file);
        out.push({ path, error: existsSync(path) ? 'present, but this build of the addon has no TensorRT support' : 'No such file' });
      }
    }
  }
  return out;
}

/** Loads TensorRT or throws ERR_TENSORRT_NOT_FOUND / ERR_TENSORRT_VERSION saying where it looked. */
export function requireTensorRT(): TensorRTRuntime {
  const { result, others, error } = probeTensorRT();
  if (result === null) throw new TensorRTNotFoundError(`TensorRT is not available: ${error}`);
  if (!result.found) {
    const all = [result, ...others];
    const searched = all.flatMap((r) => r.searched);
    const where = searched.map((s) => `  - ${s.path}: ${s.error ?? 'ok'}`).join('\n');
    const versionProblem = all.find((r) => r.code === 'ERR_TENSORRT_VERSION');
    const majors = drivableMajors();
    const remedy =
      `Install TensorRT ${majors.map((m) => `${m}.x`).join(' or ')} (NVIDIA's .deb or .tar packages, or the pip wheels: ` +
      '`pip install tensorrt-cu13` for CUDA 13 drivers, `tensorrt-cu12` for CUDA 12; TensorRT 11 needs a CUDA 13 driver) ' +
      'and/or set TENSORRT_LIB_DIR to the folder holding its libraries.' +
      (versionProblem
        ? ` A TensorRT older than the headers this addon was built with can be used by building the addon from source against its own headers (TENSORRT_ROOT=/path/to/TensorRT ${buildFromSourceCommand()}).`
        : '');
    const summary =
      versionProblem?.error ??
      all
        .map((r) => r.error)
        .filter(Boolean)
        .join('; ');
    const Err = versionProblem ? TensorRTVersionError : TensorRTNotFoundError;
    throw new Err(`${summary}; searched:\n${where}\n${remedy}`, { searched });
  }
  return {
    version: formatTrtVersion(result.version ?? 0),
    libraryPath: result.libraryPath ?? '',
    parserPath: result.parserPath ?? null,
    parserError: result.parserError ?? null,
    pluginPath: result.pluginPath ?? null,
  };
}
