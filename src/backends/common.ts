/**
 * Bookkeeping shared by the backends: output selection, in-flight runs, abort races. The
 * feed check is feeds.ts.
 */
import { DTypeError, InvalidArgumentError, ShapeError, abortErrorFrom, describe } from '../errors.js';
import type { TensorInfo } from '../session.js';
import { Tensor, asTensor, checkAttached, formatDims } from '../tensor.js';

/** Checks RunOptions.outputs against the session's outputs; returns the names to fetch. */
export function selectOutputs(outputs: readonly TensorInfo[], wanted: unknown): string[] {
  if (wanted === undefined) return outputs.map((o) => o.name);
  if (!Array.isArray(wanted) || wanted.length === 0) {
    throw new InvalidArgumentError(`options.outputs must be a non-empty array of output names, got ${describe(wanted)}`);
  }
  for (const name of wanted as unknown[]) {
    if (!outputs.some((o) => o.name === name)) {
      throw new InvalidArgumentError(`options.outputs names an unknown output ${describe(name)}; the model's outputs are ${names(outputs)}`);
    }
  }
  return [...(wanted as string[])];
}

/** What RunOptions.outputs asks for, checked: the names to fetch and the tensors to fill, if any. */
export interface OutputSelection {
  /** The outputs to fetch, in the order asked for (the session's order when omitted). */
  readonly names: string[];
  /** Caller-provided tensors by output name (RunOptions.outputs as an object); undefined otherwise. */
  readonly targets: ReadonlyMap<string, Tensor> | undefined;
}

/**
 * Checks RunOptions.outputs, an array of names or caller-provided tensors by output name
 * (onnxruntime-node's fetches): every name an output of the session; every tensor one of
 * ours or tensor-like (wrapped without a copy, so the caller's memory is written), on the
 * host, of the output's dtype (ERR_DTYPE) and rank, with the output's fixed dims (ERR_SHAPE);
 * no two tensors sharing memory. Symbolic dims are checked by checkTargetDims() once the feeds
 * bind them, and every dim once the run knows the output's shape.
 */
export function resolveOutputs(outputs: readonly TensorInfo[], wanted: unknown): OutputSelection {
  if (wanted === undefined || Array.isArray(wanted)) return { names: selectOutputs(outputs, wanted), targets: undefined };
  if (wanted === null || typeof wanted !== 'object' || wanted instanceof Tensor || ArrayBuffer.isView(wanted)) {
    throw new InvalidArgumentError(`options.outputs must be an array of output names or an object of tensors to fill by output name, got ${describe(wanted)}`);
  }
  // Plain loops: run() checks this on every call, so it allocates only the Map it returns.
  const record = wanted as Record<string, unknown>;
  const targets = new Map<string, Tensor>();
  for (const name in record) {
    if (!Object.prototype.hasOwnProperty.call(record, name)) continue;
    const info = findInfo(outputs, name);
    if (info === undefined) {
      throw new InvalidArgumentError(`options.outputs names an unknown output ${describe(name)}; the model's outputs are ${names(outputs)}`);
    }
    const value = record[name];
    const t = value instanceof Tensor ? value : asTensor(value, `options.outputs[${JSON.stringify(name)}]`);
    if (t.data.length !== t.size) checkAttached(t, `options.outputs[${JSON.stringify(name)}]`);
    if (t.type !== info.dtype) {
      throw new DTypeError(`options.outputs[${JSON.stringify(name)}] is a ${t.type} tensor but output ${JSON.stringify(name)} is ${info.dtype}`);
    }
    if (t.dims.length !== info.dims.length) {
      throw new ShapeError(
        `options.outputs[${JSON.stringify(name)}] has dims ${formatDims(t.dims)} (rank ${t.dims.length}) but output ${JSON.stringify(name)} has rank ${info.dims.length} ` +
          `(dims ${formatDims(info.dims)})`,
      );
    }
    for (let axis = 0; axis < info.dims.length; axis++) {
      const d = info.dims[axis];
      if (typeof d === 'number' && d >= 0 && t.dims[axis] !== d) {
        throw new ShapeError(
          `options.outputs[${JSON.stringify(name)}] has dims ${formatDims(t.dims)} but output ${JSON.stringify(name)} has ${d} at axis ${axis} (dims ${formatDims(info.dims)})`,
        );
      }
    }
    targets.set(name, t);
  }
  if (targets.size === 0) {
    throw new InvalidArgumentError(`options.outputs is an empty object; name at least one of the model's outputs ${names(outputs)}`);
  }
  checkDisjoint(targets, 'options.outputs');
  return { names: [...targets.keys()], targets };
}

