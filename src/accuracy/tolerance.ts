/**
 * Per-output settings in Polygraphy's shape: a value for every output, or a map from output
 * name to value where the key "" is the default for outputs not listed. On the command line
 * they are written as Polygraphy writes them: `--atol 1e-3 logits:1e-2` (a bare value is the
 * default; `name:value` splits at the LAST colon, so names like "Identity:0" work).
 */
import { z } from 'zod';
import { InvalidArgumentError, describe } from '../errors.js';
import { DEFAULT_TOLERANCE, ERROR_STATS, type ErrorStat, type OutputTolerance } from './metrics.js';

export type PerOutput<T> = T | Readonly<Record<string, T>>;

export interface ToleranceOptions {
  atol?: PerOutput<number>;
  rtol?: PerOutput<number>;
  checkErrorStat?: PerOutput<ErrorStat>;
  errorQuantile?: PerOutput<number>;
}

function pick<T>(value: PerOutput<T> | undefined, name: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'object' || value === null) return value as T;
  const map = value as Readonly<Record<string, T>>;
  if (Object.prototype.hasOwnProperty.call(map, name)) return map[name]!;
  if (Object.prototype.hasOwnProperty.call(map, '')) return map['']!;
  return fallback;
}

/** The tolerance that applies to output `name`. */
export function toleranceFor(options: ToleranceOptions, name: string): OutputTolerance {
  return {
    atol: pick(options.atol, name, DEFAULT_TOLERANCE.atol),
    rtol: pick(options.rtol, name, DEFAULT_TOLERANCE.rtol),
    checkErrorStat: pick(options.checkErrorStat, name, DEFAULT_TOLERANCE.checkErrorStat),
    errorQuantile: pick(options.errorQuantile, name, DEFAULT_TOLERANCE.errorQuantile),
  };
}

/** Names used as per-output keys that no output has; Polygraphy warns about these. */
export function unknownToleranceKeys(options: ToleranceOptions, outputs: readonly string[]): string[] {
  const known = new Set(outputs);
  const bad = new Set<string>();
  for (const v of [options.atol, options.rtol, options.checkErrorStat, options.errorQuantile]) {
    if (v !== null && typeof v === 'object') {
      for (const k of Object.keys(v)) if (k !== '' && !known.has(k)) bad.add(k);
    }
  }
  return [...bad];
}

/**
 * Parses CLI words like ["1e-3", "logits:1e-2"] into a per-output value: a single bare word
 * gives a plain value, anything else a map with "" as the default key.
 */
export function parseNamedValues<T>(
  words: readonly string[],
  option: string,
  parse: (text: string) => T | undefined,
  expected: string,
): PerOutput<T> | undefined {
  if (words.length === 0) return undefined;
  const map: Record<string, T> = {};
  for (const word of words) {
    const colon = word.lastIndexOf(':');
    const name = colon < 0 ? '' : word.slice(0, colon);
    const text = colon < 0 ? word : word.slice(colon + 1);
    const value = parse(text);
    if (value === undefined) {
      throw new InvalidArgumentError(`${option} ${JSON.stringify(word)}: expected ${expected} or NAME:${expected}, got ${describe(text)}`);
    }
    if (Object.prototype.hasOwnProperty.call(map, name)) {
      throw new InvalidArgumentError(`${option} gives ${name === '' ? 'the default' : `output ${JSON.stringify(name)}`} twice`);
    }
    map[name] = value;
  }
  const keys = Object.keys(map);
  return keys.length === 1 && keys[0] === '' ? map['']! : map;
}

export function parseNonNegative(text: string): number | undefined {
  if (!/^[+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text.trim())) return undefined;
  const v = Number(text);
  return Number.isFinite(v) && v >= 0 ? v : undefined;
}

export function parseQuantile(text: string): number | undefined {
  const v = parseNonNegative(text);
  return v !== undefined && v <= 1 ? v : undefined;
}

export function parseErrorStat(text: string): ErrorStat | undefined {
  return (ERROR_STATS as readonly string[]).includes(text) ? (text as ErrorStat) : undefined;
}

const finiteNonNeg = z
  .number()
  .min(0)
  .refine((v) => Number.isFinite(v), 'must be finite');
const perOutput = <T extends z.ZodType>(t: T) => z.union([t, z.record(z.string(), t)]);

/** The tolerance options compare() and bisect() share: one value, or one per output name. */
export const TOLERANCE_OPTION_FIELDS = {
  atol: perOutput(finiteNonNeg).optional(),
  rtol: perOutput(finiteNonNeg).optional(),
  checkErrorStat: perOutput(z.enum(ERROR_STATS as [ErrorStat, ...ErrorStat[]])).optional(),
  errorQuantile: perOutput(z.number().min(0).max(1)).optional(),
  /**
   * Equal infinities on both sides (+inf with +inf, -inf with -inf) count as error 0, as with
   * Polygraphy's --infinities-compare-equal. Default true: a -inf that both models hold (an
   * attention-mask bias, a Constant of -inf) is agreement, not a divergence. false gives
   * Polygraphy's default, where equal infinities make a NaN error that fails the output.
   * NaN follows Polygraphy either way: a NaN on either side is an error, also NaN against NaN.
   */
  infinitiesCompareEqual: z.boolean().default(true),
};
