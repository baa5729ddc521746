import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { DynamicBatcher } from '../../../src/batching/index.js';
import { OnnxRuntimeError, Tensor } from '../../../src/index.js';
import type { Outputs } from '../../../src/session.js';
import { EncoderDouble, expectOutputsFor, idsFor, request, tick } from '../../support/doubles.js';

/** Settles `p` into a comparable record. */
async function outcome(p: Promise<unknown>): Promise<{ ok: true; value: unknown } | { ok: false; code: string; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    return { ok: false, code: (e as { code?: string }).code ?? 'none', error: e };
  }
}

/** Waits until `cond` holds, polling each macrotask turn. */
async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await tick();
  }
}

describe('DynamicBatcher: results', () => {
  it('batches requests of mixed lengths and batch sizes, pads, and returns each its own trimmed rows', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s);
    const reqs = [[idsFor(1, 3)], [idsFor(2, 7), idsFor(3, 7)], [idsFor(4, 1)], [idsFor(5, 5), idsFor(6, 5), idsFor(7, 5)]];
    const outs = await Promise.all(reqs.map((rows) => b.run(request(...rows))));
    outs.forEach((o, i) => expectOutputsFor(o, reqs[i]!));
    // One batch of 7 rows padded to the longest request (7).
    expect(s.calls.map((c) => [c.batch, c.seq])).toEqual([[7, 7]]);
    const st = b.stats();
    expect(st.requests).toMatchObject({ accepted: 4, succeeded: 4, failed: 0 });
    expect(st.batches).toMatchObject({ succeeded: 1, samples: 7, meanSize: 7 });
    // Real elements: 2 padded inputs x (3 + 14 + 1 + 15) tokens; batch holds 2 x 7 x 7.
    expect(st.padding).toEqual({ realElements: 66, paddedElements: 98 - 66, ratio: 32 / 66 });
    await b.close();
  });

  it('gives a lone request the session outputs as they are, and copies rows out of shared batches', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s);
    const one = await b.run(request(idsFor(1, 4)));
    expectOutputsFor(one, [idsFor(1, 4)]);
    const [x, y] = await Promise.all([b.run(request(idsFor(2, 4))), b.run(request(idsFor(3, 4)))]);
    expect(x!.hidden!.data.buffer).not.toBe(y!.hidden!.data.buffer);
    await b.close();
  });

  it('buckets: pads to the next bucket and batches only within a bucket', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s, { buckets: [4, 8, 16] });
    const lens = [3, 5, 9, 2, 8, 16, 4, 10];
    const outs = await Promise.all(lens.map((len, k) => b.run(request(idsFor(k + 1, len)))));
    outs.forEach((o, k) => expectOutputsFor(o, [idsFor(k + 1, lens[k]!)]));
    const byBucket = s.calls.map((c) => [c.seq, c.batch]).sort((p, q) => p[0]! - q[0]!);
    expect(byBucket).toEqual([
      [4, 3], // 3, 2, 4
      [8, 2], // 5, 8
      [16, 3], // 9, 16, 10
    ]);
    expect(b.config.buckets).toEqual({ sequence: [4, 8, 16] });
    const tooLong = await outcome(b.run(request(idsFor(1, 17))));
    expect(tooLong).toMatchObject({ ok: false, code: 'ERR_SHAPE' });
    expect(String((tooLong as { error: Error }).error.message)).toMatch(/sequence length 17 is longer than the largest bucket 16/);
    await b.close();
  });

  it('padding: false batches only requests of equal shape', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s, { padding: false });
    const lens = [3, 5, 3, 5, 3];
    const outs = await Promise.all(lens.map((len, k) => b.run(request(idsFor(k + 1, len)))));
    outs.forEach((o, k) => expectOutputsFor(o, [idsFor(k + 1, lens[k]!)]));
    expect(s.calls.map((c) => [c.seq, c.batch]).sort()).toEqual([
      [3, 3],
      [5, 2],
    ]);
    await b.close();
  });

  it('10,000 concurrent requests of mixed lengths and batch sizes: none lost, none mixed', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s, { maxBatchSize: 64, buckets: [8, 16, 32] });
    const rows: number[][][] = [];
    const promises: Promise<Outputs>[] = [];
    for (let k = 0; k < 10_000; k++) {
      const n = 1 + (k % 3);
      const len = 1 + ((k * 7919) % 32);
      const r = Array.from({ length: n }, (_, j) => idsFor(k * 3 + j + 1, len));
      rows.push(r);
      promises.push(b.run(request(...r)));
    }
    const outs = await Promise.all(promises);
    outs.forEach((o, k) => expectOutputsFor(o, rows[k]!));
    expect(s.calls.reduce((a, c) => a + c.batch, 0)).toBe(rows.reduce((a, r) => a + r.length, 0));
    expect(Math.max(...s.calls.map((c) => c.batch))).toBeLessThanOrEqual(64);
    expect(b.stats().requests).toMatchObject({ accepted: 10_000, succeeded: 10_000 });
    await b.close();
  });
});

