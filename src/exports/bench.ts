/**
 * `tensorrt-node/bench`: the benchmark suite. Load generation (closed loop, open loop with
 * Poisson arrivals), trtexec-style latency statistics, the batcher's counters, and the
 * reports of `tensorrt-node bench`.
 */
export { runBench, profileDims, type BenchOptions, type BenchModel, type BenchProgress, type RateSpec } from '../bench/runner.js';
export { closedLoop, openLoop, type Submit, type LoadResult, type ClosedLoopOptions, type OpenLoopOptions, type WindowHooks } from '../bench/load.js';
export { arrivalSchedule, type ArrivalDistribution } from '../bench/schedule.js';
export { countGcs, type GcCount } from '../bench/gc.js';
export { summarize, percentile, median, Samples, PERCENTILES, type LatencySummary } from '../bench/stats.js';
export { readBatcherCounters, batcherWindow, type BatcherCounters, type BatcherWindow } from '../bench/probes.js';
export { modelInputs, requestPool, type WorkloadOptions, type SeqRange } from '../bench/workload.js';
export { BENCH_FORMAT, type BenchRecord, type BenchReport } from '../bench/report-schema.js';
export { formatBenchText, formatRecordSummary, benchMarkdown, benchHtml, benchJson, latencyThroughputSvg } from '../bench/report.js';
