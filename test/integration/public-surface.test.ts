/**
 * The package's public surface as a user gets it (the built dist/, through package.json's
 * exports): what the root and each subpath export at run time, and that a user's file
 * typechecks against our .d.ts with skipLibCheck off, no DOM library and only Node's types,
 * while a typo in createSession()'s options does not.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const SUBPATHS = ['onnx', 'accuracy', 'bench', 'cuda'] as const;

/** A folder where `tensorrt-node` resolves to this checkout, as it would from node_modules. */
const user = mkdtempSync(join(tmpdir(), 'trtn-user-'));
mkdirSync(join(user, 'node_modules'));
symlinkSync(root, join(user, 'node_modules', 'tensorrt-node'), 'dir');
symlinkSync(join(root, 'node_modules', '@types'), join(user, 'node_modules', '@types'), 'dir');
writeFileSync(join(user, 'package.json'), JSON.stringify({ type: 'module' }));
afterAll(() => rmSync(user, { recursive: true, force: true }));

interface Entry {
  names: string[];
  schemas: string[];
}

function runtimeExports(): Record<string, Entry> {
  const script = `
    const out = {};
    for (const spec of ['tensorrt-node', ${SUBPATHS.map((s) => `'tensorrt-node/${s}'`).join(', ')}]) {
      const m = await import(spec);
      const names = Object.keys(m);
      // zod schemas carry _zod and safeParse; they must not be part of our API.
      const schemas = names.filter((n) => m[n] !== null && typeof m[n] === 'object' && '_zod' in m[n] && typeof m[n].safeParse === 'function');
      out[spec] = { names, schemas };
    }
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: user, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Record<string, Entry>;
}

describe('the public surface', () => {
  it('keeps the root to what a service uses (at most 80 names), subpaths for the rest, no zod schemas', () => {
    const entries = runtimeExports();
    const rootNames = entries['tensorrt-node']!.names;
    expect(rootNames.length).toBeLessThanOrEqual(80);
    for (const name of [
      'createSession',
      'Tensor',
      'asTensor',
      'OnnxRuntimeSession',
      'TensorRTSession',
      'DynamicBatcher',
      'buildEngine',
      'saveEngine',
      'EngineCache',
      'compare',
      'convertToFloat16',
      'readModel',
      'writeModel',
      'runtimeInfo',
      'TensorRTNodeError',
      'ShapeError',
      'ERROR_CLASSES',
    ]) {
      expect(rootNames).toContain(name);
    }
    for (const name of ['OP_SIGNATURES', 'Xoshiro128', 'runDemo', 'CompareOptionsSchema', 'BisectOptionsSchema', 'GraphBuilder', 'cuda', 'bench', 'analyze']) {
      expect(rootNames).not.toContain(name);
    }
    expect(entries['tensorrt-node/onnx']!.names).toEqual(
      expect.arrayContaining(['GraphBuilder', 'inspectModel', 'OP_SIGNATURES', 'Random', 'checkMixedPrecision']),
    );
    expect(entries['tensorrt-node/accuracy']!.names).toEqual(expect.arrayContaining(['compare', 'bisect', 'analyze', 'generateInputs', 'formatCompareText']));
    expect(entries['tensorrt-node/bench']!.names).toEqual(expect.arrayContaining(['runBench', 'closedLoop', 'summarize', 'benchHtml']));
    expect(entries['tensorrt-node/cuda']!.names).toEqual(expect.arrayContaining(['deviceCount', 'Stream', 'PinnedPool', 'copy']));
    for (const [spec, e] of Object.entries(entries)) {
      expect(e.names.length, spec).toBeGreaterThan(0);
      expect(e.schemas, spec).toEqual([]);
    }
  });

  it("typechecks a user's file with skipLibCheck off, no DOM library and only Node's types", () => {
    writeFileSync(
      join(user, 'service.ts'),
      `import { createSession, Tensor, DynamicBatcher, type CreateSessionOptions, type InferenceSession } from 'tensorrt-node';
import { GraphBuilder } from 'tensorrt-node/onnx';
import { generateInputs } from 'tensorrt-node/accuracy';
import { summarize } from 'tensorrt-node/bench';
import { deviceCount } from 'tensorrt-node/cuda';

export async function serve(path: string): Promise<InferenceSession> {
  const session = await createSession(path, { backend: 'onnxruntime', intraOpNumThreads: 1 });
  const out = await session.run({ x: new Tensor('float32', new Float32Array(2), [1, 2]) });
  const foreign = await session.run({ x: { type: 'float32', data: new Float32Array(2), dims: [1, 2] } });
  const batcher = new DynamicBatcher(session, { maxBatchSize: 8 });
  const auto: CreateSessionOptions = { backend: 'auto', tensorrt: { contexts: 2, build: { precision: 'fp16' } } };
  const trt = await createSession('model.onnx', { backend: 'tensorrt', contexts: 1 });
  trt.stats();
  void [out, foreign, batcher, auto, session.selection?.reason, GraphBuilder, generateInputs, summarize, deviceCount];
  return session;
}

export async function typos(): Promise<void> {
  // @ts-expect-error: a typo in an option name
  await createSession('m.onnx', { backend: 'onnxruntime', intraOpNumThread: 1 });
  // @ts-expect-error: an option of another backend
  await createSession('m.onnx', { backend: 'tensorrt', intraOpNumThreads: 1 });
  // @ts-expect-error: a typo in the build options
  await createSession('m.onnx', { backend: 'tensorrt', build: { precison: 'fp16' } });
  // @ts-expect-error: no such backend
  await createSession('m.onnx', { backend: 'cuda' });
}
`,
    );
    writeFileSync(
      join(user, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          lib: ['es2022'],
          types: ['node'],
          strict: true,
          skipLibCheck: false,
          noEmit: true,
        },
        files: ['service.ts'],
      }),
    );
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', user], { cwd: user, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