describe('DynamicBatcher: forming batches (Triton rules)', () => {
  it('with delay 0, sends what is queued when a slot frees; requests gather while the session is busy', async () => {
    const s = new EncoderDouble('manual');
    const b = new DynamicBatcher(s);
    const first = b.run(request(idsFor(1, 2)));
    await until(() => s.pending.length === 1, 'the first batch');
    const rest = [2, 3, 4].map((k) => b.run(request(idsFor(k, 2))));
    await tick(5);
    expect(s.calls.length).toBe(1); // maxInflightBatches 1: nothing else runs yet
    s.release();
    await until(() => s.pending.length === 1, 'the second batch');
    expect(s.calls.map((c) => c.batch)).toEqual([1, 3]);
    s.release();
    await Promise.all([first, ...rest]);
    await b.close();
  });

  it('never exceeds maxBatchSize and never splits a request', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s, { maxBatchSize: 4 });
    const sizes = [3, 2, 2, 1, 4, 1];
    await Promise.all(sizes.map((n, k) => b.run(request(...Array.from({ length: n }, (_, j) => idsFor(k * 10 + j + 1, 2))))));
    // In order: 3 (next 2 would make 5), 2+2, 1 (next 4 would make 5), 4, 1.
    expect(s.calls.map((c) => c.batch)).toEqual([3, 4, 1, 4, 1]);
    const big = await outcome(b.run(request(...Array.from({ length: 5 }, (_, j) => idsFor(j + 1, 2)))));
    expect(big).toMatchObject({ ok: false, code: 'ERR_SHAPE' });
    await b.close();
  });

  it('waits up to maxQueueDelayMs for more requests to join', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s, { maxQueueDelayMs: 150 });
    const a = b.run(request(idsFor(1, 2)));
    await tick(20);
    expect(s.calls.length).toBe(0); // still waiting for company
    const c = b.run(request(idsFor(2, 2)));
    await Promise.all([a, c]);
    expect(s.calls.map((x) => x.batch)).toEqual([2]);
    await b.close();
  });

  it('sends a full batch at once without waiting for the delay', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s, { maxBatchSize: 2, maxQueueDelayMs: 60_000 });
    await Promise.all([b.run(request(idsFor(1, 2))), b.run(request(idsFor(2, 2)))]);
    expect(s.calls.map((x) => x.batch)).toEqual([2]);
    await b.close();
  });

  it('sends the largest preferred batch size at once; the rest waits for the delay (or drain)', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s, { maxBatchSize: 16, preferredBatchSizes: [2, 4], maxQueueDelayMs: 60_000 });
    const ps = [1, 2, 3, 4, 5, 6, 7].map((k) => b.run(request(idsFor(k, 2))));
    // 4 is the largest preferred size reached: it goes at once. Of the 3 left, 2 is a
    // preferred size, so that goes too; the last one waits for the delay.
    await until(() => s.calls.length === 2, 'the preferred batches');
    await tick(5);
    expect(s.calls.map((x) => x.batch)).toEqual([4, 2]);
    await b.close(); // drain sends the last one without waiting 60 s
    expect(s.calls.map((x) => x.batch)).toEqual([4, 2, 1]);
    await Promise.all(ps);
  });

  it('supports sub-millisecond delays', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s, { maxQueueDelayMs: 0.25 });
    const outs = await Promise.all([1, 2, 3].map((k) => b.run(request(idsFor(k, 3)))));
    outs.forEach((o, i) => expectOutputsFor(o, [idsFor(i + 1, 3)]));
    const later = await b.run(request(idsFor(9, 3)));
    expectOutputsFor(later, [idsFor(9, 3)]);
    await b.close();
  });

  it('runs up to maxInflightBatches batches at once', async () => {
    const s = new EncoderDouble('manual');
    s.contexts = 2;
    const b = new DynamicBatcher(s, { maxBatchSize: 1, maxInflightBatches: 2 });
    const ps = [1, 2, 3].map((k) => b.run(request(idsFor(k, 2))));
    await until(() => s.pending.length === 2, 'two batches in flight');
    await tick(5);
    expect(s.pending.length).toBe(2);
    expect(b.stats()).toMatchObject({ queued: 1, inflightBatches: 2, inflightRequests: 2 });
    s.releaseAll();
    await until(() => s.pending.length === 1, 'the third batch');
    s.releaseAll();
    await Promise.all(ps);
    await b.close();
  });
});

