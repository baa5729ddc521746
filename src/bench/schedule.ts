/**
 * Arrival schedules for open-loop load, as perf_analyzer's --request-distribution: 'poisson'
 * (exponential gaps with mean 1/rate; what independent clients produce) and 'constant'
 * (gaps of exactly 1/rate). Schedules are drawn up front from a seeded generator, so a run
 * offers the same arrivals to every backend and configuration it compares.
 */
import { InvalidArgumentError } from '../errors.js';
import { Random } from '../random.js';

export type ArrivalDistribution = 'poisson' | 'constant';

/**
 * Arrival times in ms from the start, ascending, of every request that arrives before
 * `durationMs` at `rate` requests per second.
 */
export function arrivalSchedule(rate: number, durationMs: number, distribution: ArrivalDistribution, seed: number): Float64Array {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new InvalidArgumentError(`rate must be a finite number of requests/s > 0, got ${rate}`);
  if (!(durationMs >= 0) || !Number.isFinite(durationMs)) throw new InvalidArgumentError(`durationMs must be a finite number >= 0, got ${durationMs}`);
  const meanGap = 1000 / rate;
  const expected = Math.ceil((durationMs / meanGap) * 1.2) + 16;
  let out = new Float64Array(expected);
  let n = 0;
  const rng = Random.forStream(seed, 'bench arrivals');
  let t = 0;
  for (;;) {
    // 1 - u is in (0, 1], so the log is finite.
    t += distribution === 'poisson' ? -Math.log(1 - rng.nextFloat()) * meanGap : meanGap;
    if (t >= durationMs) break;
    if (n === out.length) {
      const grown = new Float64Array(out.length * 2);
      grown.set(out);
      out = grown;
    }
    out[n++] = t;
  }
  return out.slice(0, n);
}
