/**
 * The benchmark suite: load generation (closed loop, open loop with Poisson arrivals),
 * trtexec-style latency statistics, and the reports of `tensorrt-node bench`.
 */
export { runBench, BenchOptionsSchema, RateSpecSchema, profileDims, type BenchOptions, type BenchModel, type BenchProgress, type RateSpec } from './runner.js';
export { closedLoop, openLoop, type Submit, type LoadResult, type ClosedLoopOptions, type OpenLoopOptions, type WindowHooks } from './load.js';
export { arrivalSchedule, type ArrivalDistribution } from './schedule.js';
export { summarize, percentile, median, Samples, PERCENTILES, type LatencySummary } from './stats.js';
export { readBatcherCounters, batcherWindow, type BatcherCounters, type BatcherWindow } from './probes.js';
export { modelInputs, requestPool, type WorkloadOptions, type SeqRange } from './workload.js';
export { BENCH_FORMAT, BenchRecordSchema, BenchReportSchema, LatencySummarySchema, type BenchRecord, type BenchReport } from './report-schema.js';
export { formatBenchText, formatRecordSummary, benchMarkdown, benchHtml, benchJson, latencyThroughputSvg } from './report.js';
