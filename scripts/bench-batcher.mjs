#!/usr/bin/env node
// Runs a DynamicBatcher benchmark written in TypeScript (Node 20 cannot run .ts itself):
// bundles scripts/bench-batcher-<name>.ts with esbuild into node_modules/.cache (so its
// package imports resolve) and runs it with the remaining arguments.
//   node scripts/bench-batcher.mjs overhead|device|ort [args...]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);
const entry = join(root, 'scripts', `bench-batcher-${name ?? ''}.ts`);
if (!name || !existsSync(entry)) {
  console.error('usage: node scripts/bench-batcher.mjs overhead|device|ort [args...]');
  process.exit(2);
}
const outDir = join(root, 'node_modules', '.cache', 'tensorrt-node-bench');
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, `bench-batcher-${name}.mjs`);
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});
const r = spawnSync(process.execPath, ['--enable-source-maps', ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), outfile, ...args], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
