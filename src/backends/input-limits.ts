/**
 * Limits on a model's inputs that its graph makes knowable, found before anything runs, so a
 * feed that cannot fit is refused with the limit in the message instead of failing deep inside
 * the runtime ("Attempting to broadcast an axis by a dimension other than 1. 512 by 600").
 *
 * What is recognised (main graph only):
 * - A Slice of a constant table (initializer or Constant, through Cast/Identity/
 *   DequantizeLinear) whose end on an axis grows with input dims, e.g. the first `sequence`
 *   rows of a position-embedding table, or rows [past, past + seq) of a position_ids buffer
 *   (arange(512)). Slice clamps silently, so past the table's size the model breaks further
 *   on: a dim limit end <= size.
 * - A Gather of a constant table indexed by a Range over input dims (Range(0, seq) or
 *   Range(past, past + seq), plus a constant offset): a dim limit limit + offset <= rows.
 * - A Gather of a constant table indexed directly by an integer graph input (position_ids,
 *   input_ids into a vocabulary): a value limit, values within [-rows, rows - 1] as Gather
 *   takes them.
 * Index expressions are evaluated over a small algebra (constants and integer multiples of
 * input dims) through the shape ops exporters emit: Shape, Gather, Slice, Concat, Squeeze,
 * Unsqueeze, Reshape, Cast, Identity, Add, Sub, Mul. Anything else gives no limit, and the
 * runtime's own failure is translated instead (ort-errors.ts).
 */
import { InvalidArgumentError, ShapeError } from '../errors.js';
import type { DimLimit, ValueRange } from '../session.js';
import { getIntAttribute, getTensorAttribute } from '../onnx/attributes.js';
import { dimsOf } from '../onnx/graph.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../onnx/schema.js';
import { tensorFromProto, tensorProtoDims } from '../onnx/tensor-proto.js';
import { formatDims, type Tensor } from '../tensor.js';

export interface DimTerm {
  readonly input: string;
  readonly axis: number;
  readonly coefficient: number;
}

/** sum(coefficient * feeds[input].dims[axis]) + offset <= max. */
export interface DimSumLimit {
  readonly terms: readonly DimTerm[];
  readonly offset: number;
  readonly max: number;
  /** Why, for messages: the node and the table it reads. */
  readonly reason: string;
}

/** Every element of feeds[input] within [min, max]. */
export interface ValueLimit {
  readonly input: string;
  readonly min: number;
  readonly max: number;
  readonly reason: string;
}

export interface InputLimits {
  readonly dims: readonly DimSumLimit[];
  readonly values: readonly ValueLimit[];
}

/** An integer that is a constant plus integer multiples of input dims. */
interface Affine {
  readonly c: number;
  /** `${input}\0${axis}` -> coefficient; never 0. */
  readonly t: ReadonlyMap<string, number>;
}

/** A small integer tensor of rank 0 or 1 whose elements are affine expressions. */
interface Value {
  readonly rank: 0 | 1;
  readonly elems: readonly Affine[];
}

const MAX_ELEMENTS = 64;
const INTEGER_ELEM_TYPES = new Set([2, 3, 4, 5, 6, 7, 12, 13]); // uint8 int8 uint16 int16 int32 int64 uint32 uint64
const INDEX_PRESERVING = new Set(['Cast', 'Identity', 'Unsqueeze', 'Squeeze', 'Reshape', 'Expand', 'Flatten']);
const TABLE_PASSTHROUGH = new Set(['Cast', 'Identity', 'DequantizeLinear']);

const constant = (c: number): Affine => ({ c, t: new Map() });
const termKey = (input: string, axis: number): string => `${input}\0${axis}`;
const isConstant = (a: Affine): boolean => a.t.size === 0;

function add(a: Affine, b: Affine, sign = 1): Affine {
  const t = new Map(a.t);
  for (const [k, v] of b.t) {
    const sum = (t.get(k) ?? 0) + sign * v;
    if (sum === 0) t.delete(k);
    else t.set(k, sum);
  }
  return { c: a.c + sign * b.c, t };
}

