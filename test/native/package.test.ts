/**
 * The release tarball: `npm pack`'s prepack (scripts/prebuild.mjs) puts the linux-x64 binaries
 * of every TensorRT major into prebuilds/ (reusing the incremental build), the tarball ships
 * them with the sources for a fallback build, and installing it where every build tool fails
 * (cmake, nvcc and compiler shims first on PATH) compiles nothing: the install script takes
 * the prebuilt binaries, `tensorrt-node info` loads them, and a forced source build fails
 * cleanly with the remedy. The install is offline: a lockfile made from this package's own
 * lets npm take every dependency from the cache `npm ci` filled.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const headerSets = (() => {
  try {
    return execFileSync('ls', [join(root, '..', 'shared', 'trt-sdk')], { encoding: 'utf8' })
      .split('\n')
      .filter((n) => /^\d+\.\d+\.\d+$/.test(n));
  } catch {
    return [];
  }
})();
const SHIMS = ['cmake', 'nvcc', 'cc', 'c++', 'g++', 'gcc', 'clang', 'clang++', 'make', 'ninja', 'ld'];

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64' || headerSets.length < 2)('the packed tarball', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'trtn-pack-'));
  const app = join(tmp, 'app');
  const shims = join(tmp, 'shims');
  const invoked = join(tmp, 'invoked.log');
  const env = {
    ...process.env,
    PATH: `${shims}:${process.env.PATH}`,
    npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? '/root', '.npm'),
  };
  let files: string[] = [];
  let installLog = '';

  beforeAll(() => {
    // prepack, then pack without running the scripts again (dist/ is fresh from pretest).
    expect(pkg.scripts.prepack).toBe('node scripts/prebuild.mjs');
    const prepack = spawnSync(process.execPath, [join(root, 'scripts', 'prebuild.mjs')], { cwd: root, encoding: 'utf8' });
    expect(prepack.status, prepack.stderr).toBe(0);
    expect(prepack.stdout).toMatch(
      /prebuilds\/linux-x64\/: tensorrt_node-trt11\.node \(TensorRT 11\.\d+\.\d+ headers\), tensorrt_node-trt10\.node \(TensorRT 10\.\d+\.\d+ headers\)/,
    );
    const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: root, encoding: 'utf8' }));
    const tarball = join(tmp, packed[0].filename as string);
    files = (packed[0].files as { path: string }[]).map((f) => f.path);

    mkdirSync(shims);
    for (const tool of SHIMS) {
      writeFileSync(join(shims, tool), `#!/bin/sh\necho "${tool} $*" >> ${invoked}\nexit 1\n`);
      chmodSync(join(shims, tool), 0o755);
    }
    // The app: tensorrt-node from the tarball, its dependencies pinned as in our lockfile.
    mkdirSync(app);
    const spec = `file:${relative(app, tarball)}`;
    const packages: Record<string, unknown> = {
      '': { name: 'app', dependencies: { 'tensorrt-node': spec } },
      'node_modules/tensorrt-node': {
        version: pkg.version,
        resolved: spec,
        hasInstallScript: true,
        license: pkg.license,
        dependencies: pkg.dependencies,
        bin: pkg.bin,
        engines: pkg.engines,
      },
    };
    for (const [k, v] of Object.entries(lock.packages as Record<string, { dev?: boolean }>)) if (k !== '' && !v.dev) packages[k] = v;
    // onnxruntime-node's postinstall downloads CUDA provider files; a user denies it as we do.
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, dependencies: { 'tensorrt-node': spec }, allowScripts: { 'onnxruntime-node': false } }),
    );
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }));
    const install = spawnSync('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: app, env, encoding: 'utf8' });
    installLog = `${install.stdout}\n${install.stderr}`;
    expect(install.status, installLog).toBe(0);
  }, 240_000);

  it('ships the prebuilt binaries of both majors and the sources of a fallback build, nothing else', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'prebuilds/linux-x64/tensorrt_node-trt10.node',
        'prebuilds/linux-x64/tensorrt_node-trt11.node',
        'CMakeLists.txt',
        'native/cuda/driver_api.h',
        'native/trt/api.h',
        'scripts/build-addon.mjs',
        'scripts/install.mjs',
        'dist/index.js',
        'bin/tensorrt-node.js',
      ]),
    );
    expect(files.filter((f) => /^(build|test|src|node_modules)\//.test(f) || f.startsWith('scripts/prebuild'))).toEqual([]);
    // No TensorRT header travels with it (they are a build input, never part of the project).
    expect(files.filter((f) => /Nv\w+\.h$/.test(f))).toEqual([]);
  });

  it('installs without compiling anything and loads the prebuilt binaries', () => {
    expect(installLog).toContain('tensorrt-node: using the prebuilt addon for linux-x64: tensorrt_node-trt11.node (TensorRT 11.');
    expect(existsSync(invoked)).toBe(false);
    const installed = join(app, 'node_modules', 'tensorrt-node');
    expect(existsSync(join(installed, 'build'))).toBe(false);

    const r = spawnSync(join(app, 'node_modules', '.bin', 'tensorrt-node'), ['info', '--json'], { cwd: app, env, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const info = JSON.parse(r.stdout);
    expect(info.addon.loaded).toBe(true);
    expect(info.addon.path).toMatch(new RegExp(`^${installed}/prebuilds/linux-x64/tensorrt_node-trt1[01]\\.node$`));
    expect(info.addon.builtWith.tensorrt).toEqual(headerSets.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })));
    expect(info.addon.variants.map((v: { source: string; loadable: boolean }) => [v.source, v.loadable])).toEqual([
      ['prebuilt', true],
      ['prebuilt', true],
    ]);
    expect(info.tensorrt.searched.length).toBeGreaterThan(0);
    expect(existsSync(invoked)).toBe(false);
  });

  it('where a source build is forced and the tools fail, says what is missing and how to build later, and the install still succeeds', () => {
    const r = spawnSync(process.execPath, [join(app, 'node_modules', 'tensorrt-node', 'scripts', 'install.mjs')], {
      cwd: app,
      env: { ...env, TENSORRT_NODE_BUILD_FROM_SOURCE: '1' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/cannot build the native addon from source: missing cmake \(>= 3\.18\), a C\+\+17 compiler \(c\+\+, g\+\+, clang\+\+\)/);
    expect(r.stdout).toContain('the native addon was not built.');
    expect(r.stdout).toContain('`npx tensorrt-node build-addon`');
    // Only the tools' --version checks ran: nothing was compiled.
    expect(
      readFileSync(invoked, 'utf8')
        .split('\n')
        .filter(Boolean)
        .every((l) => l.endsWith(' --version')),
    ).toBe(true);

    const cli = spawnSync(join(app, 'node_modules', '.bin', 'tensorrt-node'), ['build-addon'], { cwd: app, env, encoding: 'utf8' });
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain('cannot build the native addon from source: missing cmake');
  });
});
