/**
 * The embedded encoder: a BERT-style transformer encoder with seeded random weights, built as
 * an ONNX model in code. It is the default model for tests, the demo and the benchmarks.
 *
 * Graph (opset 17, only ops TensorRT's ONNX parser supports: Gather, Shape, Slice, Add, Sub,
 * Mul, Cast, Unsqueeze, MatMul, Reshape, Transpose, Softmax, Erf, Tanh, LayerNormalization):
 *
 *   input_ids int64 [batch, sequence], attention_mask int64 [batch, sequence]
 *   (token_type_ids int64 [batch, sequence] when typeVocabSize > 0)
 *   x = LayerNorm(word_emb[input_ids] + pos_emb[0:sequence] (+ type_emb[token_type_ids]))
 *       positions come from Shape(input_ids)[1] and a Slice of the position table, so any
 *       sequence length up to maxPositions works
 *   bias = (1 - float(attention_mask)) * -10000, shaped [batch, 1, 1, sequence]
 *   per layer (post-LN, as BERT):
 *     q, k, v = x Wq + bq, ...; split into heads [batch, heads, sequence, head_dim]
 *     a = Softmax(q k^T / sqrt(head_dim) + bias) v, merged back; x = LayerNorm(x + a Wo + bo)
 *     h = GELU(x W1 + b1), erf form 0.5 h (1 + erf(h / sqrt 2)); x = LayerNorm(x + h W2 + b2)
 *   last_hidden_state = x  float32 [batch, sequence, hidden]
 *   logits = tanh(x[:, 0] Wp + bp) Wc + bc  float32 [batch, classes]
 *
 * The mask bias is -10000 rather than float32's lowest value: exp(-10000 - max) is exactly 0
 * in float32, so masked positions get no weight (padding invariance), and -10000 is a finite
 * FP16 number, so an FP16 conversion of the model does not turn the mask into -Inf or NaN.
 *
 * Weights (see random.ts for the generator; each tensor draws from its own stream keyed by the
 * seed and the tensor's name): embeddings and biases N(0, 0.02^2) as BERT initialises them;
 * dense weights N(0, 1/fan_in) (LeCun), so every projection keeps unit-scale activations at
 * any width and the attention and classifier are not washed out to near-uniform; LayerNorm
 * gamma 1 + N(0, 0.02^2), beta N(0, 0.02^2). Activations stay O(1)-O(10).
 */
import { z } from 'zod';
import { parseOptions } from '../options.js';
import { Tensor } from '../tensor.js';
import { floatAttr } from './attributes.js';
import { GraphBuilder } from './builder.js';
import { Random } from '../random.js';
import type { ModelProto } from './schema.js';

export const ENCODER_PRESETS = Object.freeze({
  /** The default: 2 layers, hidden 64; a batch of 8 x 128 runs in a few ms on 2 CPU cores. */
  tiny: { layers: 2, hidden: 64, heads: 4, intermediate: 256, vocabSize: 1024, maxPositions: 512, classes: 4 },
  /** The demo's default: 4 layers, hidden 256 (about 3.6M parameters). */
  small: { layers: 4, hidden: 256, heads: 4, intermediate: 1024, vocabSize: 1024, maxPositions: 512, classes: 4 },
  /** BERT-base sizes (about 110M parameters, 440 MB of float32 weights). */
  'bert-base': { layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocabSize: 30522, maxPositions: 512, classes: 2 },
});

export type EncoderPreset = keyof typeof ENCODER_PRESETS;

export const EncoderOptionsSchema = z
  .object({
    /** Start from a preset's sizes; explicit options override them. */
    preset: z.enum(Object.keys(ENCODER_PRESETS) as [EncoderPreset, ...EncoderPreset[]]).default('tiny'),
    layers: z.number().int().min(1).max(48).optional(),
    hidden: z.number().int().min(2).max(8192).optional(),
    heads: z.number().int().min(1).max(128).optional(),
    intermediate: z.number().int().min(1).max(65536).optional(),
    vocabSize: z.number().int().min(2).max(1_000_000).optional(),
    maxPositions: z.number().int().min(1).max(65536).optional(),
    /** Token type vocabulary; 0 (default) means no token_type_ids input. */
    typeVocabSize: z.number().int().min(0).max(64).default(0),
    classes: z.number().int().min(1).max(100_000).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
    /** ai.onnx opset; 17 (LayerNormalization's first opset) to 21. */
    opset: z.number().int().min(17).max(21).default(17),
    layerNormEpsilon: z.number().positive().max(1).default(1e-12),
  })
  .strict();

