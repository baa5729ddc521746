export {
  DynamicBatcher,
  type DynamicBatcherStats,
  type BatcherTotals,
  type BatcherCostStats,
  type DynamicBatcherConfig,
  type CloseOptions,
} from './batcher.js';
export { type DynamicBatcherOptions, type QueuePolicy, type BatcherRunOptions, type WarmupOptions } from './options.js';
export { type CostModelSnapshot, type CostModelCell } from './cost-model.js';
