/**
 * Admission: a request's feeds checked against the model before anything is queued, and the
 * group it joins. Requests share a group (and so may share a batch) when everything that
 * cannot be padded agrees: the sizes of open non-padded dims and, with buckets, the bucket of
 * each padded length.
 *
 * The checks are the session contract's (names, dtypes, ranks, fixed dims, symbolic dims that
 * agree) plus the batcher's own (one batch size across inputs, padded lengths that agree,
 * maxBatchSize, profile and bucket limits), written for the hot path: no allocation beyond
 * the request's own length list and key.
 */
import { DTypeError, InvalidArgumentError, ShapeError, describe } from '../errors.js';
import { Tensor, formatDims } from '../tensor.js';
import type { Feeds, TensorInfo } from '../session.js';
import type { BatcherConfig } from './config.js';
import { EMPTY, Group, Request } from './request.js';

/** Above this many groups, idle ones are dropped (keys made by rare shapes must not pile up). */
const MAX_IDLE_GROUPS = 256;

export class Admission {
  readonly #config: BatcherConfig;
  readonly #modelInputs: readonly TensorInfo[];
  readonly #symScratch: Int32Array;
  readonly #groups = new Map<string, Group>();

  constructor(config: BatcherConfig, modelInputs: readonly TensorInfo[]) {
    this.#config = config;
    this.#modelInputs = modelInputs;
    this.#symScratch = new Int32Array(config.layout.keySymbols.length);
  }

  /** Checks `feeds` against the model and returns the request, in its group (not yet queued). */
  admit(feeds: Feeds, level: number, now: number): Request {
    const layout = this.#config.layout;
    const plans = layout.inputs;
    if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds) || feeds instanceof Tensor) {
      throw new InvalidArgumentError(
        `feeds must be an object mapping input names to Tensors (inputs: ${plans.map((p) => JSON.stringify(p.name)).join(', ')}), got ${describe(feeds)}`,
      );
    }
    let count = 0;
    for (const _ in feeds) count++;
    if (count !== plans.length) this.#unknownOrMissing(feeds);
    const nDims = layout.dims.length;
    const lens: number[] | readonly number[] = nDims > 0 ? new Array<number>(nDims).fill(-1) : EMPTY;
    const sym = this.#symScratch;
    if (sym.length > 0) sym.fill(-1);
    let key = '';
    let batch = -1;
    for (let k = 0; k < plans.length; k++) {
      const p = plans[k]!;
      const t = feeds[p.name];
      if (!(t instanceof Tensor)) {
        if (t === undefined) this.#unknownOrMissing(feeds);
        throw new InvalidArgumentError(`feeds[${JSON.stringify(p.name)}] must be a Tensor, got ${describe(t)}`);
      }
      if (t.type !== p.dtype) throw new DTypeError(`input ${JSON.stringify(p.name)} must be ${p.dtype}, got ${t.type}`);
      const d = t.dims;
      if (d.length !== p.rank) {
        throw new ShapeError(`input ${JSON.stringify(p.name)} must have rank ${p.rank} ${this.#modelDims(k)}, got rank ${d.length} ${formatDims(d)}`);
      }
      for (let a = 0; a < p.rank; a++) {
        const f = p.fixed[a]!;
        if (f >= 0 && d[a] !== f) {
          throw new ShapeError(`input ${JSON.stringify(p.name)} dim ${a} must be ${f} ${this.#modelDims(k)}, got ${formatDims(d)}`);
        }
        const s = p.symbolIndex[a]!;
        if (s >= 0) {
          if (sym[s]! < 0) sym[s] = d[a]!;
          else if (sym[s] !== d[a]) {
            throw new ShapeError(
              `input ${JSON.stringify(p.name)} dim ${a} (${layout.keySymbols[s]}) is ${d[a]}, but another input gave ${layout.keySymbols[s]} = ${sym[s]}; inputs that share a symbolic dim must agree`,
            );
          }
        }
      }
      const b = d[p.batchAxis]!;
      if (batch < 0) batch = b;
      else if (b !== batch) {
        throw new ShapeError(
          `input ${JSON.stringify(p.name)} has batch ${b} (dim ${p.batchAxis} of ${formatDims(d)}), but ${JSON.stringify(plans[0]!.name)} has batch ${batch}; all inputs of a request must have the same batch`,
        );
      }
      for (let j = 0; j < p.padAxes.length; j++) {
        const di = p.padDims[j]!;
        const len = d[p.padAxes[j]!]!;
        if (lens[di]! < 0) (lens as number[])[di] = len;
        else if (lens[di] !== len) {
          throw new ShapeError(
            `input ${JSON.stringify(p.name)} dim ${p.padAxes[j]} (${layout.dims[di]}) is ${len}, but another input gave ${layout.dims[di]} = ${lens[di]}; padded inputs that share a length must agree`,
          );
        }
      }
      for (let j = 0; j < p.keyAxes.length; j++) key += `${d[p.keyAxes[j]!]},`;
    }
    if (batch < 1) {
      throw new ShapeError(`a request must have batch >= 1, got batch ${batch} (${JSON.stringify(plans[0]!.name)} ${formatDims(feeds[plans[0]!.name]!.dims)})`);
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
        throw new ShapeError(
          `${layout.dims[di]} length ${len} is longer than the session's optimization profiles allow (${layout.profileMaxLen[di]})`,
        );
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
          throw new ShapeError(
            `${layout.dims[di]} length ${len} is longer than the largest bucket ${bs[bs.length - 1]} (options.buckets: ${bs.join(', ')})`,
          );
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
    const req = new Request(feeds, batch, lens, rowLen, padRowLen, level, now);
    req.group = g;
    return req;
  }

  #modelDims(k: number): string {
    return formatDims(this.#modelInputs.find((i) => i.name === this.#config.layout.inputs[k]!.name)?.dims ?? []);
  }

  #unknownOrMissing(feeds: Feeds): never {
    const plans = this.#config.layout.inputs;
    for (const key of Object.keys(feeds)) {
      if (!plans.some((p) => p.name === key)) {
        throw new InvalidArgumentError(
          `feeds has an unknown input ${JSON.stringify(key)}; the model's inputs are ${plans.map((p) => JSON.stringify(p.name)).join(', ')}`,
        );
      }
    }
    for (const p of plans) {
      if (feeds[p.name] === undefined) {
        throw new InvalidArgumentError(`feeds is missing input ${JSON.stringify(p.name)} (${p.dtype} ${this.#modelDims(plans.indexOf(p))})`);
      }
    }
    throw new InvalidArgumentError(`feeds must have exactly the model's inputs ${plans.map((p) => JSON.stringify(p.name)).join(', ')}`);
  }

  #dropIdleGroups(): void {
    for (const [key, g] of this.#groups) if (g.live === 0) this.#groups.delete(key);
  }
}
