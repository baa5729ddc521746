// Helpers of the addon's build, install and prepack scripts (plain Node, no dependencies:
// they run before dist/ exists). Not part of the library's API.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const platformFolder = `${process.platform}-${process.arch}`;
export const prebuildDir = join(root, 'prebuilds', platformFolder);
export const releaseDir = join(root, 'build', 'Release');
export const ADDON_FILE = /^tensorrt_node(?:-trt(\d+))?\.node$/;

/** True inside node_modules (an installed package), false in a checkout. */
export function installed() {
  return root.split(sep).includes('node_modules');
}

/** The command that builds the addon from source where this package is. */
export function buildCommand() {
  return installed() ? 'npx tensorrt-node build-addon' : 'npm run build:addon';
}

/** Addon files in `dir`, newest TensorRT major first. */
export function addonFiles(dir) {
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const major = (n) => Number(ADDON_FILE.exec(n)?.[1] ?? 0);
  return names
    .filter((n) => ADDON_FILE.test(n))
    .sort((a, b) => major(b) - major(a))
    .map((n) => join(dir, n));
}

/**
 * Loads `path` in a child process (so a binary that cannot load here cannot take this one
 * down): { ok: true, tensorrt, cuda } or { ok: false, error }.
 */
export function testLoad(path) {
  const script = `const m = { exports: {} }; process.dlopen(m, process.argv[1]);
    const b = m.exports.buildInfo; process.stdout.write(JSON.stringify({ tensorrt: b.tensorrt, cuda: b.cuda }));`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, ['-e', script, path], { encoding: 'utf8', env, timeout: 60_000 });
  if (r.status === 0) {
    try {
      return { ok: true, ...JSON.parse(r.stdout) };
    } catch {
      // fall through: unreadable output is a failure
    }
  }
  const why =
    r.error?.message ??
    (r.signal
      ? `killed by ${r.signal}`
      : ((r.stderr || '')
          .trim()
          .split('\n')
          .find((l) => /Error|error/.test(l)) ?? `exit code ${r.status}`));
  return { ok: false, error: why };
}

/** The build tools a source build needs that are missing or do not run: [] when all are there. */
export function missingBuildTools() {
  const missing = [];
  const runs = (cmd) => {
    const r = spawnSync(cmd, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    return r.status === 0 ? r.stdout : null;
  };
  const cmake = runs('cmake');
  const version = cmake && /cmake version (\d+)\.(\d+)/.exec(cmake);
  if (!version) missing.push('cmake (>= 3.18)');
  else if (Number(version[1]) < 3 || (Number(version[1]) === 3 && Number(version[2]) < 18)) missing.push(`cmake >= 3.18 (found ${version[1]}.${version[2]})`);
  const compilers = process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'];
  if (!compilers.some((c) => runs(c) !== null)) missing.push(`a C++17 compiler (${compilers.join(', ')})`);
  const cudaHeaders = [process.env.CUDA_PATH, process.env.CUDA_HOME, '/usr/local/cuda', '/usr']
    .filter(Boolean)
    .some((d) => existsSync(join(d, 'include', 'cuda.h')));
  if (!cudaHeaders) missing.push('the CUDA headers (cuda.h: the CUDA toolkit, or set CUDA_PATH)');
  return missing;
}
