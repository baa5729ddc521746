/**
 * Exact order statistics of non-negative float32 error arrays without sorting them.
 *
 * A 10M-element array sorts in about a second in V8, and even an in-place quickselect per
 * quantile costs ~50 ms. Non-negative floats order like their bit patterns read as unsigned
 * integers, so a radix select does it in two linear passes: count the top 16 bits (sign,
 * exponent and 7 mantissa bits) of every element, find the buckets holding the wanted
 * ranks, gather only those buckets and finish inside them on the low 16 bits. The counts
 * double as a 1/128-octave histogram.
 *
 * Quantiles use linear interpolation between order statistics, NumPy's default method
 * (`np.quantile(x, q)`, `np.median`), so the numbers match what Polygraphy prints.
 *
 * The gather step can skip its pass: analyze()'s float32 path guesses the wanted buckets
 * from a small sample before its one pass (candidateRanges), keeps the elements of those
 * buckets as it counts, and finishes from them (quantilesFromCounts); only a wrong guess
 * costs the pass.
 *
 * Long loops run in blocks through small functions: V8 optimizes a function called many
 * times far better than one long loop it has to replace on the stack mid-run (OSR), which
 * measured 3-5x slower on the first call.
 */

import { absError, relError, type Numbers } from './elementwise.js';

export const BLOCK = 65536;

/** Float32 rounding and bit access without allocating. */
const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** Counts of the top 16 bits of every non-NaN element, and how many were not NaN. */
export interface CoarseCounts {
  counts: Uint32Array;
  kept: number;
}

function countBlock(words: Uint32Array, values: Float32Array, from: number, to: number, counts: Uint32Array): number {
  let kept = 0;
  for (let i = from; i < to; i++) {
    const v = values[i]!;
    if (v !== v) continue;
    counts[words[i]! >>> 16]!++;
    kept++;
  }
  return kept;
}

/** The 65536 top-16-bit counts of `values` (non-negative or NaN), NaN skipped. */
export function coarseCounts(values: Float32Array): CoarseCounts {
  const counts = new Uint32Array(65536);
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let kept = 0;
  for (let s = 0; s < values.length; s += BLOCK) kept += countBlock(words, values, s, Math.min(values.length, s + BLOCK), counts);
  return { counts, kept };
}

function gatherStoredBlock(
  words: Uint32Array,
  values: Float32Array,
  from: number,
  to: number,
  slot: Int32Array,
  parts: Float32Array[],
  fill: Uint32Array,
): void {
  for (let i = from; i < to; i++) {
    const v = values[i]!;
    if (v !== v) continue;
    const s = slot[words[i]! >>> 16]!;
    if (s >= 0) parts[s]![fill[s]!++] = v;
  }
}

// The generic path's gather passes recompute each element's error (as its metrics pass
// did) instead of reading a stored copy: two 40 MB arrays per 10M-element output cost more
// to allocate and fault in than the arithmetic does.
function gatherAbsBlock(
  a: Numbers,
  b: Numbers,
  from: number,
  to: number,
  slot: Int32Array,
  parts: Float32Array[],
  fill: Uint32Array,
  bool: boolean,
  infEqual: boolean,
): void {
  for (let i = from; i < to; i++) {
    scratch[0] = absError(a[i]!, b[i]!, bool, infEqual);
    const v = scratch[0]!;
    if (v !== v) continue;
    const s = slot[scratchBits[0]! >>> 16]!;
    if (s >= 0) parts[s]![fill[s]!++] = v;
  }
}

function gatherRelBlock(
  a: Numbers,
  b: Numbers,
  from: number,
  to: number,
  slot: Int32Array,
  parts: Float32Array[],
  fill: Uint32Array,
  bool: boolean,
  infEqual: boolean,
): void {
  for (let i = from; i < to; i++) {
    const y = b[i]!;
    scratch[0] = relError(absError(a[i]!, y, bool, infEqual), y);
    const v = scratch[0]!;
    if (v !== v) continue;
    const s = slot[scratchBits[0]! >>> 16]!;
    if (s >= 0) parts[s]![fill[s]!++] = v;
  }
}

type Gather = (slot: Int32Array, parts: Float32Array[], fill: Uint32Array) => void;

