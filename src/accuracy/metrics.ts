/**
 * Error metrics between an output under test (A) and a reference (B), and the pass/fail
 * rule, following Polygraphy's `CompareFunc.simple` (what `polygraphy run --onnxrt --trt`
 * uses) so that numbers and verdicts carry over:
 *
 * - absolute error  abs_i = |a_i - b_i|, computed in float64 (bool outputs: a_i XOR b_i);
 *   NaN when either side is NaN, and NaN for two equal infinities unless
 *   `infinitiesCompareEqual` (then 0).
 * - relative error  rel_i = abs_i / |b_i|, with b_i = 0 replaced by 2.220446049250313e-16
 *   (float64 epsilon), so B is the reference both tolerances are relative to.
 * - checkErrorStat  'elemwise' (default): an element fails when it exceeds BOTH tolerances,
 *   (abs_i > atol or NaN) and (rel_i > rtol or NaN); the output fails if any element fails.
 *   'max' | 'mean' | 'median' | 'quantile': the statistic S of the abs and rel errors fails
 *   when (S_abs > atol or NaN) and (S_rel > rtol or NaN).
 *   Note: this is Polygraphy's "either tolerance suffices" rule, not NumPy's
 *   `|a - b| <= atol + rtol * |b|` (allclose); an element passes with atol OR with rtol.
 * - requiredAtol (with rtol held at its configured value): the smallest atol >= 0 that
 *   passes. elemwise: the largest abs_i among elements whose rel_i > rtol (0 when none);
 *   stat modes: 0 if S_rel <= rtol, else S_abs. requiredRtol is the mirror image with atol
 *   held. A NaN error makes both Infinity: no tolerance passes it.
 *   With rtol = 0, requiredAtol is maxAbsError (Polygraphy's "minimum required tolerance").
 *
 * Statistics (max, mean, median, p90/p95/p99) are taken over the elements whose error is
 * not NaN; `nanErrorCount` says how many were left out (any of them fails the check, as in
 * Polygraphy, where NaN propagates into every statistic).
 */
import { BLOCK, bucketLowerEdge, coarseCounts, errorQuantiles } from './quantile.js';
import { REL_EPSILON, absError, relError, type Numbers } from './elementwise.js';

export { REL_EPSILON, elementErrors, type ErrorOptions } from './elementwise.js';

export type ErrorStat = 'elemwise' | 'max' | 'mean' | 'median' | 'quantile';
export const ERROR_STATS: readonly ErrorStat[] = ['elemwise', 'max', 'mean', 'median', 'quantile'];

/** The tolerance settings that decide one output's verdict. */
export interface OutputTolerance {
  atol: number;
  rtol: number;
  checkErrorStat: ErrorStat;
  /** Quantile for checkErrorStat 'quantile', in [0, 1]. */
  errorQuantile: number;
}

/** Polygraphy's defaults: atol 1e-5, rtol 1e-5, elemwise, quantile 0.99. */
export const DEFAULT_TOLERANCE: Readonly<OutputTolerance> = Object.freeze({
  atol: 1e-5,
  rtol: 1e-5,
  checkErrorStat: 'elemwise',
  errorQuantile: 0.99,
});


export interface ErrorStats {
  max: number;
  mean: number;
  median: number;
  p90: number;
  p95: number;
  p99: number;
  /** The error at `errorQuantile`. */
  quantile: number;
}

/** One histogram of absolute errors: a bin for exact zeros, then log10-spaced bins. */
export interface ErrorHistogram {
  zeroCount: number;
  /** Bin edges (length counts.length + 1), ascending, positive. */
  edges: number[];
  counts: number[];
  /** Errors that were NaN (not in any bin). */
  nanCount: number;
}

export type AnalyzeOptions = import('./elementwise.js').ErrorOptions;