describe('DynamicBatcher: batches in flight beyond the contexts', () => {
  it('defaults to the session contexts, and honours a larger maxInflightBatches (the extra batch waits at the session)', async () => {
    const s = new EncoderDouble('manual');
    s.contexts = 2;
    const d = new DynamicBatcher(s, { maxBatchSize: 1 });
    expect(d.config.maxInflightBatches).toBe(2);
    await d.close();
    const b = new DynamicBatcher(s, { maxBatchSize: 1, maxInflightBatches: 3 });
    const ps = [1, 2, 3, 4].map((k) => b.run(request(idsFor(k, 2))));
    await until(() => s.pending.length === 3, 'three batches in flight');
    await tick(5);
    expect(b.stats()).toMatchObject({ queued: 1, inflightBatches: 3, inflightRequests: 3 });
    s.releaseAll();
    await until(() => s.pending.length === 1, 'the fourth batch');
    s.releaseAll();
    const outs = await Promise.all(ps);
    outs.forEach((o, k) => expectOutputsFor(o, [idsFor(k + 1, 2)]));
    await b.close();
    const inThread = new EncoderDouble('manual');
    const c = new DynamicBatcher(inThread, { maxBatchSize: 1 });
    expect(c.config.maxInflightBatches).toBe(1);
    await c.close();
  });
});

describe('DynamicBatcher: priorities and ordering', () => {
  it('batches higher priority levels first, each level in arrival order', async () => {
    const s = new EncoderDouble('manual');
    const b = new DynamicBatcher(s, { maxBatchSize: 1, priorityLevels: 3 });
    const blocker = b.run(request(idsFor(99, 1)));
    await until(() => s.pending.length === 1, 'the blocker');
    const order: number[] = [];
    const prio = [3, 2, 1, 3, 1, 0];
    const ps = prio.map((p, k) => b.run(request(idsFor(k + 1, 1)), { priority: p }).then(() => order.push(k + 1)));
    while (s.pending.length > 0) {
      s.release();
      await tick();
    }
    await Promise.all([blocker, ...ps]);
    // Levels 1: #3, #5; 2: #2; 3: #1, #4, #6 (priority 0 = default = the lowest level, 3).
    expect(s.calls.slice(1).map((c) => (c.rows[0]![0]! - 1) / 1000)).toEqual([3, 5, 2, 1, 4, 6]);
    expect(order).toEqual([3, 5, 2, 1, 4, 6]);
    const bad = await outcome(b.run(request(idsFor(1, 1)), { priority: 4 }));
    expect(bad).toMatchObject({ ok: false, code: 'ERR_INVALID_ARG' });
    await b.close();
  });

  it('preserveOrdering: a batch that finishes early waits for earlier ones', async () => {
    for (const preserveOrdering of [false, true]) {
      const s = new EncoderDouble('manual');
      const b = new DynamicBatcher(s, { maxBatchSize: 1, maxInflightBatches: 2, preserveOrdering });
      const order: number[] = [];
      const ps = [1, 2].map((k) => b.run(request(idsFor(k, 1))).then(() => order.push(k)));
      await until(() => s.pending.length === 2, 'two batches');
      s.release(1); // the second batch finishes first
      await tick(5);
      expect(order).toEqual(preserveOrdering ? [] : [2]);
      s.release(0);
      await Promise.all(ps);
      expect(order).toEqual(preserveOrdering ? [1, 2] : [2, 1]);
      await b.close();
    }
  });
});

