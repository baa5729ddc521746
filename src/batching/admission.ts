/**
 * Admission: a request's feeds checked against the model before anything is queued, and the
 * group it joins. Requests share a group (and so may share a batch) when everything that
 * cannot be padded agrees: the sizes of open non-padded dims and, with buckets, the bucket of
 * each padded length.
 *
 * The session contract's checks (names, dtypes, ranks, fixed dims, symbolic dims that agree,
 * dim limits; tensors of other libraries wrapped) are the shared feed validator's, with its
 * messages, as for session.run(). The batcher adds its own: one batch size across inputs,
 * padded lengths that agree, maxBatchSize, maxBatchTokens, profile and bucket limits.
 */
import { ShapeError } from '../errors.js';
import { formatDims } from '../tensor.js';
import type { Feeds, TensorInfo } from '../session.js';
import { feedValidator, type FeedValidator } from '../backends/feeds.js';
import type { BatcherConfig } from './config.js';
import { EMPTY, Group, Request } from './request.js';

/** Above this many groups, idle ones are dropped (keys made by rare shapes must not pile up). */
const MAX_IDLE_GROUPS = 256;

export class Admission {
  readonly #config: BatcherConfig;
  readonly #validator: FeedValidator;
  readonly #groups = new Map<string, Group>();

  constructor(config: BatcherConfig, modelInputs: readonly TensorInfo[]) {
    this.#config = config;
    // The layout lists the session's inputs in their order, as the validator's tensors come.
    this.#validator = feedValidator(modelInputs);
  }

  /** Checks `feeds` against the model and returns the request, in its group (not yet queued). */
  admit(feeds: Feeds, level: number, now: number): Request {
    const layout = this.#config.layout;
    const plans = layout.inputs;
    const checked = this.#validator.check(feeds);
    const tensors = checked.tensors;
    // Tensors of other libraries were wrapped: the request keeps the wrappers.
    let own = true;
    for (let k = 0; k < plans.length; k++) if (tensors[k] !== feeds[plans[k]!.name]) own = false;
    const reqFeeds = own ? feeds : this.#validator.feedsOf(checked);
    const nDims = layout.dims.length;
    const lens: number[] | readonly number[] = nDims > 0 ? new Array<number>(nDims).fill(-1) : EMPTY;
    let key = '';
    let batch = -1;
    for (let k = 0; k < plans.length; k++) {
      const p = plans[k]!;
      const d = tensors[k]!.dims;
      const b = d[p.batchAxis]!;
      if (batch < 0) batch = b;
      else if (b !== batch) {
        throw new ShapeError(
          `input ${JSON.stringify(p.name)} has batch ${b} (dim ${p.batchAxis} of ${formatDims(d)}), but ${JSON.stringify(plans[0]!.name)} has batch ${batch}; all inputs of a request must have the same batch`,
          { input: p.name, axis: p.batchAxis, expected: batch, got: b },
        );
      }
      for (let j = 0; j < p.padAxes.length; j++) {
        const di = p.padDims[j]!;
        const len = d[p.padAxes[j]!]!;
        if (lens[di]! < 0) (lens as number[])[di] = len;
        else if (lens[di] !== len) {
          throw new ShapeError(
            `input ${JSON.stringify(p.name)} dim ${p.padAxes[j]} (${layout.dims[di]}) is ${len}, but another input gave ${layout.dims[di]} = ${lens[di]}; padded inputs that share a length must agree`,
            { input: p.name, axis: p.padAxes[j], expected: lens[di], got: len },
          );
        }
      }
      for (let j = 0; j < p.keyAxes.length; j++) key += `${d[p.keyAxes[j]!]},`;
    }
    if (batch < 1) {
      throw new ShapeError(`a request must have batch >= 1, got batch ${batch} (${JSON.stringify(plans[0]!.name)} ${formatDims(tensors[0]!.dims)})`);
    }
    const maxBatch = this.#config.maxBatch;
    if (batch > maxBatch) {
      throw new ShapeError(`a request has batch ${batch}, more than maxBatchSize ${maxBatch}; split it or raise options.maxBatchSize`);
    }
    let padTo: number[] | null = null;
    let rowLen = 1;
    let padRowLen = 1;
    for (let di = 0; di < nDims; di++) {
      const len = lens[di]!;
      rowLen *= len;
      if (len > layout.profileMaxLen[di]!) {
        throw new ShapeError(`${layout.dims[di]} length ${len} is longer than the session's optimization profiles allow (${layout.profileMaxLen[di]})`);
      }
      const bs = this.#config.buckets[di];
      if (bs) {
        let bucket = -1;
        for (let i = 0; i < bs.length; i++) {
          if (bs[i]! >= len) {
            bucket = bs[i]!;
            break;
          }
        }
        if (bucket < 0) {
          throw new ShapeError(`${layout.dims[di]} length ${len} is longer than the largest bucket ${bs[bs.length - 1]} (options.buckets: ${bs.join(', ')})`);
        }
        key += `|${bucket}`;
        (padTo ??= new Array<number>(nDims).fill(-1))[di] = bucket;
        padRowLen *= bucket;
      } else padRowLen *= len;
    }
    const cfg = this.#config;
    if (cfg.maxTokensSet && batch * padRowLen > cfg.maxTokens) {
      throw new ShapeError(
        `a request of batch ${batch} x ${nDims > 0 ? layout.dims.map((d, di) => `${d} ${padTo?.[di] !== undefined && padTo[di]! >= 0 ? padTo[di] : lens[di]}`).join(' x ') : 'one token per row'} = ${batch * padRowLen} tokens is more than options.maxBatchTokens ${cfg.maxTokens}; split it or raise maxBatchTokens`,
      );
    }
    let g = this.#groups.get(key);
    if (g === undefined) {
      g = new Group(key, padTo, this.#config.levels);
      if (this.#groups.size >= MAX_IDLE_GROUPS) this.#dropIdleGroups();
      this.#groups.set(key, g);
    }
    const req = new Request(reqFeeds, batch, lens, rowLen, padRowLen, level, now);
    req.group = g;
    return req;
  }

  #dropIdleGroups(): void {
    for (const [key, g] of this.#groups) if (g.live === 0) this.#groups.delete(key);
  }
}
