#!/usr/bin/env node
// `npm pack` / `npm publish` (prepack): the prebuilt binaries the tarball ships. Builds every
// variant (incrementally, into build/Release, as `npm run build:addon` does; CI's build is
// reused), checks that each loads, and copies them to prebuilds/<platform>-<arch>/. A release
// needs every supported TensorRT major (10 and 11: their headers must be found, e.g.
// ../shared/trt-sdk or TENSORRT_ROOT=/sdk/10:/sdk/11); TENSORRT_NODE_PREBUILD_MAJORS=11 asks
// for fewer, for a test tarball.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ADDON_FILE, addonFiles, platformFolder, prebuildDir, releaseDir, root, testLoad } from './addon-tools.mjs';

const fail = (message) => {
  console.error(`tensorrt-node prepack: ${message}`);
  process.exit(1);
};

if (platformFolder !== 'linux-x64') fail(`prebuilt binaries are made on linux-x64, not ${platformFolder}`);
const wanted = (process.env.TENSORRT_NODE_PREBUILD_MAJORS ?? '10,11')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter(Boolean);

const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-addon.mjs')], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) fail('the addon did not build');

const files = addonFiles(releaseDir).filter((f) => ADDON_FILE.exec(basename(f))?.[1] !== undefined);
const majors = files.map((f) => Number(ADDON_FILE.exec(basename(f))[1]));
const absent = wanted.filter((m) => !majors.includes(m));
if (absent.length > 0) {
  fail(`no TensorRT ${absent.join(', ')} variant was built (headers not found); set TENSORRT_ROOT to those SDKs' folders`);
}
rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
mkdirSync(prebuildDir, { recursive: true });
const shipped = [];
for (const file of files.filter((f) => wanted.includes(Number(ADDON_FILE.exec(basename(f))[1])))) {
  const loaded = testLoad(file);
  if (!loaded.ok) fail(`${file} does not load: ${loaded.error}`);
  copyFileSync(file, join(prebuildDir, basename(file)));
  shipped.push(`${basename(file)} (TensorRT ${loaded.tensorrt} headers)`);
}
console.log(`tensorrt-node prepack: prebuilds/${platformFolder}/: ${shipped.join(', ')}`);
