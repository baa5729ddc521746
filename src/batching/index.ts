export { DynamicBatcher, type DynamicBatcherStats, type BatcherTotals, type DynamicBatcherConfig, type CloseOptions } from './batcher.js';
export { type DynamicBatcherOptions, type QueuePolicy, type BatcherRunOptions } from './options.js';