/** Values of the given 0-based ranks (ascending order of the non-NaN elements). */
function selectRanks(counts: Uint32Array, ranks: readonly number[], gather: Gather): Map<number, number> {
  const sorted = [...new Set(ranks)].sort((x, y) => x - y);
  // bucket -> [rank inside the bucket, global rank]
  const wanted = new Map<number, [number, number][]>();
  let bucket = 0;
  let before = 0;
  for (const r of sorted) {
    while (bucket < 65536 && before + counts[bucket]! <= r) {
      before += counts[bucket]!;
      bucket++;
    }
    let list = wanted.get(bucket);
    if (list === undefined) wanted.set(bucket, (list = []));
    list.push([r - before, r]);
  }
  const slot = new Int32Array(65536).fill(-1);
  const buckets = [...wanted.keys()];
  const parts = buckets.map((b, i) => {
    slot[b] = i;
    return new Float32Array(counts[b]!);
  });
  const fill = new Uint32Array(buckets.length);
  gather(slot, parts, fill);
  const out = new Map<number, number>();
  buckets.forEach((b, i) => {
    const part = parts[i]!;
    if (part.length <= 4096) {
      part.sort();
      for (const [inside, r] of wanted.get(b)!) out.set(r, part[inside]!);
      return;
    }
    // Second and last digit: the low 16 bits, counted within the bucket.
    const low = new Uint32Array(65536);
    const w = new Uint32Array(part.buffer, 0, part.length);
    for (let j = 0; j < part.length; j++) low[w[j]! & 0xffff]!++;
    for (const [inside, r] of wanted.get(b)!) {
      let k = 0;
      let seen = 0;
      while (seen + low[k]! <= inside) seen += low[k++]!;
      out.set(r, valueOfBits(((b << 16) | k) >>> 0));
    }
  });
  return out;
}

function valueOfBits(bits: number): number {
  scratchBits[0] = bits;
  return scratch[0]!;
}

function interpolate(n: number, qs: readonly number[], select: (ranks: number[]) => Map<number, number>): number[] {
  if (n === 0) return qs.map(() => 0);
  const ranks: number[] = [];
  for (const q of qs) {
    const pos = q * (n - 1);
    const lo = Math.floor(pos);
    ranks.push(lo);
    if (lo + 1 < n && pos > lo) ranks.push(lo + 1);
  }
  const stat = select(ranks);
  return qs.map((q) => {
    const pos = q * (n - 1);
    const lo = Math.floor(pos);
    const a = stat.get(lo)!;
    if (pos === lo || lo + 1 >= n) return a;
    const b = stat.get(lo + 1)!;
    return a + (b - a) * (pos - lo);
  });
}

/**
 * Quantiles `qs` (each in [0, 1]) of the non-NaN elements of `values` (non-negative or
 * NaN). `coarse` is coarseCounts(values) when already computed. Returns 0 for every quantile
 * when no element is left (Polygraphy's zero-on-empty rule).
 */
export function quantiles(values: Float32Array, qs: readonly number[], coarse: CoarseCounts = coarseCounts(values)): number[] {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return interpolate(coarse.kept, qs, (ranks) =>
    selectRanks(coarse.counts, ranks, (slot, parts, fill) => {
      for (let s = 0; s < values.length; s += BLOCK) gatherStoredBlock(words, values, s, Math.min(values.length, s + BLOCK), slot, parts, fill);
    }),
  );
}

/**
 * Quantiles of the element errors of `a` against `b` (float32-rounded), given the top-16-bit
 * counts of those rounded errors: `kind` 'abs' for absError, 'rel' for relError.
 */
export function errorQuantiles(
  a: Numbers,
  b: Numbers,
  kind: 'abs' | 'rel',
  options: { bool: boolean; infEqual: boolean },
  coarse: CoarseCounts,
  qs: readonly number[],
): number[] {
  const n = a.length;
  const { bool, infEqual } = options;
  return interpolate(coarse.kept, qs, (ranks) =>
    selectRanks(coarse.counts, ranks, (slot, parts, fill) => {
      for (let s = 0; s < n; s += BLOCK) {
        if (kind === 'abs') gatherAbsBlock(a, b, s, Math.min(n, s + BLOCK), slot, parts, fill, bool, infEqual);
        else gatherRelBlock(a, b, s, Math.min(n, s + BLOCK), slot, parts, fill, bool, infEqual);
      }
    }),
  );
}

/** The smallest float whose top 16 bits are `key` (a bucket's lower edge). */
export function bucketLowerEdge(key: number): number {
  return valueOfBits((key << 16) >>> 0);
}

/**
 * Fills the wanted buckets' parts with the bit patterns of their elements. `buckets[i]` is the
 * bucket of `parts[i]` (`slot[bucket] === i`, -1 for every other bucket); `fill[i]` counts
 * what was written.
 */
export type GatherBits = (buckets: readonly number[], slot: Int32Array, parts: Uint32Array[], fill: Uint32Array) => void;

/**
 * Quantiles `qs` of non-negative float32 values (NaN left out) known by the top-16-bit
 * counts of their bit patterns (`kept` = their sum) and by `zeroCount`, how many are exactly
 * 0: ranks that fall among the zeros need no gathering, so all-zero errors (identical
 * outputs) cost nothing here. `gather` supplies the elements of the other wanted buckets.
 * Same numbers as `quantiles()` over the values.
 */
