/**
 * The library's one seeded generator: xoshiro128** (Blackman and Vigna, 2018; 128-bit state,
 * period 2^128 - 1, 32-bit outputs) seeded through splitmix32. Same seed, same numbers on
 * every platform and Node version: only 32-bit integer arithmetic (Math.imul, >>>) and IEEE
 * double math are involved. Math.random cannot be seeded.
 *
 * Seedings:
 * - `new Random(seed)`: a plain seed (seeds past 2^32 fold their high bits in). Generated
 *   inputs use seed + iteration, as Polygraphy's data loader does.
 * - `Random.forStream(seed, name)`: a named stream, independent of every other name under the
 *   same seed, so e.g. a weight's values depend only on the seed and the weight's name, not on
 *   how many numbers were drawn before it. Use a name per purpose instead of seed offsets.
 *
 * The numbers stay what they were before the two generators of the accuracy harness and the
 * ONNX layer were merged: both had this state and nextUint32. The harness's nextFloat (53
 * bits) is nextFloat; the encoder's normal variates keep drawing 32-bit uniforms, so the
 * embedded encoder's weights are bit for bit the same.
 */

function splitmix32(state: number): [next: number, value: number] {
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

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Random {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spare: number | undefined;

  constructor(seed: number) {
    let st = ((seed >>> 0) ^ (Math.floor(seed / 2 ** 32) >>> 0)) >>> 0;
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

  /** The generator of stream `name` under `seed`. */
  static forStream(seed: number, name: string): Random {
    return new Random(hash32(seed, name));
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s0 = this.#s0;
    const s1 = this.#s1;
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    const n2 = (this.#s2 ^ s0) >>> 0;
    const n3 = (this.#s3 ^ s1) >>> 0;
    this.#s1 = (s1 ^ n2) >>> 0;
    this.#s0 = (s0 ^ n3) >>> 0;
    this.#s2 = (n2 ^ t) >>> 0;
    this.#s3 = rotl(n3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits (two draws). */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [lo, hi): hi itself is never drawn, as with Python's randrange. */
  nextInt(lo: number, hi: number): number {
    return lo + Math.floor(this.nextFloat() * (hi - lo));
  }

  /** A standard normal variate (Box-Muller over 32-bit uniforms; the pair's second value is kept for the next call). */
  nextNormal(): number {
    if (this.#spare !== undefined) {
      const v = this.#spare;
      this.#spare = undefined;
      return v;
    }
    // 1 - u keeps the logarithm's argument in (0, 1].
    const u = 1 - this.nextUint32() / 4294967296;
    const v = this.nextUint32() / 4294967296;
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