describe('DynamicBatcher: back-pressure, timeouts and abort', () => {
  it('rejects at once with ERR_QUEUE_FULL when the level queue is full', async () => {
    const s = new EncoderDouble('manual');
    const b = new DynamicBatcher(s, {
      maxBatchSize: 1,
      priorityLevels: 2,
      queuePolicy: { maxSize: 2 },
      priorityQueuePolicy: { '1': { maxSize: 1 } },
    });
    const blocker = b.run(request(idsFor(9, 1)));
    await until(() => s.pending.length === 1, 'the blocker');
    const ok = [b.run(request(idsFor(1, 1))), b.run(request(idsFor(2, 1)))];
    const full = await outcome(b.run(request(idsFor(3, 1))));
    expect(full).toMatchObject({ ok: false, code: 'ERR_QUEUE_FULL' });
    expect(String((full as { error: Error }).error.message)).toMatch(/2 requests wait at priority level 2 \(queuePolicy.maxSize 2\)/);
    const high = b.run(request(idsFor(4, 1)), { priority: 1 });
    expect(await outcome(b.run(request(idsFor(5, 1)), { priority: 1 }))).toMatchObject({ ok: false, code: 'ERR_QUEUE_FULL' });
    s.releaseAll();
    while (b.stats().queued > 0 || s.pending.length > 0) {
      s.releaseAll();
      await tick();
    }
    await Promise.all([blocker, ...ok, high]);
    expect(b.stats().requests.rejected.queueFull).toBe(2);
    await b.close();
  });

  it("timeoutAction 'reject': ERR_TIMEOUT after the queue timeout; a request may only lower it", async () => {
    const s = new EncoderDouble('manual');
    const b = new DynamicBatcher(s, { maxBatchSize: 1, queuePolicy: { timeoutMs: 40 } });
    const blocker = b.run(request(idsFor(9, 1)));
    await until(() => s.pending.length === 1, 'the blocker');
    const settled: number[] = [];
    const track = (k: number, p: Promise<unknown>) => outcome(p.finally(() => settled.push(k)));
    const dflt = track(3, b.run(request(idsFor(3, 1))));
    const longer = track(2, b.run(request(idsFor(2, 1)), { timeoutMs: 10_000 })); // cut to 40
    const short = track(1, b.run(request(idsFor(1, 1)), { timeoutMs: 5 }));
    expect(await short).toMatchObject({ ok: false, code: 'ERR_TIMEOUT' });
    expect(settled).toEqual([1]); // the lowered timeout fired first, alone
    expect(await longer).toMatchObject({ ok: false, code: 'ERR_TIMEOUT' });
    expect(await dflt).toMatchObject({ ok: false, code: 'ERR_TIMEOUT' });
    expect(s.calls.length).toBe(1); // none of them ran
    s.release();
    await blocker;
    expect(b.stats().requests.timedOut).toBe(3);
    await b.close();

    const strict = new DynamicBatcher(new EncoderDouble(), { queuePolicy: { timeoutMs: 40, allowTimeoutOverride: false } });
    expect(await outcome(strict.run(request(idsFor(1, 1)), { timeoutMs: 5 }))).toMatchObject({ ok: false, code: 'ERR_INVALID_ARG' });
    await strict.close();
  });

  it("timeoutAction 'delay': a timed-out request runs after the level's requests that have not timed out", async () => {
    const s = new EncoderDouble('manual');
    const b = new DynamicBatcher(s, { maxBatchSize: 1, queuePolicy: { timeoutMs: 15, timeoutAction: 'delay' } });
    const blocker = b.run(request(idsFor(9, 1)));
    await until(() => s.pending.length === 1, 'the blocker');
    const early = b.run(request(idsFor(1, 1)));
    await tick(40); // #1 times out and is delayed
    const late = [2, 3].map((k) => b.run(request(idsFor(k, 1))));
    while (s.calls.length < 4 || s.pending.length > 0) {
      s.releaseAll();
      await tick();
    }
    await Promise.all([blocker, early, ...late]);
    expect(s.calls.slice(1).map((c) => (c.rows[0]![0]! - 1) / 1000)).toEqual([2, 3, 1]);
    expect(b.stats().requests.timedOut).toBe(0);
    await b.close();
  });

  it('abort while queued removes the request; abort while running drops only its result', async () => {
    const s = new EncoderDouble('manual');
    const b = new DynamicBatcher(s, { maxBatchSize: 8 });
    const blocker = b.run(request(idsFor(9, 1)));
    await until(() => s.pending.length === 1, 'the blocker');
    const queuedCtl = new AbortController();
    const runningCtl = new AbortController();
    const q = outcome(b.run(request(idsFor(1, 2)), { signal: queuedCtl.signal }));
    const keep = b.run(request(idsFor(2, 2)));
    const r = outcome(b.run(request(idsFor(3, 2)), { signal: runningCtl.signal }));
    queuedCtl.abort(new Error('user left'));
    const qr = await q;
    expect(qr).toMatchObject({ ok: false, code: 'ERR_ABORTED' });
    expect(((qr as { error: Error }).error.cause as Error).message).toBe('user left');
    s.release(); // the blocker; the next batch holds #2 and #3, not #1
    await until(() => s.pending.length === 1, 'the second batch');
    expect(s.calls[1]!.rows.map((row) => (row[0]! - 1) / 1000)).toEqual([2, 3]);
    runningCtl.abort();
    expect(await r).toMatchObject({ ok: false, code: 'ERR_ABORTED' });
    s.release();
    expectOutputsFor(await keep, [idsFor(2, 2)]);
    await blocker;
    const pre = await outcome(b.run(request(idsFor(4, 2)), { signal: AbortSignal.abort() }));
    expect(pre).toMatchObject({ ok: false, code: 'ERR_ABORTED' });
    expect(b.stats().requests).toMatchObject({ accepted: 4, succeeded: 2, aborted: 3 });
    await b.close();
  });
});

