import { describe, expect, it } from 'vitest';
import { ContextPool } from '../../../src/backends/context-pool.js';
import { AbortError, DisposedError, QueueFullError } from '../../../src/errors.js';

interface M {
  readonly profile: number;
  readonly id: string;
}
const m = (id: string, profile = 0): M => ({ id, profile });

describe('ContextPool', () => {
  it('hands out free members at once, preferring earlier profiles', async () => {
    const a = m('a', 0);
    const b = m('b', 1);
    const pool = new ContextPool([a, b]);
    expect(await pool.acquire([1, 0])).toBe(b);
    expect(await pool.acquire([1, 0])).toBe(a);
    expect(pool.idle).toBe(0);
    expect(pool.busy).toBe(2);
    expect(pool.profiles).toEqual([0, 1]);
  });

  it('queues when all are busy and serves waiters first come, first served', async () => {
    const a = m('a');
    const pool = new ContextPool([a]);
    const first = await pool.acquire([0]);
    const order: string[] = [];
    const w1 = pool.acquire([0]).then((x) => (order.push('w1'), x));
    const w2 = pool.acquire([0]).then((x) => (order.push('w2'), x));
    expect(pool.queued).toBe(2);
    pool.release(first);
    expect(await w1).toBe(a);
    pool.release(a);
    expect(await w2).toBe(a);
    expect(order).toEqual(['w1', 'w2']);
    pool.release(a);
    expect(pool.idle).toBe(1);
  });

  it('gives a freed member to the oldest waiter that can use its profile', async () => {
    const a = m('a', 0);
    const b = m('b', 1);
    const pool = new ContextPool([a, b]);
    await pool.acquire([0]);
    await pool.acquire([1]);
    const wantsA = pool.acquire([0]);
    const wantsB = pool.acquire([1]);
    pool.release(b);
    expect(await wantsB).toBe(b);
    expect(pool.queued).toBe(1);
    pool.release(a);
    expect(await wantsA).toBe(a);
  });

  it('takes an aborted waiter out of the queue', async () => {
    const a = m('a');
    const pool = new ContextPool([a]);
    await pool.acquire([0]);
    const ac = new AbortController();
    const waiting = pool.acquire([0], ac.signal);
    const next = pool.acquire([0]);
    ac.abort(new Error('client went away'));
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
    expect(pool.queued).toBe(1);
    pool.release(a);
    expect(await next).toBe(a);
    await expect(pool.acquire([0], AbortSignal.abort())).rejects.toThrow(/run\(\) was aborted/);
  });

  it('refuses beyond maxQueue with ERR_QUEUE_FULL', async () => {
    const pool = new ContextPool([m('a')], { maxQueue: 1 });
    await pool.acquire([0]);
    void pool.acquire([0]);
    await expect(pool.acquire([0])).rejects.toBeInstanceOf(QueueFullError);
  });

  it('rejects waiters and later acquires once closed', async () => {
    const a = m('a');
    const pool = new ContextPool([a]);
    await pool.acquire([0]);
    const waiting = pool.acquire([0]);
    pool.close();
    await expect(waiting).rejects.toBeInstanceOf(DisposedError);
    await expect(pool.acquire([0])).rejects.toBeInstanceOf(DisposedError);
    pool.release(a);
    expect(pool.idle).toBe(1);
  });

  it('refuses profiles it has no member for, and bad releases', async () => {
    const a = m('a');
    const pool = new ContextPool([a]);
    await expect(pool.acquire([3])).rejects.toThrow(/no execution context serves profile\(s\) 3/);
    expect(() => pool.release(a)).toThrow(/already free/);
    expect(() => pool.release(m('stranger'))).toThrow(/not in this pool/);
  });
});
