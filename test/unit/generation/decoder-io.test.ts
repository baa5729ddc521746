// Finding a decoder's I/O with no configuration, on the variants exporters emit, and the
// errors for models that are not decoders.
import { describe, expect, it } from 'vitest';
import { detectDecoder } from '../../../src/generation/decoder-io.js';
import type { InferenceSession, TensorInfo } from '../../../src/session.js';

function session(inputs: readonly TensorInfo[], outputs: readonly TensorInfo[]): InferenceSession {
  return {
    backend: 'onnxruntime',
    inputs,
    outputs,
    disposed: false,
    run: async () => ({}),
    dispose: async () => undefined,
    [Symbol.asyncDispose]: async () => undefined,
  };
}

function optimum(
  layers: number,
  o: {
    kvDtype?: 'float32' | 'float16';
    positions?: boolean;
    cacheBranch?: boolean;
    ids?: 'int64' | 'int32';
    past?: string;
    present?: string;
    time?: string | number;
    heads?: number | string;
  } = {},
): InferenceSession {
  const kv = o.kvDtype ?? 'float32';
  const idType = o.ids ?? 'int64';
  const time = o.time ?? 'past_sequence_length';
  const inputs: TensorInfo[] = [
    { name: 'input_ids', dtype: idType, dims: ['batch_size', 'sequence_length'] },
    { name: 'attention_mask', dtype: idType, dims: ['batch_size', 'past_sequence_length + 1'] },
  ];
  if (o.positions !== false) inputs.push({ name: 'position_ids', dtype: idType, dims: ['batch_size', 'sequence_length'] });
  const outputs: TensorInfo[] = [{ name: 'logits', dtype: 'float32', dims: ['batch_size', 'sequence_length', 50257] }];
  for (let l = 0; l < layers; l++) {
    for (const k of ['key', 'value']) {
      inputs.push({ name: `${o.past ?? 'past_key_values'}.${l}.${k}`, dtype: kv, dims: ['batch_size', o.heads ?? 12, time, 64] });
      outputs.push({ name: `${o.present ?? 'present'}.${l}.${k}`, dtype: kv, dims: ['batch_size', o.heads ?? 12, 'past_sequence_length + 1', 64] });
    }
  }
  if (o.cacheBranch) inputs.push({ name: 'use_cache_branch', dtype: 'bool', dims: [1] });
  return session(inputs, outputs);
}

describe('detectDecoder', () => {
  it("reads Optimum's GPT-2 export", () => {
    const io = detectDecoder(optimum(12));
    expect(io).toMatchObject({
      layers: 12,
      vocabSize: 50257,
      inputIds: { name: 'input_ids', dtype: 'int64' },
      positionIds: { name: 'position_ids' },
      useCacheBranch: undefined,
    });
    expect(io.kv).toHaveLength(24);
    expect(io.kv[0]).toMatchObject({ layer: 0, kind: 'key', past: 'past_key_values.0.key', present: 'present.0.key', timeAxis: 2, outer: 12, inner: 64 });
    expect(io.kv[23]).toMatchObject({ layer: 11, kind: 'value' });
    expect(io.kvBytesPerToken).toBe(2 * 12 * 768 * 4);
  });

  it('takes the variants: merged model, no position_ids, float16 KV, int32 ids, other spellings, unnamed time axis', () => {
    const merged = detectDecoder(optimum(2, { cacheBranch: true, positions: false, kvDtype: 'float16' }));
    expect(merged.useCacheBranch).toEqual({ name: 'use_cache_branch', dims: [1] });
    expect(merged.positionIds).toBeUndefined();
    expect(merged.kv[0]!.dtype).toBe('float16');
    expect(merged.kvBytesPerToken).toBe(2 * 2 * 768 * 2);
    expect(detectDecoder(optimum(1, { ids: 'int32' })).attentionMask.dtype).toBe('int32');
    expect(detectDecoder(optimum(1, { past: 'past', present: 'present_key_values' })).kv[1]!.present).toBe('present_key_values.0.value');
    expect(detectDecoder(optimum(1, { time: -1 })).kv[0]!.timeAxis).toBe(2);
  });

  it('names what is missing when the model is not a decoder', () => {
    const encoder = session(
      [
        { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
        { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
      ],
      [
        { name: 'last_hidden_state', dtype: 'float32', dims: ['batch', 'sequence', 64] },
        { name: 'logits', dtype: 'float32', dims: ['batch', 4] },
      ],
    );
    expect(() => detectDecoder(encoder)).toThrow(
      expect.objectContaining({
        code: 'ERR_ONNX',
        message: expect.stringMatching(/not a decoder.*no past_key_values\.\{i\}\.key \/ \.value inputs; no present.*text-generation-with-past/),
      }),
    );
    const noIds = session([{ name: 'x', dtype: 'float32', dims: [1] }], [{ name: 'y', dtype: 'float32', dims: [1] }]);
    expect(() => detectDecoder(noIds)).toThrow(/no input "input_ids"; no input "attention_mask".*no output "logits"/);
    const half = optimum(2);
    const broken = session(
      half.inputs.filter((i) => i.name !== 'past_key_values.1.value'),
      half.outputs.filter((o) => o.name !== 'present.0.key'),
    );
    expect(() => detectDecoder(broken)).toThrow(/no output "present.0.key"; no input "past_key_values.1.value"/);
  });

  it('reads the limits of TensorRT profiles (dims -1, ranges per profile)', () => {
    const s = optimum(1, { time: -1 });
    const profiled = (name: string, min: number[], max: number[]) => ({ profiles: [{ min, opt: max, max }] as const, name });
    const withProfiles = session(
      s.inputs.map((i) => {
        const dims = i.dims.map((d) => (typeof d === 'string' ? -1 : d));
        if (i.name === 'input_ids') return { ...i, dims, ...profiled(i.name, [1, 1], [8, 128]) };
        if (i.name === 'attention_mask') return { ...i, dims, ...profiled(i.name, [1, 1], [8, 1024]) };
        return { ...i, dims };
      }),
      s.outputs.map((o) => ({ ...o, dims: o.dims.map((d) => (typeof d === 'string' ? -1 : d)) })),
    );
    expect(detectDecoder(withProfiles)).toMatchObject({
      maxBatch: 8,
      maxSequenceLength: 128,
      maxTotalLength: 1024,
      vocabSize: 50257,
      kv: [{ timeAxis: 2 }, { timeAxis: 2 }],
    });
  });

  it('refuses what it cannot feed, saying why', () => {
    const extra = optimum(1);
    expect(() =>
      detectDecoder(session([...extra.inputs, { name: 'token_type_ids', dtype: 'int64', dims: ['batch_size', 'sequence_length'] }], extra.outputs)),
    ).toThrow(/does not know how to feed: "token_type_ids"/);
    expect(() => detectDecoder(optimum(1, { heads: 'num_heads', time: 'past_sequence_length' }))).toThrow(/dim 1 is "num_heads".*fixed numbers/);
    const s = optimum(1);
    expect(() =>
      detectDecoder(
        session(
          s.inputs.map((i) => (i.name === 'input_ids' ? { ...i, dtype: 'float32' as const } : i)),
          s.outputs,
        ),
      ),
    ).toThrow(/input_ids must be int64 or int32, got float32/);
  });
});
