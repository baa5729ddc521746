/**
 * The addon variants built with TensorRT 10.x and 11.x headers (build/Release/
 * tensorrt_node-trt*.node; CI builds both from ../shared/trt-sdk; TENSORRT_NODE_TEST_TRT_ADDONS,
 * a ':' list, names others), on a host without TensorRT's libraries. Each is loaded in its own
 * process (as src/native.ts would, through TENSORRT_NODE_ADDON):
 * the TensorRT entry points exist, trtLoad reports where it looked, parse and deserialize
 * reject with ERR_TENSORRT_NOT_FOUND instead of crashing, and the public API says how to
 * install TensorRT.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trtAddonsUnderTest } from './fixtures/stand-in-libs.js';

const root = join(__dirname, '..', '..');
const addons = trtAddonsUnderTest();

const script = String.raw`
const addon = require(process.argv[1]);
addon.init({ makeError: (code, message, details) => Object.assign(new Error(message), { code }, details) });
const out = { buildInfo: addon.buildInfo, exports: Object.keys(addon).filter((k) => /^(trt|Trt)/.test(k)).sort() };
out.names = addon.trtLibraryNames;
out.load = addon.trtLoad(['/nonexistent/tensorrt-lib', '']);
const settle = (p) => p.then(() => ({ ok: true }), (e) => ({ code: e.code, message: e.message }));
(async () => {
  out.parse = await settle(addon.trtParseOnnx(new Uint8Array([8, 1]), null, { device: 0, stronglyTyped: true }));
  out.deserialize = await settle(addon.trtDeserialize(new Uint8Array([1, 2, 3]), { device: 0, allowHostCode: false }));
  try { new addon.TrtEngine(); out.construct = 'constructed'; } catch (e) { out.construct = e.constructor.name + ': ' + e.message; }
  try { addon.trtParseOnnx('not bytes', null, {}); } catch (e) { out.badArg = e.code + ': ' + e.message; }
  console.log(JSON.stringify(out));
})();
`;

// The library as users load it (src/native.ts picks the addon from TENSORRT_NODE_ADDON), bundled
// with esbuild so a plain node child process can run it.
async function runPublicApi(addon: string): Promise<Record<string, { code: string; message: string }>> {
  const { build } = await import('esbuild');
  const dir = await mkdtemp(join(tmpdir(), 'trtn-api-'));
  try {
    const entry = join(dir, 'entry.ts');
    await writeFile(
      entry,
      `import { buildEngine } from ${JSON.stringify(join(root, 'src/build/index.ts'))};
       import { createSession } from ${JSON.stringify(join(root, 'src/session.ts'))};
       const r: Record<string, unknown> = {};
       for (const [k, f] of [['build', () => buildEngine(new Uint8Array([8, 1]))], ['session', () => createSession(new Uint8Array([1]), { backend: 'tensorrt' })]] as const) {
         try { await f(); r[k] = 'resolved'; } catch (e) { r[k] = { code: (e as { code: string }).code, message: (e as Error).message }; }
       }
       console.log(JSON.stringify(r));`,
    );
    const outfile = join(dir, 'entry.mjs');
    await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      external: ['onnxruntime-node'],
      logLevel: 'error',
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });
    const r = spawnSync(process.execPath, [outfile], {
      encoding: 'utf8',
      env: { ...process.env, TENSORRT_NODE_ADDON: addon, TENSORRT_LIB_DIR: '/nonexistent/tensorrt-lib' },
    });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as Record<string, { code: string; message: string }>;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe.skipIf(addons.length === 0)('addons built with TensorRT headers, without TensorRT libraries', () => {
  for (const path of addons) {
    it(`${path}: TensorRT entry points fail cleanly`, () => {
      expect(existsSync(path)).toBe(true);
      const r = spawnSync(process.execPath, ['-e', script, path], { encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: '' } });
      expect(r.stderr).toBe('');
      interface Settled {
        ok?: boolean;
        code?: string;
        message?: string;
      }
      const out = JSON.parse(r.stdout) as {
        buildInfo: { tensorrt: string };
        exports: string[];
        names: string[];
        load: { found: boolean; code: string; searched: [{ path: string; error: string }, { path: string; error: string }] };
        parse: Settled;
        deserialize: Settled;
        construct: string;
        badArg: string;
      };
      const major = String(out.buildInfo.tensorrt).split('.')[0];
      expect(['10', '11']).toContain(major);
      // TrtStagingProbe is compiled only with TENSORRT_NODE_STAGING_PROBE=ON, never in these builds.
      expect(out.exports).toEqual(['TrtContext', 'TrtEngine', 'TrtNetwork', 'trtDeserialize', 'trtLibraryNames', 'trtLoad', 'trtParseOnnx', 'trtProbe']);
      expect(out.names).toEqual([`libnvinfer.so.${major}`, `libnvonnxparser.so.${major}`]);
      expect(out.load.found).toBe(false);
      expect(out.load.code).toBe('ERR_TENSORRT_NOT_FOUND');
      expect(out.load.searched[0].path).toBe(`/nonexistent/tensorrt-lib/libnvinfer.so.${major}`);
      expect(out.load.searched[0].error).toMatch(/No such file|cannot open/);
      expect(out.load.searched[1].path).toBe(`libnvinfer.so.${major} (dynamic loader path)`);
      expect(out.parse).toEqual({ code: 'ERR_TENSORRT_NOT_FOUND', message: 'TensorRT is not loaded (trtLoad was not called or found no library)' });
      expect(out.deserialize.code).toBe('ERR_TENSORRT_NOT_FOUND');
      expect(out.construct).toBe('TypeError: TrtEngine is created by trtDeserialize(), not with new');
      expect(out.badArg).toBe('ERR_INVALID_ARG: model must be a Uint8Array');
    });

    it(`${path}: the public API lists the folders searched and how to install TensorRT`, async () => {
      const out = await runPublicApi(path);
      for (const k of ['build', 'session']) {
        expect(out[k]!.code).toBe('ERR_TENSORRT_NOT_FOUND');
        expect(out[k]!.message).toContain('searched:\n  - /nonexistent/tensorrt-lib/libnvinfer.so.');
        expect(out[k]!.message).toMatch(/Install TensorRT 1[01]\.x/);
      }
    });
  }
});
