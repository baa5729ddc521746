// ONNX Runtime sessions in worker threads: the same results as in-thread, the event loop free,
// a worker that dies mid-run, dispose and process exit with runs in flight, ONNX Runtime's
// log kept out of stderr, and feeds that cannot fit refused in our words.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { OnnxRuntimeSession } from '../../src/backends/onnxruntime.js';
import { loadModel, startWorkers } from '../../src/backends/ort-execution.js';
import { createEncoderModel } from '../../src/onnx/encoder.js';
import { encodeModel, writeModel } from '../../src/onnx/model.js';
import { Tensor } from '../../src/tensor.js';
import type { Outputs } from '../../src/session.js';
import { affine, affineModel } from './affine-model.js';

const dist = join(__dirname, '..', '..', 'dist', 'index.js');
const distOnnx = join(__dirname, '..', '..', 'dist', 'exports', 'onnx.js');
const encoder = encodeModel(createEncoderModel({ preset: 'tiny', seed: 3 }));

function encoderFeeds(batch: number, seq: number, seed: number) {
  const ids = new BigInt64Array(batch * seq).map((_, i) => BigInt(1 + ((i * 31 + seed * 17) % 1000)));
  return {
    input_ids: new Tensor('int64', ids, [batch, seq]),
    attention_mask: new Tensor('int64', new BigInt64Array(batch * seq).fill(1n), [batch, seq]),
  };
}

const bytesOf = (o: Outputs): Buffer =>
  Buffer.concat(
    Object.keys(o)
      .sort()
      .map((k) => Buffer.from(o[k]!.data.buffer, o[k]!.data.byteOffset, o[k]!.data.byteLength)),
  );

