#!/usr/bin/env node
// clang-format over native/ (the binary comes with the clang-format npm package, so CI gets
// it from package.json): --check lists the files that differ from .clang-format's style and
// exits 1; --write formats them in place. Extra arguments name files instead of all of native/.
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const mode = process.argv[2];
if (mode !== '--check' && mode !== '--write') {
  process.stderr.write('usage: node scripts/clang-format.mjs --check|--write [files...]\n');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const { getNativeBinary } = require('clang-format');
const given = process.argv.slice(3);
const files =
  given.length > 0
    ? given
    : execFileSync('git', ['ls-files', 'native/*.cc', 'native/*.h', 'test/standin/*.cc', 'test/standin/*.h'], { encoding: 'utf8' }).split('\n').filter(Boolean);
const bin = getNativeBinary();
if (mode === '--write') {
  const r = spawnSync(bin, ['-i', '--style=file', ...files], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
let differ = 0;
for (const f of files) {
  const r = spawnSync(bin, ['--dry-run', '--Werror', '--style=file', f], { encoding: 'utf8' });
  if (r.status !== 0) {
    differ++;
    process.stdout.write(`${f}: ${(r.stderr.match(/warning:/g) ?? []).length} place(s) differ\n`);
  }
}
process.stdout.write(`clang-format: ${differ} of ${files.length} file(s) differ from .clang-format\n`);
process.exit(differ > 0 ? 1 : 0);
