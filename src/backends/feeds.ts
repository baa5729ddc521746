/**
 * The feed validator: the one check of feeds against a session's inputs, used by both
 * backends' run(), compare() and bisect() (and the DynamicBatcher's admission).
 *
 * It checks, before anything runs: feeds is a plain object; no unknown and no missing input;
 * each value is a Tensor or a tensor of another library (onnxruntime-node's, transformers.js's,
 * a plain `{ type, data, dims }`, wrapped without a copy, see asTensor); its dtype; its rank;
 * fixed dims; a symbolic dim (e.g. "batch") of one size across all inputs; and the limits on
 * dims the model's metadata or a backend knows (`TensorInfo.limits`, plus `limits` given to
 * the validator), e.g. a sequence length of at least 1, or at most the rows of a
 * position-embedding table. Errors are ERR_INVALID_ARG (names), ERR_DTYPE and ERR_SHAPE,
 * naming the input, the dim, what was expected and what was got; their details carry
 * `input`, `axis`, `expected` and `got` where they apply. A Tensor whose ArrayBuffer was
 * detached (transferred) after it was made is refused (ERR_INVALID_ARG) instead of read.
 *
 * run() calls check() on every call, so the per-input facts are worked out once, when the
 * validator is made, and check() allocates only its result (two small arrays and the object).
 */
import { DTypeError, InvalidArgumentError, ShapeError, describe } from '../errors.js';
import { Tensor, asTensor, checkAttached, formatDims, isTensorLike } from '../tensor.js';
import type { DimLimit, Feeds, TensorInfo } from '../session.js';
import { DeviceTensor } from '../device-tensor.js';

export type { DimLimit } from '../session.js';

export interface FeedValidatorOptions {
  /**
   * More limits by input name, on top of each TensorInfo's own `limits`: what a backend
   * knows that the TensorInfo does not carry. Where several limits bound one dim, the
   * tightest applies and its reason is the one reported.
   */
  limits?: Readonly<Record<string, readonly DimLimit[]>>;
  /**
   * Accept DeviceTensors as feeds (TensorRT sessions): checked for dtype and dims like host
   * tensors, and handed on in CheckedFeeds.tensors as they are (the caller tells them apart
   * with `instanceof DeviceTensor`). Without it they are refused (ERR_INVALID_ARG).
   */
  deviceTensors?: boolean;
}

/** What check() found: what run() needs, so no caller derives it again. */
export interface CheckedFeeds {
  /**
   * The feeds as Tensors in the session's input order (tensors of other libraries wrapped, not
   * copied); with the deviceTensors option, DeviceTensors as given.
   */
  readonly tensors: Tensor[];
  /** The size bound to each symbolic dim, in the order of FeedValidator.symbols; -1 for none (no input). */
  readonly symbolSizes: number[];
}

interface InputPlan {
  readonly info: TensorInfo;
  readonly name: string;
  readonly dtype: TensorInfo['dtype'];
  readonly rank: number;
  /** Per axis: the fixed size, or -1. */
  readonly fixed: Int32Array;
  /** Per axis: the index of its symbolic dim in `symbols`, or -1. */
  readonly symbol: Int32Array;
  /** Per axis: inclusive bounds from the limits, with the limit that set each; null when the input has none. */
  readonly min: Float64Array | null;
  readonly max: Float64Array | null;
  readonly minLimit: (DimLimit | undefined)[];
  readonly maxLimit: (DimLimit | undefined)[];
}

const q = (name: string): string => JSON.stringify(name);

/** The feed check for one session's inputs; make it once per session and call check() per run. */
export class FeedValidator {
  readonly inputs: readonly TensorInfo[];
  /** Symbolic dim names, in order of first appearance across the inputs. */
  readonly symbols: readonly string[];
  readonly #plans: InputPlan[];
  readonly #names: Set<string>;
  readonly #deviceTensors: boolean;

