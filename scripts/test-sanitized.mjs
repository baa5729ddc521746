#!/usr/bin/env node
/**
 * The stand-in suite (test/standin: the driver and TensorRT stand-ins' own tests, and the
 * whole native path through the public API) under AddressSanitizer and UndefinedBehaviorSanitizer:
 * builds the stand-ins and the addon with -fsanitize=address,undefined into folders of their
 * own, then runs the suite against them. Node itself is not instrumented: the test children
 * preload the ASan runtime (it must come first), and leak checking is off because Node and V8
 * keep allocations until exit by design; any other finding (heap overflow, use after free,
 * double free, undefined behaviour) stops the child, and the tests fail on it.
 *
 *   node scripts/test-sanitized.mjs [--skip-build] [vitest args...]
 *
 * Exit code: vitest's (0 when every test passed); 0 with the reason when a prerequisite is
 * missing (no compiler, cmake, ninja, cuda.h or TensorRT headers), as the stand-in build does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { root } from './addon-tools.mjs';

const SANITIZE = 'address,undefined';
const FLAGS = `-fsanitize=${SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all`;
const standinDir = join(root, 'build', 'standin-address-undefined');
const addonBuild = join(root, 'build', 'sanitize-address-undefined');
const addonDir = join(addonBuild, 'Release');

const args = process.argv.slice(2);
const skipBuild = args.includes('--skip-build');
const vitestArgs = args.filter((a) => a !== '--skip-build');
const require = createRequire(import.meta.url);
const t0 = performance.now();
const seconds = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

function run(cmd, argv, env = process.env) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
  return r.status ?? 1;
}

/** The ASan runtime the compiler links against (what Node must preload). */
function asanRuntime() {
  const cxx = process.env.CXX || 'c++';
  const r = spawnSync(cxx, ['-print-file-name=libasan.so'], { encoding: 'utf8' });
  const path = (r.stdout ?? '').trim();
  return r.status === 0 && path.startsWith('/') && existsSync(path) ? path : '';
}

function main() {
  const runtime = asanRuntime();
  if (!runtime) {
    console.log('test-sanitized: skipped: the compiler has no ASan runtime (libasan.so)');
    return 0;
  }
  if (!skipBuild) {
    if (run(process.execPath, [join(root, 'scripts', 'build-standin.mjs'), '--sanitize', SANITIZE, '--quiet']) !== 0) return 1;
    if (existsSync(join(standinDir, 'SKIPPED'))) {
      console.log(`test-sanitized: skipped: ${readFileSync(join(standinDir, 'SKIPPED'), 'utf8').trim()}`);
      return 0;
    }
    const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
    const common = ['--directory', root, '--out', addonBuild];
    const configure = [
      'configure',
      ...common,
      `--CDCMAKE_CXX_FLAGS=${FLAGS}`,
      `--CDCMAKE_SHARED_LINKER_FLAGS=-fsanitize=${SANITIZE}`,
      '--CDTENSORRT_NODE_STAGING_PROBE=OFF',
    ];
    if (run(process.execPath, [cmakeJs, ...configure]) !== 0) return 1;
    if (run(process.execPath, [cmakeJs, 'build', ...common, '--parallel', String(Math.max(1, availableParallelism()))]) !== 0) return 1;
    console.log(`test-sanitized: built the stand-ins and the addon with -fsanitize=${SANITIZE} (${seconds()})`);
  }
  const env = {
    ...process.env,
    TRTN_STANDIN_DIR: standinDir,
    TRTN_STANDIN_ADDON_DIR: addonDir,
    TRTN_STANDIN_PRELOAD: runtime,
    // Node and V8 keep memory until exit on purpose: leak reports would be theirs, not ours.
    ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=0:abort_on_error=1:allow_user_segv_handler=0:strict_string_checks=1:check_initialization_order=1',
    UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'print_stacktrace=1:halt_on_error=1',
  };
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const status = run(process.execPath, [vitest, 'run', 'test/standin', ...vitestArgs], env);
  console.log(`test-sanitized: ${status === 0 ? 'passed' : `failed (vitest exit ${status})`} in ${seconds()}`);
  return status;
}

try {
  process.exit(main());
} catch (e) {
  console.error(`test-sanitized: ${e.message}`);
  process.exit(1);
}
