/**
 * Garbage collections while a piece of work runs, from perf_hooks' 'gc' entries: how many
 * (all kinds, and major mark-sweep-compacts), their total pause, and how much the heap grew.
 * The benchmarks use it to show what allocating per run costs (a new output ArrayBuffer per
 * call against a caller-provided tensor filled in place).
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';

export interface GcCount {
  /** Collections of every kind (scavenges, mark-sweeps, incremental steps, weak callbacks). */
  readonly gcs: number;
  /** Major collections (NODE_PERFORMANCE_GC_MAJOR). */
  readonly majorGcs: number;
  /** Total pause of those collections, ms. */
  readonly gcMs: number;
  /** heapUsed after minus before, MiB (negative when a collection freed more than was made). */
  readonly heapGrowthMiB: number;
}

/**
 * Runs `body` and counts the collections that happen meanwhile. Entries arrive
 * asynchronously, so it waits `settleMs` after `body` for the last of them.
 */
export async function countGcs<T>(body: () => Promise<T>, settleMs = 50): Promise<GcCount & { value: T }> {
  let gcs = 0;
  let majorGcs = 0;
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcs++;
      gcMs += e.duration;
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const heap0 = process.memoryUsage().heapUsed;
  try {
    const value = await body();
    await new Promise((r) => setTimeout(r, settleMs));
    return { value, gcs, majorGcs, gcMs, heapGrowthMiB: (process.memoryUsage().heapUsed - heap0) / 2 ** 20 };
  } finally {
    observer.disconnect();
  }
}
