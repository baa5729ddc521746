// A process whose addon cannot load: one message with every cause and the remedy, and the
// rest of the library (ONNX Runtime backend, FP16, harness) still works.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dist = join(__dirname, '..', '..', 'dist');

function run(addonPath: string, body: string): { status: number | null; out: Record<string, unknown>; stderr: string } {
  const entry = (name: string) => JSON.stringify(join(dist, name));
  const script =
    `import * as t from ${entry('index.js')}; import * as onnx from ${entry('exports/onnx.js')}; import * as cuda from ${entry('exports/cuda.js')}; ` +
    `const out = {}; ${body}; console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, TENSORRT_NODE_ADDON: addonPath },
  });
  return { status: r.status, out: r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : {}, stderr: r.stderr };
}

describe('without a loadable addon', () => {
  it('explains every cause with the remedy, and the ONNX Runtime path still works', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trtn-noaddon-'));
    const bogus = join(dir, 'tensorrt_node.node');
    writeFileSync(bogus, 'not a shared object');
    const r = run(
      bogus,
      `out.info = t.runtimeInfo();
       try { cuda.deviceCount(); } catch (e) { out.cuda = { code: e.code, name: e.name, message: e.message }; }
       const g = new onnx.GraphBuilder();
       g.op('Mul', [g.input('x', 'float32', ['n']), g.floats(2)], {}, 'y');
       g.output('y', 'float32', ['n']);
       const s = await t.createSession(onnx.encodeModel(g.build()), { backend: 'onnxruntime' });
       out.y = Array.from((await s.run({ x: new t.Tensor('float32', [1, 2, 3]) })).y.data);
       await s.dispose();`,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const info = r.out.info as { addon: { loaded: boolean; error: string }; cuda: { error: { code: string } }; tensorrt: { found: boolean } };
    expect(info.addon.loaded).toBe(false);
    expect(info.addon.error).toContain(`${bogus}: `);
    expect(info.addon.error).toMatch(/invalid ELF header|file too short/);
    // A checkout builds from source with the package script (an installed package: `npx tensorrt-node build-addon`).
    expect(info.addon.error).toContain('`npm run build:addon`');
    expect(info.cuda.error.code).toBe('ERR_ADDON_LOAD');
    expect(info.tensorrt.found).toBe(false);
    expect(r.out.cuda).toMatchObject({ code: 'ERR_ADDON_LOAD', name: 'AddonLoadError' });
    expect((r.out.cuda as { message: string }).message).toBe(info.addon.error);
    expect(r.out.y).toEqual([2, 4, 6]);
  });

  it('names a missing addon file and how to build it', () => {
    const r = run('/nonexistent/tensorrt_node.node', 'out.info = t.runtimeInfo()');
    const error = (r.out.info as { addon: { error: string } }).addon.error;
    expect(error).toContain('/nonexistent/tensorrt_node.node: not built (no such file)');
    expect(error).toMatch(/`npm run build:addon`: it needs the CUDA toolkit's headers, cmake >= 3\.18 and a C\+\+17 compiler/);
  });
});
