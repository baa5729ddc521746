/**
 * The load generator against test doubles of a target (plain functions returning promises):
 * the closed-loop invariant, error counting, the open-loop accounting of every measured
 * arrival, latency from the scheduled arrival, the outstanding limit and censoring.
 * Assertions are about counts and lower bounds that follow from the doubles' own waits,
 * never about how fast anything ran.
 */
import { describe, expect, it } from 'vitest';
import { ErrorTally, closedLoop, openLoop } from '../../../src/bench/load.js';
import { arrivalSchedule } from '../../../src/bench/schedule.js';
import { Tensor } from '../../../src/tensor.js';
import type { Feeds } from '../../../src/session.js';

const POOL: Feeds[] = [0, 1, 2].map((k) => ({ x: new Tensor('float32', new Float32Array([k]), [1, 1]) }));

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin: the target blocks the event loop, as onnxruntime-node does while it runs a model
  }
}

describe('closedLoop', () => {
  it('keeps exactly `concurrency` requests out and counts the window only', async () => {
    let out = 0;
    let maxOut = 0;
    let calls = 0;
    const seen = new Set<Feeds>();
    const events: string[] = [];
    const submit = (f: Feeds): Promise<void> => {
      calls++;
      seen.add(f);
      maxOut = Math.max(maxOut, ++out);
      return new Promise((r) =>
        setImmediate(() => {
          out--;
          r();
        }),
      );
    };
    const r = await closedLoop(submit, POOL, {
      concurrency: 4,
      warmupMs: 30,
      durationMs: 120,
      onWindowStart: () => events.push('start'),
      onWindowEnd: () => events.push('end'),
    });
    expect(maxOut).toBe(4);
    expect(events).toEqual(['start', 'end']);
    expect(r.mode).toBe('closed-loop');
    expect(r.completed).toBeGreaterThan(0);
    expect(r.completed).toBe(r.completedInWindow);
    expect(r.latencyMs.length).toBe(r.completed);
    expect(r.enqueueMs.length).toBe(r.completed);
    // Warm-up requests are sent but not counted.
    expect(calls).toBeGreaterThan(r.completed);
    expect(seen.size).toBe(POOL.length);
    expect(r.errors).toBe(0);
    expect(r.offered).toBeNull();
    expect(r.sendLagMs).toBeNull();
    for (const v of r.latencyMs) expect(v).toBeGreaterThanOrEqual(0);
  });

  it('counts rejections as errors with the first error code and message, and still ends', async () => {
    let n = 0;
    const submit = (): Promise<void> => {
      n++;
      if (n % 5 === 0) return Promise.reject(Object.assign(new Error('the batch failed'), { code: 'ERR_TEST' }));
      return new Promise((r) => setImmediate(r));
    };
    const r = await closedLoop(submit, POOL, { concurrency: 2, warmupMs: 0, durationMs: 80 });
    expect(r.errors).toBeGreaterThan(0);
    expect(r.completed).toBeGreaterThan(0);
    expect(r.firstError).toBe('ERR_TEST: the batch failed');
    expect(r.errorSummary).toEqual([{ message: 'ERR_TEST: the batch failed', count: r.errors }]);
  });

  it('summarises errors by message, most frequent first, keeping 5 distinct messages', () => {
    const t = new ErrorTally();
    for (let i = 0; i < 40; i++) t.add(Object.assign(new Error('too long'), { code: 'ERR_SHAPE' }));
    for (let i = 0; i < 3; i++) t.add(new Error('odd'));
    for (let i = 0; i < 6; i++) t.add(`message ${i}`);
    expect(t.total).toBe(49);
    expect(t.first).toBe('ERR_SHAPE: too long');
    expect(t.summary()).toEqual([
      { message: 'ERR_SHAPE: too long', count: 40 },
      { message: 'odd', count: 3 },
      { message: 'message 0', count: 1 },
      { message: 'message 1', count: 1 },
      { message: 'message 2', count: 1 },
      { message: '(other messages)', count: 3 },
    ]);
  });

  it('survives a target that throws synchronously on every call', async () => {
    const submit = (): Promise<void> => {
      throw new TypeError('not a session');
    };
    const r = await closedLoop(submit, POOL, { concurrency: 3, warmupMs: 0, durationMs: 50 });
    expect(r.completed).toBe(0);
    expect(r.errors).toBeGreaterThan(0);
    expect(r.firstError).toBe('not a session');
    expect(r.latencyMs.length).toBe(0);
  });

  it('refuses an empty pool', async () => {
    await expect(closedLoop(() => Promise.resolve(), [], { concurrency: 1, warmupMs: 0, durationMs: 10 })).rejects.toThrow(/pool is empty/);
  });
});

