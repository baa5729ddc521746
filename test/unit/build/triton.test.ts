import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tritonConfig, tritonMaxBatchSize, writeTritonModel } from '../../../src/build/triton.js';
import { ENGINE_INFO_FORMAT, type EngineInfo } from '../../../src/build/sidecar.js';
import { buildOptionsFrom, parseDims, parseShapes, tritonOptionsFrom } from '../../../src/cli/build.js';

// The sidecar of an encoder engine with one profile (batch 1..32, sequence 1..128), as
// buildEngine writes it; plain data, so the export can be checked without TensorRT.
function encoderInfo(overrides: Partial<EngineInfo> = {}): EngineInfo {
  const hex = 'a'.repeat(64);
  return {
    format: ENGINE_INFO_FORMAT,
    createdAt: '2026-11-26T00:00:00.000Z',
    cacheKey: hex,
    model: { sha256: hex, bytes: 100, path: null },
    options: { precision: 'fp16', fp16Mode: 'convert', versionCompatible: false },
    tensorrt: { version: '11.1.0', headers: '11.1.0' },
    gpu: { device: 0, name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' },
    plan: { bytes: 4, sha256: hex },
    inputs: [
      { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
      { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
    ],
    outputs: [
      { name: 'last_hidden_state', dtype: 'float32', dims: ['batch', 'sequence', 64] },
      { name: 'logits', dtype: 'float32', dims: ['batch', 4] },
    ],
    profiles: [
      {
        input_ids: { min: [1, 1], opt: [8, 128], max: [32, 128] },
        attention_mask: { min: [1, 1], opt: [8, 128], max: [32, 128] },
      },
    ],
    buildSeconds: 1,
    warnings: [],
    ...overrides,
  };
}

describe('Triton export', () => {
  it('derives max_batch_size from the profiles', () => {
    expect(tritonMaxBatchSize(encoderInfo())).toBe(32);
    const two = encoderInfo({
      profiles: [
        { input_ids: { min: [1, 1], opt: [8, 8], max: [64, 128] }, attention_mask: { min: [1, 1], opt: [8, 8], max: [64, 128] } },
        { input_ids: { min: [1, 1], opt: [8, 8], max: [16, 512] }, attention_mask: { min: [1, 1], opt: [8, 8], max: [16, 512] } },
      ],
    });
    expect(tritonMaxBatchSize(two)).toBe(16);
    // A fixed first dim, or a profile not starting at batch 1, is not batchable for Triton.
    expect(tritonMaxBatchSize(encoderInfo({ outputs: [{ name: 'x', dtype: 'float32', dims: [4] }] }))).toBe(0);
    const from8 = encoderInfo({ profiles: [{ input_ids: { min: [8, 1], opt: [8, 8], max: [8, 8] } }] });
    expect(tritonMaxBatchSize(from8)).toBe(0);
  });

  it('writes config.pbtxt with I/O without the batch dim and dynamic_batching from the batcher options', () => {
    const text = tritonConfig(encoderInfo(), {
      name: 'encoder',
      instances: 2,
      batching: {
        maxBatchSize: 16,
        maxQueueDelayMs: 0.5,
        preferredBatchSizes: [8, 16],
        priorityLevels: 2,
        preserveOrdering: true,
        queuePolicy: { maxSize: 1000, timeoutMs: 20, timeoutAction: 'delay', allowTimeoutOverride: true },
        priorityQueuePolicy: { '1': { maxSize: 10 } },
      },
    });
    expect(text).toBe(
      [
        'name: "encoder"',
        'platform: "tensorrt_plan"',
        'max_batch_size: 16',
        'input [',
        '  {\n    name: "input_ids"\n    data_type: TYPE_INT64\n    dims: [ -1 ]\n  },',
        '  {\n    name: "attention_mask"\n    data_type: TYPE_INT64\n    dims: [ -1 ]\n  }',
        ']',
        'output [',
        '  {\n    name: "last_hidden_state"\n    data_type: TYPE_FP32\n    dims: [ -1, 64 ]\n  },',
        '  {\n    name: "logits"\n    data_type: TYPE_FP32\n    dims: [ 4 ]\n  }',
        ']',
        'instance_group [\n  {\n    count: 2\n    kind: KIND_GPU\n    gpus: [ 0 ]\n  }\n]',
        'dynamic_batching {',
        '  preferred_batch_size: [ 8, 16 ]',
        '  max_queue_delay_microseconds: 500',
        '  preserve_ordering: true',
        '  priority_levels: 2',
        '  default_priority_level: 2',
        '  default_queue_policy {\n    timeout_action: DELAY\n    default_timeout_microseconds: 20000\n    allow_timeout_override: true\n    max_queue_size: 1000\n  }',
        '  priority_queue_policy {\n    key: 1\n    value {\n      max_queue_size: 10\n    }\n  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('refuses batch settings the engine cannot take', () => {
    expect(() => tritonConfig(encoderInfo(), { name: 'e', batching: { maxBatchSize: 64 } })).toThrow(/above what the engine's profiles accept \(32\)/);
    expect(() => tritonConfig(encoderInfo(), { name: 'e', batching: { preferredBatchSizes: [48] } })).toThrow(/above max_batch_size 32/);
    expect(() => tritonConfig(encoderInfo(), { name: 'bad/name' })).toThrow(/must be a folder name/);
    const unbatchable = encoderInfo({ outputs: [{ name: 'x', dtype: 'float32', dims: [4] }] });
    expect(tritonConfig(unbatchable, { name: 'e', batching: false })).toMatch(/max_batch_size: 0\ninput \[\n {2}\{\n {4}name: "input_ids"\n {4}data_type: TYPE_INT64\n {4}dims: \[ -1, -1 \]/);
    expect(() => tritonConfig(unbatchable, { name: 'e', batching: { maxQueueDelayMs: 1 } })).toThrow(/no batch dim|batchable/);
  });

  it('writes the repository layout Triton expects', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'trtn-triton-'));
    const plan = new Uint8Array([1, 2, 3, 4]);
    const files = await writeTritonModel(repo, plan, encoderInfo(), { name: 'encoder', version: 3 });
    expect(files.planPath).toBe(join(repo, 'encoder', '3', 'model.plan'));
    expect([...readFileSync(files.planPath)]).toEqual([1, 2, 3, 4]);
    expect(readFileSync(files.configPath, 'utf8')).toMatch(/^name: "encoder"\nplatform: "tensorrt_plan"\nmax_batch_size: 32\n/);
    expect(readdirSync(join(repo, 'encoder')).sort()).toEqual(['3', 'config.pbtxt']);
  });
});

describe('build CLI flags', () => {
  it('parses trtexec-style shapes and symbolic dim ranges', () => {
    expect(parseShapes(['input_ids:1x1/8x128/32x512', 'mask:2x4'])).toEqual({
      input_ids: { min: [1, 1], opt: [8, 128], max: [32, 512] },
      mask: { min: [2, 4], opt: [2, 4], max: [2, 4] },
    });
    expect(() => parseShapes(['input_ids:1x1/8x128'])).toThrow(/name:MIN\/OPT\/MAX/);
    expect(() => parseShapes(['a:4x4/2x2/8x8'])).toThrow(/min <= opt <= max/);
    expect(() => parseShapes(['a:1x1/1/1x1'])).toThrow(/same rank/);
    expect(parseDims(['batch:1,8,32', 'sequence:1,512', 'heads:4'])).toEqual({
      batch: { min: 1, opt: 8, max: 32 },
      sequence: { min: 1, max: 512 },
      heads: 4,
    });
    expect(() => parseDims(['batch=1..8'])).toThrow(/--dims takes/);
  });

  it('maps flags to build and Triton options', () => {
    const flags = {
      fp16: true,
      fp16Mode: 'convert' as const,
      shapes: ['input_ids:1x1/8x128/32x512'],
      dims: ['batch:1,8,32'],
      workspace: '1024',
      optLevel: '5',
      hardwareCompat: 'none' as const,
      device: '1',
      tritonVersion: '1',
      instances: '2',
      maxQueueDelayMs: '0.25',
      preferredBatchSizes: '4, 8',
      timeoutAction: 'reject' as const,
      queueTimeoutMs: '50',
      progress: false,
    };
    expect(buildOptionsFrom(flags)).toMatchObject({
      precision: 'fp16',
      workspaceBytes: 1024 * 2 ** 20,
      optimizationLevel: 5,
      device: 1,
      profiles: [{ shapes: { input_ids: { min: [1, 1], opt: [8, 128], max: [32, 512] } }, dims: { batch: { min: 1, opt: 8, max: 32 } } }],
    });
    expect(tritonOptionsFrom(flags, 'enc')).toEqual({
      name: 'enc',
      version: 1,
      instances: 2,
      gpus: [1],
      batching: { maxQueueDelayMs: 0.25, preferredBatchSizes: [4, 8], queuePolicy: { timeoutMs: 50, timeoutAction: 'reject' } },
    });
    expect(() => buildOptionsFrom({ ...flags, workspace: '-1' })).toThrow(/--workspace must be an integer from 1 to/);
  });
});
