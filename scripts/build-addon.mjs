#!/usr/bin/env node
// Builds the native addon with cmake-js (run by `npm ci` / `npm install` through the package's
// install script). TENSORRT_ROOT (a folder with include/NvInfer.h) adds the TensorRT sources;
// without it the addon builds without them and runtimeInfo() says so.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);

if (process.env.TENSORRT_NODE_SKIP_ADDON === '1') {
  console.log('tensorrt-node: TENSORRT_NODE_SKIP_ADDON=1, not building the native addon');
  process.exit(0);
}

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js');
} catch {
  console.error('tensorrt-node: cmake-js is not installed; run `npm ci` first');
  process.exit(1);
}

const cmakeArgs = [cmakeJs, 'compile', '--directory', root, '--parallel', String(Math.max(1, availableParallelism()))];
const trtRoot = process.env.TENSORRT_ROOT;
if (trtRoot) {
  if (!existsSync(join(trtRoot, 'include', 'NvInfer.h'))) {
    console.warn(`tensorrt-node: TENSORRT_ROOT=${trtRoot} has no include/NvInfer.h; building without TensorRT`);
  }
  cmakeArgs.push(`--CDTENSORRT_ROOT=${trtRoot}`);
}
if (args.includes('--debug')) cmakeArgs.push('--debug');

const result = spawnSync(process.execPath, cmakeArgs, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.error(
    '\ntensorrt-node: the native addon did not build. It needs the CUDA toolkit (nvcc on PATH or in ' +
      '/usr/local/cuda), cmake >= 3.18 and a C++17 compiler. The ONNX Runtime backend, FP16 conversion ' +
      'and the accuracy harness work without it; set TENSORRT_NODE_SKIP_ADDON=1 to install without building.',
  );
  process.exit(result.status ?? 1);
}
