/**
 * The running batch's KV cache and the feeds of each step, as Hugging Face batches generation:
 * rows left-padded, so every row's real positions sit at the right end of the time axis; the
 * attention mask is 0 over the padding and 1 over real tokens; position ids count each row's
 * real tokens (padding gets 1, as Hugging Face fills it).
 *
 * Between steps the batch's cache is the model's own present tensors: with the same rows, a
 * decode step's present is the next step's past as it is (no copy here; an ONNX Runtime session
 * in worker mode is asked to move it to its worker rather than clone it, see the Generator's
 * DECODE_RUN_OPTIONS). Only when rows leave or join is a new cache assembled, copying each kept
 * row's real positions (the padding of the longest row that left is trimmed), one contiguous run
 * per (row, head).
 */
import { InternalError } from '../errors.js';
import { DATA_TYPES, Tensor, formatDims, type TensorData } from '../tensor.js';
import type { Feeds, Outputs } from '../session.js';
import type { DecoderIO, IndexDtype, KvSlot } from './decoder-io.js';

/** A batch's cache: per KV slot a tensor [rows, ..., width, ...]; row r's real positions are the last lens[r]. */
export interface BatchCache {
  readonly rows: number;
  readonly width: number;
  readonly tensors: readonly Tensor[];
}

/** A row to carry into a new cache: from `cache`, row `row`, its `len` real positions. */
export interface RowSource {
  readonly cache: BatchCache;
  readonly row: number;
  readonly len: number;
}

export function kvDims(slot: KvSlot, rows: number, width: number): number[] {
  const dims = new Array<number>(slot.dims.length);
  dims[0] = rows;
  for (let a = 1; a < dims.length; a++) dims[a] = a === slot.timeAxis ? width : (slot.dims[a] as number);
  return dims;
}

type KvArray = Float32Array | Uint16Array;
type KvArrayCtor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => KvArray;

/**
 * Memory of caches the batch no longer uses, for the next cache to be assembled in. A fresh
 * typed array costs its page faults and zeroing on first write, which made assembly run at about
 * 1 GiB/s against tens of GiB/s into memory already touched. A buffer is only taken back after
 * the step that read it has settled (a session does not keep its inputs after run() settles), and
 * never when a session moved it away (a transferred buffer is detached).
 */
export class KvBufferPool {
  readonly #free: ArrayBuffer[] = [];
  readonly #limit: number;
  readonly #limitBytes: number;
  #bytes = 0;

  /** Holds at most `limit` buffers of `limitBytes` in all. */
  constructor(limit: number, limitBytes = Infinity) {
    this.#limit = limit;
    this.#limitBytes = limitBytes;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#free.length;
  }