export interface OutputMetrics {
  elementCount: number;
  maxAbsError: number;
  meanAbsError: number;
  medianAbsError: number;
  p90AbsError: number;
  p95AbsError: number;
  p99AbsError: number;
  quantileAbsError: number;
  maxRelError: number;
  meanRelError: number;
  medianRelError: number;
  p90RelError: number;
  p95RelError: number;
  p99RelError: number;
  quantileRelError: number;
  /** dot(a, b) / (|a| |b|) over elements finite on both sides; 1 when both are zero, 0 when one is. */
  cosineSimilarity: number;
  /** |a - b|_2 / |b|_2 over elements finite on both sides (Infinity when |b| = 0 and a != b). */
  relativeL2Error: number;
  /** Positions where A or B is NaN. */
  nanCount: number;
  nanCountA: number;
  nanCountB: number;
  /** Positions where exactly one side is NaN. */
  nanMismatchCount: number;
  /** Positions where A or B is +-Infinity. */
  infCount: number;
  infCountA: number;
  infCountB: number;
  /** Elements whose error is NaN (left out of the statistics; they always fail). */
  nanErrorCount: number;
  absErrorHistogram: ErrorHistogram;
}

export interface Verdict {
  passed: boolean;
  requiredAtol: number;
  requiredRtol: number;
  /** Elements failing the elemwise rule (computed for every mode; it is cheap and telling). */
  mismatchCount: number;
  /** Flat index of the element with the largest absolute error, -1 when none. */
  worstIndex: number;
}

export interface TopKAgreement {
  /** Size of the last axis (the classes). */
  classes: number;
  rows: number;
  k: number;
  /** Fraction of rows whose argmax agrees. */
  top1Agreement: number;
  /** Mean over rows of |topk(A) ∩ topk(B)| / k. */
  topKAgreement: number;
}

export type { Numbers } from './elementwise.js';

export interface Analysis {
  metrics: OutputMetrics;
  verdict: Verdict;
}

/** Float32 rounding of an error and its bits (the quantiles are taken over float32-rounded errors). */
const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

// Slots of the running totals the block kernel carries from block to block.
const S_ABS_KEPT = 0, S_ABS_SUM = 1, S_ABS_MAX = 2, S_ARGMAX = 3, S_FIRST_NAN = 4, S_ZEROS = 5, S_REL_KEPT = 6,
  S_REL_SUM = 7, S_REL_MAX = 8, S_NAN_A = 9, S_NAN_B = 10, S_NAN_EITHER = 11, S_NAN_MISMATCH = 12, S_INF_A = 13,
  S_INF_B = 14, S_INF_EITHER = 15, S_DOT = 16, S_AA = 17, S_BB = 18, S_DD = 19, S_MISMATCHES = 20, S_REQ_ATOL = 21,
  S_REQ_RTOL = 22, S_SLOTS = 23;

/**
 * One block of the single pass over the data. Exact quantities (sums, max, the elemwise
 * verdict, required tolerances) are computed in float64 here; the quantiles are taken over
 * float32-rounded errors (as Polygraphy, which diffs float32 outputs in float32), whose
 * top 16 bits are counted here for the radix select.
 */
