// The ONNX Runtime worker pool with real workers: runs re-posted after a worker dies mid-run
// carry whole feeds (moved, cloned or copied from part of a buffer), and maxQueue 0 means no
// queue. The pool's paths one by one are in test/unit/backends/ort-pool.test.ts (a worker double).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxRuntimeSession } from '../../src/backends/onnxruntime.js';
import { loadModel, startWorkers } from '../../src/backends/ort-execution.js';
import { Tensor } from '../../src/tensor.js';
import { affine, affineModel } from './affine-model.js';

describe('ONNX Runtime worker pool: re-posted runs and maxQueue', () => {
  it('serves the runs queued behind one whose worker dies mid-run with their feeds whole, moved ones included', async () => {
    const exec = await startWorkers(await loadModel(affineModel(), true), {
      contexts: 1,
      sessionOptions: { intraOpNumThreads: 1 },
      logSeverityLevel: 2,
      ortPath: join(__dirname, '..', 'fixtures', 'ort', 'dies-in-run.cjs'),
    });
    const run = (data: Float32Array, transfer: boolean) =>
      exec.run([{ name: 'x', type: 'float32', dims: [1, 3], data }], ['z'], { logSeverityLevel: 4, transfer });
    try {
      const dying = run(new Float32Array([-999, 0, 0]), false);
      // One waits at the dying worker, the others in the queue: moved buffers, a view of part of a buffer, a plain copy.
      const moved = [new Float32Array([1, 0, 0]), new Float32Array([0, 1, 0])];
      const big = new Float32Array([9, 9, 0, 0, 1, 9]);
      const part = big.subarray(2, 5);
      const plain = new Float32Array([2, 2, 2]);
      const queued = [run(moved[0]!, true), run(part, true), run(moved[1]!, true), run(plain, false)];
      await expect(dying).rejects.toMatchObject({ code: 'ERR_WORKER', reason: 'exit', exitCode: 7 });
      const results = await Promise.all(queued);
      expect(results.map((r) => Array.from(r[0]!.data as Float32Array))).toEqual([affine([1, 0, 0]), affine([0, 0, 1]), affine([0, 1, 0]), affine([2, 2, 2])]);
      // The first went to the free replacement, so it was moved; the second waited there behind another run, so it was cloned.
      expect(moved.map((m) => m.byteLength)).toEqual([0, 12]);
      expect(Array.from(big)).toEqual([9, 9, 0, 0, 1, 9]);
      expect(Array.from(plain)).toEqual([2, 2, 2]);
    } finally {
      await exec.release();
    }
  });

  it('with maxQueue 0 accepts runs while a worker is free and refuses those that would wait, ERR_QUEUE_FULL', async () => {
    const s = await OnnxRuntimeSession.create(affineModel(), { contexts: 2, maxQueue: 0, intraOpNumThreads: 1 });
    try {
      const x = (v: number) => ({ x: new Tensor('float32', [v, 0, 0], [1, 3]) });
      // Two workers, two runs at once; a third at the same time would wait.
      const settled = await Promise.allSettled([s.run(x(1)), s.run(x(2)), s.run(x(3))]);
      expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
      expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_QUEUE_FULL' });
      expect(((settled[2] as PromiseRejectedResult).reason as Error).message).toMatch(/no worker is free \(2 of 2 busy\) and maxQueue is 0/);
      // Free again: one run at a time is always accepted.
      for (const v of [4, 5, 6]) expect(Array.from((await s.run(x(v))).z!.data as Float32Array)).toEqual(affine([v, 0, 0]));
    } finally {
      await s.dispose();
    }
  });
});
