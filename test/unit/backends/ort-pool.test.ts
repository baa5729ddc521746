// The worker pool's queue, routing, abort, death and recovery paths, with a worker double that
// speaks the pool's protocol (the real ONNX Runtime worker is covered in
// test/integration/onnxruntime-workers.test.ts).
import { describe, expect, it } from 'vitest';
import { OrtWorkerPool } from '../../../src/backends/ort-pool.js';
import { workerSource } from '../../../src/backends/ort-worker.js';
import { AbortError, DisposedError, QueueFullError, WorkerError } from '../../../src/errors.js';

/** The double: each run's `action` says what it does (self-contained: it runs from its source text). */
function doubleWorker(req: NodeRequire): void {
  const { parentPort, workerData } = req('node:worker_threads') as typeof import('node:worker_threads');
  const port = parentPort!;
  const starts = new Int32Array(workerData.starts as SharedArrayBuffer);
  const started = new Int32Array(workerData.started as SharedArrayBuffer);
  const load = Atomics.add(starts, 0, 1) + 1;
  if (load > (workerData.loadsThatWork as number)) {
    port.postMessage({ type: 'loadFailed', message: `load ${load} refused` });
    port.close();
    return;
  }
  let received = 0;
  const spin = (ms: number): void => {
    const end = Date.now() + ms;
    while (Date.now() < end);
  };
  port.postMessage({ type: 'ready', inputs: [{ name: 'x', isTensor: true, type: 'float32', shape: ['n'] }], outputs: [] });
  // The first worker stays away from its messages for a while: the pool sees it free, a run posted there is unclaimed.
  if (load === 1 && workerData.stallMs) spin(workerData.stallMs as number);
  const words = new Int32Array(workerData.shared as SharedArrayBuffer);
  port.on('message', (m: { type: string; id: number; seq: number; action: string; ms?: number; code?: number; value?: Float32Array }) => {
    if (m.type === 'close') return port.close();
    // The pool's claim protocol (ort-worker.ts): a run the pool took back is skipped.
    if (Atomics.compareExchange(words, 1 + (m.seq % 2), m.id, 0) !== m.id) return port.postMessage({ type: 'skipped', id: m.id });
    received++;
    Atomics.store(started, 0, m.id);
    switch (m.action) {
      case 'echo':
        spin(m.ms ?? 0);
        return port.postMessage({ type: 'done', id: m.id, outputs: [{ name: 'x', type: 'float32', dims: [m.value!.length], data: m.value }], received });
      case 'fail':
        return port.postMessage({ type: 'failed', id: m.id, message: 'the double refused this run' });
      case 'exit':
        spin(m.ms ?? 0);
        return process.exit(m.code);
      case 'throw':
        spin(m.ms ?? 0);
        throw new RangeError('boom inside the worker');
      case 'oom': {
        const keep: number[][] = [];
        for (;;) keep.push(new Array(1e5).fill(keep.length));
      }
    }
  });
}

const SOURCE = workerSource(doubleWorker);
/** The id of the run a double started last (one word for all the test's workers). */
const started = new Int32Array(new SharedArrayBuffer(4));

/** Resolves once a worker has started run `id` (pool ids count from 1 per pool). */
async function startedRun(id: number): Promise<void> {
  while (Atomics.load(started, 0) !== id) await new Promise((r) => setTimeout(r, 1));
}

async function startPool(size: number, extra: { loadsThatWork?: number; maxQueue?: number; oom?: boolean; stallMs?: number } = {}) {
  Atomics.store(started, 0, 0);
  const { pool } = await OrtWorkerPool.start({
    size,
    source: SOURCE,
    workerData: { starts: new SharedArrayBuffer(4), started: started.buffer, loadsThatWork: extra.loadsThatWork ?? 1000, stallMs: extra.stallMs ?? 0 },
    label: 'test',
    ...(extra.maxQueue !== undefined ? { maxQueue: extra.maxQueue } : {}),
    ...(extra.oom ? { resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } } : {}),
  });
  return pool;
}

