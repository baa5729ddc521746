/**
 * What the benchmark reads from the components it drives, per measurement window:
 *
 * - the DynamicBatcher's Prometheus histograms (queue time per request, compute time per
 *   batch, batch size, padded and real elements), read at the start and the end of the
 *   window and subtracted, so warm-up and drain are left out exactly as they are for the
 *   latencies. stats() would not do: it keeps means since construction, not sums.
 */
import type { Registry } from 'prom-client';

export const BATCHER_METRICS_PREFIX = 'tensorrt_node_batcher_';

/** Running totals of a batcher's histograms and counters at one instant. */
export interface BatcherCounters {
  readonly queueSeconds: number;
  readonly queueCount: number;
  readonly computeSeconds: number;
  readonly computeCount: number;
  readonly batchSizeSum: number;
  readonly batchCount: number;
  readonly paddedElements: number;
  readonly realElements: number;
}

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

function valueOf(values: readonly { value: number; metricName?: string }[], metricName: string): number {
  let v = 0;
  for (const x of values) if (x.metricName === metricName) v += x.value;
  return v;
}

/** Reads the totals of the batcher metrics registered in `registry` under `prefix`. */
export async function readBatcherCounters(registry: Registry, prefix = BATCHER_METRICS_PREFIX): Promise<BatcherCounters> {
  const histogram = async (name: string): Promise<{ sum: number; count: number }> => {
    const m = registry.getSingleMetric(prefix + name);
    if (m === undefined) return { sum: 0, count: 0 };
    const { values } = await m.get();
    return { sum: valueOf(values, `${prefix}${name}_sum`), count: valueOf(values, `${prefix}${name}_count`) };
  };
  const counter = async (name: string): Promise<number> => {
    const m = registry.getSingleMetric(prefix + name);
    if (m === undefined) return 0;
    const { values } = await m.get();
    return values.reduce((s, x) => s + x.value, 0);
  };
  const [queue, compute, size, padded, real] = await Promise.all([
    histogram('queue_duration_seconds'),
    histogram('compute_duration_seconds'),
    histogram('batch_size'),
    counter('padded_elements_total'),
    counter('real_elements_total'),
  ]);
  return {
    queueSeconds: queue.sum,
    queueCount: queue.count,
    computeSeconds: compute.sum,
    computeCount: compute.count,
    batchSizeSum: size.sum,
    batchCount: size.count,
    paddedElements: padded,
    realElements: real,
  };
}

export function batcherWindow(start: BatcherCounters, end: BatcherCounters): BatcherWindow {
  const dq = end.queueCount - start.queueCount;
  const dc = end.computeCount - start.computeCount;
  const db = end.batchCount - start.batchCount;
  const dReal = end.realElements - start.realElements;
  return {
    queueMs: dq > 0 ? ((end.queueSeconds - start.queueSeconds) / dq) * 1000 : null,
    computeMs: dc > 0 ? ((end.computeSeconds - start.computeSeconds) / dc) * 1000 : null,
    meanBatchSize: db > 0 ? (end.batchSizeSum - start.batchSizeSum) / db : null,
    batches: db,
    paddingRatio: dReal > 0 ? (end.paddedElements - start.paddedElements) / dReal : null,
  };
}
