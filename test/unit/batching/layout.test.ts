import { describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../../src/batching/index.js';
import type { TensorInfo } from '../../../src/session.js';
import { EncoderDouble } from '../../support/doubles.js';

/** A session double that only has metadata (construction-time tests). */
function metaSession(inputs: TensorInfo[], outputs: TensorInfo[], extra: Record<string, unknown> = {}): EncoderDouble {
  const s = new EncoderDouble();
  Object.assign(s, { inputs, outputs, ...extra });
  return s;
}

const HF_INPUTS: TensorInfo[] = [
  { name: 'input_ids', dtype: 'int64', dims: ['batch_size', 'sequence_length'] },
  { name: 'attention_mask', dtype: 'int64', dims: ['batch_size', 'sequence_length'] },
  { name: 'token_type_ids', dtype: 'int64', dims: ['batch_size', 'sequence_length'] },
];
const HF_OUTPUTS: TensorInfo[] = [
  { name: 'last_hidden_state', dtype: 'float32', dims: ['batch_size', 'sequence_length', 768] },
  { name: 'pooler_output', dtype: 'float32', dims: ['batch_size', 768] },
];

describe('zero-config layout from the model metadata', () => {
  it('pads every Hugging Face input along the sequence dim with 0 and trims last_hidden_state back', async () => {
    const b = new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS));
    expect(b.config.inputs).toEqual(HF_INPUTS.map((i) => ({ name: i.name, batchAxis: 0, padAxes: [{ axis: 1, dim: 'sequence_length' }], padValue: 0n })));
    expect(b.config.outputs).toEqual([
      { name: 'last_hidden_state', batchAxis: 0, trimAxes: [{ axis: 1, dim: 'sequence_length' }] },
      { name: 'pooler_output', batchAxis: 0, trimAxes: [] },
    ]);
    // Zero config: the cost model sizes batches, within TEI's default token budget.
    expect(b.config.scheduler).toBe('cost');
    expect(b.config.maxBatchSize).toBe(256);
    expect(b.config.maxBatchTokens).toBe(16384);
    expect(b.config.maxInflightBatches).toBe(1);
    expect(b.config.maxQueueDelayMs).toBe(0);
    expect(b.config.queuePolicies).toEqual([{ maxSize: 0, timeoutMs: 0, timeoutAction: 'reject', allowTimeoutOverride: true }]);
    await b.close();
  });

  it('does not pad a symbolic dim that no output carries (requests then batch by equal length)', async () => {
    const b = new DynamicBatcher(metaSession(HF_INPUTS, [HF_OUTPUTS[1]!]));
    expect(b.config.inputs.every((i) => i.padAxes.length === 0)).toBe(true);
    await b.close();
  });

  it('takes the first dynamic dim as the batch axis, also when it is -1 or not first', async () => {
    const b = new DynamicBatcher(metaSession([{ name: 'x', dtype: 'float32', dims: [3, -1, 'seq'] }], [{ name: 'y', dtype: 'float32', dims: [3, -1, 'seq'] }]));
    expect(b.config.inputs[0]).toMatchObject({ batchAxis: 1, padAxes: [{ axis: 2, dim: 'seq' }] });
    expect(b.config.outputs[0]).toMatchObject({ batchAxis: 1, trimAxes: [{ axis: 2, dim: 'seq' }] });
    await b.close();
  });

  it('uses the TensorRT profile max batch as the default maxBatchSize and the session contexts as maxInflightBatches', async () => {
    const inputs: TensorInfo[] = HF_INPUTS.map((i) => ({
      ...i,
      profiles: [
        { min: [1, 1], opt: [8, 128], max: [16, 256] },
        { min: [1, 1], opt: [32, 64], max: [64, 128] },
      ],
    }));
    const b = new DynamicBatcher(metaSession(inputs, HF_OUTPUTS, { contexts: 3 }));
    expect(b.config.maxBatchSize).toBe(64);
    expect(b.config.maxInflightBatches).toBe(3);
    expect(() => new DynamicBatcher(metaSession(inputs, HF_OUTPUTS), { maxBatchSize: 128 })).toThrow(/larger than the session's optimization profiles allow/);
    expect(() => new DynamicBatcher(metaSession(inputs, HF_OUTPUTS), { buckets: [64, 512] })).toThrow(
      /longer than the session's optimization profiles allow \(256\)/,
    );
    await b.close();
  });

  it('applies per-input overrides (RoBERTa pads input_ids with 1) and padding: false', async () => {
    const b = new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { padding: { inputs: { input_ids: { value: 1 } } } });
    expect(b.config.inputs[0]!.padValue).toBe(1n);
    expect(b.config.inputs[1]!.padValue).toBe(0n);
    await b.close();
    const off = new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { padding: false });
    expect(off.config.inputs.every((i) => i.padAxes.length === 0)).toBe(true);
    expect(off.config.outputs.every((o) => o.trimAxes.length === 0)).toBe(true);
    await off.close();
  });

  it('explains what it cannot batch', () => {
    expect(() => new DynamicBatcher(metaSession([{ name: 'x', dtype: 'float32', dims: [1, 4] }], HF_OUTPUTS))).toThrow(/input "x".*no dynamic \(batch\) dim/);
    expect(() => new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { padding: { inputs: { nope: { value: 1 } } } })).toThrow(
      /padding.inputs names an unknown input "nope"/,
    );
    expect(
      () => new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { padding: { outputs: { pooler_output: { axes: [{ axis: 1, dim: 'other' }] } } } }),
    ).toThrow(/no input pads a dim of that name/);
    expect(() => new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { preferredBatchSizes: [64] })).toThrow(/larger than maxBatchSize 32/);
    expect(() => new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { priorityLevels: 2, defaultPriority: 3 })).toThrow(/outside the priority levels 1..2/);
    expect(() => new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { maxQueueDelayMs: -1 } as never)).toThrow(/maxQueueDelayMs/);
    expect(() => new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { maxBatchSize: 4, bogus: 1 } as never)).toThrow(/unknown option\(s\) "bogus"/);
    expect(() => new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { buckets: { nope: [8] } })).toThrow(/not a padded dim/);
    expect(() => new DynamicBatcher(metaSession(HF_INPUTS, HF_OUTPUTS), { padding: false, buckets: [8] })).toThrow(/needs a padded dim/);
    expect(() => new DynamicBatcher({} as never)).toThrow(/session must be an InferenceSession/);
  });
});