describe('DynamicBatcher: failures', () => {
  it('a failing batch rejects its requests with the cause; the batcher keeps serving', async () => {
    const s = new EncoderDouble();
    const cause = new OnnxRuntimeError('ONNX Runtime run failed: boom');
    s.failures.set(0, cause);
    const b = new DynamicBatcher(s);
    const failed = await Promise.all([1, 2].map((k) => outcome(b.run(request(idsFor(k, 2))))));
    for (const f of failed) expect(f).toMatchObject({ ok: false, code: 'ERR_ONNXRUNTIME', error: cause });
    const after = await b.run(request(idsFor(3, 2)));
    expectOutputsFor(after, [idsFor(3, 2)]);
    expect(b.stats()).toMatchObject({ requests: { failed: 2, succeeded: 1 }, batches: { failed: 1, succeeded: 1 } });
    await b.close();
  });

  it('a session that throws synchronously, or returns outputs of the wrong batch, fails just that batch', async () => {
    const s = new EncoderDouble();
    const realRun = s.run.bind(s);
    let throwNext = true;
    s.run = (feeds, opts) => {
      if (throwNext) {
        throwNext = false;
        throw new TypeError('sync failure');
      }
      return realRun(feeds, opts);
    };
    s.badShapeOn.add(0);
    const b = new DynamicBatcher(s);
    expect(await outcome(b.run(request(idsFor(1, 2))))).toMatchObject({ ok: false, error: expect.any(TypeError) });
    const bad = await outcome(b.run(request(idsFor(2, 2))));
    expect(bad).toMatchObject({ ok: false, code: 'ERR_SHAPE' });
    expect(String((bad as { error: Error }).error.message)).toMatch(/expected 1 along its batch axis 0/);
    expectOutputsFor(await b.run(request(idsFor(3, 2))), [idsFor(3, 2)]);
    await b.close();
  });

  it('rejects invalid feeds before queueing, naming the input', async () => {
    const b = new DynamicBatcher(new EncoderDouble());
    const good = request(idsFor(1, 2));
    const cases: [unknown, string, RegExp][] = [
      [null, 'ERR_INVALID_ARG', /feeds must be an object/],
      [{ input_ids: good.input_ids }, 'ERR_INVALID_ARG', /missing input "attention_mask"/],
      [{ ...good, extra: good.input_ids }, 'ERR_INVALID_ARG', /unknown input "extra"/],
      [{ ...good, input_ids: new Tensor('int32', [1, 2], [1, 2]) }, 'ERR_DTYPE', /input "input_ids" must be int64, got int32/],
      [{ ...good, input_ids: new Tensor('int64', [1n, 2n], [2]) }, 'ERR_SHAPE', /must have rank 2/],
      // The session contract's checks and messages (the shared feed validator, as session.run()):
      [
        { ...good, attention_mask: new Tensor('int64', [1n, 1n, 1n], [1, 3]) },
        'ERR_SHAPE',
        /"attention_mask" dim 1 \(sequence\) is 3 but input "input_ids" gave sequence = 2; inputs that share a symbolic dim must agree/,
      ],
      [{ ...good, attention_mask: new Tensor('int64', [1n, 1n, 1n, 1n], [2, 2]) }, 'ERR_SHAPE', /dim 0 \(batch\) is 2 but input "input_ids" gave batch = 1/],
      [{ input_ids: new Tensor('int64', [], [0, 2]), attention_mask: new Tensor('int64', [], [0, 2]) }, 'ERR_SHAPE', /batch >= 1/],
    ];
    for (const [feeds, code, msg] of cases) {
      const r = await outcome(b.run(feeds as never));
      expect(r, String(msg)).toMatchObject({ ok: false, code });
      expect(String((r as { error: Error }).error.message)).toMatch(msg);
    }
    expect(b.stats().requests.rejected.invalid).toBe(cases.length);
    expect(b.stats().requests.accepted).toBe(0);
    await b.close();
  });
});

