#!/usr/bin/env node
/**
 * Builds the stand-in libraries (test doubles of the CUDA driver and of TensorRT, see
 * test/standin/README.md) into build/standin/, for every TensorRT header set found in
 * ../shared/trt-sdk/<version> beside the checkout (or the folders in TRTN_STANDIN_SDKS,
 * ':'-separated). Incremental: when nothing changed it only asks ninja, which does nothing.
 *
 *   node scripts/build-standin.mjs [--sanitize address,undefined|thread] [--out DIR] [--quiet]
 *
 * --sanitize builds into build/standin-<sanitizer>/ instead, for the sanitizer runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const sanitize = arg('sanitize') ?? '';
const quiet = process.argv.includes('--quiet');
const out = resolve(arg('out') ?? join(root, 'build', sanitize ? `standin-${sanitize.replace(/[^a-z]+/g, '-')}` : 'standin'));
const cmakeDir = join(out, '.cmake');

const say = (msg) => {
  if (!quiet) console.log(`build-standin: ${msg}`);
};
// Written when the stand-ins cannot be built here; the tests read it to say why they skip.
const skippedMarker = join(out, 'SKIPPED');

/** What this machine lacks to build the stand-ins, or '' (cmake, ninja, a compiler, cuda.h). */
function missingPrerequisite() {
  const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  for (const cmd of ['cmake', 'ninja', 'node']) {
    if (!onPath(cmd)) return `${cmd} is not on PATH`;
  }
  if (!onPath('c++') && !onPath('g++') && !onPath('clang++')) return 'no C++ compiler on PATH';
  const roots = [process.env.CUDA_PATH, process.env.CUDA_HOME, process.env.CUDAToolkit_ROOT, '/usr/local/cuda'].filter(Boolean);
  if (!roots.some((r) => existsSync(join(r, 'include', 'cuda.h')))) return `no CUDA toolkit headers (cuda.h) under ${roots.join(', ')}`;
  return '';
}

/** TensorRT SDK folders (each with include/NvInfer.h), newest version first. */
export function findSdks() {
  const listed = (process.env.TRTN_STANDIN_SDKS ?? '').split(':').filter((d) => d !== '');
  const candidates = listed.length > 0 ? listed : sharedSdks();
  return candidates.map((d) => resolve(d)).filter((d) => existsSync(join(d, 'include', 'NvInfer.h')) && existsSync(join(d, 'include', 'NvOnnxParser.h')));
}

function sharedSdks() {
  const base = resolve(root, '..', 'shared', 'trt-sdk');
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .filter((v) => /^\d+\.\d+\.\d+$/.test(v) && statSync(join(base, v)).isDirectory())
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))
    .map((v) => join(base, v));
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
  if (r.status !== 0) {
    if (quiet) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
  }
}

// Builds run one at a time: parallel test files may all ask for the stand-ins.
function withLock(fn) {
  mkdirSync(out, { recursive: true });
  const lock = join(out, '.lock');
  const deadline = Date.now() + 15 * 60 * 1000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than the longest build is left over from a killed build.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 15 * 60 * 1000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // the lock went away meanwhile: try again
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function main() {
  const missing = missingPrerequisite();
  if (missing) {
    mkdirSync(out, { recursive: true });
    writeFileSync(skippedMarker, `${missing}\n`);
    console.log(`build-standin: skipped: ${missing}`);
    return;
  }
  rmSync(skippedMarker, { force: true });
  const sdks = findSdks();
  const t0 = performance.now();
  withLock(() => {
    const configure = [
      '-S',
      join(root, 'test', 'standin'),
      '-B',
      cmakeDir,
      '-G',
      'Ninja',
      `-DSTANDIN_OUTPUT_DIR=${out}`,
      `-DSTANDIN_SDK_DIRS=${sdks.join(';')}`,
      `-DSTANDIN_SANITIZE=${sanitize}`,
    ];
    const stamp = join(cmakeDir, 'configure-args.json');
    const wanted = JSON.stringify(configure);
    const configured = existsSync(join(cmakeDir, 'build.ninja')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted;
    if (!configured) {
      say(sdks.length > 0 ? `TensorRT headers: ${sdks.join(', ')}` : 'no TensorRT headers found (../shared/trt-sdk): building the CUDA driver stand-in only');
      run('cmake', [...configure, ...(quiet ? ['-Wno-dev', '--log-level=WARNING'] : [])]);
      writeFileSync(stamp, wanted);
    }
    run('cmake', ['--build', cmakeDir]);
  });
  console.log(
    `build-standin: up to date in ${out} for TensorRT ${sdks.map((d) => d.split('/').pop()).join(', ') || '(none)'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    console.error(`build-standin: ${e.message}`);
    process.exit(1);
  }
}
