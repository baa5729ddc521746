/**
 * The TensorRT session's execution contexts, handed out one run at a time. A run asks for a
 * context of one of the profiles its feeds fit (in preference order) and gets a free one at
 * once, or waits. Waiters are served first come, first served: a context that comes free goes
 * to the oldest waiter that can use its profile, so a waiter for another profile never blocks
 * it. Aborting a wait takes the waiter out of the queue.
 */
import { QueueFullError, DisposedError, abortErrorFrom } from '../errors.js';

export interface PoolMember {
  readonly profile: number;
}

interface Waiter<T> {
  readonly profiles: readonly number[];
  readonly resolve: (member: T) => void;
  readonly reject: (error: unknown) => void;
  readonly cleanup: () => void;
}

export interface ContextPoolOptions {
  /** Waiting runs beyond this are refused with ERR_QUEUE_FULL. */
  maxQueue?: number;
}

export class ContextPool<T extends PoolMember> {
  readonly #free: T[];
  readonly #members: readonly T[];
  readonly #waiters: Waiter<T>[] = [];
  readonly #maxQueue: number;
  #closed: Error | undefined;

  constructor(members: readonly T[], options: ContextPoolOptions = {}) {
    this.#members = [...members];
    this.#free = [...members];
    this.#maxQueue = options.maxQueue ?? Number.POSITIVE_INFINITY;
  }

  get size(): number {
    return this.#members.length;
  }

  get idle(): number {
    return this.#free.length;
  }

  get busy(): number {
    return this.#members.length - this.#free.length;
  }

  get queued(): number {
    return this.#waiters.length;
  }

  /** Profiles that have at least one member. */
  get profiles(): number[] {
    return [...new Set(this.#members.map((m) => m.profile))].sort((a, b) => a - b);
  }

  /**
   * A free member whose profile is in `profiles` (earlier entries preferred), or, when none is
   * free, a promise of the first one to come free. Rejects with ERR_QUEUE_FULL when the queue
   * is full, ERR_ABORTED when `signal` fires while waiting, ERR_DISPOSED once closed.
   */
  acquire(profiles: readonly number[], signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(abortErrorFrom(signal, 'run()'));
    for (const p of profiles) {
      const i = this.#free.findIndex((m) => m.profile === p);
      if (i >= 0) return Promise.resolve(this.#free.splice(i, 1)[0]!);
    }
    if (!this.#members.some((m) => profiles.includes(m.profile))) {
      return Promise.reject(new RangeError(`no execution context serves profile(s) ${profiles.join(', ')}; contexts exist for ${this.profiles.join(', ')}`));
    }
    if (this.#waiters.length >= this.#maxQueue) {
      return Promise.reject(
        new QueueFullError(`all ${this.#members.length} execution contexts are busy and ${this.#waiters.length} runs wait (maxQueue ${this.#maxQueue})`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(abortErrorFrom(signal!, 'run()'));
      };
      const waiter: Waiter<T> = {
        profiles,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Gives `member` back: to the oldest waiter that can use it, else to the free list. */
  release(member: T): void {
    if (!this.#members.includes(member)) throw new RangeError('release() of a context that is not in this pool');
    if (this.#free.includes(member)) throw new RangeError('release() of a context that is already free');
    const i = this.#waiters.findIndex((w) => w.profiles.includes(member.profile));
    if (i >= 0 && !this.#closed) {
      const [waiter] = this.#waiters.splice(i, 1);
      waiter!.cleanup();
      waiter!.resolve(member);
      return;
    }
    this.#free.push(member);
  }

  /** Refuses further acquires and rejects every waiter with `error` (ERR_DISPOSED by default). */
  close(error: Error = new DisposedError('the session was disposed')): void {
    this.#closed ??= error;
    for (const w of this.#waiters.splice(0)) {
      w.cleanup();
      w.reject(this.#closed);
    }
  }
}