export function quantilesFromCounts(counts: Uint32Array, kept: number, zeroCount: number, qs: readonly number[], gather: GatherBits): number[] {
  return interpolate(kept, qs, (ranks) => selectRanksBits(counts, zeroCount, ranks, gather));
}

function selectRanksBits(counts: Uint32Array, zeroCount: number, ranks: readonly number[], gather: GatherBits): Map<number, number> {
  const sorted = [...new Set(ranks)].sort((x, y) => x - y);
  const out = new Map<number, number>();
  const wanted = new Map<number, [number, number][]>();
  let bucket = 0;
  let before = 0;
  for (const r of sorted) {
    while (bucket < 65536 && before + counts[bucket]! <= r) {
      before += counts[bucket]!;
      bucket++;
    }
    // Bucket 0 starts with the exact zeros (bit pattern 0 sorts first).
    if (bucket === 0 && r < zeroCount) {
      out.set(r, 0);
      continue;
    }
    let list = wanted.get(bucket);
    if (list === undefined) wanted.set(bucket, (list = []));
    list.push([r - before, r]);
  }
  if (wanted.size === 0) return out;
  const buckets = [...wanted.keys()];
  const slot = new Int32Array(65536).fill(-1);
  const parts = buckets.map((b, i) => {
    slot[b] = i;
    return new Uint32Array(counts[b]!);
  });
  const fill = new Uint32Array(buckets.length);
  gather(buckets, slot, parts, fill);
  buckets.forEach((b, i) => {
    const part = parts[i]!;
    if (fill[i] !== part.length) throw new Error(`quantile selection: bucket ${b} gathered ${fill[i]} of ${part.length} elements`);
    if (part.length <= 4096) {
      // Same top 16 bits and non-negative: the bit patterns sort like the values.
      part.sort();
      for (const [inside, r] of wanted.get(b)!) out.set(r, valueOfBits(part[inside]!));
      return;
    }
    const low = new Uint32Array(65536);
    for (let j = 0; j < part.length; j++) low[part[j]! & 0xffff]!++;
    for (const [inside, r] of wanted.get(b)!) {
      let k = 0;
      let seen = 0;
      while (seen + low[k]! <= inside) seen += low[k++]!;
      out.set(r, valueOfBits(((b << 16) | k) >>> 0));
    }
  });
  return out;
}

/** The largest bucket a non-NaN float32 can fall in (+Infinity's). */
export const MAX_BUCKET = 0x7f80;

/**
 * Bucket ranges [lo, hi] that very likely hold the elements at quantiles `qs`, judged from
 * the top-16-bit counts of a sample (`sample[offset + k]`, NaN buckets above MAX_BUCKET
 * ignored) taken in runs of `run` neighbouring elements. The window around each quantile
 * reaches 4.5 standard errors to each side, counting a run as one draw (neighbours may be
 * alike), so a miss is rare; a miss costs a pass, never a wrong number (the caller checks
 * that every wanted bucket lies in a range). Bucket 0 is left out when the sample's only
 * members there are exact zeros, as ranks among the zeros need no gathering. Returns
 * undefined when the sample is too small to say, else the merged ranges and the fraction of
 * the sample inside them.
 */
export function candidateRanges(
  sample: Int32Array,
  offset: number,
  sampleZeros: number,
  qs: readonly number[],
  run: number,
): { ranges: [number, number][]; fraction: number } | undefined {
  let m = 0;
  for (let k = 0; k <= MAX_BUCKET; k++) m += sample[offset + k]!;
  if (m < 1024) return undefined;
  const bucketOfRank = (t: number): number => {
    let k = 0;
    let seen = sample[offset]!;
    while (seen <= t) seen += sample[offset + ++k]!;
    return k;
  };
  const draws = m / run;
  const raw: [number, number][] = [];
  for (const q of qs) {
    const delta = 4.5 * Math.sqrt((q * (1 - q)) / draws) + 4 / draws;
    const tlo = Math.floor((q - delta) * (m - 1));
    const thi = Math.ceil((q + delta) * (m - 1));
    const lo = tlo <= 0 ? 0 : bucketOfRank(tlo);
    const hi = thi >= m - 1 ? MAX_BUCKET : bucketOfRank(thi);
    raw.push([lo === 0 && sample[offset]! === sampleZeros ? 1 : lo, hi]);
  }
  raw.sort((x, y) => x[0] - y[0]);
  const ranges: [number, number][] = [];
  for (const [lo, hi] of raw) {
    if (lo > hi) continue;
    const last = ranges[ranges.length - 1];
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else ranges.push([lo, hi]);
  }
  let inside = 0;
  for (const [lo, hi] of ranges) for (let k = lo; k <= hi; k++) inside += sample[offset + k]!;
  return { ranges, fraction: inside / m };
}
