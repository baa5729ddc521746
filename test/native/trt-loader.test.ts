/**
 * The TensorRT loader against stand-in libraries compiled here (test doubles exporting the
 * entry points the loader looks up; nothing of TensorRT's): version checks, the search order
 * and the parser found next to libnvinfer. Runs for the addons listed in
 * TENSORRT_NODE_TEST_TRT_ADDONS (builds with TensorRT headers; CI has none), each in its own
 * process, because a successful load is kept for the life of the process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const addons = (process.env.TENSORRT_NODE_TEST_TRT_ADDONS ?? '').split(':').filter((p) => p !== '');

function fakeLibrary(dir: string, file: string, source: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'lib.c'), source);
  execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, file), join(dir, 'lib.c')]);
}

const infer = (version: number) => `
  int getInferLibVersion(void) { return ${version}; }
  void* createInferBuilder_INTERNAL(void* logger, int version) { (void)logger; (void)version; return 0; }
  void* createInferRuntime_INTERNAL(void* logger, int version) { (void)logger; (void)version; return 0; }`;
const parser = `
  void* createNvOnnxParser_INTERNAL(void* n, void* l, int v) { (void)n; (void)l; (void)v; return 0; }
  int getNvOnnxParserVersion(void) { return 4242; }`;

function load(addon: string, dirs: string[]): Record<string, unknown> {
  const script = `const a = require(${JSON.stringify(addon)});
    a.init({ makeError: (c, m) => Object.assign(new Error(m), { code: c }) });
    console.log(JSON.stringify({ major: Number(a.buildInfo.tensorrt.split('.')[0]), result: a.trtLoad(${JSON.stringify(dirs)}) }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe.skipIf(addons.length === 0)('TensorRT loader with stand-in libraries', () => {
  for (const addon of addons) {
    it(`checks the major version and finds the parser beside libnvinfer (${addon})`, () => {
      const major = (load(addon, []) as { major: number }).major;
      const root = mkdtempSync(join(tmpdir(), 'trtn-fake-trt-'));
      const wrong = join(root, 'wrong');
      const right = join(root, 'right');
      const noParser = join(root, 'no-parser');
      fakeLibrary(wrong, `libnvinfer.so.${major}`, infer((major + 1) * 10000 + 200));
      fakeLibrary(right, `libnvinfer.so.${major}`, infer(major * 10000 + 1305));
      fakeLibrary(join(root, 'parser-src'), `libnvonnxparser.so.${major}`, parser);
      execFileSync('cp', [join(root, 'parser-src', `libnvonnxparser.so.${major}`), right]);
      fakeLibrary(noParser, `libnvinfer.so.${major}`, infer(major * 10000 + 1));

      const mismatch = load(addon, [wrong]).result as { found: boolean; code: string; error: string; searched: { path: string; error: string }[] };
      expect(mismatch.found).toBe(false);
      expect(mismatch.code).toBe('ERR_TENSORRT_VERSION');
      expect(mismatch.error).toContain(`TensorRT ${major + 1}.2.0 found, but this addon was built for TensorRT ${major}.x`);

      // The search goes on past a library of the wrong major.
      const found = load(addon, [join(root, 'missing'), wrong, right]).result as {
        found: boolean; version: number; libraryPath: string; parserPath: string; parserVersion: number; searched: { path: string; error: string | null }[];
      };
      expect(found.found).toBe(true);
      expect(found.version).toBe(major * 10000 + 1305);
      expect(found.libraryPath).toBe(join(right, `libnvinfer.so.${major}`));
      expect(found.parserPath).toBe(join(right, `libnvonnxparser.so.${major}`));
      expect(found.parserVersion).toBe(4242);
      expect(found.searched.map((s) => s.error === null)).toEqual([false, false, true]);
      expect(found.searched[0]!.error).toMatch(/No such file/);

      // libnvinfer without its parser: loaded (engines can run), the parser's absence reported.
      const alone = load(addon, [noParser]).result as { found: boolean; parserPath: string | null; parserError: string };
      expect(alone.found).toBe(true);
      expect(alone.parserPath).toBeNull();
      expect(alone.parserError).toMatch(new RegExp(`libnvonnxparser\\.so\\.${major}`));
    });
  }
});
