// The embedded decoder's configuration: sizes, grouped-query attention, Optimum's I/O, errors.
import { describe, expect, it } from 'vitest';
import { createDecoderModel, decoderKvBytesPerToken, decoderParameterCount, resolveDecoderConfig } from '../../../src/onnx/decoder.js';
import { dimsOf } from '../../../src/onnx/graph.js';
import { tensorProtoDims } from '../../../src/onnx/tensor-proto.js';

describe('embedded decoder', () => {
  it("counts its weights and KV bytes, and follows Optimum's I/O names and dims", () => {
    for (const options of [{}, { kvHeads: 2 }, { kvDtype: 'float16' as const, useCacheBranch: true, positionIds: false }]) {
      const cfg = resolveDecoderConfig({ preset: 'tiny', ...options });
      const model = createDecoderModel({ preset: 'tiny', ...options });
      const weights = model
        .graph!.initializer.filter((t) => !t.name.startsWith('/') && t.name.includes('.'))
        .reduce((a, t) => a + tensorProtoDims(t).reduce((x, d) => x * d, 1), 0);
      expect(weights).toBe(decoderParameterCount(cfg));
      const inputs = Object.fromEntries(model.graph!.input.map((i) => [i.name, dimsOf(i.type)]));
      expect(inputs['past_key_values.1.value']).toEqual(['batch_size', cfg.kvHeads, 'past_sequence_length', cfg.headDim]);
      expect(inputs.attention_mask).toEqual(['batch_size', 'total_sequence_length']);
      expect('position_ids' in inputs).toBe(cfg.positionIds);
      expect('use_cache_branch' in inputs).toBe(cfg.useCacheBranch);
      const outputs = model.graph!.output.map((o) => o.name);
      expect(outputs).toEqual(['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
      expect(decoderKvBytesPerToken(cfg)).toBe(2 * cfg.layers * cfg.kvHeads * cfg.headDim * (cfg.kvDtype === 'float16' ? 2 : 4));
    }
    expect(resolveDecoderConfig({ preset: 'small' })).toMatchObject({ layers: 6, hidden: 512, heads: 8, kvHeads: 2 });
  });

  it('refuses sizes that do not divide, naming the option', () => {
    expect(() => resolveDecoderConfig({ hidden: 66, heads: 4 })).toThrow(/heads: hidden \(66\) must be a multiple of heads \(4\)/);
    expect(() => resolveDecoderConfig({ heads: 4, kvHeads: 3 })).toThrow(/kvHeads: heads \(4\) must be a multiple of kvHeads \(3\)/);
    expect(() => resolveDecoderConfig({ preset: 'huge' as never })).toThrow(/preset/);
  });
});