function kernel(
  a: Numbers, b: Numbers, from: number, to: number,
  absCounts: Uint32Array, relCounts: Uint32Array, st: Float64Array,
  atol: number, rtol: number, bool: boolean, infEqual: boolean,
): void {
  let absKept = st[S_ABS_KEPT]!, absSum = st[S_ABS_SUM]!, absMax = st[S_ABS_MAX]!, argMax = st[S_ARGMAX]!;
  let zeros = st[S_ZEROS]!, relKept = st[S_REL_KEPT]!, relSum = st[S_REL_SUM]!, relMax = st[S_REL_MAX]!;
  let dot = st[S_DOT]!, aa = st[S_AA]!, bb = st[S_BB]!, dd = st[S_DD]!;
  let mismatches = st[S_MISMATCHES]!, reqAtol = st[S_REQ_ATOL]!, reqRtol = st[S_REQ_RTOL]!;
  for (let i = from; i < to; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const d = absError(x, y, bool, infEqual);
    const r = relError(d, y);
    // Elemwise verdict and required tolerances; NaN fails every comparison.
    const dBad = !(d <= atol);
    const rBad = !(r <= rtol);
    if (dBad && rBad) mismatches++;
    if (rBad) reqAtol = d > reqAtol || d !== d ? (d !== d ? Infinity : d) : reqAtol;
    if (dBad) reqRtol = r > reqRtol || r !== r ? (r !== r ? Infinity : r) : reqRtol;
    if (d === d) {
      absKept++;
      absSum += d;
      if (d > absMax) {
        absMax = d;
        argMax = i;
      }
      if (d === 0) zeros++;
      f32[0] = d;
      absCounts[f32Bits[0]! >>> 16]!++;
    } else if (st[S_FIRST_NAN]! < 0) st[S_FIRST_NAN] = i;
    if (r === r) {
      relKept++;
      relSum += r;
      if (r > relMax) relMax = r;
      f32[0] = r;
      relCounts[f32Bits[0]! >>> 16]!++;
    }
    const p = x * y;
    const q = x - y;
    // Both finite exactly when the product and the difference are (inf - inf and NaN are not).
    if (p - p === 0 && q - q === 0) {
      dot += p;
      aa += x * x;
      bb += y * y;
      dd += q * q;
    } else nonFinite(x, y, st);
  }
  st[S_ABS_KEPT] = absKept; st[S_ABS_SUM] = absSum; st[S_ABS_MAX] = absMax; st[S_ARGMAX] = argMax;
  st[S_ZEROS] = zeros; st[S_REL_KEPT] = relKept; st[S_REL_SUM] = relSum; st[S_REL_MAX] = relMax;
  st[S_DOT] = dot; st[S_AA] = aa; st[S_BB] = bb; st[S_DD] = dd;
  st[S_MISMATCHES] = mismatches; st[S_REQ_ATOL] = reqAtol; st[S_REQ_RTOL] = reqRtol;
}

function nonFinite(x: number, y: number, st: Float64Array): void {
  const xn = x !== x;
  const yn = y !== y;
  const xi = x === Infinity || x === -Infinity;
  const yi = y === Infinity || y === -Infinity;
  // x * y overflowing with both finite is not "non-finite" data: count it in neither.
  if (!(xn || yn || xi || yi)) return;
  if (xn) st[S_NAN_A]!++;
  if (yn) st[S_NAN_B]!++;
  if (xn || yn) st[S_NAN_EITHER]!++;
  if (xn !== yn) st[S_NAN_MISMATCH]!++;
  if (xi) st[S_INF_A]!++;
  if (yi) st[S_INF_B]!++;
  if (xi || yi) st[S_INF_EITHER]!++;
}

/**
 * Metrics and verdict of one output in one pass over the data, plus one pass per error kind
 * for the radix select of the quantiles; no per-element array is allocated. `a` and `b` are
 * the values, same length, read as numbers (a Float32Array is read as is, no copy).
 */