type Done = { type: 'done'; outputs: { data: Float32Array }[]; received: number };
const echo = (pool: OrtWorkerPool, value: number, extra: Record<string, unknown> = {}, signal?: AbortSignal) =>
  pool.run({ action: 'echo', value: new Float32Array([value]), ...extra }, [], signal) as unknown as Promise<Done>;

describe('OrtWorkerPool', () => {
  it('routes 1,000 concurrent runs to their callers across workers, none lost or mixed', async () => {
    const pool = await startPool(3);
    const n = 1000;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => echo(pool, i)));
    expect(results.map((r) => r.outputs[0]!.data[0])).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(pool.load).toEqual({ queued: 0, busy: 0, contexts: 3 });
    await pool.close();
  });

  it('serves first come first served and reports what runs and waits', async () => {
    const pool = await startPool(1);
    const order: number[] = [];
    const runs = [0, 1, 2, 3].map((i) => echo(pool, i, { ms: 20 }).then((r) => order.push(r.outputs[0]!.data[0]!)));
    expect(pool.load).toEqual({ queued: 3, busy: 1, contexts: 1 });
    await Promise.all(runs);
    expect(order).toEqual([0, 1, 2, 3]);
    await pool.close();
  });

  it('passes a failed run back as the worker said it, and keeps serving', async () => {
    const pool = await startPool(1);
    await expect(pool.run({ action: 'fail' }, [])).resolves.toMatchObject({ type: 'failed', message: 'the double refused this run' });
    expect((await echo(pool, 5)).outputs[0]!.data[0]).toBe(5);
    await pool.close();
  });

  const deaths: [string, Record<string, unknown>, Record<string, unknown>, RegExp][] = [
    [
      'process.exit inside',
      { action: 'exit', code: 3, ms: 30 },
      { reason: 'exit', exitCode: 3 },
      /test worker 1 of 2 \(thread \d+\) exited with code 3 during this run/,
    ],
    [
      'an uncaught exception',
      { action: 'throw', ms: 30 },
      { reason: 'error', exitCode: 1 },
      /died of an uncaught RangeError: boom inside the worker during this run/,
    ],
  ];
  for (const [how, request, fields, message] of deaths) {
    it(`rejects the run of a worker that dies mid-run (${how}), restarts it and keeps the queued runs`, async () => {
      const pool = await startPool(2);
      const before = pool.threadIds;
      const dying = pool.run(request, []);
      const queued = Array.from({ length: 6 }, (_, i) => echo(pool, i, { ms: 10 }));
      const err = await dying.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkerError);
      expect(err).toMatchObject({ code: 'ERR_WORKER', worker: 0, ...fields });
      expect((err as Error).message).toMatch(message);
      expect((await Promise.all(queued)).map((r) => r.outputs[0]!.data[0])).toEqual([0, 1, 2, 3, 4, 5]);
      // The replacement serves too.
      await Promise.all([echo(pool, 7, { ms: 5 }), echo(pool, 8, { ms: 5 })]);
      expect(pool.threadIds[0]).not.toBe(before[0]);
      expect(pool.threadIds[1]).toBe(before[1]);
      expect(pool.lost).toBeUndefined();
      await pool.close();
    });
  }

  it('rejects the run of a worker terminated mid-run, at once', async () => {
    const pool = await startPool(1);
    // Without the terminate, this run would resolve after 5 s.
    const running = echo(pool, 1, { ms: 5000 });
    setTimeout(() => pool.terminateWorker(0), 50);
    await expect(running).rejects.toMatchObject({ code: 'ERR_WORKER', reason: 'exit', exitCode: 1 });
    expect((await echo(pool, 2)).outputs[0]!.data[0]).toBe(2);
    await pool.close();
  });

  it('rejects the run of a worker that runs out of heap mid-run', async () => {
    const pool = await startPool(1, { oom: true });
    const err = await pool.run({ action: 'oom' }, []).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_WORKER', reason: 'oom' });
    expect((err as Error).message).toMatch(/ran out of memory/);
    expect((await echo(pool, 3)).outputs[0]!.data[0]).toBe(3);
    await pool.close();
  });

  it('reports itself lost when a replacement cannot load: queued and later runs get ERR_WORKER lost', async () => {
    const pool = await startPool(1, { loadsThatWork: 1 });
    const dying = pool.run({ action: 'exit', code: 9, ms: 20 }, []);
    const queued = [echo(pool, 1), echo(pool, 2)];
    await expect(dying).rejects.toMatchObject({ code: 'ERR_WORKER', exitCode: 9 });
    for (const q of queued) await expect(q).rejects.toMatchObject({ code: 'ERR_WORKER', lost: true });
    const later = await echo(pool, 3).then(
      () => null,
      (e: unknown) => e,
    );
    expect(later).toMatchObject({ code: 'ERR_WORKER', lost: true });
    expect((later as Error).message).toMatch(
      /the test session is lost: a worker died and its replacement failed \(test worker 1 of 1 \(thread \d+, restart 1\) could not load the model: load 2 refused\)/,
    );
    expect(pool.lost).toBe(later);
    await pool.close();
  });

  it('fails start() with the load failure, and leaves no worker behind', async () => {
    const err = await startPool(2, { loadsThatWork: 1 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkerError);
    expect((err as Error).message).toMatch(/could not load the model: load 2 refused/);
  });

  it('removes an aborted queued run and rejects an aborted running one at once, dropping its result', async () => {
    const pool = await startPool(1);
    const running = new AbortController();
    const waiting = new AbortController();
    const events: string[] = [];
    const a = echo(pool, 1, { ms: 300 }, running.signal);
    const b = echo(pool, 2, {}, waiting.signal); // waits at the worker, behind a
    const c = echo(pool, 3).then((r) => (events.push('c done'), r)); // waits in the pool's queue
    waiting.abort(new Error('gone'));
    await expect(b).rejects.toBeInstanceOf(AbortError);
    await startedRun(1);
    running.abort();
    await expect(a).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    events.push('a rejected');
    // a was rejected while the worker still ran it (c waits for that run); the worker saw a and c, never b.
    const r = await c;
    expect(events).toEqual(['a rejected', 'c done']);
    expect(r.outputs[0]!.data[0]).toBe(3);
    expect(r.received).toBe(2);
    await pool.close();
  });

  it('gives a run waiting at a busy worker to a worker that comes free', async () => {
    const pool = await startPool(2);
    const order: number[] = [];
    const done = (r: Done) => order.push(r.outputs[0]!.data[0]!);
    const long = echo(pool, 1, { ms: 400 }).then(done);
    const short = echo(pool, 2, { ms: 10 }).then(done);
    const behindLong = echo(pool, 3).then(done); // posted to the first worker, behind the long run
    await Promise.all([long, short, behindLong]);
    expect(order).toEqual([2, 3, 1]);
    await pool.close();
  });

  it('refuses runs past maxQueue with ERR_QUEUE_FULL', async () => {
    const pool = await startPool(1, { maxQueue: 2 });
    const runs = [echo(pool, 1, { ms: 50 }), echo(pool, 2), echo(pool, 3)];
    await expect(echo(pool, 4)).rejects.toBeInstanceOf(QueueFullError);
    await Promise.all(runs);
    await pool.close();
  });

  it('re-posts a run that waited at a worker that died with its moved feed intact (copied there, moved only to an idle worker)', async () => {
    const pool = await startPool(1);
    const dying = pool.run({ action: 'exit', code: 4, ms: 60 }, []);
    // Posted behind the dying run: it waits at that worker, so its buffer must not go there.
    const value = new Float32Array([7, 8, 9]);
    const waiting = pool.run({ action: 'echo', value }, [value.buffer]) as unknown as Promise<Done>;
    const queued = Array.from({ length: 3 }, (_, i) => {
      const v = new Float32Array([i, i + 0.5]);
      return pool.run({ action: 'echo', value: v }, [v.buffer]) as unknown as Promise<Done>;
    });
    await expect(dying).rejects.toMatchObject({ code: 'ERR_WORKER', exitCode: 4 });
    expect(Array.from((await waiting).outputs[0]!.data)).toEqual([7, 8, 9]);
    // Cloned to the worker it waited at, moved to the replacement, which took it free.
    expect(value.byteLength).toBe(0);
    expect((await Promise.all(queued)).map((r) => Array.from(r.outputs[0]!.data))).toEqual([
      [0, 0.5],
      [1, 1.5],
      [2, 2.5],
    ]);
    await pool.close();
  });

  it('gives a run with moved feeds that waited at a busy worker to one that comes free, intact', async () => {
    const pool = await startPool(2);
    const long = echo(pool, 1, { ms: 300 });
    const short = echo(pool, 2, { ms: 10 });
    const value = new Float32Array([3, 4]);
    const behindLong = pool.run({ action: 'echo', value }, [value.buffer]) as unknown as Promise<Done>;
    expect(Array.from((await behindLong).outputs[0]!.data)).toEqual([3, 4]);
    await Promise.all([long, short]);
    await pool.close();
  });

  it('re-posts a run a worker died before starting; one whose moved feeds went with it is rejected, saying so', async () => {
    const pool = await startPool(1, { stallMs: 400 });
    // The worker is free as far as the pool knows, so the first run's buffer is moved there; it never starts.
    const value = new Float32Array([1, 2]);
    const moved = pool.run({ action: 'echo', value }, [value.buffer]);
    const cloned = echo(pool, 5);
    expect(value.byteLength).toBe(0);
    pool.terminateWorker(0);
    const err = await moved.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkerError);
    expect(err).toMatchObject({ code: 'ERR_WORKER', moved: true, worker: 0 });
    expect((err as Error).message).toMatch(/before this run started, and the feeds it moved there \(transferFeeds\) went with it; run it again with new feeds/);
    // The other run only waited there: the replacement serves it.
    expect((await cloned).outputs[0]!.data[0]).toBe(5);
    await pool.close();
  });

  it('with maxQueue 0 runs what a free worker starts at once and refuses what would wait', async () => {
    const pool = await startPool(2, { maxQueue: 0 });
    const a = echo(pool, 1, { ms: 100 });
    const b = echo(pool, 2, { ms: 100 });
    const refused = await echo(pool, 3).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(QueueFullError);
    expect((refused as Error).message).toMatch(/no worker is free \(2 of 2 busy\) and maxQueue is 0/);
    expect((await Promise.all([a, b])).map((r) => r.outputs[0]!.data[0])).toEqual([1, 2]);
    // Free again: accepted.
    expect((await echo(pool, 4)).outputs[0]!.data[0]).toBe(4);
    await pool.close();
  });

  it('rejects a run whose message cannot be posted (a detached buffer) with ERR_INVALID_ARG, and serves on', async () => {
    const pool = await startPool(1);
    const value = new Float32Array([1, 2]);
    structuredClone(value.buffer, { transfer: [value.buffer] });
    await expect(pool.run({ action: 'echo', value }, [])).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringContaining('could not be posted to its worker'),
    });
    expect((await echo(pool, 3)).outputs[0]!.data[0]).toBe(3);
    await pool.close();
  });

  it('closes after the runs the workers have, rejects queued and later runs, and is idempotent', async () => {
    const pool = await startPool(1);
    const ac = new AbortController();
    const running = echo(pool, 1, { ms: 100 }, ac.signal);
    const queued = echo(pool, 2);
    ac.abort();
    await expect(running).rejects.toBeInstanceOf(AbortError);
    const closing = pool.close();
    expect(pool.close()).toBe(closing);
    await expect(queued).rejects.toBeInstanceOf(DisposedError);
    await closing;
    await expect(echo(pool, 3)).rejects.toBeInstanceOf(DisposedError);
  });
});
