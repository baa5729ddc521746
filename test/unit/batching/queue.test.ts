import { describe, expect, it } from 'vitest';
import { DeadlineHeap, RequestQueue, type Queued } from '../../../src/batching/queue.js';

interface Item extends Queued {
  id: number;
}
const item = (id: number, deadline = 0): Item => ({ id, deadline, queue: null });

describe('RequestQueue', () => {
  it('is FIFO across growth, and skips unlinked entries', () => {
    const q = new RequestQueue<Item>();
    const items = Array.from({ length: 100 }, (_, i) => item(i));
    for (const it of items.slice(0, 10)) q.push(it);
    expect(q.shift()!.id).toBe(0);
    for (const it of items.slice(10)) q.push(it); // grows while the head is not at 0
    q.unlink(items[1]!);
    q.unlink(items[50]!);
    q.unlink(items[1]!); // twice: no double count
    expect(q.live).toBe(97);
    expect(items[1]!.queue).toBeNull();
    const got: number[] = [];
    for (let it = q.shift(); it; it = q.shift()) got.push(it.id);
    expect(got).toEqual(items.map((i) => i.id).filter((id) => id !== 0 && id !== 1 && id !== 50));
    expect(q.live).toBe(0);
  });

  it('at() sees live entries only; an entry moved to another queue is dead here', () => {
    const a = new RequestQueue<Item>();
    const b = new RequestQueue<Item>();
    const x = item(1);
    const y = item(2);
    a.push(x);
    a.push(y);
    a.unlink(x);
    b.push(x);
    expect(a.at(0)).toBeUndefined();
    expect(a.at(1)).toBe(y);
    expect(a.peek()).toBe(y);
    expect(b.peek()).toBe(x);
  });
});

describe('DeadlineHeap', () => {
  it('pops in deadline order and prunes entries that left the queue or changed deadline', () => {
    const q = new RequestQueue<Item>();
    const heap = new DeadlineHeap<Item>();
    const deadlines = [50, 10, 40, 30, 20, 60, 5];
    const items = deadlines.map((d, i) => item(i, d));
    for (const it of items) {
      q.push(it);
      heap.push(it);
    }
    q.unlink(items[6]!); // deadline 5: left the queue
    items[4]!.deadline = 0; // deadline 20: moved to the delayed queue
    const order: number[] = [];
    for (;;) {
      heap.prune();
      const top = heap.pop();
      if (!top) break;
      order.push(top.deadline);
    }
    expect(order).toEqual([10, 30, 40, 50, 60]);
  });

  it('compact() keeps only current entries', () => {
    const q = new RequestQueue<Item>();
    const heap = new DeadlineHeap<Item>();
    const items = Array.from({ length: 20 }, (_, i) => item(i, 100 - i));
    for (const it of items) {
      q.push(it);
      heap.push(it);
    }
    for (const it of items.slice(0, 15)) q.unlink(it);
    heap.compact();
    expect(heap.size).toBe(5);
    expect(heap.topDeadline()).toBe(81);
  });
});