describe('DynamicBatcher: feeds as session.run() takes them', () => {
  it('takes tensors of other libraries (type, data, dims) as the session does, and batches them with Tensors', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s);
    const plain = request(idsFor(1, 3));
    const foreign = {
      input_ids: { type: 'int64', data: plain.input_ids!.data, dims: [1, 3] },
      attention_mask: { type: 'int64', data: plain.attention_mask!.data, dims: [1, 3] },
    };
    const [x, y] = await Promise.all([b.run(foreign as never), b.run(request(idsFor(2, 5)))]);
    expectOutputsFor(x!, [idsFor(1, 3)]);
    expectOutputsFor(y!, [idsFor(2, 5)]);
    expect(s.calls.map((c) => [c.batch, c.seq])).toEqual([[2, 5]]);
    await b.close();
  });
});

describe('DynamicBatcher: close', () => {
  it('drain: sends queued requests at once, then resolves; run() afterwards is ERR_SHUTTING_DOWN', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s, { maxQueueDelayMs: 60_000 });
    const ps = [1, 2, 3].map((k) => b.run(request(idsFor(k, 2))));
    await tick(5);
    expect(s.calls.length).toBe(0);
    const closing = b.close();
    expect(b.close()).toBe(closing); // idempotent
    expect(await outcome(b.run(request(idsFor(4, 2))))).toMatchObject({ ok: false, code: 'ERR_SHUTTING_DOWN' });
    await closing;
    const outs = await Promise.all(ps);
    outs.forEach((o, i) => expectOutputsFor(o, [idsFor(i + 1, 2)]));
    expect(b.stats()).toMatchObject({ closed: true, queued: 0, requests: { succeeded: 3, rejected: { shuttingDown: 1 } } });
  });

  it('without drain: rejects queued and running requests, resolves once the session is idle', async () => {
    const s = new EncoderDouble('manual');
    const b = new DynamicBatcher(s, { maxBatchSize: 1 });
    const running = outcome(b.run(request(idsFor(1, 2))));
    await until(() => s.pending.length === 1, 'the running batch');
    const queued = outcome(b.run(request(idsFor(2, 2))));
    let closed = false;
    const closing = b.close({ drain: false }).then(() => (closed = true));
    expect(await queued).toMatchObject({ ok: false, code: 'ERR_SHUTTING_DOWN' });
    expect(await running).toMatchObject({ ok: false, code: 'ERR_SHUTTING_DOWN' });
    await tick(5);
    expect(closed).toBe(false); // the session still runs the batch
    s.release();
    await closing;
    expect(s.calls.length).toBe(1);
    expect(b.stats().requests).toMatchObject({ accepted: 2, shutDown: 2, succeeded: 0 });
  });

  it('timeoutMs: gives up on a session that never finishes', async () => {
    const s = new EncoderDouble('manual');
    const b = new DynamicBatcher(s);
    const running = outcome(b.run(request(idsFor(1, 2))));
    await until(() => s.pending.length === 1, 'the running batch');
    await b.close({ timeoutMs: 20 });
    expect(await running).toMatchObject({ ok: false, code: 'ERR_SHUTTING_DOWN' });
    s.release(); // late completion is ignored: the request settled once
    await tick(5);
    expect(b.stats().requests).toMatchObject({ accepted: 1, shutDown: 1, succeeded: 0 });
  });

  it('await using closes with drain', async () => {
    const s = new EncoderDouble();
    let p: Promise<Outputs>;
    {
      await using b = new DynamicBatcher(s, { maxQueueDelayMs: 60_000 });
      p = b.run(request(idsFor(1, 2)));
    }
    expectOutputsFor(await p, [idsFor(1, 2)]);
  });
});

