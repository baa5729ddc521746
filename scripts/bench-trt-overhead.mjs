#!/usr/bin/env node
// Runs scripts/bench-trt-overhead.ts (Node 20 cannot run .ts itself): bundles it, zod
// included, into tmp/ at the repository root (one level down, so the library finds the addon
// at build/Release relative to its own file) and runs it with the arguments given. With
// BENCH_BUNDLE_ONLY=1 it only bundles, for a GPU machine without node_modules:
//   node tmp/bench-trt-overhead.mjs --iterations 20000
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'tmp'), { recursive: true });
const outfile = join(root, 'tmp', 'bench-trt-overhead.mjs');
await build({
  entryPoints: [join(root, 'scripts', 'bench-trt-overhead.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['onnxruntime-node'],
  banner: { js: "import { createRequire as __trtnRequire } from 'node:module'; const require = __trtnRequire(import.meta.url);" },
  logLevel: 'warning',
});
if (process.env.BENCH_BUNDLE_ONLY === '1') {
  console.log(`bundled ${outfile}`);
  process.exit(0);
}
const r = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