describe('openLoop', () => {
  it('sends every arrival and accounts for each one scheduled in the window', async () => {
    const arrivals = arrivalSchedule(200, 250, 'constant', 1); // every 5 ms
    let calls = 0;
    const events: string[] = [];
    const submit = (): Promise<void> => {
      calls++;
      return new Promise((r) => setImmediate(r));
    };
    const r = await openLoop(submit, POOL, {
      arrivals,
      warmupMs: 50,
      durationMs: 200,
      drainMs: 200,
      maxOutstanding: 1000,
      onWindowStart: () => events.push('start'),
      onWindowEnd: () => events.push('end'),
    });
    const inWindow = Array.from(arrivals).filter((t) => t >= 50 && t < 250).length;
    expect(calls).toBe(arrivals.length);
    expect(r.offered).toBe(inWindow);
    expect(r.completed + r.errors + r.incomplete + r.dropped).toBe(inWindow);
    expect(r.dropped).toBe(0);
    expect(r.incomplete).toBe(0);
    expect(r.latencyMs.length).toBe(r.completed);
    expect(r.sendLagMs!.length).toBe(inWindow);
    expect(events).toEqual(['start', 'end']);
  });

  it('measures latency from the scheduled arrival, so a blocked event loop shows up in it', async () => {
    // Arrivals every 5 ms; the request scheduled at 100 ms blocks the thread for 30 ms, so
    // the next arrivals go out late. Their own service time is a turn of the event loop,
    // yet their latency must include the wait since their scheduled time.
    const arrivals = arrivalSchedule(200, 200, 'constant', 1);
    const blocking = arrivals.findIndex((t) => t >= 100);
    let k = 0;
    const submit = (): Promise<void> => {
      if (k++ === blocking) busyWait(30);
      return new Promise((r) => setImmediate(r));
    };
    const r = await openLoop(submit, POOL, { arrivals, warmupMs: 0, durationMs: 200, drainMs: 200, maxOutstanding: 1000 });
    const maxLag = Math.max(...r.sendLagMs!);
    const maxLatency = Math.max(...r.latencyMs);
    // The arrival 5 ms after the blocking one was sent at least 30 - 5 ms late.
    expect(maxLag).toBeGreaterThanOrEqual(24);
    expect(maxLatency).toBeGreaterThanOrEqual(maxLag);
    expect(r.completed).toBe(r.offered);
  });

  it('drops arrivals beyond maxOutstanding and censors requests still out after the drain', async () => {
    const arrivals = arrivalSchedule(100, 100, 'constant', 1); // 10, 20, ..., 90 ms
    const submit = (): Promise<void> => new Promise((r) => setTimeout(r, 400));
    const r = await openLoop(submit, POOL, { arrivals, warmupMs: 0, durationMs: 100, drainMs: 20, maxOutstanding: 3 });
    expect(r.offered).toBe(arrivals.length);
    expect(r.dropped).toBe(arrivals.length - 3);
    expect(r.incomplete).toBe(3);
    expect(r.completed).toBe(0);
    expect(r.completedInWindow).toBe(0);
    // Censored at the deadline (120 ms): waited at least from 30 ms, the last one sent.
    expect(r.latencyMs.length).toBe(3);
    for (const v of r.latencyMs) expect(v).toBeGreaterThanOrEqual(60);
  });

  it('counts rejected measured requests as errors', async () => {
    const arrivals = arrivalSchedule(200, 100, 'constant', 1);
    let k = 0;
    const submit = (): Promise<void> => (k++ % 2 === 0 ? Promise.reject(new Error('queue full')) : Promise.resolve());
    const r = await openLoop(submit, POOL, { arrivals, warmupMs: 0, durationMs: 100, drainMs: 50, maxOutstanding: 100 });
    expect(r.errors).toBe(Math.ceil(arrivals.length / 2));
    expect(r.completed).toBe(Math.floor(arrivals.length / 2));
    expect(r.firstError).toBe('queue full');
  });
});