function scale(a: Affine, k: number): Affine {
  if (k === 0) return constant(0);
  return { c: a.c * k, t: new Map([...a.t].map(([key, v]) => [key, v * k])) };
}

class GraphLimits {
  readonly #graph: GraphProto;
  readonly #producers = new Map<string, NodeProto>();
  readonly #initializers = new Map<string, TensorProto>();
  readonly #inputs = new Map<string, { dims: (number | string)[]; elemType: number }>();
  readonly #values = new Map<string, Value | undefined>();

  constructor(graph: GraphProto) {
    this.#graph = graph;
    for (const n of graph.node) for (const o of n.output) if (o) this.#producers.set(o, n);
    for (const t of graph.initializer) this.#initializers.set(t.name, t);
    for (const i of graph.input) {
      if (this.#initializers.has(i.name)) continue;
      const dims = dimsOf(i.type);
      const elemType = i.type?.value.case === 'tensorType' ? i.type.value.value.elemType : 0;
      if (dims) this.#inputs.set(i.name, { dims, elemType });
    }
  }

  find(): InputLimits {
    const dims: DimSumLimit[] = [];
    const values: ValueLimit[] = [];
    this.#graph.node.forEach((node, index) => {
      try {
        if (node.domain !== '' && node.domain !== 'ai.onnx') return;
        if (node.opType === 'Slice') dims.push(...this.#sliceLimits(node, index));
        else if (node.opType === 'Gather') {
          const limit = this.#gatherLimit(node, index);
          if (limit && 'terms' in limit) dims.push(limit);
          else if (limit) values.push(limit);
        }
      } catch {
        // A malformed corner of the graph gives no limit; the runtime reports it.
      }
    });
    return { dims: dedupe(dims), values };
  }

