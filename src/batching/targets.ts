/**
 * Caller-provided outputs for batched requests (BatcherRunOptions.outputs, the session's
 * convention): a request's rows of the batch outputs are copied into its own tensors when the
 * batch returns, instead of into buffers made for it. The batch itself runs on outputs the
 * session allocates (many requests share it).
 *
 * Checked at submit time, against what the request alone determines: the output is one the
 * batcher fetches, dtype (ERR_DTYPE), rank and fixed dims (ERR_SHAPE), the batch axis (the
 * request's batch), the trimmed axes (the request's own lengths), symbolic dims its feeds bind,
 * and memory shared with its feeds or another target (ERR_INVALID_ARG). A dim only the batch
 * decides (an open dim of an output that is not trimmed) is checked when the batch returns and
 * fails that request alone with ERR_SHAPE.
 */
import { InvalidArgumentError, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { formatDims } from '../tensor.js';
import type { Feeds, Outputs, TensorInfo } from '../session.js';
import { checkTargetDims, resolveOutputs } from '../backends/common.js';
import type { BatchLayout, OutputPlan } from './layout.js';
import type { Request } from './request.js';
import { copyBox } from './tensor-ops.js';

/** What a request asked for: the outputs to return and, when given, the tensors to fill. */
export interface RequestOutputs {
  readonly plans: readonly OutputPlan[];
  readonly targets: ReadonlyMap<string, Tensor> | undefined;
}

/**
 * Checks `wanted` (an array of output names, or tensors by output name) for request `req`;
 * undefined when it asks for nothing special (every output the batcher fetches, in new buffers).
 */
export function admitOutputs(
  layout: BatchLayout,
  sessionOutputs: readonly TensorInfo[],
  sessionInputs: readonly TensorInfo[],
  req: Request,
  wanted: unknown,
): RequestOutputs | undefined {
  if (wanted === undefined) return undefined;
  const fetched = sessionOutputs.filter((o) => layout.outputs.some((p) => p.name === o.name));
  const { names, targets } = resolveOutputs(fetched, wanted);
  const plans = names.map((n) => layout.outputs.find((p) => p.name === n)!);
  if (targets === undefined) return { plans, targets };
  const padded = new Set(layout.dims);
  // A symbolic dim the request's own feeds bind, unless batching pads it (the trimmed axes say those).
  const symbolSize = (symbol: string): number | undefined => {
    if (padded.has(symbol)) return undefined;
    for (const info of sessionInputs) {
      const axis = info.dims.indexOf(symbol);
      if (axis >= 0) return req.feeds[info.name]?.dims[axis];
    }
    return undefined;
  };
  for (const p of plans) {
    const t = targets.get(p.name)!;
    const expect = (axis: number, size: number, why: string): void => {
      if (t.dims[axis] !== size) {
        throw new ShapeError(
          `options.outputs[${JSON.stringify(p.name)}] has dims ${formatDims(t.dims)} but this request's output ${JSON.stringify(p.name)} ` +
            `has ${size} at axis ${axis} (${why})`,
          { output: p.name, axis, expected: size, got: t.dims[axis] },
        );
      }
    };
    expect(p.batchAxis, req.batch, "the request's batch");
    for (let j = 0; j < p.trimAxes.length; j++) expect(p.trimAxes[j]!, req.lens[p.trimDims[j]!]!, `its ${JSON.stringify(layout.dims[p.trimDims[j]!])} length`);
  }
  checkTargetDims(fetched, targets, symbolSize, req.feeds as Feeds);
  return { plans, targets };
}

/**
 * Request `r`'s share of the batch outputs `out` (its rows from `start`, trimmed to its own
 * lengths), for the outputs it asked for: copied into its targets, else into new buffers by
 * `split`. Throws ERR_SHAPE when a target's dims are not the share's.
 */
export function deliverOutputs(
  wanted: RequestOutputs,
  out: Outputs,
  r: Request,
  start: number,
  layout: BatchLayout,
  split: (layout: BatchLayout, out: Outputs, r: Request, start: number) => Outputs,
): Outputs {
  if (wanted.targets === undefined) {
    const all = split(layout, out, r, start);
    const result: Outputs = {};
    for (const p of wanted.plans) result[p.name] = all[p.name]!;
    return result;
  }
  // Every target is checked before any is written, so a failed request leaves them all as they were.
  const shares: (readonly number[])[] = [];
  for (const p of wanted.plans) {
    const t = out[p.name]!;
    const dims = t.dims.slice();
    dims[p.batchAxis] = r.batch;
    for (let j = 0; j < p.trimAxes.length; j++) dims[p.trimAxes[j]!] = r.lens[p.trimDims[j]!]!;
    const target = wanted.targets.get(p.name)!;
    if (target.type !== t.type) {
      throw new InvalidArgumentError(`the session returned output ${JSON.stringify(p.name)} as ${t.type}, but options.outputs gave a ${target.type} tensor`);
    }
    if (dims.length !== target.dims.length || dims.some((d, i) => d !== target.dims[i])) {
      throw new ShapeError(
        `options.outputs[${JSON.stringify(p.name)}] has dims ${formatDims(target.dims)} but this request's share of the batch output ` +
          `${JSON.stringify(p.name)} has dims ${formatDims(dims)}`,
        { output: p.name },
      );
    }
    shares.push(dims);
  }
  const result: Outputs = {};
  wanted.plans.forEach((p, k) => {
    const t = out[p.name]!;
    const target = wanted.targets!.get(p.name)!;
    copyBox(t.data, t.dims, target.data, shares[k]!, shares[k]!, p.batchAxis, start, 0);
    result[p.name] = target;
  });
  return result;
}
