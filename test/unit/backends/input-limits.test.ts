// Input limits read from a model's graph: the shapes exporters emit for position tables.
import { describe, expect, it } from 'vitest';
import { checkInputLimits, findInputLimits, splitInputLimits } from '../../../src/backends/input-limits.js';
import { GraphBuilder } from '../../../src/onnx/builder.js';
import { createEncoderModel } from '../../../src/onnx/encoder.js';
import { Tensor } from '../../../src/tensor.js';
import { InvalidArgumentError, ShapeError } from '../../../src/errors.js';

const table = (rows: number, width = 8) => new Tensor('float32', new Float32Array(rows * width), [rows, width]);
const ids = (batch: number, seq: number, value = 1n) => ({ dims: [batch, seq], data: new BigInt64Array(batch * seq).fill(value) });

/** seq = Shape(input_ids)[1] as a scalar, the way torch.onnx exports `input_ids.size(1)`. */
function seqLen(g: GraphBuilder, input: string, axis = 1): string {
  return g.op('Gather', [g.op('Shape', [input]), g.ints(axis)], { axis: 0 });
}

describe('findInputLimits', () => {
  it('reads the embedded encoder: positions from a Slice of the table, token ids from the vocabulary', () => {
    const limits = findInputLimits(createEncoderModel({ preset: 'tiny', maxPositions: 16 }));
    expect(limits.dims).toEqual([
      {
        terms: [{ input: 'input_ids', axis: 1, coefficient: 1 }],
        offset: 0,
        max: 16,
        reason:
          'the model\'s Slice "/embeddings/Slice" takes entries [0, input_ids dim 1) of initializer "embeddings.position_embeddings.weight" [16, 64] along axis 0, which has 16',
      },
    ]);
    expect(limits.values).toEqual([
      {
        input: 'input_ids',
        min: -1024,
        max: 1023,
        reason:
          'the model\'s Gather "/embeddings/Gather" looks up initializer "embeddings.word_embeddings.weight" [1024, 64] (1024 entries on axis 0) by these values',
      },
    ]);
    expect(() => checkInputLimits(limits, { input_ids: ids(2, 16), attention_mask: ids(2, 16) })).not.toThrow();
    expect(() => checkInputLimits(limits, { input_ids: ids(2, 17), attention_mask: ids(2, 17) })).toThrow(ShapeError);
    expect(() => checkInputLimits(limits, { input_ids: ids(1, 4, 1024n), attention_mask: ids(1, 4) })).toThrow(
      'input "input_ids" holds 1024 at flat index 0 (dims [1, 4]), but the model takes values in [-1024, 1023] there',
    );
  });

  it('reads a Gather of the table by Range(past, past + seq): a limit on the sum of two dims', () => {
    const g = new GraphBuilder({ opset: 17 });
    const input = g.input('input_ids', 'int64', ['batch', 'seq']);
    const past = g.input('past_key', 'float32', ['batch', 2, 'past', 4]);
    const pastLen = seqLen(g, past, 2);
    const positions = g.op('Range', [pastLen, g.op('Add', [pastLen, seqLen(g, input)]), g.ints(1)]);
    g.op('Gather', [g.initializer('wpe', table(1024)), g.op('Unsqueeze', [positions, g.ints([0])])], { axis: 0 }, 'h');
    g.output('h', 'float32', [1, 'seq', 8]);
    const limits = findInputLimits(g.build());
    expect(limits.dims).toHaveLength(1);
    expect(limits.dims[0]).toMatchObject({
      terms: [
        { input: 'past_key', axis: 2, coefficient: 1 },
        { input: 'input_ids', axis: 1, coefficient: 1 },
      ],
      offset: 0,
      max: 1024,
    });
    expect(splitInputLimits(limits).rest.dims).toEqual(limits.dims); // a sum of dims stays with checkInputLimits
    const feeds = (pastN: number, seqN: number) => ({ input_ids: ids(1, seqN), past_key: { dims: [1, 2, pastN, 4], data: new Float32Array(8 * pastN) } });
    expect(() => checkInputLimits(limits, feeds(1000, 24))).not.toThrow();
    expect(() => checkInputLimits(limits, feeds(1000, 25))).toThrow(
      'input "past_key" dim 2 (1000) + input "input_ids" dim 1 (25) is 1025, but at most 1024 fit: the model\'s Gather ' +
        '"/Gather_2" looks up initializer "wpe" [1024, 8] (1024 entries on axis 0) at positions Range(past_key dim 2, past_key dim 2 + input_ids dim 1)',
    );
  });

  it('reads a Range with an offset (positions from padding_idx + 1, RoBERTa-style)', () => {
    const g = new GraphBuilder({ opset: 17 });
    const input = g.input('input_ids', 'int64', ['batch', 'seq']);
    const positions = g.op('Add', [g.op('Range', [g.ints(0), seqLen(g, input), g.ints(1)]), g.ints(2)]);
    g.op('Gather', [g.initializer('pos', table(514)), positions], { axis: 0 }, 'h');
    g.output('h', 'float32', ['seq', 8]);
    const limits = findInputLimits(g.build());
    expect(limits.dims.map((l) => [l.terms, l.offset, l.max])).toEqual([[[{ input: 'input_ids', axis: 1, coefficient: 1 }], 2, 514]]);
    expect(() => checkInputLimits(limits, { input_ids: ids(1, 512) })).not.toThrow();
    expect(() => checkInputLimits(limits, { input_ids: ids(1, 513) })).toThrow(/^input "input_ids" dim 1 \(513\) \+ 2 is 515, but at most 514 fit/);
    // One dim of one input: what the feed validator takes (TensorInfo.limits), with the offset worked in.
    const { perInput, rest } = splitInputLimits(limits);
    expect(perInput).toEqual({ input_ids: [{ axis: 1, max: 512, reason: limits.dims[0]!.reason }] });
    expect(rest).toEqual({ dims: [], values: [] });
  });

  it('reads a Slice of a position_ids buffer (Hugging Face BERT exports)', () => {
    const g = new GraphBuilder({ opset: 17 });
    const input = g.input('input_ids', 'int64', ['batch', 'sequence']);
    const buffer = g.initializer(
      'embeddings.position_ids',
      new Tensor(
        'int64',
        BigInt64Array.from({ length: 512 }, (_, i) => BigInt(i)),
        [1, 512],
      ),
    );
    const end = g.op('Unsqueeze', [seqLen(g, input), g.ints([0])]);
    const positions = g.op('Slice', [buffer, g.ints([0]), end, g.ints([1]), g.ints([1])]);
    g.op('Gather', [g.initializer('pos', table(512)), positions], { axis: 0 }, 'h');
    g.output('h', 'float32', [1, 'sequence', 8]);
    const limits = findInputLimits(g.build());
    expect(limits.dims.map((l) => [l.terms, l.max, l.reason])).toEqual([
      [
        [{ input: 'input_ids', axis: 1, coefficient: 1 }],
        512,
        'the model\'s Slice "/Slice" takes entries [0, input_ids dim 1) of initializer "embeddings.position_ids" [1, 512] along axis 1, which has 512',
      ],
    ]);
  });

  it('reads a Slice of the buffer from past to past + seq (exports with a KV cache)', () => {
    const g = new GraphBuilder({ opset: 17 });
    const input = g.input('input_ids', 'int64', ['batch', 'seq']);
    const past = seqLen(g, g.input('past_key', 'float32', ['batch', 2, 'past', 4]), 2);
    const buffer = g.initializer(
      'position_ids',
      new Tensor(
        'int64',
        BigInt64Array.from({ length: 64 }, (_, i) => BigInt(i)),
        [1, 64],
      ),
    );
    const from = g.op('Unsqueeze', [past, g.ints([0])]);
    const to = g.op('Unsqueeze', [g.op('Add', [past, seqLen(g, input)]), g.ints([0])]);
    g.op('Slice', [buffer, from, to, g.ints([-1])], {}, 'positions');
    g.output('positions', 'int64', [1, 'seq']);
    const [limit, ...rest] = findInputLimits(g.build()).dims;
    expect(rest).toEqual([]);
    expect(limit).toMatchObject({
      terms: [
        { input: 'past_key', axis: 2 },
        { input: 'input_ids', axis: 1 },
      ],
      offset: 0,
      max: 64,
    });
    expect(limit!.reason).toContain('takes entries [past_key dim 2, past_key dim 2 + input_ids dim 1) of initializer "position_ids" [1, 64] along axis 1');
  });

  it('reads a Gather by a position_ids input as a value limit', () => {
    const g = new GraphBuilder({ opset: 17 });
    const pos = g.input('position_ids', 'int64', ['batch', 'seq']);
    g.op('Gather', [g.op('Cast', [g.initializer('pos', table(512))], { to: 1 }), pos], { axis: 0 }, 'h');
    g.output('h', 'float32', ['batch', 'seq', 8]);
    const limits = findInputLimits(g.build());
    expect(limits.dims).toEqual([]);
    expect(limits.values.map((v) => [v.input, v.min, v.max])).toEqual([['position_ids', -512, 511]]);
    const positions = { dims: [1, 600], data: BigInt64Array.from({ length: 600 }, (_, i) => BigInt(i)) };
    const err = (() => {
      try {
        checkInputLimits(limits, { position_ids: positions });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toBe(
      'input "position_ids" holds 512 at flat index 512 (dims [1, 600]), but the model takes values in [-512, 511] there: ' +
        'the model\'s Gather "/Gather" looks up initializer "pos" [512, 8] (512 entries on axis 0) by these values',
    );
    const int32 = { dims: [2], data: new Int32Array([3, -512]) };
    expect(() => checkInputLimits(limits, { position_ids: int32 })).not.toThrow();
    // What sessions report as TensorInfo.valueRange (and the Generator reads as 512 positions).
    expect(splitInputLimits(limits).valueRanges).toEqual({
      position_ids: {
        min: -512,
        max: 511,
        reason: 'the model\'s Gather "/Gather" looks up initializer "pos" [512, 8] (512 entries on axis 0) by these values',
      },
    });
  });

  it('value ranges of one input from several tables: the tightest bounds, with the reason of the smaller table', () => {
    const g = new GraphBuilder({ opset: 17 });
    const pos = g.input('position_ids', 'int64', ['batch', 'seq']);
    g.op('Gather', [g.initializer('big', table(512)), pos], { axis: 0 }, 'a');
    g.op('Gather', [g.initializer('small', table(100)), pos], { axis: 0 }, 'b');
    g.output('a', 'float32', ['batch', 'seq', 8]);
    g.output('b', 'float32', ['batch', 'seq', 8]);
    const { valueRanges } = splitInputLimits(findInputLimits(g.build()));
    expect(valueRanges.position_ids).toMatchObject({ min: -100, max: 99, reason: expect.stringMatching(/initializer "small" \[100, 8\]/) });
  });

  it('finds no limit where the graph does not make one knowable', () => {
    const g = new GraphBuilder({ opset: 17 });
    const input = g.input('input_ids', 'int64', ['batch', 'seq']);
    const mask = g.input('mask', 'float32', ['batch', 'seq']);
    // Positions computed from the data (CumSum), a Range in steps of 2, a Slice up to a constant.
    g.op('Gather', [g.initializer('a', table(64)), g.op('CumSum', [g.op('Cast', [mask], { to: 7 }), g.ints(1)])], { axis: 0 }, 'x');
    g.op('Gather', [g.initializer('b', table(64)), g.op('Range', [g.ints(0), seqLen(g, input), g.ints(2)])], { axis: 0 }, 'y');
    g.op('Slice', [g.initializer('c', table(64)), g.ints([0]), g.ints([32]), g.ints([0])], {}, 'z');
    for (const o of ['x', 'y']) g.output(o, 'float32', ['batch', 'seq', 8]);
    g.output('z', 'float32', [32, 8]);
    expect(findInputLimits(g.build())).toEqual({ dims: [], values: [] });
  });
});
