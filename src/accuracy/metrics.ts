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
 * Polygraphy, where NaN propagates into every statistic). Max, mean, the verdict and the
 * required tolerances use the float64 errors; the quantiles are exact order statistics of
 * the errors rounded to float32 (as Polygraphy, which diffs float32 outputs in float32),
 * with NumPy's linear interpolation (quantile.ts).
 *
 * Two implementations: a fast path for two Float32Array outputs (the common case) and the
 * generic path (analyzeGeneric) for everything else. They give the same numbers, bit for bit
 * (test/unit/accuracy/metrics-fastpath.test.ts); scripts/bench-metrics.ts times both.
 */
import { BLOCK, MAX_BUCKET, bucketLowerEdge, candidateRanges, coarseCounts, errorQuantiles, quantilesFromCounts, type GatherBits } from './quantile.js';
import { absError, relError, type Numbers } from './elementwise.js';

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
const S_ABS_KEPT = 0,
  S_ABS_SUM = 1,
  S_ABS_MAX = 2,
  S_ARGMAX = 3,
  S_FIRST_NAN = 4,
  S_ZEROS = 5,
  S_REL_KEPT = 6,
  S_REL_SUM = 7,
  S_REL_MAX = 8,
  S_NAN_A = 9,
  S_NAN_B = 10,
  S_NAN_EITHER = 11,
  S_NAN_MISMATCH = 12,
  S_INF_A = 13,
  S_INF_B = 14,
  S_INF_EITHER = 15,
  S_DOT = 16,
  S_AA = 17,
  S_BB = 18,
  S_DD = 19,
  S_MISMATCHES = 20,
  S_REQ_ATOL = 21,
  S_REQ_RTOL = 22,
  S_SLOTS = 23;

/**
 * One block of the single pass over the data. Exact quantities (sums, max, the elemwise
 * verdict, required tolerances) are computed in float64 here; the quantiles are taken over
 * float32-rounded errors (as Polygraphy, which diffs float32 outputs in float32), whose
 * top 16 bits are counted here for the radix select.
 */
