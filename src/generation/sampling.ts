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
/** 4 log2(e): quarter-octaves per unit of natural log. */
const QUARTER_OCTAVES_PER_NAT = 4 * Math.LOG2E;

/** A seeded sampler for one request. Scratch buffers grow to the vocabulary once. */
export class TokenSampler {
  readonly #params: SamplingParams;
  readonly #rng: Random;
  #weights = new Float64Array(0);
  #scratch = new Float32Array(0);
  #ids = new Int32Array(0);
  #bucket = new Uint8Array(0);
  #edge = new Int32Array(0);
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
      this.#bucket = new Uint8Array(vocab);
    }
    // The candidates: every token, or with top-k those >= the k-th largest logit (Hugging Face
    // keeps ties with it), listed in id order so every later pass runs over k tokens, not the vocabulary.
    const ids = this.#ids;
    let n = vocab;
    let max = row[offset]!;
    if (topK > 0 && topK < vocab) {
      if (this.#scratch.length < vocab) this.#scratch = new Float32Array(vocab);
      const s = this.#scratch;
      s.set(row.subarray(offset, offset + vocab));
      const threshold = kthLargest(s, vocab, topK);
      n = 0;
      max = -Infinity;
      for (let i = 0; i < vocab; i++) {
        const v = row[offset + i]!;
        if (v >= threshold) {
          ids[n++] = i;
          if (v > max) max = v;
        }
      }
    } else {
      for (let i = 0; i < vocab; i++) {
        ids[i] = i;
        const v = row[offset + i]!;
        if (v > max) max = v;
      }
    }
    if (!Number.isFinite(max)) return argmax(row, offset, vocab);
    // Weights relative to the largest (which is 1). Below e^-40 a weight is taken as 0: all of
    // them together hold under 1e-12 of the mass for any vocabulary up to 250k, and skipping
    // exp() there keeps a peaked distribution cheap.
    const w = this.#weights;
    const inv = 1 / temperature;
    let total = 0;
    const nucleus = topP < 1;
    const bucket = this.#bucket;
    const mass = this.#bucketMass;
    if (nucleus) mass.fill(0);
    for (let j = 0; j < n; j++) {
      const z = (row[offset + ids[j]!]! - max) * inv;
      if (!(z > -40)) {
        w[j] = 0;
        bucket[j] = BUCKETS;
        continue;
      }
      const e = Math.exp(z);
      w[j] = e;
      total += e;
      if (nucleus) {
        // Quarter-octave buckets of the weight: bucket b holds (2^-(b+1)/4, 2^-b/4].
        const b = Math.floor(-z * QUARTER_OCTAVES_PER_NAT);
        const k = b < BUCKETS - 1 ? b : BUCKETS - 1;
        bucket[j] = k;
        mass[k] = mass[k]! + e;
      }
    }
    const u = this.#rng.nextFloat();
    if (!nucleus) return ids[this.#walk(w, n, u * total)]!;
    return this.#drawNucleus(w, n, total, topP, u);
  }

  /** The first candidate where the running sum of weights passes `target`. */
  #walk(w: Float64Array, n: number, target: number): number {
    let acc = 0;
    let last = 0;
    for (let j = 0; j < n; j++) {
      const x = w[j]!;
      if (x === 0) continue;
      acc += x;
      last = j;
      if (acc > target) return j;
    }
    return last;
  }

  /** Samples within the nucleus: the most likely tokens whose mass before each is < topP (Hugging Face's rule). */
  #drawNucleus(w: Float64Array, n: number, total: number, topP: number, u: number): number {
    const ids = this.#ids;
    const bucket = this.#bucket;
    const mass = this.#bucketMass;
    const want = topP * total;
    let above = 0;
    let edge = 0;
    for (; edge < BUCKETS - 1; edge++) {
      if (above + mass[edge]! >= want) break;
      above += mass[edge]!;
    }
    // Tokens above the edge bucket are all in the nucleus; the edge bucket is cut in order of
    // weight (ties by id).
    if (this.#edge.length < n) this.#edge = new Int32Array(Math.max(n, 64));
    let m = 0;
    for (let j = 0; j < n; j++) if (bucket[j] === edge) this.#edge[m++] = j;
    const edgeJs = this.#edge.subarray(0, m);
    edgeJs.sort((a, b) => w[b]! - w[a]! || a - b);
    let kept = above;
    let cut = 0;
    while (cut < m && kept < want) kept += w[edgeJs[cut++]!]!;
    const target = u * kept;
    let acc = 0;
    let last = edgeJs[0] ?? 0;
    for (let j = 0; j < n; j++) {
      if (bucket[j]! < edge) {
        acc += w[j]!;
        last = j;
        if (acc > target) return ids[j]!;
      }
    }
    for (let c = 0; c < cut; c++) {
      const j = edgeJs[c]!;
      acc += w[j]!;
      last = j;
      if (acc > target) return ids[j]!;
    }
    return ids[last]!;
  }
}
