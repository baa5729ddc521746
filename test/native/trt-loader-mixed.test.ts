/**
 * The TensorRT loader where two TensorRT releases of one major meet (a tarball unpacked over
 * an older one, LD_LIBRARY_PATH naming an older install before the one used), against stand-in
 * libraries compiled here (test doubles exporting the entry points the loader looks up,
 * nothing of TensorRT): only the builder resource of the loaded libnvinfer's exact version is
 * preloaded, the parser is taken from libnvinfer's own folder before the loader path, and a
 * parser whose file names a release older than the headers is refused.
 * Each load runs in its own process, because a successful load is kept for the process.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeLibrary, inferSource as infer, parserSource as parser, trtVersion as version, trtAddonsUnderTest } from './fixtures/stand-in-libs.js';

const addons = trtAddonsUnderTest();

const root = mkdtempSync(join(tmpdir(), 'trtn-mixed-trt-'));

interface Load {
  found: boolean;
  libraryPath?: string;
  parserPath?: string | null;
  parserVersion?: number;
  parserError?: string | null;
  preloaded?: string[];
}

function load(addon: string, dirs: string[], env: NodeJS.ProcessEnv = {}): { result: Load; maps: string; header: string } {
  const script = `const a = require(${JSON.stringify(addon)});
    a.init({ makeError: (c, m) => Object.assign(new Error(m), { code: c }) });
    const result = a.trtLoad(${JSON.stringify(dirs)});
    console.log(JSON.stringify({ header: a.buildInfo.tensorrt, result, maps: require('fs').readFileSync('/proc/self/maps', 'utf8') }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: '', ...env } });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { result: Load; maps: string; header: string };
}

describe.skipIf(addons.length === 0)('TensorRT loader with two releases of one major', () => {
  for (const addon of addons) {
    const header = load(addon, []).header;
    const [major, minor] = header.split('.').map(Number) as [number, number];
    const dir = join(root, `trt${major}`);

    it(`preloads only the builder resource of the loaded version (${addon})`, () => {
      const sdk = join(dir, 'overlaid');
      fakeLibrary(sdk, `libnvinfer.so.${major}`, infer(version(major, minor, 2)));
      const own = [`libnvinfer_builder_resource.so.${major}.${minor}.2`, `libnvinfer_builder_resource_sm90.so.${major}.${minor}.2`];
      for (const name of own) fakeLibrary(sdk, name, 'int trtn_own(void) { return 1; }');
      // An older release's resources left in the folder, and one of another patch.
      const stale = [`libnvinfer_builder_resource.so.${major}.${minor}.1`, `libnvinfer_builder_resource.so.${major}.${minor + 1}.2`];
      if (minor > 0) stale.push(`libnvinfer_builder_resource.so.${major}.${minor - 1}.0`);
      for (const name of stale) fakeLibrary(sdk, name, 'int trtn_stale(void) { return 2; }');

      const { result, maps } = load(addon, [sdk]);
      expect(result.found).toBe(true);
      expect(result.preloaded!.sort()).toEqual(own.map((n) => join(sdk, n)).sort());
      for (const name of stale) expect(maps).not.toContain(join(sdk, name));
    });

    it(`takes the parser beside libnvinfer before one earlier on the loader path (${addon})`, () => {
      const used = join(dir, 'used');
      fakeLibrary(used, `libnvinfer.so.${major}`, infer(version(major, minor)));
      fakeLibrary(used, `libnvonnxparser.so.${major}`, parser);
      // An older install earlier on LD_LIBRARY_PATH that has a parser but no libnvinfer.
      const other = join(dir, 'other-parser-only');
      fakeLibrary(
        other,
        `libnvonnxparser.so.${major}`,
        'void* createNvOnnxParser_INTERNAL(void* n, void* l, int v) { (void)n; (void)l; (void)v; return 0; }\n' +
          'int getNvOnnxParserVersion(void) { return 1111; }',
      );
      const { result, maps } = load(addon, [''], { LD_LIBRARY_PATH: `${other}:${used}` });
      expect(result).toMatchObject({
        found: true,
        libraryPath: join(used, `libnvinfer.so.${major}`),
        parserPath: join(used, `libnvonnxparser.so.${major}`),
        parserVersion: 4242,
      });
      expect(maps).not.toContain(other);

      // Where libnvinfer's folder has no parser, the loader path still supplies one.
      const split = join(dir, 'split');
      fakeLibrary(split, `libnvinfer.so.${major}`, infer(version(major, minor)));
      const fallback = load(addon, [''], { LD_LIBRARY_PATH: `${split}:${other}` }).result;
      expect(fallback).toMatchObject({ found: true, parserPath: join(other, `libnvonnxparser.so.${major}`), parserVersion: 1111 });
    });

    it(`refuses a parser whose file names a release older than the headers, takes newer ones (${addon})`, () => {
      const installed = (name: string, release: string, lib: string, source: string) => {
        const dirPath = join(dir, name);
        fakeLibrary(dirPath, `${lib}.so.${release}`, source);
        symlinkSync(`${lib}.so.${release}`, join(dirPath, `${lib}.so.${major}`));
        return dirPath;
      };
      const older = minor > 0 ? `${major}.${minor - 1}.3` : `${major - 1}.99.0`;
      const old = installed('old-parser', `${major}.${minor}.0`, 'libnvinfer', infer(version(major, minor)));
      fakeLibrary(old, `libnvonnxparser.so.${older}`, parser);
      symlinkSync(`libnvonnxparser.so.${older}`, join(old, `libnvonnxparser.so.${major}`));
      const refused = load(addon, [old]).result;
      expect(refused).toMatchObject({ found: true, parserPath: null });
      expect(refused.parserError).toContain(`is TensorRT ${older}'s parser, but this addon was built with TensorRT ${header} headers`);

      const newer = installed('newer-parser', `${major}.${minor}.0`, 'libnvinfer', infer(version(major, minor)));
      fakeLibrary(newer, `libnvonnxparser.so.${major}.${minor + 1}.0`, parser);
      symlinkSync(`libnvonnxparser.so.${major}.${minor + 1}.0`, join(newer, `libnvonnxparser.so.${major}`));
      expect(load(addon, [newer]).result).toMatchObject({ found: true, parserError: null, parserVersion: 4242 });
    });
  }
});