describe('DynamicBatcher: metrics', () => {
  it('reports queue time, compute time, batch size, padding and outcomes in Prometheus text', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s);
    await Promise.all([b.run(request(idsFor(1, 2))), b.run(request(idsFor(2, 4)))]);
    await outcome(b.run(request(idsFor(3, 2)), { priority: 7 }));
    const text = await b.metrics();
    expect(text).toContain('tensorrt_node_batcher_requests_total{outcome="success"} 2');
    expect(text).toContain('tensorrt_node_batcher_requests_total{outcome="invalid"} 1');
    expect(text).toContain('tensorrt_node_batcher_batches_total{outcome="success"} 1');
    expect(text).toContain('tensorrt_node_batcher_batch_size_count 1');
    expect(text).toContain('tensorrt_node_batcher_batch_size_sum 2');
    expect(text).toContain('tensorrt_node_batcher_queue_duration_seconds_count 2');
    expect(text).toContain('tensorrt_node_batcher_compute_duration_seconds_count 1');
    expect(text).toContain('tensorrt_node_batcher_padded_elements_total 4'); // 2 inputs x 2 pad
    expect(text).toContain('tensorrt_node_batcher_real_elements_total 12');
    expect(text).toContain('tensorrt_node_batcher_queue_size 0');
    expect(text).toMatch(/# TYPE tensorrt_node_batcher_padding_ratio histogram/);
    await b.close();
  });

  it("registers in the user's registry; batchers sharing it are told apart by labels", async () => {
    const registry = new Registry();
    const a = new DynamicBatcher(new EncoderDouble(), { metrics: { registry, labels: { model: 'a' } } });
    const c = new DynamicBatcher(new EncoderDouble(), { metrics: { registry, labels: { model: 'c' } } });
    expect(a.registry).toBe(registry);
    await a.run(request(idsFor(1, 2)));
    await Promise.all([c.run(request(idsFor(1, 2))), c.run(request(idsFor(2, 2)))]);
    const text = await registry.metrics();
    expect(text).toContain('tensorrt_node_batcher_requests_total{model="a",outcome="success"} 1');
    expect(text).toContain('tensorrt_node_batcher_requests_total{model="c",outcome="success"} 2');
    expect(text).toContain('tensorrt_node_batcher_queue_size{model="a"} 0');
    expect(() => new DynamicBatcher(new EncoderDouble(), { metrics: { registry } })).toThrow(/already has a metric/);
    await a.close();
    await c.close();
    const off = new DynamicBatcher(new EncoderDouble(), { metrics: false });
    expect(await off.metrics()).toBe('');
    expect(off.registry).toBeUndefined();
    await off.close();
  });
});

