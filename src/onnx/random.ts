/**
 * The seeded generator's former name and place: src/demo.ts (and older scripts) import
 * `Xoshiro128` from here. It is src/random.ts's `Random`, with the same nextInt(lo, hi)
 * (hi excluded) and the same weights; import `Random` from there in new code.
 */
export { Random as Xoshiro128 } from '../random.js';
