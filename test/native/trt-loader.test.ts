/**
 * The TensorRT loader of every addon variant built here (build/Release/tensorrt_node-trt*.node;
 * TENSORRT_NODE_TEST_TRT_ADDONS, a ':' list, names others) against stand-in libraries compiled
 * in this test: tiny C files exporting the entry points the loader looks up, nothing of
 * TensorRT. Covers the version checks (wrong major; a minor older than the headers refused,
 * newer ones taken), the search order, the parser beside libnvinfer or missing, the siblings
 * preloaded by full path (seen in /proc/self/maps) and libnvinfer_plugin registered once. Each
 * load runs in its own process, because a successful load is kept for the life of the process.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeLibrary, inferSource as infer, parserSource as parser, pluginSource as plugin, trtVersion, trtAddonsUnderTest } from './fixtures/stand-in-libs.js';

const addons = trtAddonsUnderTest();

const root = mkdtempSync(join(tmpdir(), 'trtn-fake-trt-'));

interface Load {
  found: boolean;
  code?: string;
  error?: string;
  version?: number;
  libraryPath?: string;
  parserPath?: string | null;
  parserVersion?: number;
  parserError?: string | null;
  pluginPath?: string | null;
  pluginError?: string | null;
  pluginsRegistered?: boolean;
  preloaded?: string[];
  searched: { path: string; error: string | null }[];
}

/** trtLoad (or trtProbe) in a fresh process; also returns the files mapped into it afterwards. */
function load(addon: string, dirs: string[], env: NodeJS.ProcessEnv = {}, fn = 'trtLoad'): { result: Load; maps: string; header: string } {
  const script = `const a = require(${JSON.stringify(addon)});
    a.init({ makeError: (c, m) => Object.assign(new Error(m), { code: c }) });
    const result = a.${fn}(${JSON.stringify(dirs)});
    console.log(JSON.stringify({ header: a.buildInfo.tensorrt, result, maps: require('fs').readFileSync('/proc/self/maps', 'utf8') }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: '', ...env } });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { result: Load; maps: string; header: string };
}

describe.skipIf(addons.length === 0)('TensorRT loader with stand-in libraries', () => {
  it('finds a variant for each supported major in this build', () => {
    const majors = addons.map((a) => load(a, []).header.split('.')[0]).sort();
    expect(majors.length).toBeGreaterThan(0);
    for (const m of majors) expect(['10', '11']).toContain(m);
  });

  for (const addon of addons) {
    const header = load(addon, []).header;
    const [major, minor] = header.split('.').map(Number) as [number, number];
    const dir = join(root, `trt${major}`);
    const at = (name: string) => join(dir, name);
    const version = trtVersion;

    it(`checks the major, refuses a minor older than the ${header} headers, takes newer ones (${addon})`, () => {
      fakeLibrary(at('wrong-major'), `libnvinfer.so.${major}`, infer(version(major + 1, 2)));
      const older = minor > 0 ? version(major, minor - 1, 3) : version(major - 1, 99);
      fakeLibrary(at('too-old'), `libnvinfer.so.${major}`, infer(older));
      fakeLibrary(at('same'), `libnvinfer.so.${major}`, infer(version(major, minor)));
      fakeLibrary(at('newer'), `libnvinfer.so.${major}`, infer(version(major, minor + 5, 1)));

      const wrong = load(addon, [at('wrong-major')]).result;
      expect(wrong).toMatchObject({ found: false, code: 'ERR_TENSORRT_VERSION' });
      expect(wrong.error).toContain(`TensorRT ${major + 1}.2.0 found, but this addon was built for TensorRT ${major}.x`);

      const old = load(addon, [at('too-old')]).result;
      expect(old).toMatchObject({ found: false, code: 'ERR_TENSORRT_VERSION' });
      const oldText = `${Math.floor(older / 10000)}.${Math.floor(older / 100) % 100}.${older % 100}`;
      expect(old.error).toContain(`TensorRT ${oldText} found, but this addon was built with TensorRT ${header} headers and needs ${major}.${minor} or newer`);
      expect(old.error).toContain(join(at('too-old'), `libnvinfer.so.${major}`));

      expect(load(addon, [at('same')]).result).toMatchObject({ found: true, version: version(major, minor) });
      // The search goes on past libraries it refuses, and a newer minor is fine.
      const found = load(addon, [join(root, 'missing'), at('wrong-major'), at('too-old'), at('newer')]).result;
      expect(found).toMatchObject({ found: true, version: version(major, minor + 5, 1), libraryPath: join(at('newer'), `libnvinfer.so.${major}`) });
      expect(found.searched.map((s) => s.error === null)).toEqual([false, false, false, true]);
      expect(found.searched[0]!.error).toMatch(/No such file/);
      expect(found.searched[2]!.error).toContain(`needs ${major}.${minor} or newer`);

      // trtProbe (what the variant-choosing child runs) gives the same verdicts.
      expect(load(addon, [at('too-old')], {}, 'trtProbe').result).toMatchObject({ found: false, code: 'ERR_TENSORRT_VERSION' });
      expect(load(addon, [at('too-old'), at('newer')], {}, 'trtProbe').result).toMatchObject({ found: true, version: version(major, minor + 5, 1) });
    });

    it(`loads the parser beside libnvinfer, or says it is missing (${addon})`, () => {
      const full = at('with-parser');
      fakeLibrary(full, `libnvinfer.so.${major}`, infer(version(major, minor)));
      fakeLibrary(full, `libnvonnxparser.so.${major}`, parser);
      const withParser = load(addon, [full]).result;
      expect(withParser).toMatchObject({ found: true, parserPath: join(full, `libnvonnxparser.so.${major}`), parserVersion: 4242, parserError: null });

      fakeLibrary(at('no-parser'), `libnvinfer.so.${major}`, infer(version(major, minor)));
      const alone = load(addon, [at('no-parser')]).result;
      // Engines can still be loaded and run without the parser.
      expect(alone.found).toBe(true);
      expect(alone.parserPath).toBeNull();
      expect(alone.parserError).toMatch(new RegExp(`libnvonnxparser\\.so\\.${major}`));
    });

    it(`preloads the siblings by full path and registers the plugins once (${addon})`, () => {
      const sdk = at('sdk');
      const exact = `${major}.${minor}.0`;
      fakeLibrary(sdk, `libnvinfer.so.${major}`, infer(version(major, minor)));
      fakeLibrary(sdk, `libnvonnxparser.so.${major}`, parser);
      const siblings = [`libnvinfer_builder_resource.so.${exact}`, `libnvinfer_lean.so.${major}`, `libnvinfer_dispatch.so.${major}`];
      for (const name of siblings) fakeLibrary(sdk, name, 'int trtn_fake_sibling(void) { return 1; }');
      fakeLibrary(sdk, `libnvinfer_plugin.so.${major}`, plugin);
      // A builder resource of another major in the same folder is left alone.
      fakeLibrary(sdk, `libnvinfer_builder_resource.so.${major + 1}.0.0`, 'int trtn_other(void) { return 2; }');

      const log = join(sdk, 'plugin.log');
      writeFileSync(log, '');
      const { result, maps } = load(addon, [sdk], { PLUGIN_LOG: log });
      expect(result.found).toBe(true);
      expect(result.preloaded!.sort()).toEqual(siblings.map((n) => join(sdk, n)).sort());
      for (const name of siblings) expect(maps).toContain(join(sdk, name));
      expect(maps).not.toContain(`libnvinfer_builder_resource.so.${major + 1}`);
      expect(result).toMatchObject({ pluginPath: join(sdk, `libnvinfer_plugin.so.${major}`), pluginsRegistered: true, pluginError: null });
      expect(maps).toContain(join(sdk, `libnvinfer_plugin.so.${major}`));
      // initLibNvInferPlugins(logger, ""): once, with TensorRT's logger and the default namespace.
      expect(readFileSync(log, 'utf8')).toBe("ns='' logger=1\n");

      // Found through the loader path (LD_LIBRARY_PATH) the folder is the same: same siblings.
      writeFileSync(log, '');
      const viaLoader = load(addon, [''], { PLUGIN_LOG: log, LD_LIBRARY_PATH: sdk });
      expect(viaLoader.result).toMatchObject({ found: true, libraryPath: join(sdk, `libnvinfer.so.${major}`), pluginsRegistered: true });
      expect(viaLoader.result.preloaded!.length).toBe(siblings.length);
      expect(readFileSync(log, 'utf8')).toBe("ns='' logger=1\n");

      // The probe loads nothing beside libnvinfer and registers nothing.
      writeFileSync(log, '');
      const probed = load(addon, [sdk], { PLUGIN_LOG: log }, 'trtProbe');
      expect(probed.result).toMatchObject({ found: true, version: version(major, minor) });
      expect(probed.maps).not.toContain('libnvinfer_builder_resource');
      expect(probed.maps).not.toContain('libnvinfer_plugin');
      expect(readFileSync(log, 'utf8')).toBe('');
    });

    it(`says where libnvinfer_plugin is missing, and loads without it (${addon})`, () => {
      const bare = at('no-plugin');
      fakeLibrary(bare, `libnvinfer.so.${major}`, infer(version(major, minor)));
      const r = load(addon, [bare]).result;
      expect(r).toMatchObject({ found: true, pluginPath: null, pluginsRegistered: false, preloaded: [] });
      expect(r.pluginError).toBe(`libnvinfer_plugin.so.${major} is not beside ${join(bare, `libnvinfer.so.${major}`)}`);
    });
  }
});
