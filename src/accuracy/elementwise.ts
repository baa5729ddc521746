/**
 * The element-wise errors, in one place so the metrics pass and the quantile selection
 * compute exactly the same numbers (Polygraphy's definitions; see metrics.ts).
 */

/** float64 machine epsilon, Polygraphy's stand-in for a zero reference value. */
export const REL_EPSILON = 2.220446049250313e-16;

export type Numbers = ArrayLike<number>;

/** |x - y| (bool data: x XOR y); equal infinities give 0 with `infEqual`, else NaN. */
export function absError(x: number, y: number, bool: boolean, infEqual: boolean): number {
  const d = bool ? ((x !== 0) !== (y !== 0) ? 1 : 0) : Math.abs(x - y);
  return infEqual && x === y && d !== 0 ? 0 : d;
}

/** The absolute error `d` relative to the reference value `y` (0 replaced by REL_EPSILON). */
export function relError(d: number, y: number): number {
  return d / (y === 0 ? REL_EPSILON : Math.abs(y));
}

export interface ErrorOptions {
  /** Bool data: the error is a XOR b. */
  bool?: boolean;
  /** Equal infinities on both sides have error 0 (otherwise NaN, as inf - inf is). */
  infinitiesCompareEqual?: boolean;
}

/** Every element's absolute and relative error, as float64 (for inspection; the metrics do not store them). */
export function elementErrors(a: Numbers, b: Numbers, options: ErrorOptions = {}): { abs: Float64Array; rel: Float64Array } {
  const n = a.length;
  const abs = new Float64Array(n);
  const rel = new Float64Array(n);
  const bool = options.bool === true;
  const infEqual = options.infinitiesCompareEqual === true;
  for (let i = 0; i < n; i++) {
    const d = absError(a[i]!, b[i]!, bool, infEqual);
    abs[i] = d;
    rel[i] = relError(d, b[i]!);
  }
  return { abs, rel };
}
