#!/usr/bin/env node
// The engine-build script: the same as `tensorrt-node build` (trtexec-style flags).
//   node scripts/build-engine.mjs --onnx model.onnx --saveEngine model.plan --fp16 \
//     --dims batch:1,8,32 --dims sequence:1,128,512 --triton-repo models
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('build-engine: dist/ is missing; run `npm run build:ts` (npm ci does this)\n');
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main([process.argv[0], 'tensorrt-node', 'build', ...process.argv.slice(2)]);
