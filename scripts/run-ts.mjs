#!/usr/bin/env node
// Runs a TypeScript script of this repository (Node 20 cannot run .ts itself): bundles it with
// esbuild into tmp/ at the repository root and runs it with the remaining arguments. tmp/ is
// one level below the root, like src/ and dist/, so the library finds the addon
// (build/Release) and package.json relative to its own file.
//
//   node scripts/run-ts.mjs [--self-contained] [--out FILE] [--no-run] path/to/script.ts [args...]
//
//   --self-contained  bundle the npm packages too (all but onnxruntime-node), for a machine
//                     with the repository but without node_modules (the lent GPU machine)
//   --out FILE        where the bundle goes (default tmp/<script>.mjs); keep it one folder
//                     below the repository root
//   --no-run          only bundle
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
let selfContained = false;
let run = true;
let out;
while (argv[0]?.startsWith('--')) {
  const flag = argv.shift();
  if (flag === '--self-contained') selfContained = true;
  else if (flag === '--no-run') run = false;
  else if (flag === '--out') out = argv.shift();
  else {
    console.error(`run-ts: unknown flag ${flag}`);
    process.exit(2);
  }
}
const [script, ...args] = argv;
if (!script || !script.endsWith('.ts') || !existsSync(resolve(script)) || (out !== undefined && !out.endsWith('.mjs'))) {
  console.error('usage: node scripts/run-ts.mjs [--self-contained] [--out FILE.mjs] [--no-run] path/to/script.ts [args...]');
  process.exit(2);
}
const outfile = resolve(out ?? join(root, 'tmp', `${basename(script, '.ts')}.mjs`));
mkdirSync(dirname(outfile), { recursive: true });
await build({
  entryPoints: [resolve(script)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  ...(selfContained
    ? {
        external: ['onnxruntime-node'],
        // Bundled CommonJS packages may call require(); give the ES module one.
        banner: { js: "import { createRequire as __trtnRequire } from 'node:module'; const require = __trtnRequire(import.meta.url);" },
      }
    : { packages: 'external', sourcemap: 'inline' }),
  logLevel: 'warning',
});
if (!run) {
  console.log(`bundled ${script} -> ${outfile}`);
  process.exit(0);
}
const flags = ['--enable-source-maps', ...(process.env.RUN_TS_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])];
const r = spawnSync(process.execPath, [...flags, outfile, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