  /** Gives back every tensor of `cache` (which nothing reads any more). */
  release(cache: BatchCache | null): void {
    if (cache === null) return;
    for (const t of cache.tensors) {
      const buffer = t.data.buffer;
      // Only whole, plain buffers: a view into a bigger one may share it with other data.
      if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0 || t.data.byteOffset !== 0) continue;
      if (this.#free.includes(buffer)) continue;
      this.#free.push(buffer);
      this.#bytes += buffer.byteLength;
    }
    while (this.#free.length > this.#limit || this.#bytes > this.#limitBytes) {
      // Drop the smallest: big ones are what the next assembly most likely needs.
      let k = 0;
      for (let i = 1; i < this.#free.length; i++) if (this.#free[i]!.byteLength < this.#free[k]!.byteLength) k = i;
      this.#bytes -= this.#free.splice(k, 1)[0]!.byteLength;
    }
  }

  clear(): void {
    this.#free.length = 0;
    this.#bytes = 0;
  }

  /** A buffer of at least `bytes` (the smallest that fits, up to 4x), or undefined. */
  take(bytes: number): ArrayBuffer | undefined {
    let k = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const n = this.#free[i]!.byteLength;
      if (n >= bytes && n <= 4 * bytes && (k < 0 || n < this.#free[k]!.byteLength)) k = i;
    }
    if (k < 0) return undefined;
    const buffer = this.#free.splice(k, 1)[0]!;
    this.#bytes -= buffer.byteLength;
    return buffer;
  }
}

/**
 * A cache of `sources.length` rows and `width` positions, each source's real positions
 * right-aligned and the padding zeroed. Memory comes from `pool` when it has a fit.
 */
export function assembleCache(io: DecoderIO, sources: readonly RowSource[], width: number, pool?: KvBufferPool): BatchCache {
  const rows = sources.length;
  const tensors: Tensor[] = [];
  for (let s = 0; s < io.kv.length; s++) {
    const slot = io.kv[s]!;
    const { outer, inner } = slot;
    const info = DATA_TYPES[slot.dtype];
    const n = rows * outer * width * inner;
    const reused = pool?.take(n * info.bytesPerElement);
    const Ctor = info.array as unknown as KvArrayCtor;
    const dst = reused ? new Ctor(reused, 0, n) : new Ctor(new ArrayBuffer(n * info.bytesPerElement), 0, n);
    for (let r = 0; r < rows; r++) {
      const src = sources[r]!;
      const len = src.len;
      const from = src.cache.tensors[s]!.data as KvArray;
      const srcWidth = src.cache.width;
      const runLength = len * inner;
      for (let o = 0; o < outer; o++) {
        const to = (r * outer + o) * width * inner;
        const pad = (width - len) * inner;
        if (reused && pad > 0) dst.fill(0, to, to + pad);
        if (len === 0) continue;
        const at = ((src.row * outer + o) * srcWidth + (srcWidth - len)) * inner;
        dst.set(from.subarray(at, at + runLength), to + pad);
      }
    }
    tensors.push(new Tensor(slot.dtype, dst as TensorData, kvDims(slot, rows, width)));
  }
  return { rows, width, tensors };
}

/** The past of a prefill: every KV input with 0 positions. */
export function emptyCache(io: DecoderIO, rows: number): BatchCache {
  return {
    rows,
    width: 0,
    tensors: io.kv.map((slot) => Tensor.zeros(slot.dtype, kvDims(slot, rows, 0))),
  };
}

/** The present outputs of a step as the batch's next cache, checked against what was fed. */
export function presentCache(io: DecoderIO, out: Outputs, rows: number, width: number): BatchCache {
  const tensors: Tensor[] = [];
  for (const slot of io.kv) {
    const t = out[slot.present];
    if (t === undefined) throw new InternalError(`the decoder returned no ${JSON.stringify(slot.present)}`);
    const want = kvDims(slot, rows, width);
    const d = t.dims;
    let same = d.length === want.length && t.type === slot.dtype;
    for (let a = 0; same && a < d.length; a++) same = d[a] === want[a];
    if (!same) {
      throw new InternalError(
        `the decoder's ${JSON.stringify(slot.present)} is ${t.type} ${formatDims(d)}, expected ${slot.dtype} ${formatDims(want)} ` +
          '(past positions + new positions on the time axis)',
      );
    }
    tensors.push(t);
  }
  return { rows, width, tensors };
}

function indexArray(dtype: IndexDtype, n: number): BigInt64Array | Int32Array {
  return dtype === 'int64' ? new BigInt64Array(n) : new Int32Array(n);
}

function fill(a: BigInt64Array | Int32Array, value: number, start: number, end: number): void {
  if (a instanceof BigInt64Array) a.fill(BigInt(value), start, end);
  else a.fill(value, start, end);
}

function put(a: BigInt64Array | Int32Array, i: number, value: number): void {
  if (a instanceof BigInt64Array) a[i] = BigInt(value);
  else a[i] = value;
}

function cacheBranch(io: DecoderIO, feeds: Record<string, Tensor>, on: boolean): void {
  const u = io.useCacheBranch;
  // A fresh array each step: a session running in a worker may take its inputs' buffers.
  if (u) feeds[u.name] = new Tensor('bool', Uint8Array.of(on ? 1 : 0), u.dims);
}

/**
 * Feeds of a prefill step: prompts left-padded to the longest, past of 0 positions.
 * Padding ids are 0 (any id in range: the mask hides them).
 */
export function prefillFeeds(io: DecoderIO, prompts: readonly Int32Array[]): { feeds: Feeds; width: number } {
  const rows = prompts.length;
  let width = 0;
  for (const p of prompts) if (p.length > width) width = p.length;
  const ids = indexArray(io.inputIds.dtype, rows * width);
  const mask = indexArray(io.attentionMask.dtype, rows * width);
  const pos = io.positionIds ? indexArray(io.positionIds.dtype, rows * width) : undefined;
  for (let r = 0; r < rows; r++) {
    const p = prompts[r]!;
    const pad = width - p.length;
    const base = r * width;
    for (let i = 0; i < p.length; i++) put(ids, base + pad + i, p[i]!);
    fill(mask, 1, base + pad, base + width);
    if (pos) {
      fill(pos, 1, base, base + pad);
      for (let i = 0; i < p.length; i++) put(pos, base + pad + i, i);
    }
  }
  const feeds: Record<string, Tensor> = {
    [io.inputIds.name]: new Tensor(io.inputIds.dtype, ids, [rows, width]),
    [io.attentionMask.name]: new Tensor(io.attentionMask.dtype, mask, [rows, width]),
  };
  if (pos) feeds[io.positionIds!.name] = new Tensor(io.positionIds!.dtype, pos, [rows, width]);
  const past = emptyCache(io, rows);
  for (let s = 0; s < io.kv.length; s++) feeds[io.kv[s]!.past] = past.tensors[s]!;
  cacheBranch(io, feeds, false);
  return { feeds, width };
}

/**
 * Feeds of a decode step: one new token per row over `cache` (rows right-aligned, row r holding
 * lens[r] real positions).
 */
export function decodeFeeds(io: DecoderIO, cache: BatchCache, tokens: ArrayLike<number>, lens: ArrayLike<number>): Feeds {
  const rows = cache.rows;
  const total = cache.width + 1;
  const ids = indexArray(io.inputIds.dtype, rows);
  const mask = indexArray(io.attentionMask.dtype, rows * total);
  const pos = io.positionIds ? indexArray(io.positionIds.dtype, rows) : undefined;
  for (let r = 0; r < rows; r++) {
    put(ids, r, tokens[r]!);
    const len = lens[r]!;
    fill(mask, 1, r * total + (cache.width - len), (r + 1) * total);
    if (pos) put(pos, r, len);
  }
  const feeds: Record<string, Tensor> = {
    [io.inputIds.name]: new Tensor(io.inputIds.dtype, ids, [rows, 1]),
    [io.attentionMask.name]: new Tensor(io.attentionMask.dtype, mask, [rows, total]),
  };
  if (pos) feeds[io.positionIds!.name] = new Tensor(io.positionIds!.dtype, pos, [rows, 1]);
  for (let s = 0; s < io.kv.length; s++) feeds[io.kv[s]!.past] = cache.tensors[s]!;
  cacheBranch(io, feeds, true);
  return feeds;
}

let halfTable: Float32Array | undefined;

function float16Table(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  const u = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = (sign ? -1 : 1) * m * 2 ** -24;
    else if (e === 31) u[h] = sign | 0x7f800000 | (m << 13);
    else u[h] = sign | ((e - 15 + 127) << 23) | (m << 13);
  }
  return (halfTable = t);
}

/**
 * The logits of each row's last position as float32: a view when the model gives float32 of
 * one position, else a converted copy of just those rows.
 */
export function lastLogits(io: DecoderIO, out: Outputs, rows: number): { values: Float32Array; vocab: number } {
  const t = out[io.logits.name];
  if (t === undefined) throw new InternalError(`the decoder returned no ${JSON.stringify(io.logits.name)}`);
  const d = t.dims;
  const seq = io.logits.lastOnly ? 1 : d[1]!;
  const vocab = d[d.length - 1]!;
  if (d[0] !== rows || d.length !== (io.logits.lastOnly ? 2 : 3) || vocab < 1) {
    throw new InternalError(`the decoder's ${JSON.stringify(io.logits.name)} is ${formatDims(d)}, expected [${rows}, ..., vocab]`);
  }
  if (t.type === 'float32' && seq === 1) return { values: t.data as Float32Array, vocab };
  const values = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const at = (r * seq + seq - 1) * vocab;
    if (t.type === 'float32') values.set((t.data as Float32Array).subarray(at, at + vocab), r * vocab);
    else if (t.type === 'float16') {
      const table = float16Table();
      const src = t.data as Uint16Array;
      for (let v = 0; v < vocab; v++) values[r * vocab + v] = table[src[at + v]!]!;
    } else {
      const src = t.data as Uint16Array;
      const u = new Uint32Array(values.buffer);
      for (let v = 0; v < vocab; v++) u[r * vocab + v] = src[at + v]! << 16;
    }
  }
  return { values, vocab };
}