/** Runs `body` in a fresh Node process that imported the built library as `t`; returns its exit and output. */
function child(body: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const script = `import * as t from ${JSON.stringify(dist)};\nimport * as onnx from ${JSON.stringify(distOnnx)};\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const CHILD_PRELUDE = `
const model = onnx.encodeModel(onnx.createEncoderModel({ preset: 'tiny' }));
const feeds = (seq) => ({
  input_ids: new t.Tensor('int64', new BigInt64Array(8 * seq).fill(5n), [8, seq]),
  attention_mask: new t.Tensor('int64', new BigInt64Array(8 * seq).fill(1n), [8, seq]),
});
`;

describe('ONNX Runtime in worker threads', () => {
  it('gives outputs identical to in-thread, byte for byte, with one and with two contexts', async () => {
    const inThread = await OnnxRuntimeSession.create(encoder, { execution: 'in-thread', intraOpNumThreads: 1 });
    const workers = [await OnnxRuntimeSession.create(encoder, { intraOpNumThreads: 1 }), await OnnxRuntimeSession.create(encoder, { contexts: 2 })];
    try {
      expect(inThread.contexts).toBeUndefined();
      expect(workers.map((w) => [w.execution, w.contexts])).toEqual([
        ['workers', 1],
        ['workers', 2],
      ]);
      expect(workers[0]!.inputs).toEqual(inThread.inputs);
      expect(workers[0]!.outputs).toEqual(inThread.outputs);
      const cases = [encoderFeeds(1, 7, 1), encoderFeeds(4, 33, 2), encoderFeeds(8, 128, 3)];
      for (const f of cases) {
        const want = bytesOf(await inThread.run(f));
        for (const w of workers) expect(bytesOf(await w.run(f)).equals(want)).toBe(true);
      }
    } finally {
      await Promise.all([inThread.dispose(), ...workers.map((w) => w.dispose())]);
    }
  });

  it('runs 1,000 concurrent runs across two workers, none lost or mixed', async () => {
    const s = await OnnxRuntimeSession.create(affineModel(), { contexts: 2 });
    try {
      const xs = Array.from({ length: 1000 }, (_, i) => [i, -i / 2, (i % 7) - 3]);
      const outs = await Promise.all(xs.map((x) => s.run({ x: new Tensor('float32', x, [1, 3]) })));
      outs.forEach((o, i) => expect(Array.from(o.z!.data as Float32Array)).toEqual(affine(xs[i]!)));
      expect(s.load).toEqual({ queued: 0, busy: 0, contexts: 2 });
    } finally {
      await s.dispose();
    }
  });

  it('keeps the event loop turning while a run executes', async () => {
    const s = await OnnxRuntimeSession.create(encoder, { intraOpNumThreads: 1 });
    const inThread = await OnnxRuntimeSession.create(encoder, { execution: 'in-thread', intraOpNumThreads: 1 });
    try {
      const f = encoderFeeds(8, 128, 4);
      await s.run(f);
      for (const [session, settledFirst] of [
        [s, false],
        [inThread, true],
      ] as const) {
        let settled = false;
        const run = session.run(f).then(() => (settled = true));
        await turn();
        // In-thread, ONNX Runtime ran the whole inference before the loop got here.
        expect(settled).toBe(settledFirst);
        await run;
      }
    } finally {
      await Promise.all([s.dispose(), inThread.dispose()]);
    }
  });

  it('rejects the run of a worker that dies mid-run with ERR_WORKER; a new worker serves the queued runs', async () => {
    const exec = await startWorkers(await loadModel(affineModel(), true), {
      contexts: 1,
      sessionOptions: { intraOpNumThreads: 1 },
      logSeverityLevel: 2,
      ortPath: join(__dirname, '..', 'fixtures', 'ort', 'dies-in-run.cjs'),
    });
    const run = (x: number[]) => exec.run([{ name: 'x', type: 'float32', dims: [1, 3], data: new Float32Array(x) }], ['z'], { logSeverityLevel: 4 });
    try {
      expect(Array.from((await run([1, 2, 3]))[0]!.data as Float32Array)).toEqual(affine([1, 2, 3]));
      const dying = run([-999, 0, 0]);
      const queued = [run([1, 0, 0]), run([0, 1, 0]), run([0, 0, 1])];
      const err = await dying.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'ERR_WORKER', worker: 0, reason: 'exit', exitCode: 7 });
      expect((err as Error).message).toMatch(/^ONNX Runtime worker 1 of 1 \(thread \d+\) exited with code 7 during this run; the run's result is lost$/);
      const results = await Promise.all(queued);
      expect(results.map((r) => Array.from(r[0]!.data as Float32Array))).toEqual([affine([1, 0, 0]), affine([0, 1, 0]), affine([0, 0, 1])]);
    } finally {
      await exec.release();
    }
  });

  it('opens a model with external data from its path in the workers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trtn-ortw-'));
    const file = join(dir, 'encoder.onnx');
    await writeModel(createEncoderModel({ preset: 'tiny', seed: 3 }), file, { externalData: true });
    expect(existsSync(`${file}.data`)).toBe(true); // the weights: ONNX Runtime finds them beside the file it opens
    const s = await OnnxRuntimeSession.create(file, { contexts: 2 });
    const inThread = await OnnxRuntimeSession.create(encoder, { execution: 'in-thread' });
    try {
      const f = encoderFeeds(2, 16, 5);
      expect(bytesOf(await s.run(f)).equals(bytesOf(await inThread.run(f)))).toBe(true);
    } finally {
      await Promise.all([s.dispose(), inThread.dispose()]);
    }
  });

  it('moves the feeds to the worker with transferFeeds, and copies them otherwise', async () => {
    const s = await OnnxRuntimeSession.create(affineModel());
    try {
      const kept = new Tensor('float32', [1, 2, 3], [1, 3]);
      expect(Array.from((await s.run({ x: kept })).z!.data as Float32Array)).toEqual(affine([1, 2, 3]));
      expect(kept.data.length).toBe(3);
      const moved = new Tensor('float32', [1, 2, 3], [1, 3]);
      expect(Array.from((await s.run({ x: moved }, { transferFeeds: true })).z!.data as Float32Array)).toEqual(affine([1, 2, 3]));
      expect(moved.data.length).toBe(0); // detached
      // A view of part of a larger buffer is copied alone, and stays usable.
      const big = new Float32Array([9, 9, 4, 5, 6, 9]);
      const part = new Tensor('float32', big.subarray(2, 5), [1, 3]);
      expect(Array.from((await s.run({ x: part }, { transferFeeds: true })).z!.data as Float32Array)).toEqual(affine([4, 5, 6]));
      expect(Array.from(big)).toEqual([9, 9, 4, 5, 6, 9]);
      // Shared memory is shared with the worker (and copied there).
      const shared = new Float32Array(new SharedArrayBuffer(12));
      shared.set([7, 8, 9]);
      expect(Array.from((await s.run({ x: new Tensor('float32', shared, [1, 3]) })).z!.data as Float32Array)).toEqual(affine([7, 8, 9]));
    } finally {
      await s.dispose();
    }
  });

  it('refuses feeds beyond the position table before running, in both modes', async () => {
    for (const execution of ['workers', 'in-thread'] as const) {
      const s = await OnnxRuntimeSession.create(encoder, { execution });
      try {
        const err = await s.run(encoderFeeds(1, 600, 1)).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: 'ERR_SHAPE', input: 'input_ids', axis: 1, expected: { max: 512 }, got: 600 });
        expect((err as Error).message).toBe(
          'input "input_ids" dim 1 (sequence) must be at most 512, got 600 (dims [1, 600]): the model\'s Slice "/embeddings/Slice" takes entries ' +
            '[0, input_ids dim 1) of initializer "embeddings.position_embeddings.weight" [512, 64] along axis 0, which has 512',
        );
        expect(s.inputs[0]!.limits).toEqual([{ axis: 1, max: 512, reason: expect.stringContaining('position_embeddings') }]);
        expect((await s.run(encoderFeeds(1, 512, 1))).logits!.dims).toEqual([1, 4]);
      } finally {
        await s.dispose();
      }
    }
  });

  it('refuses options that need workers in-thread', async () => {
    await expect(OnnxRuntimeSession.create(encoder, { execution: 'in-thread', contexts: 2 })).rejects.toThrow(
      "contexts: contexts > 1 needs execution: 'workers'",
    );
    await expect(OnnxRuntimeSession.create(encoder, { execution: 'threads' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('ends the workers after the runs in flight on dispose; the process then exits by itself', () => {
    const r = child(`${CHILD_PRELUDE}
      const s = await t.createSession(model, { backend: 'onnxruntime', contexts: 2 });
      const runs = Array.from({ length: 12 }, () => s.run(feeds(64)));
      const disposed = s.dispose();
      const results = await Promise.all(runs);
      await disposed;
      const after = await s.run(feeds(64)).catch((e) => e.code);
      console.log(JSON.stringify({ results: results.map((o) => o.logits.dims.join('x')), after }));`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ results: Array(12).fill('8x4'), after: 'ERR_DISPOSED' });
  });

  it('lets the process exit cleanly with runs in flight (process.exit), and waits for them otherwise', () => {
    const exiting = child(`${CHILD_PRELUDE}
      const s = await t.createSession(model, { backend: 'onnxruntime', contexts: 2 });
      const runs = Array.from({ length: 16 }, () => s.run(feeds(128)));
      await runs[0];
      console.log('first result');
      process.exit(0);`);
    expect(exiting.stderr).toBe('');
    expect([exiting.status, exiting.signal]).toEqual([0, null]);
    expect(exiting.stdout).toBe('first result\n');
    // Without dispose(): runs in flight keep the process alive until they settle, idle workers do not.
    const ending = child(`${CHILD_PRELUDE}
      const s = await t.createSession(model, { backend: 'onnxruntime', contexts: 2 });
      for (let i = 0; i < 6; i++) s.run(feeds(32)).then((o) => console.log('result', o.logits.dims.join('x')));`);
    expect(ending.stderr).toBe('');
    expect(ending.status).toBe(0);
    expect(ending.stdout).toBe('result 8x4\n'.repeat(6));
  });

  it("keeps ONNX Runtime's log out of stderr on a failing run; the failure comes back once, in our words", () => {
    const r = child(`${CHILD_PRELUDE}
      const out = {};
      for (const execution of ['workers', 'in-thread']) {
        const s = await t.createSession(model, { backend: 'onnxruntime', execution });
        const e = await s.run(feeds(0)).catch((e) => e);
        out[execution] = { code: e.code, message: e.message, cause: String(e.cause?.message ?? e.cause) };
        await s.dispose();
      }
      console.log(JSON.stringify(out));`);
    expect(r.stderr).not.toContain('onnxruntime');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, { code: string; message: string; cause: string }>;
    for (const execution of ['workers', 'in-thread']) {
      const e = out[execution]!;
      expect(e.code).toBe('ERR_SHAPE');
      expect(e.message).toBe(
        'the feeds do not fit the model ("input_ids" [8, 0], "attention_mask" [8, 0]): its Gather node "/pooler/Gather" failed: ' +
          'indices element out of data bounds, idx=0 must be within the inclusive range [0,-1]',
      );
      expect(e.cause).toContain('Non-zero status code returned while running Gather node');
    }
  });
});
