#!/usr/bin/env node
// Runs the TensorRT GPU check (scripts/gpu-trt-check.ts; Node 20 cannot run .ts itself):
// bundles it with esbuild into tmp/ at the repository root (one level down, so the library's
// paths relative to its own file, the addon's and package.json's, still resolve), package
// imports left to node_modules, and runs it with the arguments given.
//   node scripts/gpu-trt-check.mjs [model.onnx ...] [--preset bert-base] [--batch 8] [--seq 128] ...
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'tmp');
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, 'gpu-trt-check.mjs');
await build({
  entryPoints: [join(root, 'scripts', 'gpu-trt-check.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});
const r = spawnSync(process.execPath, ['--enable-source-maps', outfile, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
