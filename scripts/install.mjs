#!/usr/bin/env node
// The package's install script. In a checkout (`npm ci`) it builds the addon from source.
// In an installed package it uses the prebuilt binaries of prebuilds/<platform>-<arch> when
// one loads here, and otherwise builds from source, saying which. Where the build tools are
// missing or the build fails, it prints the remedy and lets the install succeed: the ONNX
// Runtime backend, FP16 conversion and the accuracy harness work without the addon. Loading
// never depends on this script (npm may not run it): src/native.ts finds the binaries itself.
//
// TENSORRT_NODE_SKIP_ADDON=1 skips it; TENSORRT_NODE_BUILD_FROM_SOURCE=1 (or npm's
// --build-from-source) builds from source even where a prebuilt binary loads.
import { spawnSync } from 'node:child_process';
import { basename, join } from 'node:path';
import { addonFiles, buildCommand, installed, platformFolder, prebuildDir, root, testLoad } from './addon-tools.mjs';

const say = (line) => console.log(`tensorrt-node: ${line}`);

if (process.env.TENSORRT_NODE_SKIP_ADDON === '1') {
  say('TENSORRT_NODE_SKIP_ADDON=1: not installing the native addon');
  process.exit(0);
}

const fromSource = process.env.TENSORRT_NODE_BUILD_FROM_SOURCE === '1' || process.env.npm_config_build_from_source === 'true';
if (installed() && !fromSource) {
  const prebuilt = addonFiles(prebuildDir);
  const loads = [];
  const problems = [];
  for (const file of prebuilt) {
    const r = testLoad(file);
    if (r.ok) loads.push(`${basename(file)}${r.tensorrt ? ` (TensorRT ${r.tensorrt})` : ''}`);
    else problems.push(`${basename(file)}: ${r.error}`);
  }
  if (loads.length > 0) {
    say(`using the prebuilt addon for ${platformFolder}: ${loads.join(', ')}; nothing to compile`);
    process.exit(0);
  }
  say(
    prebuilt.length === 0
      ? `no prebuilt addon for ${platformFolder}; building it from source`
      : `the prebuilt addon does not load here (${problems.join('; ')}); building it from source`,
  );
} else {
  say(installed() ? 'building the native addon from source (as asked)' : 'building the native addon from source (a checkout)');
}

const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-addon.mjs')], { cwd: root, stdio: 'inherit' });
if (r.status === 0) process.exit(0);
const remedy =
  `The ONNX Runtime backend, FP16 conversion and the accuracy harness work without the addon. To build it later, ` +
  `install the CUDA toolkit (its headers), cmake >= 3.18 and a C++17 compiler, then run \`${buildCommand()}\`.`;
if (r.status === 3 || installed()) {
  say(`the native addon was not built. ${remedy}`);
  process.exit(0);
}
process.exit(r.status ?? 1); // a checkout whose sources do not compile: that is a failure
