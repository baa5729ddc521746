/**
 * Assembly: a batch's inputs gathered from its requests (concatenated along the batch axis,
 * padded along the padded axes), the session's outputs checked, and each request's share
 * split back out and trimmed to its own lengths.
 */
import { InternalError, ShapeError, describe } from '../errors.js';
import { Tensor, formatDims } from '../tensor.js';
import type { Feeds, Outputs } from '../session.js';
import type { BatchLayout } from './layout.js';
import { allocate, copyBox, product } from './tensor-ops.js';
import { EMPTY, type Batch, type Request } from './request.js';

export function sameLens(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Per padded dim, the length a batch of `reqs` is padded to: the group's bucket, else the longest request. */
export function paddedLens(layout: BatchLayout, reqs: readonly Request[]): readonly number[] {
  const nDims = layout.dims.length;
  if (nDims === 0) return EMPTY;
  const g = reqs[0]!.group;
  if (g.padTo !== null && !g.padTo.includes(-1)) return g.padTo;
  const l = new Array<number>(nDims).fill(0);
  for (let i = 0; i < reqs.length; i++) {
    const rl = reqs[i]!.lens;
    for (let di = 0; di < nDims; di++) if (rl[di]! > l[di]!) l[di] = rl[di]!;
  }
  if (g.padTo !== null) for (let di = 0; di < nDims; di++) if (g.padTo[di]! >= 0) l[di] = g.padTo[di]!;
  return l;
}

/**
 * Concatenates the batch's inputs, padding the padded axes to the batch's lengths; sets
 * `batch.lens` and the batch's real and padded element counts. A lone request that needs no
 * padding is passed through as it is.
 */
export function gather(layout: BatchLayout, batch: Batch): Feeds {
  const reqs = batch.reqs;
  const lens = paddedLens(layout, reqs);
  batch.lens = lens;
  if (reqs.length === 1 && sameLens(reqs[0]!.lens, lens)) {
    batch.realElements = realElements(layout, reqs);
    batch.paddedElements = 0;
    return reqs[0]!.feeds;
  }
  const feeds: Record<string, Tensor> = {};
  let padded = 0;
  let realTotal = 0;
  for (let k = 0; k < layout.inputs.length; k++) {
    const p = layout.inputs[k]!;
    const first = reqs[0]!.feeds[p.name]!;
    const dims = first.dims.slice();
    dims[p.batchAxis] = batch.size;
    for (let j = 0; j < p.padAxes.length; j++) dims[p.padAxes[j]!] = lens[p.padDims[j]!]!;
    const total = product(dims);
    const data = allocate(p.dtype, total, p.padFill);
    let off = 0;
    let real = 0;
    for (let i = 0; i < reqs.length; i++) {
      const t = reqs[i]!.feeds[p.name]!;
      copyBox(t.data, t.dims, data, dims, t.dims, p.batchAxis, 0, off);
      off += t.dims[p.batchAxis]!;
      real += t.size;
    }
    if (p.padAxes.length > 0) {
      padded += total - real;
      realTotal += real;
    }
    feeds[p.name] = new Tensor(p.dtype, data as never, dims);
  }
  batch.realElements = realTotal;
  batch.paddedElements = padded;
  return feeds;
}

function realElements(layout: BatchLayout, reqs: readonly Request[]): number {
  if (layout.dims.length === 0) return 0;
  let real = 0;
  for (const p of layout.inputs) if (p.padAxes.length > 0) for (const r of reqs) real += r.feeds[p.name]!.size;
  return real;
}

/** Checks the batch outputs before anything is split, so a bad output fails the batch as a whole. */
export function checkOutputs(layout: BatchLayout, batch: Batch, out: Outputs | undefined): asserts out is Outputs {
  if (out === null || typeof out !== 'object') {
    throw new InternalError(`session.run() resolved with ${describe(out)} instead of an object of output Tensors`);
  }
  for (const p of layout.outputs) {
    const t = out[p.name];
    if (!(t instanceof Tensor)) {
      throw new InternalError(`session.run() returned no Tensor for output ${JSON.stringify(p.name)} (got ${describe(t)})`);
    }
    if (t.dims.length <= p.batchAxis || t.dims[p.batchAxis] !== batch.size) {
      throw new ShapeError(
        `output ${JSON.stringify(p.name)} has dims ${formatDims(t.dims)}; expected ${batch.size} along its batch axis ${p.batchAxis}, the batch's size`,
      );
    }
    for (let j = 0; j < p.trimAxes.length; j++) {
      const a = p.trimAxes[j]!;
      const want = batch.lens[p.trimDims[j]!]!;
      if (t.dims[a] !== want) {
        throw new ShapeError(
          `output ${JSON.stringify(p.name)} dim ${a} is ${t.dims[a]} (dims ${formatDims(t.dims)}), but the batch was padded to ` +
            `${layout.dims[p.trimDims[j]!]} = ${want}; cannot trim it back (set options.padding.outputs.${p.name}.axes)`,
        );
      }
    }
  }
}

/** The session's outputs as they are, for a lone request that was not padded. */
export function passThrough(layout: BatchLayout, out: Outputs): Outputs {
  const result: Outputs = {};
  const plans = layout.outputs;
  for (let k = 0; k < plans.length; k++) result[plans[k]!.name] = out[plans[k]!.name]!;
  return result;
}

/** Request `r`'s share of the batch outputs: its rows from `start`, trimmed to its own lengths, in buffers of its own. */
export function split(layout: BatchLayout, out: Outputs, r: Request, start: number): Outputs {
  const result: Outputs = {};
  const plans = layout.outputs;
  for (let k = 0; k < plans.length; k++) {
    const p = plans[k]!;
    const t = out[p.name]!;
    const dims = t.dims.slice();
    dims[p.batchAxis] = r.batch;
    for (let j = 0; j < p.trimAxes.length; j++) dims[p.trimAxes[j]!] = r.lens[p.trimDims[j]!]!;
    const data = allocate(t.type, product(dims), 0);
    copyBox(t.data, t.dims, data, dims, dims, p.batchAxis, start, 0);
    result[p.name] = new Tensor(t.type, data as never, dims);
  }
  return result;
}
