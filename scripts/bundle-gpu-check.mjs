#!/usr/bin/env node
// Stages the GPU check for a machine that has a GPU but no node_modules (the lent H100):
// bundles scripts/gpu-check.ts (and the library code it uses) into .device/gpu-check.mjs and
// copies the built addon next to it. Run there with
//   TENSORRT_NODE_ADDON=.device/tensorrt_node.node node .device/gpu-check.mjs
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.device');
mkdirSync(out, { recursive: true });
const entries = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['scripts/gpu-check.ts'];
for (const entry of entries) {
  const name = entry.replace(/^.*\//, '').replace(/\.ts$/, '.mjs');
  await build({
    entryPoints: [join(root, entry)],
    outfile: join(out, name),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['onnxruntime-node'],
    logLevel: 'warning',
  });
  console.log(`bundled ${entry} -> .device/${name}`);
}
copyFileSync(join(root, 'build', 'Release', 'tensorrt_node.node'), join(out, 'tensorrt_node.node'));
console.log('copied build/Release/tensorrt_node.node -> .device/tensorrt_node.node');