  #sliceLimits(node: NodeProto, index: number): DimSumLimit[] {
    const table = this.#table(node.input[0]);
    if (!table) return [];
    const starts = this.#value(node.input[1]);
    const ends = this.#value(node.input[2]);
    const axes = node.input[3] ? this.#value(node.input[3]) : undefined;
    const steps = node.input[4] ? this.#value(node.input[4]) : undefined;
    if (!starts || !ends || starts.elems.length !== ends.elems.length) return [];
    if (node.input[3] && !axes) return [];
    if (node.input[4] && !steps) return [];
    const out: DimSumLimit[] = [];
    ends.elems.forEach((end, i) => {
      const start = starts.elems[i]!;
      const step = steps?.elems[i] ?? constant(1);
      const axisExpr = axes?.elems[i] ?? constant(i);
      // Where the slice starts does not matter: an end past the table is clamped all the same.
      if (!isConstant(step) || step.c !== 1 || !isConstant(axisExpr)) return;
      if (isConstant(end) || [...end.t.values()].some((k) => k <= 0)) return;
      const axis = axisExpr.c < 0 ? axisExpr.c + table.dims.length : axisExpr.c;
      const size = table.dims[axis];
      if (size === undefined) return;
      const range = `[${formatAffine(start)}, ${formatAffine(end)})`;
      out.push(limitOf(end, size, `the model's Slice ${nodeName(node, index)} takes entries ${range} of ${table.what} along axis ${axis}, which has ${size}`));
    });
    return out;
  }

  #gatherLimit(node: NodeProto, index: number): DimSumLimit | ValueLimit | undefined {
    const table = this.#table(node.input[0]);
    if (!table) return undefined;
    let axis = getIntAttribute(node, 'axis', 0);
    if (axis < 0) axis += table.dims.length;
    const rows = table.dims[axis];
    if (rows === undefined) return undefined;
    const source = this.#indexSource(node.input[1]);
    if (!source) return undefined;
    const looksUp = `the model's Gather ${nodeName(node, index)} looks up ${table.what} (${rows} entries on axis ${axis})`;
    if (source.kind === 'input') {
      return {
        input: source.input,
        min: -rows - source.offset,
        max: rows - 1 - source.offset,
        reason: `${looksUp} by ${source.offset === 0 ? 'these values' : `these values ${source.offset > 0 ? '+' : '-'} ${Math.abs(source.offset)}`}`,
      };
    }
    // Range(start, limit, 1) holds start .. limit - 1, so the largest index is limit - 1 + offset.
    const limit = add(source.limit, constant(source.offset));
    if (isConstant(limit)) return undefined;
    return limitOf(
      limit,
      rows,
      `${looksUp} at positions Range(${formatAffine(source.start)}, ${formatAffine(source.limit)})${source.offset ? ` + ${source.offset}` : ''}`,
    );
  }

  /** Follows an index tensor back through ops that keep its values (plus constant offsets). */
  #indexSource(
    name: string | undefined,
    offset = 0,
    depth = 0,
  ): { kind: 'input'; input: string; offset: number } | { kind: 'range'; start: Affine; limit: Affine; offset: number } | undefined {
    if (!name || depth > 16) return undefined;
    const input = this.#inputs.get(name);
    if (input) return INTEGER_ELEM_TYPES.has(input.elemType) ? { kind: 'input', input: name, offset } : undefined;
    const node = this.#producers.get(name);
    if (!node) return undefined;
    if (INDEX_PRESERVING.has(node.opType)) return this.#indexSource(node.input[0], offset, depth + 1);
    if (node.opType === 'Add' || node.opType === 'Sub') {
      for (const [i, j] of [
        [0, 1],
        [1, 0],
      ] as const) {
        const k = this.#value(node.input[j]);
        if (k && k.elems.length === 1 && isConstant(k.elems[0]!) && !(node.opType === 'Sub' && j === 0)) {
          const shift = node.opType === 'Sub' ? -k.elems[0]!.c : k.elems[0]!.c;
          return this.#indexSource(node.input[i], offset + shift, depth + 1);
        }
      }
      return undefined;
    }
    if (node.opType === 'Range') {
      const [start, limit, delta] = [0, 1, 2].map((i) => this.#value(node.input[i]));
      if (!start || !limit || !delta || start.elems.length !== 1 || limit.elems.length !== 1 || delta.elems.length !== 1) return undefined;
      if (!isConstant(delta.elems[0]!) || delta.elems[0]!.c !== 1) return undefined;
      return { kind: 'range', start: start.elems[0]!, limit: limit.elems[0]!, offset };
    }
    return undefined;
  }

  /** A constant table: its dims and a description ("initializer \"pos\" [512, 64]"). */
  #table(name: string | undefined, depth = 0): { dims: number[]; what: string } | undefined {
    if (!name || depth > 8) return undefined;
    const init = this.#initializers.get(name);
    if (init) return { dims: tensorProtoDims(init), what: `initializer ${JSON.stringify(name)} ${formatDims(tensorProtoDims(init))}` };
    const node = this.#producers.get(name);
    if (!node) return undefined;
    if (node.opType === 'Constant') {
      const t = getTensorAttribute(node, 'value');
      return t ? { dims: tensorProtoDims(t), what: `constant ${JSON.stringify(name)} ${formatDims(tensorProtoDims(t))}` } : undefined;
    }
    if (TABLE_PASSTHROUGH.has(node.opType)) return this.#table(node.input[0], depth + 1);
    return undefined;
  }

  /** The value of a small integer tensor, as affine expressions over input dims. */
  #value(name: string | undefined): Value | undefined {
    if (!name) return undefined;
    if (this.#values.has(name)) return this.#values.get(name);
    this.#values.set(name, undefined); // cycles give no value
    const v = this.#compute(name);
    this.#values.set(name, v);
    return v;
  }

  #compute(name: string): Value | undefined {
    const init = this.#initializers.get(name);
    if (init) return constantValue(init);
    const node = this.#producers.get(name);
    if (!node) return undefined;
    const inp = (i: number): Value | undefined => this.#value(node.input[i]);
    switch (node.opType) {
      case 'Constant': {
        const t = getTensorAttribute(node, 'value');
        if (t) return constantValue(t);
        const ints = node.attribute.find((a) => a.name === 'value_ints');
        if (ints) return { rank: 1, elems: ints.ints.map((x) => constant(Number(x))) };
        const int = node.attribute.find((a) => a.name === 'value_int');
        return int ? { rank: 0, elems: [constant(Number(int.i))] } : undefined;
      }
      case 'Shape': {
        const dims = this.#shape(node.input[0]);
        if (!dims) return undefined;
        const r = dims.length;
        const clamp = (x: number): number => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
        const start = clamp(getIntAttribute(node, 'start', 0));
        const end = clamp(getIntAttribute(node, 'end', r));
        return { rank: 1, elems: dims.slice(start, end) };
      }
      case 'Cast':
      case 'Identity':
        return inp(0);
      case 'Gather': {
        const data = inp(0);
        const idx = inp(1);
        if (!data || !idx || data.rank !== 1 || getIntAttribute(node, 'axis', 0) !== 0) return undefined;
        const picked: Affine[] = [];
        for (const e of idx.elems) {
          if (!isConstant(e)) return undefined;
          const at = e.c < 0 ? e.c + data.elems.length : e.c;
          const elem = data.elems[at];
          if (elem === undefined) return undefined;
          picked.push(elem);
        }
        return { rank: idx.rank, elems: picked };
      }
      case 'Slice': {
        const data = inp(0);
        const starts = inp(1);
        const ends = inp(2);
        if (!data || data.rank !== 1 || !starts || !ends) return undefined;
        const [s, e] = [starts.elems[0], ends.elems[0]];
        if (!s || !e || !isConstant(s) || !isConstant(e)) return undefined;
        if (node.input[4]) {
          const steps = inp(4);
          if (!steps || !isConstant(steps.elems[0]!) || steps.elems[0]!.c !== 1) return undefined;
        }
        const n = data.elems.length;
        const clamp = (x: number): number => Math.min(Math.max(x < 0 ? x + n : x, 0), n);
        return { rank: 1, elems: data.elems.slice(clamp(s.c), clamp(e.c)) };
      }
      case 'Concat': {
        const parts = node.input.map((_, i) => inp(i));
        if (parts.some((p) => !p || p.rank !== 1)) return undefined;
        const elems = parts.flatMap((p) => p!.elems);
        return elems.length <= MAX_ELEMENTS ? { rank: 1, elems } : undefined;
      }
      case 'Squeeze':
      case 'Unsqueeze':
      case 'Reshape': {
        const x = inp(0);
        if (!x || x.elems.length !== 1) return undefined;
        if (node.opType === 'Squeeze') return { rank: 0, elems: x.elems };
        if (node.opType === 'Unsqueeze') return x.rank === 0 ? { rank: 1, elems: x.elems } : undefined;
        const shape = inp(1);
        return shape ? { rank: shape.elems.length === 0 ? 0 : 1, elems: x.elems } : undefined;
      }
      case 'Add':
      case 'Sub':
      case 'Mul': {
        const a = inp(0);
        const b = inp(1);
        if (!a || !b) return undefined;
        const n = Math.max(a.elems.length, b.elems.length);
        if ((a.elems.length !== n && a.elems.length !== 1) || (b.elems.length !== n && b.elems.length !== 1)) return undefined;
        const elems: Affine[] = [];
        for (let i = 0; i < n; i++) {
          const x = a.elems[a.elems.length === 1 ? 0 : i]!;
          const y = b.elems[b.elems.length === 1 ? 0 : i]!;
          if (node.opType === 'Mul') {
            if (isConstant(x)) elems.push(scale(y, x.c));
            else if (isConstant(y)) elems.push(scale(x, y.c));
            else return undefined;
          } else elems.push(add(x, y, node.opType === 'Sub' ? -1 : 1));
        }
        return { rank: a.rank === 1 || b.rank === 1 ? 1 : 0, elems };
      }
      default:
        return undefined;
    }
  }

  /** The dims of a tensor as affine expressions: graph inputs and what keeps or extends their shape. */
  #shape(name: string | undefined, depth = 0): Affine[] | undefined {
    if (!name || depth > 16) return undefined;
    const input = this.#inputs.get(name);
    if (input) {
      return input.dims.map((d, axis) => (typeof d === 'number' && d >= 0 ? constant(d) : { c: 0, t: new Map([[termKey(name, axis), 1]]) }));
    }
    const node = this.#producers.get(name);
    if (!node) return undefined;
    if (node.opType === 'Cast' || node.opType === 'Identity') return this.#shape(node.input[0], depth + 1);
    if (node.opType === 'Gather') {
      // Gather(table, indices, axis): table.dims[:axis] + indices.dims + table.dims[axis + 1:]
      const table = this.#table(node.input[0]);
      const indices = this.#shape(node.input[1], depth + 1);
      if (!table || !indices) return undefined;
      let axis = getIntAttribute(node, 'axis', 0);
      if (axis < 0) axis += table.dims.length;
      return [...table.dims.slice(0, axis).map(constant), ...indices, ...table.dims.slice(axis + 1).map(constant)];
    }
    return undefined;
  }
}

