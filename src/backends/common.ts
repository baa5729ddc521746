/**
 * Bookkeeping shared by the backends: output selection, in-flight runs, abort races. The
 * feed check is feeds.ts.
 */
import { InvalidArgumentError, abortErrorFrom, describe } from '../errors.js';
import type { TensorInfo } from '../session.js';

/** Checks RunOptions.outputs against the session's outputs; returns the names to fetch. */
export function selectOutputs(outputs: readonly TensorInfo[], wanted: readonly string[] | undefined): string[] {
  if (wanted === undefined) return outputs.map((o) => o.name);
  if (!Array.isArray(wanted) || wanted.length === 0) {
    throw new InvalidArgumentError(`options.outputs must be a non-empty array of output names, got ${describe(wanted)}`);
  }
  for (const name of wanted) {
    if (!outputs.some((o) => o.name === name)) {
      throw new InvalidArgumentError(`options.outputs names an unknown output ${describe(name)}; the model's outputs are ${names(outputs)}`);
    }
  }
  return [...wanted];
}

function names(infos: readonly TensorInfo[]): string {
  return infos.map((i) => JSON.stringify(i.name)).join(', ') || '(none)';
}

/**
 * In-flight bookkeeping shared by the backends: tracks runs so dispose() can wait for them,
 * and makes dispose() idempotent (every call gets the same promise).
 */
export class RunTracker {
  #inflight = new Set<Promise<unknown>>();
  #disposing: Promise<void> | undefined;

  get disposed(): boolean {
    return this.#disposing !== undefined;
  }

  get inflight(): number {
    return this.#inflight.size;
  }

  track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const done = (): void => {
      this.#inflight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  dispose(release: () => Promise<void> | void): Promise<void> {
    this.#disposing ??= (async () => {
      while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
      await release();
    })();
    return this.#disposing;
  }
}

/**
 * Races `work` against `signal`: rejects with ERR_ABORTED as soon as the signal fires (the
 * work's own result is then dropped). The listener is removed when either settles.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortErrorFrom(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
