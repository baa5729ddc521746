import { describe, expect, it } from 'vitest';
import {
  ENCODER_PRESETS,
  Xoshiro128,
  createEncoderModel,
  encodeModel,
  encoderParameterCount,
  resolveEncoderConfig,
  tensorFromProto,
} from '../../../src/onnx/index.js';
import { InvalidArgumentError } from '../../../src/errors.js';

describe('Xoshiro128', () => {
  it('is deterministic per seed and stream, and streams differ', () => {
    const a = Xoshiro128.forStream(7, 'w');
    const b = Xoshiro128.forStream(7, 'w');
    const seqA = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(seqA);
    const c = Xoshiro128.forStream(7, 'v');
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(seqA);
    const d = Xoshiro128.forStream(8, 'w');
    expect(Array.from({ length: 5 }, () => d.nextUint32())).not.toEqual(seqA);
    expect(seqA.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)).toBe(true);
  });

  it('draws normals with the requested mean and spread', () => {
    const out = Xoshiro128.forStream(1, 'n').fillNormal(new Float32Array(200_000), 0.5, 2);
    let sum = 0;
    let sq = 0;
    for (const v of out) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / out.length;
    const std = Math.sqrt(sq / out.length - mean * mean);
    expect(mean).toBeCloseTo(2, 2);
    expect(std).toBeCloseTo(0.5, 2);
    const g = Xoshiro128.forStream(2, 'u');
    const ints = Array.from({ length: 1000 }, () => g.nextInt(3, 9));
    expect(Math.min(...ints)).toBe(3);
    expect(Math.max(...ints)).toBe(8);
  });
});

describe('createEncoderModel', () => {
  it('gives identical bytes for the same options and different weights for another seed', () => {
    const a = encodeModel(createEncoderModel({ seed: 11 }));
    const b = encodeModel(createEncoderModel({ seed: 11 }));
    const c = encodeModel(createEncoderModel({ seed: 12 }));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    expect(a.byteLength).toBe(c.byteLength);
  });

  it('initialises weights as documented', () => {
    const g = createEncoderModel({ hidden: 128, heads: 4, intermediate: 512 }).graph!;
    const stats = (name: string) => {
      const v = tensorFromProto(g.initializer.find((t) => t.name === name)!).data as Float32Array;
      let s = 0;
      let q = 0;
      for (const x of v) {
        s += x;
        q += x * x;
      }
      const mean = s / v.length;
      return { mean, std: Math.sqrt(q / v.length - mean * mean) };
    };
    expect(stats('embeddings.word_embeddings.weight').std).toBeCloseTo(0.02, 3);
    expect(stats('encoder.layer.0.attention.self.query.weight').std).toBeCloseTo(1 / Math.sqrt(128), 2);
    expect(stats('encoder.layer.1.output.dense.weight').std).toBeCloseTo(1 / Math.sqrt(512), 2);
    expect(stats('encoder.layer.0.output.LayerNorm.weight').mean).toBeCloseTo(1, 1);
  });

  it('resolves presets and validates options', () => {
    expect(resolveEncoderConfig({ preset: 'bert-base' })).toMatchObject(ENCODER_PRESETS['bert-base']);
    // BERT-base's well-known size (this classifier head has 2 classes, no token types).
    const base = encoderParameterCount(resolveEncoderConfig({ preset: 'bert-base' }));
    expect(base).toBeGreaterThan(108e6);
    expect(base).toBeLessThan(111e6);
    expect(resolveEncoderConfig({ preset: 'bert-base', layers: 2 }).layers).toBe(2);
    expect(() => createEncoderModel({ hidden: 30, heads: 4 })).toThrow(/hidden \(30\) must be a multiple of heads \(4\)/);
    expect(() => createEncoderModel({ layers: 0 })).toThrow(InvalidArgumentError);
    expect(() => createEncoderModel({ opset: 16 })).toThrow(/opset/);
    expect(() => createEncoderModel({ bogus: 1 } as never)).toThrow(/unknown option/);
  });

  it('uses only ops TensorRT parses at opset 17 and the documented I/O', () => {
    const g = createEncoderModel({ typeVocabSize: 2 }).graph!;
    const allowed = new Set([
      'Gather',
      'Shape',
      'Slice',
      'Add',
      'Sub',
      'Mul',
      'Cast',
      'Unsqueeze',
      'MatMul',
      'Reshape',
      'Transpose',
      'Softmax',
      'Erf',
      'Tanh',
      'LayerNormalization',
    ]);
    expect(g.node.filter((n) => !allowed.has(n.opType) || n.domain !== '')).toEqual([]);
    expect(g.input.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    expect(g.output.map((o) => o.name)).toEqual(['last_hidden_state', 'logits']);
  });
});
