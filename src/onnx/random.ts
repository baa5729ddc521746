/**
 * A small seeded random generator for reproducible weights: xoshiro128** (Blackman and Vigna,
 * 2018; 128-bit state, period 2^128 - 1, 32-bit outputs) seeded through splitmix32, with
 * normal variates by the Box-Muller transform. Same seed, same numbers, on every platform:
 * only 32-bit integer arithmetic (Math.imul, >>>) and IEEE double math are involved.
 *
 * `forStream(seed, label)` derives an independent generator per named tensor, so a tensor's
 * values depend only on the seed and its name, not on how many numbers were drawn before it.
 */

function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/** FNV-1a over the UTF-16 code units of `text`, mixed with `seed`. */
function hash32(seed: number, text: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class Xoshiro128 {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spare: number | undefined;

  constructor(seed: number) {
    let st = seed >>> 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [n, v] = splitmix32(st);
      st = n;
      words.push(v);
    }
    [this.#s0, this.#s1, this.#s2, this.#s3] = words as [number, number, number, number];
    // An all-zero state would stay zero forever.
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** A generator for the stream `label` under `seed`. */
  static forStream(seed: number, label: string): Xoshiro128 {
    return new Xoshiro128(hash32(seed, label));
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const s0 = this.#s0;
    const s1 = this.#s1;
    const s2 = this.#s2;
    const s3 = this.#s3;
    const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    const n2 = (s2 ^ s0) >>> 0;
    const n3 = (s3 ^ s1) >>> 0;
    this.#s1 = (s1 ^ n2) >>> 0;
    this.#s0 = (s0 ^ n3) >>> 0;
    this.#s2 = (n2 ^ t) >>> 0;
    this.#s3 = rotl(n3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** An integer uniform in [lo, hi) (hi - lo at most 2^32). */
  nextInt(lo: number, hi: number): number {
    return lo + Math.floor(this.nextFloat() * (hi - lo));
  }

  /** A standard normal variate (Box-Muller; the second value of each pair is kept for the next call). */
  nextNormal(): number {
    if (this.#spare !== undefined) {
      const v = this.#spare;
      this.#spare = undefined;
      return v;
    }
    // 1 - u keeps the logarithm's argument in (0, 1].
    const u = 1 - this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with N(mean, std^2) values. */
  fillNormal(out: Float32Array, std: number, mean = 0): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.nextNormal();
    return out;
  }
}