function constantValue(t: TensorProto): Value | undefined {
  if (!INTEGER_ELEM_TYPES.has(t.dataType)) return undefined;
  const dims = tensorProtoDims(t);
  if (dims.length > 1) return undefined;
  let tensor: Tensor;
  try {
    tensor = tensorFromProto(t);
  } catch {
    return undefined; // external data, or a type our Tensor does not hold
  }
  if (tensor.size > MAX_ELEMENTS) return undefined;
  const elems = Array.from(tensor.data as ArrayLike<number | bigint>, (x) => constant(Number(x)));
  return { rank: dims.length === 0 ? 0 : 1, elems };
}

function limitOf(expr: Affine, max: number, reason: string): DimSumLimit {
  const terms = [...expr.t].map(([key, coefficient]) => {
    const [input, axis] = key.split('\0') as [string, string];
    return { input, axis: Number(axis), coefficient };
  });
  return { terms, offset: expr.c, max, reason };
}

function formatAffine(a: Affine): string {
  const parts = [...a.t].map(([key, k]) => {
    const [input, axis] = key.split('\0') as [string, string];
    return `${k === 1 ? '' : `${k} * `}${input} dim ${axis}`;
  });
  if (a.c !== 0 || parts.length === 0) parts.push(String(a.c));
  return parts.join(' + ').replace(/\+ -/g, '- ');
}

