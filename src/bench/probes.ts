/**
 * What the benchmark reads from the components it drives, per measurement window:
 *
 * - the DynamicBatcher's running totals from `stats().totals` (queue time per request,
 *   compute time per batch, rows, padded and real elements), read at the start and the end
 *   of the window and subtracted, so warm-up and drain are left out exactly as they are for
 *   the latencies.
 * - per-stage device timings (H2D, compute, D2H) from a session that reports them through
 *   an optional `stageTimings()` method returning running totals (see StageTimingSource).
 *   Neither backend implements it today; the reports then say "not reported".
 */
import type { BatcherTotals, DynamicBatcherStats } from '../batching/index.js';

/** Running totals of a batcher at one instant (its `stats().totals`). */
export type BatcherCounters = BatcherTotals;

/** A batcher's figures over one window. */
export interface BatcherWindow {
  /** Mean time a request waited in the queue before its batch was sent, ms. */
  readonly queueMs: number | null;
  /** Mean time a batch spent in session.run(), ms. */
  readonly computeMs: number | null;
  /** Samples per batch. */
  readonly meanBatchSize: number | null;
  /** Batches run in the window. */
  readonly batches: number;
  /** Padded elements / real elements of the padded inputs. */
  readonly paddingRatio: number | null;
}

/** Reads the running totals of a batcher. */
export function readBatcherCounters(batcher: { stats(): DynamicBatcherStats }): BatcherCounters {
  return batcher.stats().totals;
}

export function batcherWindow(start: BatcherCounters, end: BatcherCounters): BatcherWindow {
  const dq = end.dispatched - start.dispatched;
  const db = end.batches - start.batches;
  const dReal = end.realElements - start.realElements;
  return {
    queueMs: dq > 0 ? (end.queueMs - start.queueMs) / dq : null,
    computeMs: db > 0 ? (end.computeMs - start.computeMs) / db : null,
    meanBatchSize: db > 0 ? (end.rows - start.rows) / db : null,
    batches: db,
    paddingRatio: dReal > 0 ? (end.paddedElements - start.paddedElements) / dReal : null,
  };
}

/** Running totals of per-stage device time, as a session that reports them returns them. */
export interface StageTotals {
  /** Runs the totals cover. */
  readonly runs: number;
  readonly h2dMs: number;
  readonly computeMs: number;
  readonly d2hMs: number;
}

/**
 * A session that times its stages (e.g. with CUDA events around the copies and enqueueV3)
 * exposes `stageTimings()`; the benchmark reads it at both ends of a window.
 */
export interface StageTimingSource {
  stageTimings(): StageTotals;
}

/** Mean per-run stage times over a window, ms. */
export interface StageWindow {
  readonly runs: number;
  readonly h2dMs: number;
  readonly computeMs: number;
  readonly d2hMs: number;
}

export function hasStageTimings(session: object): session is StageTimingSource {
  return typeof (session as Partial<StageTimingSource>).stageTimings === 'function';
}

export function stageWindow(start: StageTotals, end: StageTotals): StageWindow | null {
  const runs = end.runs - start.runs;
  if (runs <= 0) return null;
  return {
    runs,
    h2dMs: (end.h2dMs - start.h2dMs) / runs,
    computeMs: (end.computeMs - start.computeMs) / runs,
    d2hMs: (end.d2hMs - start.d2hMs) / runs,
  };
}