  constructor(inputs: readonly TensorInfo[], options: FeedValidatorOptions = {}) {
    this.inputs = inputs;
    this.#deviceTensors = options.deviceTensors === true;
    const symbols: string[] = [];
    const extra = options.limits ?? {};
    const names = new Set(inputs.map((i) => i.name));
    for (const name of Object.keys(extra)) {
      if (!names.has(name)) {
        throw new InvalidArgumentError(`limits name an unknown input ${q(name)}; the inputs are ${listNames(inputs)}`);
      }
    }
    this.#plans = inputs.map((info) => {
      const rank = info.dims.length;
      const fixed = new Int32Array(rank).fill(-1);
      const symbol = new Int32Array(rank).fill(-1);
      info.dims.forEach((d, axis) => {
        if (typeof d === 'number') {
          if (d >= 0) fixed[axis] = d;
        } else if (d !== '') {
          let s = symbols.indexOf(d);
          if (s < 0) s = symbols.push(d) - 1;
          symbol[axis] = s;
        }
      });
      const own = Object.prototype.hasOwnProperty.call(extra, info.name) ? extra[info.name]! : [];
      const limits = [...(info.limits ?? []), ...own];
      const plan: InputPlan = {
        info,
        name: info.name,
        dtype: info.dtype,
        rank,
        fixed,
        symbol,
        min: limits.length > 0 ? new Float64Array(rank).fill(0) : null,
        max: limits.length > 0 ? new Float64Array(rank).fill(Infinity) : null,
        minLimit: new Array<DimLimit | undefined>(rank),
        maxLimit: new Array<DimLimit | undefined>(rank),
      };
      for (const limit of limits) addLimit(plan, limit);
      return plan;
    });
    this.#names = names;
    this.symbols = Object.freeze(symbols);
  }

  /** Checks `feeds` (see the module comment); throws the first problem found. */
  check(feeds: unknown): CheckedFeeds {
    const plans = this.#plans;
    const n = plans.length;
    if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds) || feeds instanceof Map || isTensorLike(feeds)) {
      throw new InvalidArgumentError(`feeds must be an object mapping input names to Tensors (inputs: ${listNames(this.inputs)}), got ${describe(feeds)}`);
    }
    const record = feeds as Record<string, unknown>;
    let count = 0;
    for (const _ in record) count++;
    if (count !== n) this.#namesProblem(record);
    const tensors = new Array<Tensor>(n);
    const sizes = this.symbols.length > 0 ? new Array<number>(this.symbols.length).fill(-1) : [];
    for (let k = 0; k < n; k++) {
      const p = plans[k]!;
      let t = record[p.name];
      let device = false;
      if (!(t instanceof Tensor)) {
        if (t === undefined || !Object.prototype.hasOwnProperty.call(record, p.name)) this.#namesProblem(record);
        if (this.#deviceTensors && t instanceof DeviceTensor) device = true;
        else t = asTensor(t, `feeds[${q(p.name)}]`);
      }
      // A DeviceTensor has type, dims and size as a Tensor has; its memory is the session's to check.
      const tensor = t as Tensor;
      // A transferred buffer leaves an empty view behind: refuse it rather than read nothing.
      if (!device && tensor.data.length !== tensor.size) checkAttached(tensor, `input ${q(p.name)}`);
      if (tensor.type !== p.dtype) {
        throw new DTypeError(`input ${q(p.name)} must be ${p.dtype}, got ${tensor.type}`, { input: p.name, expected: p.dtype, got: tensor.type });
      }
      const d = tensor.dims;
      if (d.length !== p.rank) {
        throw new ShapeError(`input ${q(p.name)} must have rank ${p.rank} ${formatDims(p.info.dims)}, got rank ${d.length} ${formatDims(d)}`, {
          input: p.name,
          expected: p.rank,
          got: d.length,
        });
      }
      for (let a = 0; a < p.rank; a++) {
        const got = d[a]!;
        const f = p.fixed[a]!;
        if (f >= 0 && got !== f) {
          throw new ShapeError(`input ${q(p.name)} dim ${a} must be ${f} ${formatDims(p.info.dims)}, got ${formatDims(d)}`, {
            input: p.name,
            axis: a,
            expected: f,
            got,
          });
        }
        const s = p.symbol[a]!;
        if (s >= 0) {
          const bound = sizes[s]!;
          if (bound < 0) sizes[s] = got;
          else if (bound !== got) this.#symbolProblem(k, a, got, bound);
        }
      }
      if (p.min !== null) {
        for (let a = 0; a < p.rank; a++) {
          const got = d[a]!;
          if (got < p.min[a]! || got > p.max![a]!) limitProblem(p, a, d);
        }
      }
      tensors[k] = tensor;
    }
    return { tensors, symbolSizes: sizes };
  }

  /** The size `checked` bound to the symbolic dim `name`, or undefined when no input has it. */
  symbolSize(checked: CheckedFeeds, name: string): number | undefined {
    const s = this.symbols.indexOf(name);
    return s < 0 ? undefined : checked.symbolSizes[s];
  }

  /** The bound symbolic dims as a Map (name -> size). */
  boundDims(checked: CheckedFeeds): Map<string, number> {
    return new Map(this.symbols.map((s, i) => [s, checked.symbolSizes[i]!]));
  }

  /** The checked tensors as a feeds record, in input order. */
  feedsOf(checked: CheckedFeeds): Feeds {
    const out: Record<string, Tensor> = {};
    for (let k = 0; k < this.#plans.length; k++) out[this.#plans[k]!.name] = checked.tensors[k]!;
    return out;
  }

  #namesProblem(record: Record<string, unknown>): never {
    const unknown = Object.keys(record).filter((k) => !this.#names.has(k));
    const missing = this.#plans.filter((p) => record[p.name] === undefined || !Object.prototype.hasOwnProperty.call(record, p.name));
    const missingText = missing.map((p) => `input ${q(p.name)} (${p.dtype} ${formatDims(p.info.dims)})`).join(', ');
    const unknownText = unknown.map(q).join(', ');
    const plural = (n: number, word: string): string => (n === 1 ? word : `${word}s`);
    let message: string;
    if (missing.length > 0 && unknown.length > 0) {
      message = `feeds is missing ${missingText} and has ${unknown.length === 1 ? 'an unknown input' : 'unknown inputs'} ${unknownText}; the model's inputs are ${listNames(this.inputs)}`;
    } else if (unknown.length > 0) {
      message = `feeds has ${unknown.length === 1 ? 'an unknown input' : `unknown ${plural(unknown.length, 'input')}`} ${unknownText}; the model's inputs are ${listNames(this.inputs)}`;
    } else {
      message = `feeds is missing ${missingText}`;
    }
    throw new InvalidArgumentError(message, { missing: missing.map((p) => p.name), unknown });
  }

  #symbolProblem(k: number, axis: number, got: number, bound: number): never {
    const p = this.#plans[k]!;
    const s = p.symbol[axis]!;
    const name = this.symbols[s]!;
    // The input that bound the symbol first: an earlier one, or this one at an earlier axis.
    let from = p.name;
    for (let j = 0; j < k; j++) {
      if (this.#plans[j]!.symbol.includes(s)) {
        from = this.#plans[j]!.name;
        break;
      }
    }
    throw new ShapeError(
      `input ${q(p.name)} dim ${axis} (${name}) is ${got} but input ${q(from)} gave ${name} = ${bound}; ` + 'inputs that share a symbolic dim must agree',
      { input: p.name, axis, expected: bound, got, symbol: name },
    );
  }
}