export function analyze(a: Numbers, b: Numbers, tol: OutputTolerance, options: AnalyzeOptions = {}): Analysis {
  const n = a.length;
  if (b.length !== n) throw new RangeError(`analyze: lengths differ (${n} vs ${b.length})`);
  const bool = options.bool === true;
  const infEqual = options.infinitiesCompareEqual === true;
  const { atol, rtol } = tol;
  const absCounts = new Uint32Array(65536);
  const relCounts = new Uint32Array(65536);
  const st = new Float64Array(S_SLOTS);
  st[S_ARGMAX] = n > 0 ? 0 : -1;
  st[S_FIRST_NAN] = -1;
  for (let s = 0; s < n; s += BLOCK) {
    kernel(a, b, s, Math.min(n, s + BLOCK), absCounts, relCounts, st, atol, rtol, bool, infEqual);
  }
  const absKept = st[S_ABS_KEPT]!;
  const relKept = st[S_REL_KEPT]!;
  const qs = [0.5, 0.9, 0.95, 0.99, tol.errorQuantile];
  const eo = { bool, infEqual };
  const [absMedian, absP90, absP95, absP99, absQ] = errorQuantiles(a, b, 'abs', eo, { counts: absCounts, kept: absKept }, qs);
  const [relMedian, relP90, relP95, relP99, relQ] = errorQuantiles(a, b, 'rel', eo, { counts: relCounts, kept: relKept }, qs);
  const aa = st[S_AA]!;
  const bb = st[S_BB]!;
  const dd = st[S_DD]!;
  let cosine: number;
  if (aa === 0 && bb === 0) cosine = 1;
  else if (aa === 0 || bb === 0) cosine = 0;
  else cosine = Math.min(1, Math.max(-1, st[S_DOT]! / Math.sqrt(aa * bb)));
  const nanErrors = n - absKept;
  const metrics: OutputMetrics = {
    elementCount: n,
    maxAbsError: st[S_ABS_MAX]!,
    meanAbsError: absKept === 0 ? 0 : st[S_ABS_SUM]! / absKept,
    medianAbsError: absMedian!,
    p90AbsError: absP90!,
    p95AbsError: absP95!,
    p99AbsError: absP99!,
    quantileAbsError: absQ!,
    maxRelError: st[S_REL_MAX]!,
    meanRelError: relKept === 0 ? 0 : st[S_REL_SUM]! / relKept,
    medianRelError: relMedian!,
    p90RelError: relP90!,
    p95RelError: relP95!,
    p99RelError: relP99!,
    quantileRelError: relQ!,
    cosineSimilarity: cosine,
    relativeL2Error: bb === 0 ? (dd === 0 ? 0 : Infinity) : Math.sqrt(dd / bb),
    nanCount: st[S_NAN_EITHER]!,
    nanCountA: st[S_NAN_A]!,
    nanCountB: st[S_NAN_B]!,
    nanMismatchCount: st[S_NAN_MISMATCH]!,
    infCount: st[S_INF_EITHER]!,
    infCountA: st[S_INF_A]!,
    infCountB: st[S_INF_B]!,
    nanErrorCount: nanErrors,
    absErrorHistogram: histogramFromCounts(absCounts, st[S_ZEROS]!, nanErrors),
  };
  // The worst element: the first NaN error if any (it fails everything), else the largest.
  const worst = st[S_FIRST_NAN]! >= 0 ? st[S_FIRST_NAN]! : st[S_ARGMAX]!;
  const mismatches = st[S_MISMATCHES]!;
  let verdict: Verdict;
  if (tol.checkErrorStat === 'elemwise') {
    verdict = { passed: mismatches === 0, requiredAtol: st[S_REQ_ATOL]!, requiredRtol: st[S_REQ_RTOL]!, mismatchCount: mismatches, worstIndex: worst };
  } else {
    // Polygraphy's statistics propagate NaN, so one NaN error fails every statistic.
    const nan = nanErrors > 0;
    const sAbs = nan ? NaN : statOf(metrics, tol.checkErrorStat, 'Abs');
    const sRel = nan ? NaN : statOf(metrics, tol.checkErrorStat, 'Rel');
    const absBad = !(sAbs <= atol);
    const relBad = !(sRel <= rtol);
    verdict = {
      passed: !(absBad && relBad),
      requiredAtol: relBad ? (sAbs !== sAbs ? Infinity : sAbs) : 0,
      requiredRtol: absBad ? (sRel !== sRel ? Infinity : sRel) : 0,
      mismatchCount: mismatches,
      worstIndex: worst,
    };
  }
  return { metrics, verdict };
}

function statOf(m: OutputMetrics, stat: Exclude<ErrorStat, 'elemwise'>, kind: 'Abs' | 'Rel'): number {
  switch (stat) {
    case 'max':
      return kind === 'Abs' ? m.maxAbsError : m.maxRelError;
    case 'mean':
      return kind === 'Abs' ? m.meanAbsError : m.meanRelError;
    case 'median':
      return kind === 'Abs' ? m.medianAbsError : m.medianRelError;
    case 'quantile':
      return kind === 'Abs' ? m.quantileAbsError : m.quantileRelError;
  }
}

/**
 * Top-1 and top-k agreement along the last axis (for logits-like outputs). NaN scores rank
 * below every number. Returns undefined when the last axis has fewer than 2 entries.
 */