function nodeName(node: NodeProto, index: number): string {
  return node.name ? JSON.stringify(node.name) : `(node ${index}, output ${JSON.stringify(node.output[0] ?? '')})`;
}

function dedupe(limits: DimSumLimit[]): DimSumLimit[] {
  const seen = new Map<string, DimSumLimit>();
  for (const l of limits) {
    const key = `${l.terms.map((t) => `${t.input}/${t.axis}*${t.coefficient}`).join('+')}+${l.offset}`;
    const prev = seen.get(key);
    if (!prev || l.max < prev.max) seen.set(key, l);
  }
  return [...seen.values()];
}

/** The limits `model`'s main graph makes knowable (see the module comment). */
export function findInputLimits(model: ModelProto): InputLimits {
  return model.graph ? new GraphLimits(model.graph).find() : { dims: [], values: [] };
}

export interface FeedLike {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number | bigint> | ArrayBufferView;
}

/**
 * The limits the feed validator takes (one dim of one input: `TensorInfo.limits`), by input,
 * and the rest (sums of dims, values), which checkInputLimits checks.
 */
export function splitInputLimits(limits: InputLimits): {
  perInput: Record<string, DimLimit[]>;
  valueRanges: Record<string, ValueRange>;
  rest: InputLimits;
} {
  const perInput: Record<string, DimLimit[]> = {};
  const rest: DimSumLimit[] = [];
  for (const l of limits.dims) {
    const term = l.terms.length === 1 ? l.terms[0]! : undefined;
    const max = term && term.coefficient > 0 ? Math.floor((l.max - l.offset) / term.coefficient) : -1;
    if (!term || max < 0) {
      rest.push(l);
      continue;
    }
    (perInput[term.input] ??= []).push({ axis: term.axis, max, reason: l.reason });
  }
  return { perInput, valueRanges: valueRangesOf(limits.values), rest: { dims: rest, values: limits.values } };
}