export type EncoderOptions = z.input<typeof EncoderOptionsSchema>;

/** The resolved sizes of an encoder (also stored in the model's metadata under "tensorrt-node.encoder"). */
export interface EncoderConfig {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocabSize: number;
  maxPositions: number;
  typeVocabSize: number;
  classes: number;
  seed: number;
  opset: number;
  layerNormEpsilon: number;
}

export const ENCODER_METADATA_KEY = 'tensorrt-node.encoder';

export function resolveEncoderConfig(options: EncoderOptions = {}): EncoderConfig {
  const o = parseOptions(EncoderOptionsSchema, options, 'encoder options');
  const p = ENCODER_PRESETS[o.preset];
  const cfg: EncoderConfig = {
    layers: o.layers ?? p.layers,
    hidden: o.hidden ?? p.hidden,
    heads: o.heads ?? p.heads,
    intermediate: o.intermediate ?? p.intermediate,
    vocabSize: o.vocabSize ?? p.vocabSize,
    maxPositions: o.maxPositions ?? p.maxPositions,
    typeVocabSize: o.typeVocabSize,
    classes: o.classes ?? p.classes,
    seed: o.seed,
    opset: o.opset,
    layerNormEpsilon: o.layerNormEpsilon,
  };
  if (cfg.hidden % cfg.heads !== 0) {
    // Re-parse with a refinement so the error has the usual form.
    parseOptions(
      EncoderOptionsSchema.refine(() => false, { message: `hidden (${cfg.hidden}) must be a multiple of heads (${cfg.heads})`, path: ['heads'] }),
      options,
      'encoder options',
    );
  }
  return cfg;
}

/** The number of float32 weights an encoder of `cfg` holds. */
export function encoderParameterCount(cfg: EncoderConfig): number {
  const { hidden: h, intermediate: i, layers, vocabSize, maxPositions, typeVocabSize, classes } = cfg;
  const layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h;
  return (vocabSize + maxPositions + typeVocabSize) * h + 2 * h + layers * layer + (h * h + h) + (h * classes + classes);
}

/**
 * Builds the encoder. Deterministic: the same options give the same bytes.
 * See the module comment for the architecture and the weight initialisation.
 */