function kernel(
  a: Numbers,
  b: Numbers,
  from: number,
  to: number,
  absCounts: Uint32Array,
  relCounts: Uint32Array,
  st: Float64Array,
  atol: number,
  rtol: number,
  bool: boolean,
  infEqual: boolean,
): void {
  let absKept = st[S_ABS_KEPT]!,
    absSum = st[S_ABS_SUM]!,
    absMax = st[S_ABS_MAX]!,
    argMax = st[S_ARGMAX]!;
  let zeros = st[S_ZEROS]!,
    relKept = st[S_REL_KEPT]!,
    relSum = st[S_REL_SUM]!,
    relMax = st[S_REL_MAX]!;
  let dot = st[S_DOT]!,
    aa = st[S_AA]!,
    bb = st[S_BB]!,
    dd = st[S_DD]!;
  let mismatches = st[S_MISMATCHES]!,
    reqAtol = st[S_REQ_ATOL]!,
    reqRtol = st[S_REQ_RTOL]!;
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
  st[S_ABS_KEPT] = absKept;
  st[S_ABS_SUM] = absSum;
  st[S_ABS_MAX] = absMax;
  st[S_ARGMAX] = argMax;
  st[S_ZEROS] = zeros;
  st[S_REL_KEPT] = relKept;
  st[S_REL_SUM] = relSum;
  st[S_REL_MAX] = relMax;
  st[S_DOT] = dot;
  st[S_AA] = aa;
  st[S_BB] = bb;
  st[S_DD] = dd;
  st[S_MISMATCHES] = mismatches;
  st[S_REQ_ATOL] = reqAtol;
  st[S_REQ_RTOL] = reqRtol;
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
 * Metrics and verdict of one output; no per-element array is allocated. `a` and `b` are the
 * values, same length, read as numbers (a Float32Array is read as is, no copy). Two float32
 * outputs (the common case) take a monomorphic fast path; everything else the generic one.
 * Both give the same numbers, bit for bit.
 */
export function analyze(a: Numbers, b: Numbers, tol: OutputTolerance, options: AnalyzeOptions = {}): Analysis {
  if (b.length !== a.length) throw new RangeError(`analyze: lengths differ (${a.length} vs ${b.length})`);
  if (options.bool !== true && a instanceof Float32Array && b instanceof Float32Array && a.length <= FAST_MAX_LENGTH) {
    return analyzeFloat32(a, b, tol, options.infinitiesCompareEqual === true);
  }
  return analyzeGeneric(a, b, tol, options);
}

/**
 * The generic path (any numeric array, bool data): one pass over the data, plus one pass per
 * error kind for the radix select of the quantiles. Internal: exported for the benchmark and
 * for the test that holds the fast path to it.
 */
export function analyzeGeneric(a: Numbers, b: Numbers, tol: OutputTolerance, options: AnalyzeOptions = {}): Analysis {
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
  const absQ = errorQuantiles(a, b, 'abs', eo, { counts: absCounts, kept: absKept }, qs);
  const relQ = errorQuantiles(a, b, 'rel', eo, { counts: relCounts, kept: relKept }, qs);
  return finish(n, st, absKept, relKept, st[S_ZEROS]!, absCounts, absQ, relQ, tol);
}

/**
 * Metrics and verdict from the totals in `st` (S_* slots; kept counts, zeros and the
 * quantiles given apart), shared by both paths.
 */
function finish(
  n: number,
  st: Float64Array,
  absKept: number,
  relKept: number,
  zeros: number,
  absCounts: Uint32Array,
  absQ: number[],
  relQ: number[],
  tol: OutputTolerance,
): Analysis {
  const { atol, rtol } = tol;
  const [absMedian, absP90, absP95, absP99, absQuantile] = absQ;
  const [relMedian, relP90, relP95, relP99, relQuantile] = relQ;
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
    quantileAbsError: absQuantile!,
    maxRelError: st[S_REL_MAX]!,
    meanRelError: relKept === 0 ? 0 : st[S_REL_SUM]! / relKept,
    medianRelError: relMedian!,
    p90RelError: relP90!,
    p95RelError: relP95!,
    p99RelError: relP99!,
    quantileRelError: relQuantile!,
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
    absErrorHistogram: histogramFromCounts(absCounts, zeros, nanErrors),
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

// ---------------------------------------------------------------------------------------
// Float32 fast path.
//
// The generic kernel reads its inputs through ArrayLike<number> (polymorphic once float32,
// float64 and integer arrays have gone through it), keeps 20 running values (more than the
// x64 registers, so they spill), branches on the verdict per element (mispredicted when
// elements fail at random) and makes two more passes over the 80 MB of inputs to gather
// the quantile buckets. Here, per block of FAST_BLOCK elements, three short loops:
//   1. errorsF32: a, b -> float64 errors into a block scratch, with the sums of the cosine
//      and the relative L2 error;
//   2. verdictF32: the error sums, the verdict without branches, the maxima, the float32
//      roundings.
//   Each sum adds the same terms in the same order as the generic path: the same sums.
//   3. countsF32: the radix counts of the float32 bit patterns, and the elements of the
//      candidate buckets.
// Candidate buckets come from a small sample taken first (candidateRanges); a candidate
// bucket's count carries the sign bit, so marking an element costs no extra load, and the
// elements are written without a branch (the cursor advances by the flag). After the pass
// every quantile whose bucket was a candidate is finished from the gathered elements; any
// other (an unlucky sample, or a region that filled up) is gathered by a pass over the
// inputs, as the generic path does.
//
// What V8 (11.3, Node 20) does with such loops, measured on 10M elements:
// - It reloads a typed array's map, length and data pointer at every access in a loop,
//   unless the array is a compile-time constant: a `const` binding of a scope created only
//   once, which V8 folds into the code. The scratch arrays therefore live as `const`s in a
//   scope made once by createFastPath() (not at module top level: bundlers such as esbuild
//   turn top-level `const` into `var`, which V8 cannot fold): ~25% of the pass.
// - Each loop is sized to keep its values in the x64 registers; fusing the loops, or one
//   more counter in a loop, measured 20-40% slower.
// - V8 allocates a function's feedback only after several calls, and a long first call is
//   compiled on-stack (OSR) before the code after its loop has feedback; that code then
//   deoptimized on every later call (hundreds of times per 10M-element output).
//   createFastPath() runs each loop a dozen times on a tiny input first.
// ---------------------------------------------------------------------------------------

/** Longer outputs take the generic path (the counts are int32, and the sign bit is a flag). */
const FAST_MAX_LENGTH = 2 ** 30;
/** Block length: the inputs (2 x 64 KiB) and the float64 scratch (256 KiB) stay in L2. */
const FAST_BLOCK = 16384;
/** Below this many elements no sample is taken: the quantile buckets are gathered by a pass. */
const SAMPLE_MIN_LENGTH = 2 ** 20;
/** The sample: runs of SAMPLE_RUN neighbours, about SAMPLE_TARGET elements in all. */
const SAMPLE_RUN = 8;
const SAMPLE_TARGET = 2 ** 17;
/**
 * Room for candidates per error kind (16 MiB each, fixed, since the array must stay one
 * constant; pages are only touched as far as they are used). About 10% of the elements are
 * candidates, so outputs up to ~40M elements fit; a kind that would not fit is gathered by
 * a pass instead.
 */
const CAND_CAPACITY = 2 ** 22;
/** A flagged bucket count (candidate bucket): the int32 sign bit. */
const FLAG = -0x80000000;
/** Where the fast path counts exact-zero abs errors: -0's bucket (errors are never negative, so step 2 writes a zero as -0). */
const ZERO_BUCKET = 0x8000;
/** Layout of the fast path's int32 work array: counts, a block's bit patterns, two candidate regions, each with a sink slot. */
const W_BITS = 131072;
const W_CAND_A = W_BITS + 2 * FAST_BLOCK;
const W_CAND_R = W_CAND_A + CAND_CAPACITY + 1;
const W_LENGTH = W_CAND_R + CAND_CAPACITY + 1;

// Slots of the fast path's running totals beyond the shared S_* slots.
const F_NAN_ABS = S_SLOTS,
  F_NAN_REL = S_SLOTS + 1,
  F_NAN_VERDICT = S_SLOTS + 2,
  F_PA = S_SLOTS + 3,
  F_PR = S_SLOTS + 4,
  F_LIM_A = S_SLOTS + 5,
  F_LIM_R = S_SLOTS + 6,
  F_ATOL = S_SLOTS + 7,
  F_RTOL = S_SLOTS + 8,
  F_SLOTS = S_SLOTS + 9;

/** The sample's stride for n elements: about SAMPLE_TARGET elements, and prime to small factors so it does not keep to a few columns of a tensor. */
export function samplePlan(n: number): { run: number; stride: number } | undefined {
  if (n < SAMPLE_MIN_LENGTH) return undefined;
  let stride = Math.max(2 * SAMPLE_RUN, Math.floor((n * SAMPLE_RUN) / SAMPLE_TARGET));
  while (stride % 2 === 0 || stride % 3 === 0 || stride % 5 === 0 || stride % 7 === 0) stride++;
  return { run: SAMPLE_RUN, stride };
}

function inRanges(k: number, ranges: readonly [number, number][] | undefined): boolean {
  return ranges !== undefined && ranges.some(([lo, hi]) => k >= lo && k <= hi);
}

type FastPath = (a: Float32Array, b: Float32Array, tol: OutputTolerance, infEqual: boolean) => Analysis;
let fastPath: FastPath | undefined;

function analyzeFloat32(a: Float32Array, b: Float32Array, tol: OutputTolerance, infEqual: boolean): Analysis {
  fastPath ??= createFastPath();
  return fastPath(a, b, tol, infEqual);
}

/** Builds the fast path once: its scratch arrays are constants of this scope (see above). */
function createFastPath(): FastPath {
  const st = new Float64Array(F_SLOTS);
  /** Step 1's float64 errors of a block: abs at 2k, rel at 2k + 1. */
  const e = new Float64Array(2 * FAST_BLOCK);
  /** Radix counts (abs at [0, 65536), rel at [65536, 131072)), a block's float32 errors, the candidate regions. */
  const w = new Int32Array(W_LENGTH);
  /** The block's float32 errors, written by step 2 (the same memory as w[W_BITS...]). */
  const g = new Float32Array(w.buffer, W_BITS * 4, 2 * FAST_BLOCK);
  const sample = new Int32Array(131072);
  /** 1 for the buckets a quantile selection wants, else 0 (kept all 0 between selections). */
  const wanted = new Uint8Array(65536);
  const pairF32 = new Float32Array(2);
  const pairBits = new Int32Array(pairF32.buffer);

  /**
   * Step 1 over [from, to) of the block starting at `base`: the float64 errors into `e` and
   * the dot-product sums. Stops at the first element with a non-finite side and returns its
   * index (`to` when none).
   */
  function errorsF32(a: Float32Array, b: Float32Array, from: number, to: number, base: number): number {
    let dot = st[S_DOT]!,
      aa = st[S_AA]!,
      bb = st[S_BB]!,
      dd = st[S_DD]!;
    let i = from;
    for (; i < to; i++) {
      const x = a[i]!;
      const y = b[i]!;
      const q = x - y;
      // Two float32 values: the float64 difference is finite exactly when both are.
      if (q - q !== 0) break;
      const d = Math.abs(q);
      // REL_EPSILON written out: with the imported binding V8 loaded it per element and boxed
      // the chosen divisor into a fresh heap number (measured).
      const r = d / (y === 0 ? 2.220446049250313e-16 : Math.abs(y));
      dot += x * y;
      aa += x * x;
      bb += y * y;
      dd += q * q;
      const j = (i - base) << 1;
      e[j] = d;
      e[j + 1] = r;
    }
    st[S_DOT] = dot;
    st[S_AA] = aa;
    st[S_BB] = bb;
    st[S_DD] = dd;
    return i;
  }

  /**
   * Step 1 for an element with a non-finite side, with the generic definitions: the errors
   * (NaN or infinite) into `e` for step 2, the NaN and Inf counts.
   * A NaN error fails both tolerances, so it makes both required tolerances infinite
   * (F_NAN_VERDICT); step 2's maxima ignore NaN.
   */
  function nonFiniteF32(x: number, y: number, i: number, base: number, infEqual: boolean): void {
    const d = absError(x, y, false, infEqual);
    const r = relError(d, y);
    if (d !== d) {
      st[F_NAN_ABS] = st[F_NAN_ABS]! + 1;
      if (st[S_FIRST_NAN]! < 0) st[S_FIRST_NAN] = i;
    }
    if (r !== r) st[F_NAN_REL] = st[F_NAN_REL]! + 1;
    if (d !== d || r !== r) st[F_NAN_VERDICT] = 1;
    // x * y and x - y are not both finite here (the generic kernel's test): no dot products.
    nonFinite(x, y, st);
    const j = (i - base) << 1;
    e[j] = d;
    e[j + 1] = r;
  }

  /**
   * Step 2 over the m errors of the block starting at `base`: the error sums, the verdict
   * without branches (`bad` flags are 0/1, NaN counting as bad; a flagged error enters its
   * max as itself, an unflagged one as 0 or NaN, which no comparison takes), the maxima, and
   * the errors rounded to float32 into `g` for step 3 (a zero abs error as -0).
   */
  function verdictF32(base: number, m: number): void {
    const atol = st[F_ATOL]!,
      rtol = st[F_RTOL]!;
    let absMax = st[S_ABS_MAX]!,
      relMax = st[S_REL_MAX]!,
      reqA = st[S_REQ_ATOL]!,
      reqR = st[S_REQ_RTOL]!;
    let absSum = st[S_ABS_SUM]!,
      relSum = st[S_REL_SUM]!;
    let mismatches = 0;
    let jMax = -1;
    for (let j = 0; j < 2 * m; j += 2) {
      const d = e[j]!;
      const r = e[j + 1]!;
      // NaN errors are left out of the sums (adding 0 leaves a sum as it is).
      absSum += d === d ? d : 0;
      relSum += r === r ? r : 0;
      const dBad = +!(d <= atol);
      const rBad = +!(r <= rtol);
      mismatches = (mismatches + (dBad & rBad)) | 0;
      const va = d * rBad;
      if (va > reqA) reqA = va;
      const vr = r * dBad;
      if (vr > reqR) reqR = vr;
      if (d > absMax) {
        absMax = d;
        jMax = j;
      }
      if (r > relMax) relMax = r;
      // -(0 - d) is d, except that a zero becomes -0, whose bit pattern puts it in
      // ZERO_BUCKET: step 3 gets the zero count with no work of its own.
      g[j] = -(0 - d);
      g[j + 1] = r;
    }
    st[S_ABS_MAX] = absMax;
    st[S_REL_MAX] = relMax;
    st[S_REQ_ATOL] = reqA;
    st[S_REQ_RTOL] = reqR;
    st[S_ABS_SUM] = absSum;
    st[S_REL_SUM] = relSum;
    if (jMax >= 0) st[S_ARGMAX] = base + (jMax >> 1);
    st[S_MISMATCHES] = st[S_MISMATCHES]! + mismatches;
  }

  /**
   * Step 3 over the m float32 bit patterns of a block: the radix counts, and the elements of
   * flagged (candidate) buckets into their regions. An exact zero abs error, written as -0,
   * is counted in ZERO_BUCKET (above MAX_BUCKET, where no other error lands): a zero count
   * without one more counter in the loop. NaN errors fall in buckets above MAX_BUCKET too,
   * cleared later.
   */
  function countsF32(m: number): void {
    const limA = st[F_LIM_A]! | 0,
      limR = st[F_LIM_R]! | 0;
    let pa = st[F_PA]! | 0,
      pr = st[F_PR]! | 0;
    const end = W_BITS + 2 * m;
    for (let j = W_BITS; j < end; j += 2) {
      const wa = w[j]!;
      const wr = w[j + 1]!;
      const ka = wa >>> 16;
      const kr = (wr >>> 16) | 65536;
      const ca = (w[ka]! + 1) | 0;
      w[ka] = ca;
      const cr = (w[kr]! + 1) | 0;
      w[kr] = cr;
      // Always written, kept when the bucket is flagged (sign bit) and the region has room
      // (else the next write lands on the same slot; a region's last slot is a sink).
      w[pa] = wa;
      pa = (pa + ((ca >>> 31) & ((pa - limA) >>> 31))) | 0;
      w[pr] = wr;
      pr = (pr + ((cr >>> 31) & ((pr - limR) >>> 31))) | 0;
    }
    st[F_PA] = pa;
    st[F_PR] = pr;
  }

  /** Steps 1-3 over every block. */
  function mainPass(a: Float32Array, b: Float32Array, infEqual: boolean): void {
    const n = a.length;
    for (let s = 0; s < n; s += FAST_BLOCK) {
      const end = Math.min(n, s + FAST_BLOCK);
      let i = s;
      for (;;) {
        i = errorsF32(a, b, i, end, s);
        if (i >= end) break;
        nonFiniteF32(a[i]!, b[i]!, i, s, infEqual);
        i++;
      }
      verdictF32(s, end - s);
      countsF32(end - s);
    }
  }

  /** Clears the flags of `ranges` (of the kind at `base`). */
  function unflag(ranges: readonly [number, number][] | undefined, base: number): void {
    if (ranges === undefined) return;
    for (const [lo, hi] of ranges) for (let k = base + lo; k <= base + hi; k++) w[k] = w[k]! & 0x7fffffff;
  }

  /** Drops the NaN buckets and moves the zeros into bucket 0; returns the zero count. */
  function settleCounts(): number {
    const zeros = w[ZERO_BUCKET]!;
    w.fill(0, MAX_BUCKET + 1, 65536);
    w.fill(0, 65536 + MAX_BUCKET + 1, 131072);
    w[0] = w[0]! + zeros;
    return zeros;
  }

  /** Top-16-bit counts of the errors of runs of SAMPLE_RUN elements every `stride`, into `sample`; returns the exact zeros. */
  function sampleF32(a: Float32Array, b: Float32Array, stride: number, infEqual: boolean): number {
    const n = a.length;
    let zeros = 0;
    for (let s = 0; s < n; s += stride) {
      const end = Math.min(n, s + SAMPLE_RUN);
      for (let i = s; i < end; i++) {
        const x = a[i]!;
        const y = b[i]!;
        let d = Math.abs(x - y);
        if (infEqual && d !== d && x === y) d = 0;
        pairF32[0] = d;
        pairF32[1] = d / (y === 0 ? 2.220446049250313e-16 : Math.abs(y));
        const wa = pairBits[0]!;
        sample[wa >>> 16]!++;
        sample[(pairBits[1]! >>> 16) | 65536]!++;
        if (wa === 0) zeros++;
      }
    }
    return zeros;
  }

  /** Fallback gathers: recompute one kind of error over the inputs, keep the wanted buckets' bit patterns. */
  function gatherAbsF32(
    a: Float32Array,
    b: Float32Array,
    from: number,
    to: number,
    slot: Int32Array,
    parts: Uint32Array[],
    fill: Uint32Array,
    infEqual: boolean,
  ): void {
    for (let i = from; i < to; i++) {
      const x = a[i]!;
      const y = b[i]!;
      let d = Math.abs(x - y);
      if (infEqual && d !== d && x === y) d = 0;
      pairF32[0] = d;
      const bits = pairBits[0]!;
      const s = slot[bits >>> 16]!;
      if (s >= 0) parts[s]![fill[s]!++] = bits;
    }
  }

  function gatherRelF32(
    a: Float32Array,
    b: Float32Array,
    from: number,
    to: number,
    slot: Int32Array,
    parts: Uint32Array[],
    fill: Uint32Array,
    infEqual: boolean,
  ): void {
    for (let i = from; i < to; i++) {
      const x = a[i]!;
      const y = b[i]!;
      let d = Math.abs(x - y);
      if (infEqual && d !== d && x === y) d = 0;
      pairF32[0] = d / (y === 0 ? 2.220446049250313e-16 : Math.abs(y));
      const bits = pairBits[0]!;
      const s = slot[bits >>> 16]!;
      if (s >= 0) parts[s]![fill[s]!++] = bits;
    }
  }

  /**
   * The candidates w[from, to) of the wanted buckets (`wanted[bucket]` is 1): moved to the
   * front of the region, in place and without a branch; returns how many.
   */
  function keepWanted(from: number, to: number): number {
    let out = from;
    for (let k = from; k < to; k++) {
      const bits = w[k]!;
      w[out] = bits;
      out = (out + wanted[bits >>> 16]!) | 0;
    }
    return out - from;
  }

  /** The candidates of the wanted buckets into their parts. */
  function gatherCandidates(from: number, to: number, buckets: readonly number[], slot: Int32Array, parts: Uint32Array[], fill: Uint32Array): void {
    for (const k of buckets) wanted[k] = 1;
    const kept = keepWanted(from, to);
    for (const k of buckets) wanted[k] = 0;
    for (let k = from; k < from + kept; k++) {
      const bits = w[k]!;
      const s = slot[bits >>> 16]!;
      parts[s]![fill[s]!++] = bits;
    }
  }

  function analyzeF32(a: Float32Array, b: Float32Array, tol: OutputTolerance, infEqual: boolean): Analysis {
    const n = a.length;
    const qs = [0.5, 0.9, 0.95, 0.99, tol.errorQuantile];
    st.fill(0);
    st[S_ARGMAX] = n > 0 ? 0 : -1;
    st[S_FIRST_NAN] = -1;
    st[F_ATOL] = tol.atol;
    st[F_RTOL] = tol.rtol;
    w.fill(0, 0, W_BITS);
    // Candidate buckets from a sample, flagged in the counts; a kind whose expected share
    // (with a margin) would not fit its region is left to the fallback pass.
    let rangesA: [number, number][] | undefined;
    let rangesR: [number, number][] | undefined;
    const plan = samplePlan(n);
    if (plan !== undefined) {
      sample.fill(0);
      const sampleZeros = sampleF32(a, b, plan.stride, infEqual);
      const fits = (share: number) => share * n * 1.25 + 4096 <= CAND_CAPACITY;
      const ca = candidateRanges(sample, 0, sampleZeros, qs, plan.run);
      // The sample's rel zeros are its abs zeros (see the note on `zeros` below).
      const cr = candidateRanges(sample, 65536, sampleZeros, qs, plan.run);
      if (ca !== undefined && fits(ca.fraction)) rangesA = ca.ranges;
      if (cr !== undefined && fits(cr.fraction)) rangesR = cr.ranges;
    }
    if (rangesA !== undefined) for (const [lo, hi] of rangesA) w.fill(FLAG, lo, hi + 1);
    if (rangesR !== undefined) for (const [lo, hi] of rangesR) w.fill(FLAG, 65536 + lo, 65536 + hi + 1);
    st[F_PA] = W_CAND_A;
    st[F_LIM_A] = W_CAND_A + CAND_CAPACITY;
    st[F_PR] = W_CAND_R;
    st[F_LIM_R] = W_CAND_R + CAND_CAPACITY;
    mainPass(a, b, infEqual);
    unflag(rangesA, 0);
    unflag(rangesR, 65536);
    const zeros = settleCounts();
    if (st[F_NAN_VERDICT] !== 0) {
      st[S_REQ_ATOL] = Infinity;
      st[S_REQ_RTOL] = Infinity;
    }
    const absCounts = new Uint32Array(w.buffer, 0, 65536);
    const relCounts = new Uint32Array(w.buffer, 65536 * 4, 65536);
    const absKept = n - st[F_NAN_ABS]!;
    const relKept = n - st[F_NAN_REL]!;
    // A kind's wanted buckets come from its candidates when all were flagged and its region
    // did not fill up; otherwise from a pass over the inputs.
    const gatherWith =
      (kind: 'abs' | 'rel', ranges: [number, number][] | undefined, from: number, to: number, limit: number): GatherBits =>
      (buckets, slot, parts, fill) => {
        if (ranges !== undefined && to < limit && buckets.every((k) => inRanges(k, ranges))) {
          gatherCandidates(from, to, buckets, slot, parts, fill);
          if (parts.every((p, i) => fill[i] === p.length)) return;
          fill.fill(0);
        }
        for (let s = 0; s < n; s += BLOCK) {
          if (kind === 'abs') gatherAbsF32(a, b, s, Math.min(n, s + BLOCK), slot, parts, fill, infEqual);
          else gatherRelF32(a, b, s, Math.min(n, s + BLOCK), slot, parts, fill, infEqual);
        }
      };
    // For float32 inputs an error rounds to a float32 zero only when it is zero: two distinct
    // float32 values differ by at least 2^-25 of the larger magnitude, and d / REL_EPSILON
    // stays far above float32's range bottom. So the rel zeros are the abs zeros.
    const absQ = quantilesFromCounts(absCounts, absKept, zeros, qs, gatherWith('abs', rangesA, W_CAND_A, st[F_PA]!, W_CAND_A + CAND_CAPACITY));
    const relQ = quantilesFromCounts(relCounts, relKept, zeros, qs, gatherWith('rel', rangesR, W_CAND_R, st[F_PR]!, W_CAND_R + CAND_CAPACITY));
    return finish(n, st, absKept, relKept, zeros, absCounts, absQ, relQ, tol);
  }

  // Warm-up (see the note above the fast path): every loop a dozen times on a tiny input.
  const x = new Float32Array([1, 2, NaN, 0, Infinity, -3, 1e-30, 5, 0.5]);
  const y = new Float32Array([1, 0, 2, 0, Infinity, 2, 0, -Infinity, 0.25]);
  const slot = new Int32Array(65536).fill(-1);
  slot[0x3e80] = 0;
  const parts = [new Uint32Array(64)];
  const fill = new Uint32Array(1);
  const flagged: [number, number][] = [[0x3e80, 0x3f80]];
  for (let k = 0; k < 12; k++) {
    st.fill(0);
    st[F_PA] = W_CAND_A;
    st[F_LIM_A] = W_CAND_A + CAND_CAPACITY;
    st[F_PR] = W_CAND_R;
    st[F_LIM_R] = W_CAND_R + CAND_CAPACITY;
    w.fill(FLAG, 0x3e80, 0x3f81);
    mainPass(x, y, k % 2 === 0);
    unflag(flagged, 0);
    settleCounts();
    sampleF32(x, y, 3, false);
    fill[0] = 0;
    gatherAbsF32(x, y, 0, x.length, slot, parts, fill, false);
    gatherRelF32(x, y, 0, x.length, slot, parts, fill, false);
    gatherCandidates(W_CAND_A, st[F_PA]!, [0x3e80], slot, parts, fill);
  }
  sample.fill(0);
  return analyzeF32;
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
