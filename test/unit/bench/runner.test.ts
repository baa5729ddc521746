import { describe, expect, it } from 'vitest';
import { profileDims, runBench } from '../../../src/bench/runner.js';
import { createEncoderModel, encodeModel } from '../../../src/onnx/index.js';
import type { TensorInfo } from '../../../src/session.js';

describe('profileDims (the TensorRT profile the benchmark builds)', () => {
  it('covers batch 1..maxBatch and sequence 1..longest, tuned for the largest', () => {
    const inputs: TensorInfo[] = [
      { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
      { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
    ];
    expect(profileDims(inputs, { maxBatch: 32, seqMax: 128, concrete: {} })).toEqual({
      batch: { min: 1, opt: 32, max: 32 },
      sequence: { min: 1, opt: 128, max: 128 },
    });
  });

  it('names unnamed dynamic dims input:axis and pins dims given a size', () => {
    const inputs: TensorInfo[] = [{ name: 'x', dtype: 'float32', dims: [-1, -1, 'channels', 8] }];
    expect(profileDims(inputs, { maxBatch: 4, seqMax: 64, concrete: { channels: 3 } })).toEqual({
      'x:0': { min: 1, opt: 4, max: 4 },
      'x:1': { min: 1, opt: 64, max: 64 },
      channels: { min: 3, opt: 3, max: 3 },
    });
  });
});

describe('runBench input checks', () => {
  const proto = createEncoderModel({ preset: 'tiny' });
  const model = { source: encodeModel(proto), proto, label: 'tiny' };

  it('refuses to measure nothing, and percentages without a closed loop to take them of', async () => {
    await expect(runBench(model, { concurrency: [], rates: [] })).rejects.toThrow(/nothing to measure/);
    await expect(runBench(model, { concurrency: [], rates: [{ percent: 50 }] })).rejects.toThrow(/need at least one concurrency/);
  });

  it('refuses batcher options the DynamicBatcher would refuse, and metrics it sets itself', async () => {
    await expect(runBench(model, { batcherOptions: { maxBatchSize: 0 } })).rejects.toThrow(/maxBatchSize/);
    await expect(runBench(model, { batcherOptions: { metrics: false } })).rejects.toThrow(/metrics is set by the benchmark/);
  });
});
