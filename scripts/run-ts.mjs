#!/usr/bin/env node
// Runs a TypeScript script of this repository (Node 20 cannot run .ts itself): bundles it with
// esbuild into node_modules/.cache (so package imports resolve) and runs it with the
// remaining arguments.
//   node scripts/run-ts.mjs scripts/make-encoder.ts [args...]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [script, ...args] = process.argv.slice(2);
if (!script || !script.endsWith('.ts') || !existsSync(resolve(script))) {
  console.error('usage: node scripts/run-ts.mjs path/to/script.ts [args...]');
  process.exit(2);
}
const outDir = join(root, 'node_modules', '.cache', 'tensorrt-node-scripts');
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, `${basename(script, '.ts')}.mjs`);
await build({
  entryPoints: [resolve(script)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});
const r = spawnSync(process.execPath, ['--enable-source-maps', outfile, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
