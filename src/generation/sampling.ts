/**
 * Choosing the next token from one row of logits: greedy (argmax, ties to the lowest id) or
 * sampling with temperature, top-k and top-p in Hugging Face's order (temperature, then top-k,
 * then top-p over what is left), from a per-request seeded generator that draws exactly one
 * number per sampled token, so a request's samples do not depend on what it was batched with.
 *
 * Top-p needs the most likely tokens in order only up to the nucleus' edge: probabilities are
 * bucketed by quarter-octave (one pass), the buckets walked from the top until the mass reaches
 * p, and only the edge bucket is sorted. That keeps a 50k-token vocabulary at a few passes
 * instead of a full sort per token.
 */
import { Random } from '../random.js';

export interface SamplingParams {
  /** 0: greedy. */
  readonly temperature: number;
  /** 0: off. */
  readonly topK: number;
  /** 1: off. */
  readonly topP: number;
}

/** The id of the largest value in `row[offset .. offset + vocab)`; ties go to the lowest id. */
export function argmax(row: Float32Array, offset: number, vocab: number): number {
  let best = 0;
  let bestValue = -Infinity;
  const end = offset + vocab;
  for (let i = offset; i < end; i++) {
    const v = row[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i - offset;
    }
  }
  return best;
}

/** The k-th largest value of `values` (1-based k); reorders the scratch array it is given. */
function kthLargest(scratch: Float32Array, n: number, k: number): number {
  // Quickselect for the (n - k)-th smallest, in place.
  let lo = 0;
  let hi = n - 1;
  const target = n - k;
  while (lo < hi) {
    const pivot = scratch[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (scratch[i]! < pivot) i++;
      while (scratch[j]! > pivot) j--;
      if (i <= j) {
        const t = scratch[i]!;
        scratch[i] = scratch[j]!;
        scratch[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return scratch[target]!;
}

const BUCKETS = 128;

/** A seeded sampler for one request. Scratch buffers grow to the vocabulary once. */
export class TokenSampler {
  readonly #params: SamplingParams;
  readonly #rng: Random;
  #weights = new Float64Array(0);
  #scratch = new Float32Array(0);
  #ids = new Int32Array(0);
  #bucket = new Uint8Array(0);
  readonly #bucketMass = new Float64Array(BUCKETS);

  constructor(params: SamplingParams, seed: number) {
    this.#params = params;
    this.#rng = new Random(seed);
  }

  get greedy(): boolean {
    return this.#params.temperature === 0;
  }

  /** The next token from `row[offset .. offset + vocab)`. */
  next(row: Float32Array, offset: number, vocab: number): number {
    const { temperature, topK, topP } = this.#params;
    if (temperature === 0) return argmax(row, offset, vocab);
    if (this.#weights.length < vocab) {
      this.#weights = new Float64Array(vocab);
      this.#ids = new Int32Array(vocab);
    }
    const w = this.#weights;
    let threshold = -Infinity;
    if (topK > 0 && topK < vocab) {
      if (this.#scratch.length < vocab) this.#scratch = new Float32Array(vocab);
      const s = this.#scratch;
      s.set(row.subarray(offset, offset + vocab));
      // Hugging Face keeps every token tied with the k-th largest.
      threshold = kthLargest(s, vocab, topK);
    }
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) {
      const v = row[offset + i]!;
      if (v >= threshold && v > max) max = v;
    }
    if (max === -Infinity || Number.isNaN(max)) return argmax(row, offset, vocab);
    let total = 0;
    const inv = 1 / temperature;
    for (let i = 0; i < vocab; i++) {
      const v = row[offset + i]!;
      const e = v >= threshold ? Math.exp((v - max) * inv) : 0;
      w[i] = e;
      total += e;
    }
    const u = this.#rng.nextFloat();
    if (topP >= 1) return this.#draw(w, vocab, u * total);
    return this.#drawNucleus(w, vocab, total, topP, u);
  }

  #draw(w: Float64Array, vocab: number, target: number): number {
    let acc = 0;
    let last = 0;
    for (let i = 0; i < vocab; i++) {
      const x = w[i]!;
      if (x === 0) continue;
      acc += x;
      last = i;
      if (acc > target) return i;
    }
    return last;
  }

  /** Samples within the nucleus: the most likely tokens whose mass before each is < topP (Hugging Face's rule). */
  #drawNucleus(w: Float64Array, vocab: number, total: number, topP: number, u: number): number {
    const mass = this.#bucketMass;
    mass.fill(0);
    if (this.#bucket.length < vocab) this.#bucket = new Uint8Array(vocab);
    const bucket = this.#bucket;
    // Bucket b holds weights in (2^-(b+1)/4, 2^-b/4] of the largest weight (which is 1).
    for (let i = 0; i < vocab; i++) {
      const x = w[i]!;
      if (x === 0) {
        bucket[i] = BUCKETS;
        continue;
      }
      const b = Math.floor(-Math.log2(x) * 4);
      const k = b < BUCKETS - 1 ? b : BUCKETS - 1;
      bucket[i] = k;
      mass[k] = mass[k]! + x;
    }
    const want = topP * total;
    let above = 0;
    let edge = 0;
    for (; edge < BUCKETS - 1; edge++) {
      if (above + mass[edge]! >= want) break;
      above += mass[edge]!;
    }
    // Tokens above the edge bucket are all in the nucleus; the edge bucket is cut in order.
    const ids = this.#ids;
    let m = 0;
    for (let i = 0; i < vocab; i++) if (bucket[i] === edge) ids[m++] = i;
    const edgeIds = ids.subarray(0, m);
    edgeIds.sort((a, b) => w[b]! - w[a]! || a - b);
    let kept = above;
    let cut = 0;
    while (cut < m && kept < want) kept += w[edgeIds[cut++]!]!;
    const target = u * kept;
    let acc = 0;
    let last = edgeIds[0] ?? 0;
    for (let i = 0; i < vocab; i++) {
      if (bucket[i]! < edge) {
        acc += w[i]!;
        last = i;
        if (acc > target) return i;
      }
    }
    for (let j = 0; j < cut; j++) {
      const i = edgeIds[j]!;
      acc += w[i]!;
      last = i;
      if (acc > target) return i;
    }
    return last;
  }
}
