/**
 * Checks and bookkeeping shared by the backends.
 */
import { DTypeError, InvalidArgumentError, ShapeError, abortErrorFrom, describe } from '../errors.js';
import { Tensor, formatDims } from '../tensor.js';
import type { TensorInfo } from '../session.js';

/**
 * Checks `feeds` against a session's inputs before anything runs: a plain object, no
 * unknown names, no missing inputs, Tensors of the right dtype and rank, fixed dims equal,
 * and a symbolic dim (e.g. "batch") of one size across all inputs.
 * Returns the symbolic dims' bound sizes.
 */
export function validateFeeds(inputs: readonly TensorInfo[], feeds: unknown): Map<string, number> {
  if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds) || feeds instanceof Tensor) {
    throw new InvalidArgumentError(
      `feeds must be an object mapping input names to Tensors (inputs: ${names(inputs)}), got ${describe(feeds)}`,
    );
  }
  const record = feeds as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!inputs.some((i) => i.name === key)) {
      throw new InvalidArgumentError(`feeds has an unknown input ${JSON.stringify(key)}; the model's inputs are ${names(inputs)}`);
    }
  }
  const symbols = new Map<string, { size: number; from: string }>();
  for (const input of inputs) {
    const t = record[input.name];
    if (t === undefined) {
      throw new InvalidArgumentError(
        `feeds is missing input ${JSON.stringify(input.name)} (${input.dtype} ${formatDims(input.dims)})`,
      );
    }
    if (!(t instanceof Tensor)) {
      throw new InvalidArgumentError(`feeds[${JSON.stringify(input.name)}] must be a Tensor, got ${describe(t)}`);
    }
    if (t.type !== input.dtype) {
      throw new DTypeError(`input ${JSON.stringify(input.name)} must be ${input.dtype}, got ${t.type}`);
    }
    if (t.dims.length !== input.dims.length) {
      throw new ShapeError(
        `input ${JSON.stringify(input.name)} must have rank ${input.dims.length} ${formatDims(input.dims)}, ` +
          `got rank ${t.dims.length} ${formatDims(t.dims)}`,
      );
    }
    input.dims.forEach((d, axis) => {
      const got = t.dims[axis]!;
      if (typeof d === 'number' && d >= 0 && d !== got) {
        throw new ShapeError(
          `input ${JSON.stringify(input.name)} dim ${axis} must be ${d} ${formatDims(input.dims)}, got ${formatDims(t.dims)}`,
        );
      }
      if (typeof d === 'string' && d !== '') {
        const seen = symbols.get(d);
        if (seen === undefined) symbols.set(d, { size: got, from: input.name });
        else if (seen.size !== got) {
          throw new ShapeError(
            `input ${JSON.stringify(input.name)} dim ${axis} (${d}) is ${got} but input ${JSON.stringify(seen.from)} ` +
              `gave ${d} = ${seen.size}; inputs that share a symbolic dim must agree`,
          );
        }
      }
    });
  }
  return new Map([...symbols].map(([k, v]) => [k, v.size]));
}

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
