/**
 * Queue structures of the batcher: a FIFO ring buffer with lazy removal (an aborted or
 * timed-out request is unlinked in O(1) by clearing its `queue` and skipped when reached),
 * and a min-heap of queue deadlines for timeouts.
 */

/** What the queues need of a request. */
export interface Queued {
  /** The queue currently holding the request; null once it has left every queue. */
  queue: RequestQueue<Queued> | null;
  /** Absolute time (performance.now()) at which its queue timeout fires; 0 = none. */
  deadline: number;
}

export class RequestQueue<T extends Queued> {
  #buf: (T | undefined)[] = new Array(16);
  #mask = 15;
  #head = 0;
  #tail = 0;
  /** Live entries (those whose `queue` is this one). */
  live = 0;

  push(item: T): void {
    if (this.#tail - this.#head === this.#buf.length) this.#grow();
    this.#buf[this.#tail & this.#mask] = item;
    this.#tail++;
    item.queue = this as unknown as RequestQueue<Queued>;
    this.live++;
  }

  /** Marks `item` removed; its slot is dropped when the head reaches it. */
  unlink(item: T): void {
    if (item.queue === (this as unknown as RequestQueue<Queued>)) {
      item.queue = null;
      this.live--;
    }
  }

  /** The first live entry, dropping dead ones at the head. */
  peek(): T | undefined {
    while (this.#head < this.#tail) {
      const item = this.#buf[this.#head & this.#mask]!;
      if (item.queue === (this as unknown as RequestQueue<Queued>)) return item;
      this.#buf[this.#head & this.#mask] = undefined;
      this.#head++;
    }
    return undefined;
  }

  /** Removes and returns the first live entry. */
  shift(): T | undefined {
    const item = this.peek();
    if (item !== undefined) {
      this.#buf[this.#head & this.#mask] = undefined;
      this.#head++;
      item.queue = null;
      this.live--;
    }
    return item;
  }

  /** Raw slot count (live and dead), for index-based walks with at(). */
  get span(): number {
    return this.#tail - this.#head;
  }

  /** The entry at raw position `i` from the head if it is live, else undefined. */
  at(i: number): T | undefined {
    const item = this.#buf[(this.#head + i) & this.#mask];
    return item !== undefined && item.queue === (this as unknown as RequestQueue<Queued>) ? item : undefined;
  }

  #grow(): void {
    const old = this.#buf;
    const n = old.length;
    const buf = new Array<T | undefined>(n * 2);
    for (let i = 0; i < n; i++) buf[i] = old[(this.#head + i) & this.#mask];
    this.#buf = buf;
    this.#mask = n * 2 - 1;
    this.#tail = n;
    this.#head = 0;
  }
}

/** Min-heap on `deadline`. Entries whose deadline changed or that left the queue are skipped by the caller. */
export class DeadlineHeap<T extends Queued> {
  #a: T[] = [];
  #d: number[] = [];

  get size(): number {
    return this.#a.length;
  }

  push(item: T): void {
    const a = this.#a;
    const d = this.#d;
    let i = a.length;
    a.push(item);
    d.push(item.deadline);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (d[p]! <= d[i]!) break;
      swap(a, i, p);
      swap(d, i, p);
      i = p;
    }
  }

  /** The deadline stored with the top entry (Infinity when empty). */
  topDeadline(): number {
    return this.#d.length > 0 ? this.#d[0]! : Infinity;
  }

  /** Whether the top entry is still queued with the deadline it was pushed with. */
  topIsCurrent(): boolean {
    const t = this.#a[0];
    return t !== undefined && t.queue !== null && t.deadline === this.#d[0];
  }

  pop(): T | undefined {
    const a = this.#a;
    const d = this.#d;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const lastA = a.pop()!;
    const lastD = d.pop()!;
    if (a.length > 0) {
      a[0] = lastA;
      d[0] = lastD;
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && d[l]! < d[m]!) m = l;
        if (r < n && d[r]! < d[m]!) m = r;
        if (m === i) break;
        swap(a, i, m);
        swap(d, i, m);
        i = m;
      }
    }
    return top;
  }

  /** Drops stale entries at the top. */
  prune(): void {
    while (this.#a.length > 0 && !this.topIsCurrent()) this.pop();
  }

  clear(): void {
    this.#a.length = 0;
    this.#d.length = 0;
  }

  /**
   * Rebuilds the heap from its current entries. Requests dispatched before their deadline
   * leave stale entries behind; compacting now and then bounds the heap by the queue.
   */
  compact(): void {
    const items = this.#a.filter((t, i) => t.queue !== null && t.deadline === this.#d[i]);
    this.clear();
    for (const t of items) this.push(t);
  }
}

function swap<T>(a: T[], i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}
