/**
 * Which addon binary src/native.ts loads: candidates in order (local build before prebuilt,
 * newest major first), each test-loaded in a child process that may crash without taking this
 * process down, and the choice among the variants that load (TENSORRT_NODE_ADDON, then
 * TENSORRT_NODE_TRT_MAJOR, then the newest major whose libnvinfer loads, then the newest).
 * The last part runs the real variants of this build against stand-in libnvinfer libraries.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonCandidates, chooseVariant, PREBUILD_PLATFORM, testLoadAddons, type AddonVariant, type TrtLoadResult } from '../../src/native.js';
import { fakeLibrary, inferSource, trtVersion } from './fixtures/stand-in-libs.js';

const root = join(__dirname, '..', '..');
const release = join(root, 'build', 'Release');
const built = (() => {
  try {
    return readdirSync(release)
      .filter((n) => /^tensorrt_node(-trt\d+)?\.node$/.test(n))
      .map((n) => join(release, n));
  } catch {
    return [];
  }
})();
const tmp = mkdtempSync(join(tmpdir(), 'trtn-variants-'));

const found = (path: string): TrtLoadResult => ({ found: true, searched: [{ path, error: null }], version: 1, libraryPath: path });
const notFound = (code = 'ERR_TENSORRT_NOT_FOUND'): TrtLoadResult => ({ found: false, searched: [], code, error: 'x' });
function variant(path: string, tensorrt: string | null, probe: TrtLoadResult | null, extra: Partial<AddonVariant> = {}): AddonVariant {
  return { path, source: 'local build', tensorrt, loadable: true, error: null, probe, ...extra };
}

describe('choosing the addon variant', () => {
  const v11 = variant('/b/tensorrt_node-trt11.node', '11.1.0', notFound());
  const v10 = variant('/b/tensorrt_node-trt10.node', '10.16.0', found('/x/libnvinfer.so.10'));
  const env = {} as NodeJS.ProcessEnv;

  it('takes the newest major whose library loads, else one whose library is there but unusable, else the newest', () => {
    expect(chooseVariant([v11, v10], env)).toMatchObject({ variant: v10, reason: 'TensorRT 10 found (/x/libnvinfer.so.10)' });
    const both = variant(v11.path, '11.1.0', found('/y/libnvinfer.so.11'));
    expect(chooseVariant([both, v10], env).variant).toBe(both);
    const old10 = variant(v10.path, '10.16.0', notFound('ERR_TENSORRT_VERSION'));
    expect(chooseVariant([v11, old10], env)).toMatchObject({ variant: old10, reason: 'a TensorRT 10 library was found but cannot be used' });
    const none10 = variant(v10.path, '10.16.0', notFound());
    expect(chooseVariant([none10, v11], env)).toMatchObject({ variant: v11, reason: 'no TensorRT library found; the newest variant' });
  });

  it('passes over variants that do not load, and prefers the local build of a major to the prebuilt one', () => {
    const broken = variant('/b/tensorrt_node-trt10.node', null, null, { loadable: false, error: 'GLIBC_2.38 not found' });
    const prebuilt10 = variant('/p/tensorrt_node-trt10.node', '10.16.0', found('/x/libnvinfer.so.10'), { source: 'prebuilt' });
    expect(chooseVariant([v11, broken, prebuilt10], env).variant).toBe(prebuilt10);
    const local10 = variant('/b/tensorrt_node-trt10.node', '10.16.0', found('/x/libnvinfer.so.10'));
    const prebuiltAgain = variant('/p/tensorrt_node-trt10.node', '10.16.0', null, { source: 'prebuilt' });
    expect(chooseVariant([local10, prebuiltAgain], env).variant).toBe(local10);
  });

  it('obeys TENSORRT_NODE_TRT_MAJOR, and says so when it names a major without a variant', () => {
    expect(chooseVariant([v11, v10], { TENSORRT_NODE_TRT_MAJOR: '11' })).toMatchObject({ variant: v11, reason: 'TENSORRT_NODE_TRT_MAJOR=11' });
    expect(chooseVariant([v11, v10], { TENSORRT_NODE_TRT_MAJOR: '12' })).toEqual({
      variant: null,
      reason: null,
      error: 'TENSORRT_NODE_TRT_MAJOR=12: there is no loadable addon variant for TensorRT 12 (variants for: 11, 10)',
    });
    expect(chooseVariant([v11], { TENSORRT_NODE_TRT_MAJOR: 'ten' }).error).toMatch(/^TENSORRT_NODE_TRT_MAJOR=ten: there is no loadable/);
  });

  it('falls back to the plain addon only when it is the only one', () => {
    const plain = variant('/b/tensorrt_node.node', null, null);
    expect(chooseVariant([plain], env)).toMatchObject({ variant: plain, reason: 'the only addon (built without TensorRT headers)' });
    expect(chooseVariant([v11, plain], env).variant).toBe(v11);
    expect(chooseVariant([], env)).toEqual({ variant: null, reason: null, error: null });
  });

  it('lists the local build before the prebuilt binaries, newest major first; TENSORRT_NODE_ADDON alone when set', () => {
    const pkg = join(tmp, 'pkg');
    for (const [dir, names] of [
      ['build/Release', ['tensorrt_node-trt10.node', 'tensorrt_node-trt11.node', 'other.node']],
      [`prebuilds/${PREBUILD_PLATFORM}`, ['tensorrt_node-trt11.node', 'tensorrt_node-trt10.node', 'tensorrt_node-trt9.node']],
    ] as const) {
      mkdirSync(join(pkg, dir), { recursive: true });
      for (const n of names) writeFileSync(join(pkg, dir, n), '');
    }
    expect(addonCandidates({}, pkg)).toEqual([
      { path: join(pkg, 'build/Release/tensorrt_node-trt11.node'), source: 'local build' },
      { path: join(pkg, 'build/Release/tensorrt_node-trt10.node'), source: 'local build' },
      { path: join(pkg, `prebuilds/${PREBUILD_PLATFORM}/tensorrt_node-trt11.node`), source: 'prebuilt' },
      { path: join(pkg, `prebuilds/${PREBUILD_PLATFORM}/tensorrt_node-trt10.node`), source: 'prebuilt' },
      { path: join(pkg, `prebuilds/${PREBUILD_PLATFORM}/tensorrt_node-trt9.node`), source: 'prebuilt' },
    ]);
    expect(addonCandidates({ TENSORRT_NODE_ADDON: 'x/y.node' }, pkg)).toEqual([{ path: join(process.cwd(), 'x/y.node'), source: 'TENSORRT_NODE_ADDON' }]);
  });
});

describe.skipIf(built.length === 0)('test-loading the binaries in a child process', () => {
  it('survives a binary that crashes while loading and goes on with the next ones', () => {
    const dir = join(tmp, 'crash');
    const crasher = fakeLibrary(
      dir,
      'tensorrt_node-trt12.node',
      '#include <signal.h>\n__attribute__((constructor)) static void boom(void) { raise(SIGSEGV); }',
    );
    const bogus = join(dir, 'tensorrt_node-trt13.node');
    writeFileSync(bogus, 'not a shared object');
    const real = built[0]!;
    const candidates = [bogus, crasher, join(dir, 'missing.node'), real].map((path) => ({ path, source: 'local build' as const }));
    const [v1, v2, v3, v4] = testLoadAddons(candidates, ['/nonexistent/trt']);
    expect(v1).toMatchObject({ loadable: false, error: expect.stringMatching(/invalid ELF header|file too short/) });
    expect(v2).toMatchObject({ loadable: false, error: expect.stringContaining('the test process was killed by SIGSEGV') });
    expect(v3).toMatchObject({ loadable: false, error: 'not built (no such file)' });
    expect(v4!.loadable).toBe(true);
    expect(v4!.error).toBeNull();
    if (v4!.tensorrt !== null) {
      expect(v4!.probe).toMatchObject({ found: false, code: 'ERR_TENSORRT_NOT_FOUND' });
      expect(v4!.probe!.searched[0]!.path).toMatch(/^\/nonexistent\/trt\/libnvinfer\.so\.1\d$/);
    }
  });
});

const variants = built.filter((p) => /-trt\d+\.node$/.test(p));
describe.skipIf(variants.length < 2)('the variant this process loads, against stand-in TensorRT libraries', () => {
  // runtimeInfo() in a child whose TensorRT search starts at TENSORRT_LIB_DIR.
  function info(env: NodeJS.ProcessEnv) {
    const script = `import { runtimeInfo } from ${JSON.stringify(join(root, 'dist', 'info.js'))}; console.log(JSON.stringify(runtimeInfo()));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: '', ...env } });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout);
  }
  const majors = variants.map((p) => Number(/-trt(\d+)\.node$/.exec(p)![1])).sort((a, b) => a - b);
  const oldest = majors[0]!;
  const newest = majors[majors.length - 1]!;

  it(`loads the TensorRT ${oldest} variant when only libnvinfer.so.${oldest} is installed, and reports every major searched`, () => {
    const lib = join(tmp, `only-${oldest}`);
    fakeLibrary(lib, `libnvinfer.so.${oldest}`, inferSource(trtVersion(oldest, 50)));
    const r = info({ TENSORRT_LIB_DIR: lib });
    expect(r.addon.path).toBe(join(release, `tensorrt_node-trt${oldest}.node`));
    expect(r.addon.reason).toBe(`TensorRT ${oldest} found (${join(lib, `libnvinfer.so.${oldest}`)})`);
    expect(r.addon.builtWith.tensorrt.map((v: string) => Number(v.split('.')[0]))).toEqual(majors);
    expect(r.tensorrt).toMatchObject({ found: true, version: `${oldest}.50.0`, libraryPath: join(lib, `libnvinfer.so.${oldest}`) });
    expect(r.tensorrt.searched[0]).toEqual({ path: join(lib, `libnvinfer.so.${oldest}`), error: null });
    // The newer major was looked for too (by the child that chose the variant).
    expect(r.tensorrt.searched).toContainEqual({
      path: join(lib, `libnvinfer.so.${newest}`),
      error: 'cannot open shared object file: No such file or directory',
    });

    const forced = info({ TENSORRT_LIB_DIR: lib, TENSORRT_NODE_TRT_MAJOR: String(newest) });
    expect(forced.addon).toMatchObject({ path: join(release, `tensorrt_node-trt${newest}.node`), reason: `TENSORRT_NODE_TRT_MAJOR=${newest}` });
    expect(forced.tensorrt).toMatchObject({ found: false, error: { code: 'ERR_TENSORRT_NOT_FOUND' } });
  });

  it("reports ERR_TENSORRT_VERSION when the only library is older than its variant's headers", () => {
    const lib = join(tmp, 'too-old');
    fakeLibrary(lib, `libnvinfer.so.${oldest}`, inferSource(trtVersion(oldest, 0, 1)));
    const r = info({ TENSORRT_LIB_DIR: lib });
    expect(r.addon.path).toBe(join(release, `tensorrt_node-trt${oldest}.node`));
    expect(r.tensorrt.found).toBe(false);
    expect(r.tensorrt.error.code).toBe('ERR_TENSORRT_VERSION');
    expect(r.tensorrt.error.message).toMatch(
      new RegExp(`^TensorRT ${oldest}\\.0\\.1 found, but this addon was built with TensorRT ${oldest}\\.\\d+\\.\\d+ headers and needs`),
    );
  });

  it('hands the verdict to worker threads instead of test-loading again', () => {
    const native = JSON.stringify(join(root, 'dist', 'native.js'));
    const worker = join(tmp, 'worker.mjs');
    writeFileSync(
      worker,
      `import { parentPort, getEnvironmentData } from 'node:worker_threads';
       const cached = getEnvironmentData('tensorrt-node:addon-verdict') !== undefined;
       const { addonStatus } = await import(${native});
       parentPort.postMessage({ cached, path: addonStatus().path });`,
    );
    const script = `
      import { Worker } from 'node:worker_threads';
      import { addonStatus } from ${native};
      const main = addonStatus().path;
      const w = new Worker(${JSON.stringify(worker)}, { execArgv: [] });
      w.once('message', (m) => { console.log(JSON.stringify({ main, ...m })); w.terminate(); });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.cached).toBe(true);
    expect(out.path).toBe(out.main);
  });
});