/**
 * Per input, the range every value limit on it allows together (`TensorInfo.valueRange`): the
 * largest min and the smallest max, with the reason of the limit that set the max (the table
 * a position_ids or input_ids input indexes).
 */
export function valueRangesOf(values: readonly ValueLimit[]): Record<string, ValueRange> {
  const out: Record<string, { min: number; max: number; reason: string }> = {};
  for (const v of values) {
    const had = out[v.input];
    if (had === undefined) out[v.input] = { min: v.min, max: v.max, reason: v.reason };
    else {
      had.min = Math.max(had.min, v.min);
      if (v.max < had.max) {
        had.max = v.max;
        had.reason = v.reason;
      }
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, r]) => [k, Object.freeze(r)]));
}

/**
 * Refuses feeds beyond `limits`: ERR_SHAPE for dims (naming the inputs, the dims, their sizes
 * and the most the model takes), ERR_INVALID_ARG for values (naming the first offending
 * element). Feeds (by name, or named) must already have passed the session's feed validation.
 */
export function checkInputLimits(limits: InputLimits, feeds: Readonly<Record<string, FeedLike>> | readonly (FeedLike & { name: string })[]): void {
  if (limits.dims.length === 0 && limits.values.length === 0) return;
  const feed = (name: string): FeedLike | undefined =>
    Array.isArray(feeds)
      ? (feeds as readonly (FeedLike & { name: string })[]).find((f) => f.name === name)
      : (feeds as Readonly<Record<string, FeedLike>>)[name];
  for (const limit of limits.dims) {
    let total = limit.offset;
    const shown: string[] = [];
    for (const term of limit.terms) {
      const size = feed(term.input)?.dims[term.axis];
      if (size === undefined) {
        total = Number.NEGATIVE_INFINITY;
        break;
      }
      total += term.coefficient * size;
      shown.push(`${term.coefficient === 1 ? '' : `${term.coefficient} * `}input ${JSON.stringify(term.input)} dim ${term.axis} (${size})`);
    }
    if (total <= limit.max) continue;
    const single = limit.terms.length === 1 && limit.terms[0]!.coefficient === 1 && limit.offset === 0;
    const what = single
      ? `input ${JSON.stringify(limit.terms[0]!.input)} dim ${limit.terms[0]!.axis} is ${total}`
      : `${shown.join(' + ')}${limit.offset ? ` ${limit.offset > 0 ? '+' : '-'} ${Math.abs(limit.offset)}` : ''} is ${total}`;
    throw new ShapeError(`${what}, but at most ${limit.max} fit: ${limit.reason}`, { expected: { max: limit.max }, got: total });
  }
  for (const limit of limits.values) {
    const f = feed(limit.input);
    if (!f) continue;
    const data = f.data as ArrayLike<number | bigint>;
    const [min, max] = typeof data[0] === 'bigint' ? [BigInt(limit.min), BigInt(limit.max)] : [limit.min, limit.max];
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < min || v > max) {
        throw new InvalidArgumentError(
          `input ${JSON.stringify(limit.input)} holds ${v} at flat index ${i} (dims ${formatDims(f.dims)}), ` +
            `but the model takes values in [${limit.min}, ${limit.max}] there: ${limit.reason}`,
          { input: limit.input, expected: { min: limit.min, max: limit.max }, got: typeof v === 'bigint' ? v.toString() : v },
        );
      }
    }
  }
}