export function createEncoderModel(options: EncoderOptions = {}): ModelProto {
  const cfg = resolveEncoderConfig(options);
  const { hidden: H, heads, intermediate: I } = cfg;
  const headDim = H / heads;
  const b = new GraphBuilder({ name: 'encoder', opset: cfg.opset });

  const normal = (name: string, dims: number[], std: number, mean = 0): string => {
    const n = dims.reduce((a, x) => a * x, 1);
    const data = Random.forStream(cfg.seed, name).fillNormal(new Float32Array(n), std, mean);
    return b.initializer(name, new Tensor('float32', data, dims));
  };
  const dense = (x: string, prefix: string, fanIn: number, fanOut: number): string => {
    const w = normal(`${prefix}.weight`, [fanIn, fanOut], 1 / Math.sqrt(fanIn));
    const bias = normal(`${prefix}.bias`, [fanOut], 0.02);
    return b.op('Add', [b.op('MatMul', [x, w]), bias]);
  };
  const layerNorm = (x: string, prefix: string, output?: string): string => {
    const gamma = normal(`${prefix}.weight`, [H], 0.02, 1);
    const beta = normal(`${prefix}.bias`, [H], 0.02);
    return b.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: floatAttr(cfg.layerNormEpsilon) }, output);
  };

  const ids = b.input('input_ids', 'int64', ['batch', 'sequence']);
  const mask = b.input('attention_mask', 'int64', ['batch', 'sequence']);
  const types = cfg.typeVocabSize > 0 ? b.input('token_type_ids', 'int64', ['batch', 'sequence']) : undefined;

  const { hidden0, maskBias } = b.scope('embeddings', () => {
    const words = b.op('Gather', [normal('embeddings.word_embeddings.weight', [cfg.vocabSize, H], 0.02), ids], { axis: 0 });
    const seqLen = b.op('Shape', [ids], { start: 1, end: 2 });
    const positions = b.op('Slice', [normal('embeddings.position_embeddings.weight', [cfg.maxPositions, H], 0.02), b.ints([0]), seqLen, b.ints([0])]);
    let sum = b.op('Add', [words, positions]);
    if (types) {
      sum = b.op('Add', [sum, b.op('Gather', [normal('embeddings.token_type_embeddings.weight', [cfg.typeVocabSize, H], 0.02), types], { axis: 0 })]);
    }
    const hidden0 = layerNorm(sum, 'embeddings.LayerNorm');
    const maskF = b.op('Cast', [mask], { to: 1 });
    const inverted = b.op('Sub', [b.floats(1), maskF]);
    const bias = b.op('Mul', [inverted, b.floats(-10000)]);
    const maskBias = b.op('Unsqueeze', [bias, b.ints([1, 2])]);
    return { hidden0, maskBias };
  });

  const splitShape = b.ints([0, 0, heads, headDim], 'split_heads_shape');
  const mergeShape = b.ints([0, 0, H], 'merge_heads_shape');
  const scale = b.floats(1 / Math.sqrt(headDim), 'attention_scale');
  let x = hidden0;
  for (let l = 0; l < cfg.layers; l++) {
    const p = `encoder.layer.${l}`;
    x = b.scope(`encoder/layer.${l}`, () => {
      const attnOut = b.scope('attention', () => {
        const heads4 = (name: string, perm: number[]): string =>
          b.op('Transpose', [b.op('Reshape', [dense(x, `${p}.attention.self.${name}`, H, H), splitShape])], { perm });
        const q = heads4('query', [0, 2, 1, 3]);
        const k = heads4('key', [0, 2, 3, 1]);
        const v = heads4('value', [0, 2, 1, 3]);
        const scores = b.op('Add', [b.op('Mul', [b.op('MatMul', [q, k]), scale]), maskBias]);
        const probs = b.op('Softmax', [scores], { axis: -1 });
        const context = b.op('Reshape', [b.op('Transpose', [b.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }), mergeShape]);
        return layerNorm(b.op('Add', [x, dense(context, `${p}.attention.output.dense`, H, H)]), `${p}.attention.output.LayerNorm`);
      });
      return b.scope('ffn', () => {
        const h = dense(attnOut, `${p}.intermediate.dense`, H, I);
        const erf = b.op('Erf', [b.op('Mul', [h, b.floats(Math.SQRT1_2)])]);
        const gelu = b.op('Mul', [b.op('Mul', [h, b.floats(0.5)]), b.op('Add', [erf, b.floats(1)])]);
        const last = l === cfg.layers - 1 ? 'last_hidden_state' : undefined;
        return layerNorm(b.op('Add', [attnOut, dense(gelu, `${p}.output.dense`, I, H)]), `${p}.output.LayerNorm`, last);
      });
    });
  }
  b.output(x, 'float32', ['batch', 'sequence', H]);

  b.scope('pooler', () => {
    const first = b.op('Gather', [x, b.ints(0)], { axis: 1 });
    const pooled = b.op('Tanh', [dense(first, 'pooler.dense', H, H)]);
    const w = normal('classifier.weight', [H, cfg.classes], 1 / Math.sqrt(H));
    const bias = normal('classifier.bias', [cfg.classes], 0.02);
    b.op('Add', [b.op('MatMul', [pooled, w]), bias], {}, 'logits');
  });
  b.output('logits', 'float32', ['batch', cfg.classes]);

  return b.build({
    docString: `BERT-style encoder with seeded random weights (tensorrt-node): ${cfg.layers} layers, hidden ${H}, ${heads} heads, seed ${cfg.seed}`,
    metadata: { [ENCODER_METADATA_KEY]: JSON.stringify(cfg) },
  });
}
