/**
 * What makes a benchmark run fail (exit code 1 from `tensorrt-node bench`): a configuration
 * that served nothing in its window, or one whose failed requests exceed `maxErrorRate` of
 * its measured requests (failed / (succeeded + failed)). The default rate is 0: a request
 * that fails is a broken setup, not a slow one (trtexec and perf_analyzer stop on a failed
 * inference too); `--max-error-rate` allows a share of failures, e.g. for a batcher with a
 * bounded queue under overload. Open-loop arrivals dropped over the outstanding limit and
 * requests unfinished at the drain deadline are load shedding, not errors: they are reported
 * but do not fail the run.
 */
import type { BenchReport } from './report-schema.js';
import { formatErrorSummary, loadName, pathName } from './report.js';

export const DEFAULT_MAX_ERROR_RATE = 0;

export interface BenchProblem {
  /** "onnxruntime direct concurrency 8". */
  configuration: string;
  /** What failed, with the numbers. */
  reason: string;
}

/** The configurations that fail the run, in record order; empty when the run passes. */
export function benchProblems(report: BenchReport, maxErrorRate = DEFAULT_MAX_ERROR_RATE): BenchProblem[] {
  const out: BenchProblem[] = [];
  for (const r of report.records) {
    const configuration = `${r.backend} ${pathName(r)} ${loadName(r)}`;
    const measured = r.requests + r.errors;
    const errors = r.errors > 0 ? `; errors: ${formatErrorSummary(r)}` : '';
    if (r.requests === 0) {
      out.push({
        configuration,
        reason:
          `served nothing: no request completed in the ${r.durationSeconds.toFixed(2)} s window` +
          (r.errors > 0 ? `, ${r.errors} failed${errors}` : ' (give a longer --duration?)'),
      });
    } else if (r.errors / measured > maxErrorRate) {
      const pct = (100 * r.errors) / measured;
      out.push({
        configuration,
        reason: `${r.errors} of ${measured} requests failed (${pct < 0.1 ? pct.toPrecision(2) : pct.toFixed(1)}%, more than --max-error-rate ${maxErrorRate})${errors}`,
      });
    }
  }
  return out;
}
