#!/usr/bin/env node
// Builds the native addon from source with cmake-js into build/Release: one
// tensorrt_node-trt<major>.node per TensorRT major whose headers CMakeLists.txt finds
// (TENSORRT_ROOT, the usual install folders, ../shared/trt-sdk beside a checkout), or a plain
// tensorrt_node.node where it finds none. Needs the CUDA headers, cmake >= 3.18 and a C++17
// compiler; no nvcc, no CUDA or TensorRT library. Incremental: a second run compiles only what
// changed (the header search runs again each time).
//
//   node scripts/build-addon.mjs [--debug] [--staging-probe]
//
// --staging-probe compiles TrtStagingProbe for scripts/bench-trt-overhead.ts (never in user
// builds). Exit codes: 0 built, 1 the build failed, 3 a build tool is missing (nothing tried).
// Run by `npm run build:addon`, `tensorrt-node build-addon` and the install script.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { addonFiles, buildCommand, missingBuildTools, releaseDir, root } from './addon-tools.mjs';

const args = process.argv.slice(2);
const require = createRequire(import.meta.url);

const missing = missingBuildTools();
if (missing.length > 0) {
  console.error(`tensorrt-node: cannot build the native addon from source: missing ${missing.join(', ')}.`);
  process.exit(3);
}
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js');
} catch {
  console.error('tensorrt-node: cmake-js is not installed (it is a dependency: run `npm install` first)');
  process.exit(3);
}

const common = ['--directory', root, '--out', join(root, 'build'), ...(args.includes('--debug') ? ['--debug'] : [])];
const probe = `--CDTENSORRT_NODE_STAGING_PROBE=${args.includes('--staging-probe') ? 'ON' : 'OFF'}`;
const steps = [
  // Configured every time, so headers installed or removed since the last build are seen.
  ['configure', ...common, probe],
  ['build', ...common, '--parallel', String(Math.max(1, availableParallelism()))],
];
for (const step of steps) {
  const r = spawnSync(process.execPath, [cmakeJs, ...step], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\ntensorrt-node: the native addon did not build (cmake-js ${step[0]} failed). Fix what it says above and run \`${buildCommand()}\` again.`);
    process.exit(1);
  }
}

// Remove addon files an earlier configuration built and this one did not (a variant whose
// headers are gone), so that none is picked up stale.
const manifest = join(root, 'build', 'addon-variants.txt');
const made = existsSync(manifest) ? readFileSync(manifest, 'utf8').split('\n').filter(Boolean) : [];
const outDir = args.includes('--debug') ? join(root, 'build', 'Debug') : releaseDir;
for (const file of addonFiles(outDir)) {
  if (made.length > 0 && !made.includes(basename(file))) rmSync(file, { force: true });
}
console.log(
  `tensorrt-node: built ${addonFiles(outDir)
    .map((f) => basename(f))
    .join(', ')} in ${outDir}`,
);
