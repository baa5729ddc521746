/**
 * What the benchmark reads from the components it drives, per measurement window:
 *
 * - the DynamicBatcher's running totals from `stats().totals` (queue time per request,
 *   compute time per batch, rows, padded and real elements), read at the start and the end
 *   of the window and subtracted, so warm-up and drain are left out exactly as they are for
 *   the latencies.
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
