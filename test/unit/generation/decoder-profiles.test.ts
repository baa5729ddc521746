// Engine profiles for a decoder with no configuration (issue 12 item 4, the build side): the
// ranges decoderDimRanges gives, through deriveProfiles as buildEngine derives them.
import { describe, expect, it } from 'vitest';
import { deriveProfiles, type NetworkInput } from '../../../src/build/profiles.js';
import { decoderDimRanges, decoderDimRoles } from '../../../src/generation/decoder-io.js';
import { createDecoderModel } from '../../../src/onnx/decoder.js';
import { dimsOf } from '../../../src/onnx/graph.js';

function networkInputs(inputs: { name: string; dims: (number | string)[] }[]): NetworkInput[] {
  return inputs.map((i) => ({
    name: i.name,
    dims: i.dims.map((d) => (typeof d === 'number' ? d : -1)),
    dimNames: i.dims.map((d) => (typeof d === 'string' ? d : '')),
  }));
}

describe('decoder engine profiles', () => {
  it('the embedded decoder: batch 1..32, sequence 1..512, past 0..2047, total 1..2048, with no configuration', () => {
    for (const options of [{}, { useCacheBranch: true, positionIds: false }]) {
      const model = createDecoderModel({ preset: 'tiny', ...options });
      const inputs = model.graph!.input.map((i) => ({ name: i.name, dims: dimsOf(i.type) as (number | string)[] }));
      expect(decoderDimRoles(inputs)).toEqual({
        batch_size: 'batch',
        sequence_length: 'sequence',
        total_sequence_length: 'total',
        past_sequence_length: 'past',
      });
      const dims = decoderDimRanges(inputs)!;
      const [profile] = deriveProfiles(networkInputs(inputs), { dims });
      const byName = Object.fromEntries(profile!.map((p) => [p.input, p]));
      expect(byName.input_ids).toEqual({ input: 'input_ids', min: [1, 1], opt: [32, 1], max: [32, 512] });
      expect(byName.attention_mask).toMatchObject({ min: [1, 1], max: [32, 2048] });
      const past = byName['past_key_values.0.key']!;
      expect(past.min[0]).toBe(1);
      expect(past.min[2]).toBe(0); // the prefill's empty past
      expect(past.max[2]).toBe(2047);
      // Past + current never exceeds what attention_mask (the total) allows.
      expect(past.max[2]! + 1).toBeLessThanOrEqual(byName.attention_mask!.max[1]!);
      if (options.useCacheBranch) expect(byName.use_cache_branch).toBeUndefined(); // fixed [1]: no profile entry
    }
  });

  it('options set the limits, validated; unnamed dims and Optimum\'s "past_sequence_length + 1" are understood', () => {
    const inputs = [
      { name: 'input_ids', dims: [-1, -1] },
      { name: 'attention_mask', dims: ['batch_size', 'past_sequence_length + 1'] },
      { name: 'past_key_values.0.key', dims: ['batch_size', 4, 'past_sequence_length', 8] },
      { name: 'past_key_values.0.value', dims: ['batch_size', 4, 'past_sequence_length', 8] },
    ];
    const r = decoderDimRanges(inputs, { maxBatch: 4, maxSequenceLength: 64, maxTotalLength: 256 })!;
    expect(r).toEqual({
      'input_ids:0': { min: 1, opt: 4, max: 4 },
      'input_ids:1': { min: 1, opt: 1, max: 64 },
      batch_size: { min: 1, opt: 4, max: 4 },
      'past_sequence_length + 1': { min: 1, opt: 256, max: 256 },
      past_sequence_length: { min: 0, opt: 255, max: 255 },
    });
    expect(() => decoderDimRanges(inputs, { maxBatch: 0 })).toThrow(/maxBatch must be an integer >= 1, got 0/);
    expect(() => decoderDimRanges(inputs, { maxSequenceLength: 300, maxTotalLength: 256 })).toThrow(/maxSequenceLength 300 is more than maxTotalLength 256/);
    expect(() => decoderDimRanges(inputs, { maxTotalLength: 1.5 })).toThrow(/maxTotalLength must be an integer >= 2/);
  });

  it('an encoder is not a decoder: no ranges (the defaults stay 1..64 leading, 1..512 else)', () => {
    const encoder = [
      { name: 'input_ids', dims: ['batch', 'sequence'] },
      { name: 'attention_mask', dims: ['batch', 'sequence'] },
    ];
    expect(decoderDimRanges(encoder)).toBeUndefined();
  });
});
