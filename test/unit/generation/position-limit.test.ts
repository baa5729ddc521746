// The position table's limit (issue 12): a decoder whose position_ids index a table of N rows
// takes N positions. ONNX Runtime sessions report it as position_ids' TensorInfo.valueRange (found
// in the graph, src/backends/input-limits.ts), TensorRT sessions from the build's sidecar, and the
// Generator refuses at admission what could run off the table.
import { describe, expect, it } from 'vitest';
import { createSession, type InferenceSession } from '../../../src/session.js';
import { Generator } from '../../../src/generation/generator.js';
import { createDecoderModel, encodeModel } from '../../../src/onnx/index.js';
import { sidecarInputLimits, type EngineInfo } from '../../../src/build/sidecar.js';
import { TensorRTSession, TensorRTSessionOptionsSchema } from '../../../src/backends/tensorrt.js';
import { FakeEngine } from '../../support/trt-engine-double.js';

const rows = 24;
const decoder = encodeModel(createDecoderModel({ preset: 'tiny', layers: 1, hidden: 16, heads: 2, intermediate: 32, vocabSize: 50, maxPositions: rows }));

describe('the position table limit', () => {
  it('ONNX Runtime reports position_ids values and input_ids values from the tables they index', async () => {
    const session = (await createSession(decoder, { backend: 'onnxruntime', execution: 'in-thread' })) as InferenceSession;
    try {
      const byName = Object.fromEntries(session.inputs.map((i) => [i.name, i]));
      expect(byName.position_ids!.valueRange).toEqual({
        min: -rows,
        max: rows - 1,
        reason: expect.stringMatching(new RegExp(`looks up initializer "transformer\\.wpe\\.weight" \\[${rows}, 16\\]`)),
      });
      expect(byName.input_ids!.valueRange).toMatchObject({ min: -50, max: 49 });
      expect(byName.attention_mask!.valueRange).toBeUndefined();

      const gen = new Generator(session, { metrics: false });
      expect(gen.config.decoder.positionLimit).toMatchObject({ max: rows, input: 'position_ids', kind: 'values' });
      const prompt = Array.from({ length: 10 }, (_, i) => i + 1);
      // 10 + 16 - 1 = 25 positions: one more than the table has rows.
      await expect(gen.generate(prompt, { maxNewTokens: 16 })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARG',
        message: expect.stringMatching(
          /^promptIds \(10 tokens\) \+ maxNewTokens \(16\) - 1 = 25 positions, more than the model allows: "position_ids" values at most 23, so at most 24 positions \(the model's Gather .*\); shorten the prompt or lower maxNewTokens$/,
        ),
      });
      expect(gen.stats().requests.rejected.invalid).toBe(1);
      // Exactly at the limit (positions 0..23) it runs to the end.
      const r = await gen.generate(prompt, { maxNewTokens: 15 });
      expect(r).toMatchObject({ finishReason: 'length' });
      expect(r.tokens).toHaveLength(15);
      await gen.close();
    } finally {
      await session.dispose();
    }
  });

  it("TensorRT sessions report the limits the build's sidecar recorded", async () => {
    const reason = 'the model\'s Gather "/Gather" looks up initializer "wpe" [24, 16] (24 entries on axis 0) by these values';
    const info = {
      inputs: [
        { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'], valueRange: { min: -50, max: 49, reason: 'vocabulary' } },
        { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'], limits: [{ axis: 1, max: 24, reason }] },
      ],
      outputs: [],
      options: { versionCompatible: false },
    } as unknown as EngineInfo;
    expect(sidecarInputLimits(info, 'attention_mask')).toEqual({ limits: [{ axis: 1, max: 24, reason }] });
    expect(sidecarInputLimits(info, 'nope')).toEqual({});
    expect(sidecarInputLimits(null, 'input_ids')).toEqual({});
    const session = await TensorRTSession.fromEngine(new FakeEngine(), TensorRTSessionOptionsSchema.parse({ contexts: 1 }), info);
    try {
      expect(session.inputs[0]).toMatchObject({ name: 'input_ids', dims: ['batch', 'sequence'], valueRange: { min: -50, max: 49, reason: 'vocabulary' } });
      expect(session.inputs[1]).toMatchObject({ name: 'attention_mask', limits: [{ axis: 1, max: 24, reason }] });
      expect(session.inputs[1]!.valueRange).toBeUndefined();
      expect(Object.isFrozen(session.inputs[0])).toBe(true);
      // A dim limit from the sidecar is checked at run like ONNX Runtime's.
      const { Tensor } = await import('../../../src/tensor.js');
      const long = new Tensor('int64', new BigInt64Array(25), [1, 25]);
      await expect(session.run({ input_ids: long, attention_mask: long })).rejects.toMatchObject({ code: 'ERR_SHAPE', message: expect.stringMatching(/24/) });
    } finally {
      await session.dispose();
    }
  });
});