describe('DynamicBatcher: exactly once under a random mix of everything', () => {
  it.each([true, false])(
    'every accepted request settles exactly once; the stats add up; successes carry their own rows (close with drain: %s)',
    async (drain) => {
      let seed = drain ? 99 : 7;
      const rand = (): number => {
        seed = (seed * 1664525 + 1013904223) >>> 0;
        return seed / 2 ** 32;
      };
      const s = new EncoderDouble();
      const realRun = s.run.bind(s);
      let calls = 0;
      // Completes after 0-3 ms; every 7th batch fails.
      s.run = (feeds, opts) => {
        const n = calls++;
        const p = realRun(feeds, opts);
        return new Promise((resolve, reject) =>
          setTimeout(() => (n % 7 === 3 ? reject(new Error(`batch ${n} failed`)) : p.then(resolve, reject)), Math.floor(rand() * 4)),
        );
      };
      const b = new DynamicBatcher(s, {
        maxBatchSize: 8,
        maxQueueDelayMs: 0.5,
        preferredBatchSizes: [4],
        maxInflightBatches: 2,
        priorityLevels: 3,
        queuePolicy: { timeoutMs: 6, timeoutAction: 'reject', maxSize: 40 },
        priorityQueuePolicy: { '2': { timeoutMs: 4, timeoutAction: 'delay' } },
        buckets: [4, 8],
        preserveOrdering: true,
      });
      const settleCount = new Map<number, number>();
      const tasks: Promise<void>[] = [];
      let k = 0;
      for (let round = 0; round < 60; round++) {
        const burst = Math.floor(rand() * 12);
        for (let i = 0; i < burst; i++, k++) {
          const id = k;
          const len = 1 + Math.floor(rand() * 8);
          const rows = Array.from({ length: 1 + Math.floor(rand() * 2) }, (_, j) => idsFor(id * 2 + j + 1, len));
          const ctl = new AbortController();
          if (rand() < 0.1) setTimeout(() => ctl.abort(), Math.floor(rand() * 5));
          const p = b.run(request(...rows), { priority: Math.floor(rand() * 4), signal: ctl.signal });
          tasks.push(
            p.then(
              (out) => {
                expectOutputsFor(out, rows);
                settleCount.set(id, (settleCount.get(id) ?? 0) + 1);
              },
              (e: { code?: string }) => {
                if (e.code !== 'ERR_QUEUE_FULL') settleCount.set(id, (settleCount.get(id) ?? 0) + 1);
                expect(['ERR_TIMEOUT', 'ERR_ABORTED', 'ERR_QUEUE_FULL', 'ERR_SHUTTING_DOWN', undefined]).toContain(e.code);
              },
            ),
          );
        }
        await tick(Math.floor(rand() * 3));
      }
      const closing = b.close({ drain, timeoutMs: 5000 });
      await Promise.all(tasks);
      await closing;
      const st = b.stats();
      const accepted = st.requests.accepted;
      expect(accepted).toBeGreaterThan(100);
      expect(settleCount.size).toBe(accepted);
      expect([...settleCount.values()].every((n) => n === 1)).toBe(true);
      const r = st.requests;
      expect(r.succeeded + r.failed + r.timedOut + r.aborted + r.shutDown).toBe(accepted);
      // The mix really exercised each path.
      expect(r.failed).toBeGreaterThan(0);
      expect(r.succeeded).toBeGreaterThan(0);
      expect(r.timedOut + r.aborted).toBeGreaterThan(0);
      if (!drain) expect(r.shutDown).toBeGreaterThan(0);
      expect(st.queued).toBe(0);
      expect(st.inflightBatches).toBe(0);
    },
  );
});