function findInfo(outputs: readonly TensorInfo[], name: string): TensorInfo | undefined {
  for (let i = 0; i < outputs.length; i++) if (outputs[i]!.name === name) return outputs[i];
  return undefined;
}

/**
 * Checks caller-provided tensors against the output dims the feeds determine: `symbolSize`
 * gives the size a symbolic dim (e.g. "batch") is bound to by the feeds, or undefined when no
 * input has it (such a dim is checked after the run by checkTargetResult). Also refuses a
 * tensor that shares memory with a feed (`feeds`), which the run would read while writing it.
 */
export function checkTargetDims(
  outputs: readonly TensorInfo[],
  targets: ReadonlyMap<string, Tensor>,
  symbolSize: (name: string) => number | undefined,
  feeds: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>> = new Map(),
): void {
  targets.forEach((t, name) => {
    const info = findInfo(outputs, name)!;
    for (let axis = 0; axis < info.dims.length; axis++) {
      const d = info.dims[axis];
      if (typeof d !== 'string') continue;
      const size = symbolSize(d);
      if (size !== undefined && size >= 0 && t.dims[axis] !== size) {
        throw new ShapeError(
          `options.outputs[${JSON.stringify(name)}] has dims ${formatDims(t.dims)} but this run's output ${JSON.stringify(name)} ` +
            `has ${size} at axis ${axis} (${JSON.stringify(d)}, bound by the feeds)`,
        );
      }
    }
    const overlapping = (f: Tensor, input: string): void => {
      if (overlaps(t.data, f.data)) {
        throw new InvalidArgumentError(
          `options.outputs[${JSON.stringify(name)}] shares memory with feeds[${JSON.stringify(input)}]; give each output its own buffer`,
        );
      }
    };
    if (feeds instanceof Map) (feeds as ReadonlyMap<string, Tensor>).forEach(overlapping);
    else
      for (const input in feeds)
        if (Object.prototype.hasOwnProperty.call(feeds, input)) overlapping((feeds as Readonly<Record<string, Tensor>>)[input]!, input);
  });
}

/** After a run (or once shapes are known): the output's actual dims must be the target's. */
export function checkTargetResult(name: string, target: Tensor, dims: readonly number[]): void {
  if (dims.length !== target.dims.length || dims.some((d, i) => d !== target.dims[i])) {
    throw new ShapeError(
      `options.outputs[${JSON.stringify(name)}] has dims ${formatDims(target.dims)} but this run produced output ${JSON.stringify(name)} ` +
        `with dims ${formatDims(dims)}`,
    );
  }
}

function checkDisjoint(targets: ReadonlyMap<string, Tensor>, what: string): void {
  if (targets.size < 2) return;
  const list = [...targets];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      if (overlaps(list[i]![1].data, list[j]![1].data)) {
        throw new InvalidArgumentError(
          `${what}[${JSON.stringify(list[i]![0])}] and ${what}[${JSON.stringify(list[j]![0])}] share memory; give each output its own buffer`,
        );
      }
    }
  }
}

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.buffer !== b.buffer || a.byteLength === 0 || b.byteLength === 0) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
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