export function topKAgreement(a: ArrayLike<number>, b: ArrayLike<number>, dims: readonly number[], k: number): TopKAgreement | undefined {
  const classes = dims.length === 0 ? 0 : dims[dims.length - 1]!;
  if (classes < 2 || a.length === 0) return undefined;
  const rows = a.length / classes;
  // k stops below the class count: the top-`classes` sets always agree, which says nothing.
  const kk = Math.max(1, Math.min(k, classes - 1));
  let top1 = 0;
  let overlap = 0;
  const ia = new Int32Array(kk);
  const ib = new Int32Array(kk);
  for (let r = 0; r < rows; r++) {
    const off = r * classes;
    topIndices(a, off, classes, ia);
    topIndices(b, off, classes, ib);
    if (ia[0] === ib[0]) top1++;
    let common = 0;
    for (let i = 0; i < kk; i++) {
      for (let j = 0; j < kk; j++) {
        if (ia[i] === ib[j]) {
          common++;
          break;
        }
      }
    }
    overlap += common / kk;
  }
  return { classes, rows, k: kk, top1Agreement: top1 / rows, topKAgreement: overlap / rows };
}

/** Indices of the out.length largest values of v[off..off+len), largest first; ties keep the lower index first. */
function topIndices(v: ArrayLike<number>, off: number, len: number, out: Int32Array): void {
  const k = out.length;
  const vals = new Float64Array(k).fill(-Infinity);
  out.fill(-1);
  let filled = 0;
  for (let c = 0; c < len; c++) {
    let x = v[off + c]!;
    if (x !== x) x = -Infinity;
    if (filled === k && !(x > vals[k - 1]!)) continue;
    let p = filled < k ? filled : k - 1;
    while (p > 0 && x > vals[p - 1]!) {
      vals[p] = vals[p - 1]!;
      out[p] = out[p - 1]!;
      p--;
    }
    // An unfilled slot (-1) is always replaced, even by -Infinity.
    vals[p] = x;
    out[p] = c;
    if (filled < k) filled++;
  }
}

const HISTOGRAM_BINS = 24;

/**
 * Absolute-error histogram: exact zeros apart, the rest in up to `bins` log-spaced bins whose
 * edges are 1/128-octave boundaries (from the radix counts, so it costs no extra pass).
 */
export function histogramFromCounts(counts: Uint32Array, zeroCount: number, nanCount: number, bins = HISTOGRAM_BINS): ErrorHistogram {
  // Bucket 0 holds the zeros and the smallest subnormals; those subnormals go to the first bin.
  const tinyCount = counts[0]! - zeroCount;
  let kmin = tinyCount > 0 ? 0 : -1;
  let kmax = tinyCount > 0 ? 0 : -1;
  for (let k = 1; k < 65536; k++) {
    if (counts[k]! === 0) continue;
    if (kmin < 0) kmin = k;
    kmax = k;
  }
  if (kmin < 0) return { zeroCount, edges: [], counts: [], nanCount };
  const span = kmax - kmin + 1;
  const group = Math.ceil(span / bins);
  const nbins = Math.ceil(span / group);
  const out = new Array<number>(nbins).fill(0);
  for (let k = kmin; k <= kmax; k++) {
    const c = k === 0 ? tinyCount : counts[k]!;
    if (c > 0) out[Math.floor((k - kmin) / group)]! += c;
  }
  const edges = Array.from({ length: nbins + 1 }, (_, j) => {
    const e = bucketLowerEdge(kmin + j * group);
    return e === e ? e : Infinity;
  });
  return { zeroCount, edges, counts: out, nanCount };
}

/** The histogram of an error array (see histogramFromCounts). */
export function histogram(errors: Float32Array, bins = HISTOGRAM_BINS): ErrorHistogram {
  const { counts } = coarseCounts(errors);
  let zeros = 0;
  let nan = 0;
  for (let i = 0; i < errors.length; i++) {
    const e = errors[i]!;
    if (e === 0) zeros++;
    else if (e !== e) nan++;
  }
  return histogramFromCounts(counts, zeros, nan, bins);
}