function addLimit(plan: InputPlan, limit: DimLimit): void {
  const where = `limit on input ${q(plan.name)}`;
  if (!Number.isInteger(limit.axis) || limit.axis < 0 || limit.axis >= plan.rank) {
    throw new InvalidArgumentError(`${where}: axis must be 0..${plan.rank - 1} (the input has rank ${plan.rank}), got ${describe(limit.axis)}`);
  }
  if (limit.min === undefined && limit.max === undefined) throw new InvalidArgumentError(`${where} dim ${limit.axis}: give min, max or both`);
  for (const [key, v] of [
    ['min', limit.min],
    ['max', limit.max],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new InvalidArgumentError(`${where} dim ${limit.axis}: ${key} must be a non-negative integer, got ${describe(v)}`);
    }
  }
  if (typeof limit.reason !== 'string' || limit.reason === '') {
    throw new InvalidArgumentError(`${where} dim ${limit.axis}: reason must say why (e.g. "the model's position embedding has 512 rows")`);
  }
  const a = limit.axis;
  if (limit.min !== undefined && limit.min > plan.min![a]!) {
    plan.min![a] = limit.min;
    plan.minLimit[a] = limit;
  }
  if (limit.max !== undefined && limit.max < plan.max![a]!) {
    plan.max![a] = limit.max;
    plan.maxLimit[a] = limit;
  }
}

function limitProblem(p: InputPlan, axis: number, dims: readonly number[]): never {
  const got = dims[axis]!;
  const low = got < p.min![axis]!;
  const limit = (low ? p.minLimit[axis] : p.maxLimit[axis])!;
  const bound = low ? p.min![axis]! : p.max![axis]!;
  const dimName = typeof p.info.dims[axis] === 'string' && p.info.dims[axis] !== '' ? ` (${p.info.dims[axis] as string})` : '';
  throw new ShapeError(
    `input ${q(p.name)} dim ${axis}${dimName} must be ${low ? 'at least' : 'at most'} ${bound}, got ${got} (dims ${formatDims(dims)}): ${limit.reason}`,
    { input: p.name, axis, expected: low ? { min: bound } : { max: bound }, got, reason: limit.reason },
  );
}

function listNames(infos: readonly TensorInfo[]): string {
  return infos.map((i) => q(i.name)).join(', ') || '(none)';
}

const shared = new WeakMap<readonly TensorInfo[], FeedValidator>();

/**
 * The validator of `inputs` (kept per inputs array, so one-off callers such as compare() do
 * not rebuild it). Limits beyond the TensorInfos' own need `new FeedValidator(inputs, { limits })`.
 */
export function feedValidator(inputs: readonly TensorInfo[]): FeedValidator {
  let v = shared.get(inputs);
  if (v === undefined) {
    v = new FeedValidator(inputs);
    shared.set(inputs, v);
  }
  return v;
}

/** Checks `feeds` against `inputs` once (see FeedValidator.check). */
export function validateFeeds(inputs: readonly TensorInfo[], feeds: unknown): CheckedFeeds {
  return feedValidator(inputs).check(feeds);
}
