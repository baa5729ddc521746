/**
 * GenerationStream: the async iterator `Generator.stream()` returns. Tokens are buffered as
 * steps produce them, so a slow consumer never holds the batch back; leaving the loop early
 * (break, return, throw) cancels the generation and frees its cache.
 */
import type { GenerateResult } from './generator.js';

export class GenerationStream implements AsyncIterableIterator<number> {
  /** Settles with the whole result when the generation ends (also after an early break). */
  readonly result: Promise<GenerateResult>;
  #buffer: number[] = [];
  #head = 0;
  #ended = false;
  #error: unknown = undefined;
  #failed = false;
  /** next() calls waiting for a token, oldest first. */
  #waiters: { resolve: (r: IteratorResult<number>) => void; reject: (e: unknown) => void }[] = [];
  readonly #cancel: () => void;

  /** @internal */
  constructor(result: Promise<GenerateResult>, cancel: () => void) {
    this.result = result;
    // The result is there for those who want it; an unobserved failure must not become an
    // unhandled rejection (next() reports it to the loop).
    result.catch(() => undefined);
    this.#cancel = cancel;
  }

  /** @internal */
  push(token: number): void {
    if (this.#ended) return;
    const w = this.#waiters.shift();
    if (w !== undefined) {
      w.resolve({ value: token, done: false });
    } else {
      this.#buffer.push(token);
    }
  }

  /** @internal */
  end(error?: unknown, failed = false): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#failed = failed;
    this.#error = error;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (let i = 0; i < waiters.length; i++) {
      if (failed && i === 0) {
        this.#failed = false;
        waiters[i]!.reject(error);
      } else {
        waiters[i]!.resolve({ value: undefined, done: true });
      }
    }
  }

  next(): Promise<IteratorResult<number>> {
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) {
      if (this.#failed) {
        this.#failed = false;
        return Promise.reject(this.#error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
    });
  }

  /** Ends the loop early: the generation is cancelled (finishReason 'aborted'). */
  return(): Promise<IteratorResult<number>> {
    if (!this.#ended) this.#cancel();
    this.end();
    this.#buffer = [];
    this.#head = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<number>> {
    void this.return();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
