/**
 * The embedded decoder: a GPT-2-style causal language model with a KV cache and seeded random
 * weights, built as an ONNX model in code. It is the model of the Generator's tests, the demo's
 * generation part and the generation benchmarks.
 *
 * Its inputs and outputs follow Hugging Face Optimum's decoder-with-past export exactly, so the
 * Generator detects it as it detects real exports:
 *
 *   input_ids                int64   [batch_size, sequence_length]
 *   attention_mask           int64   [batch_size, total_sequence_length]   (past + current)
 *   position_ids             int64   [batch_size, sequence_length]          (positionIds: true)
 *   past_key_values.{i}.key  kvDtype [batch_size, kv_heads, past_sequence_length, head_dim]
 *   past_key_values.{i}.value       (same)
 *   use_cache_branch         bool    [1]                                     (useCacheBranch: true)
 *   logits                   float32 [batch_size, sequence_length, vocab]
 *   present.{i}.key / .value kvDtype [batch_size, kv_heads, total_sequence_length, head_dim]
 *
 * Graph (opset 17; only ops TensorRT's ONNX parser takes): pre-LN GPT-2 blocks,
 *   x = wte[input_ids] + wpe[position_ids]
 *   per layer: h = LN(x); q, k, v = h Wq + bq, ...; k, v appended to the past (Concat on the
 *     time axis: the present); a = Softmax(Where(allowed, q k^T / sqrt(d), -10000)) v;
 *     x = x + a Wo + bo; x = x + GELU_tanh(LN(x) W1 + b1) W2 + b2
 *   logits = LN_f(x) W_lm + b_lm
 * where allowed[b, i, j] = (j <= past + i) and attention_mask[b, j]: causal and padding masks
 * together, so left padding is masked out. Without a position_ids input, positions come from the
 * mask (cumsum - 1, as Hugging Face derives them), so left-padded rows still get the positions a
 * row alone would. A masked score is set to -10000, not added to it: exp(-10000 - max) is exactly
 * 0 in float32 (masked positions get no weight whatever their values), a query row that is all
 * padding gets a finite uniform softmax instead of NaN (NaN would reach the real rows through
 * 0 * NaN at the next layer), and -10000 survives an FP16 conversion.
 *
 * `kvHeads` below `heads` gives grouped-query attention (as Llama and Mistral exports have):
 * each key/value head serves heads / kvHeads query heads, and the cache is that much smaller.
 * `useCacheBranch` adds Optimum's merged-model input: when false the past is ignored (sliced to
 * length 0), as the merged model's no-cache branch does. `kvDtype: 'float16'` stores the cache in
 * float16 (past in, present out) as FP16 exports do; the arithmetic stays float32.
 *
 * Weights (see random.ts; each tensor draws from its own stream keyed by the seed and its name):
 * wte and wpe N(0, 1/hidden), so a token and its position weigh alike in the residual stream
 * (a wrong position id changes the output); biases N(0, 0.02^2); dense weights N(0, 1/fan_in),
 * the residual projections further scaled by 1/sqrt(2 layers) as GPT-2 does, and the LM head
 * too, so logits have unit scale and their top two are rarely within float rounding of each
 * other. Unlike GPT-2 the LM head is not tied to wte: with random weights a tied head mostly
 * predicts the token it was fed, and greedy decoding would repeat one token forever.
 * LayerNorm gamma 1 + N(0, 0.02^2), beta N(0, 0.02^2).
 */
import { z } from 'zod';
import { parseOptions } from '../options.js';
import { Tensor } from '../tensor.js';
import { floatAttr } from './attributes.js';
import { GraphBuilder } from './builder.js';
import { Random } from '../random.js';
import { TENSOR_TYPE, type ModelProto } from './schema.js';

export const DECODER_PRESETS = Object.freeze({
  /** Tests: 2 layers, hidden 64; a decode step of 32 sequences takes well under a millisecond of model time. */
  tiny: { layers: 2, hidden: 64, heads: 4, intermediate: 256, vocabSize: 1024, maxPositions: 512 },
  /**
   * Benchmarks: 6 layers, hidden 512 (28M parameters, 111 MB of float32 weights). Its weights
   * are larger than a server CPU's caches, so a decode step of one sequence is bound by reading
   * them, as decoding is on a GPU, and the model's work, not the JavaScript around it, dominates
   * a step. (With weights that fit in the cache, a CPU computes one row about as cheaply per
   * token as sixteen, and batching shows little.) Grouped-query attention with 2 key/value
   * heads, as current decoders have, keeps the cache a quarter of multi-head attention's: the
   * cache's traffic, which batching cannot share, stays below the weights'.
   */
  small: { layers: 6, hidden: 512, heads: 8, kvHeads: 2, intermediate: 2048, vocabSize: 8192, maxPositions: 1024 },
  /** GPT-2 (124M) sizes: 12 layers, hidden 768, vocabulary 50257 (500 MB of float32 weights). */
  gpt2: { layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocabSize: 50257, maxPositions: 1024 },
});

export type DecoderPreset = keyof typeof DECODER_PRESETS;

export const DecoderOptionsSchema = z
  .object({
    /** Start from a preset's sizes; explicit options override them. */
    preset: z.enum(['tiny', 'small', 'gpt2']).default('tiny'),
    layers: z.number().int().min(1).max(96).optional(),
    hidden: z.number().int().min(2).max(16384).optional(),
    heads: z.number().int().min(1).max(256).optional(),
    /** Key/value heads (grouped-query attention when fewer than heads); default: heads. */
    kvHeads: z.number().int().min(1).max(256).optional(),
    intermediate: z.number().int().min(1).max(65536).optional(),
    vocabSize: z.number().int().min(2).max(1_000_000).optional(),
    /** Rows of the position table (the longest sequence, prompt plus generated tokens); at least 2. */
    maxPositions: z
      .number()
      .int()
      .min(2)
      .max(1 << 20)
      .optional(),
    /** A position_ids input (Optimum's default); without it positions come from attention_mask. */
    positionIds: z.boolean().default(true),
    /** Optimum's merged-model use_cache_branch input. */
    useCacheBranch: z.boolean().default(false),
    /** Element type of past_key_values and present. */
    kvDtype: z.enum(['float32', 'float16']).default('float32'),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
    /** ai.onnx opset; 17 (LayerNormalization's first opset) to 21. */
    opset: z.number().int().min(17).max(21).default(17),
    layerNormEpsilon: z.number().positive().max(1).default(1e-5),
  })
  .strict();

export type DecoderOptions = z.input<typeof DecoderOptionsSchema>;

/** The resolved sizes of a decoder (also in the model's metadata under "tensorrt-node.decoder"). */
export interface DecoderConfig {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocabSize: number;
  maxPositions: number;
  positionIds: boolean;
  useCacheBranch: boolean;
  kvDtype: 'float32' | 'float16';
  seed: number;
  opset: number;
  layerNormEpsilon: number;
}

export const DECODER_METADATA_KEY = 'tensorrt-node.decoder';

export function resolveDecoderConfig(options: DecoderOptions = {}): DecoderConfig {
  const o = parseOptions(DecoderOptionsSchema, options, 'decoder options');
  const p = DECODER_PRESETS[o.preset];
  const hidden = o.hidden ?? p.hidden;
  const heads = o.heads ?? p.heads;
  if (hidden % heads !== 0) {
    parseOptions(
      DecoderOptionsSchema.refine(() => false, { message: `hidden (${hidden}) must be a multiple of heads (${heads})`, path: ['heads'] }),
      options,
      'decoder options',
    );
  }
  const kvHeads = o.kvHeads ?? ('kvHeads' in p ? p.kvHeads : heads);
  if (heads % kvHeads !== 0) {
    parseOptions(
      DecoderOptionsSchema.refine(() => false, { message: `heads (${heads}) must be a multiple of kvHeads (${kvHeads})`, path: ['kvHeads'] }),
      options,
      'decoder options',
    );
  }
  return {
    layers: o.layers ?? p.layers,
    hidden,
    heads,
    kvHeads,
    headDim: hidden / heads,
    intermediate: o.intermediate ?? p.intermediate,
    vocabSize: o.vocabSize ?? p.vocabSize,
    maxPositions: o.maxPositions ?? p.maxPositions,
    positionIds: o.positionIds,
    useCacheBranch: o.useCacheBranch,
    kvDtype: o.kvDtype,
    seed: o.seed,
    opset: o.opset,
    layerNormEpsilon: o.layerNormEpsilon,
  };
}

/** The number of float32 weights a decoder of `cfg` holds. */
export function decoderParameterCount(cfg: DecoderConfig): number {
  const { hidden: h, intermediate: i, layers, vocabSize, maxPositions } = cfg;
  const kv = cfg.kvHeads * cfg.headDim;
  const layer = 2 * 2 * h + 2 * (h * h + h) + 2 * (h * kv + kv) + (h * i + i) + (i * h + h);
  return (vocabSize + maxPositions) * h + layers * layer + 2 * h + (h * vocabSize + vocabSize);
}

/** Bytes of KV cache one token takes in every layer (key and value). */
export function decoderKvBytesPerToken(cfg: DecoderConfig): number {
  return 2 * cfg.layers * cfg.kvHeads * cfg.headDim * (cfg.kvDtype === 'float16' ? 2 : 4);
}

/**
 * Builds the decoder. Deterministic: the same options give the same bytes.
 * See the module comment for the architecture, the I/O and the weight initialisation.
 */
export function createDecoderModel(options: DecoderOptions = {}): ModelProto {
  const cfg = resolveDecoderConfig(options);
  const { hidden: H, heads, kvHeads, headDim: D, intermediate: I, layers } = cfg;
  const group = heads / kvHeads;
  const b = new GraphBuilder({ name: 'decoder', opset: cfg.opset });
  const kvType = cfg.kvDtype;

  const normal = (name: string, dims: number[], std: number, mean = 0): string => {
    const n = dims.reduce((a, x) => a * x, 1);
    const data = Random.forStream(cfg.seed, name).fillNormal(new Float32Array(n), std, mean);
    return b.initializer(name, new Tensor('float32', data, dims));
  };
  const dense = (x: string, prefix: string, fanIn: number, fanOut: number, scale = 1): string => {
    const w = normal(`${prefix}.weight`, [fanIn, fanOut], scale / Math.sqrt(fanIn));
    const bias = normal(`${prefix}.bias`, [fanOut], 0.02);
    return b.op('Add', [b.op('MatMul', [x, w]), bias]);
  };
  const layerNorm = (x: string, prefix: string): string => {
    const gamma = normal(`${prefix}.weight`, [H], 0.02, 1);
    const beta = normal(`${prefix}.bias`, [H], 0.02);
    return b.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: floatAttr(cfg.layerNormEpsilon) });
  };

  const ids = b.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = b.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positionInput = cfg.positionIds ? b.input('position_ids', 'int64', ['batch_size', 'sequence_length']) : undefined;
  const past: { key: string; value: string }[] = [];
  for (let l = 0; l < layers; l++) {
    past.push({
      key: b.input(`past_key_values.${l}.key`, kvType, ['batch_size', kvHeads, 'past_sequence_length', D]),
      value: b.input(`past_key_values.${l}.value`, kvType, ['batch_size', kvHeads, 'past_sequence_length', D]),
    });
  }
  const useCache = cfg.useCacheBranch ? b.input('use_cache_branch', 'bool', [1]) : undefined;

  const wte = normal('transformer.wte.weight', [cfg.vocabSize, H], 1 / Math.sqrt(H));
  const { x0, allowed, pastEnd } = b.scope('embeddings', () => {
    const seqLen = b.op('Shape', [ids], { start: 1, end: 2 });
    const totalLen = b.op('Shape', [mask], { start: 1, end: 2 });
    let positions = positionInput;
    if (positions === undefined) {
      // Hugging Face's rule: position = (number of real tokens before this one), from the mask.
      const cum = b.op('Sub', [b.op('CumSum', [mask, b.ints(1)]), b.ints(1)]);
      const current = b.op('Slice', [cum, b.op('Neg', [seqLen]), b.ints([2 ** 53]), b.ints([1])]);
      positions = b.op('Max', [current, b.ints(0)]);
    }
    const words = b.op('Gather', [wte, ids], { axis: 0 });
    const pos = b.op('Gather', [normal('transformer.wpe.weight', [cfg.maxPositions, H], 1 / Math.sqrt(H)), positions], { axis: 0 });
    const x0 = b.op('Add', [words, pos]);

    // allowed[b, 1, i, j] = j <= (T - S) + i  and  attention_mask[b, j]
    const pastLen = b.op('Sub', [totalLen, seqLen]);
    const total0 = b.op('Squeeze', [totalLen, b.ints([0])]);
    const qIdx = b.op('Range', [b.op('Squeeze', [pastLen, b.ints([0])]), total0, b.ints(1)]);
    const kIdx = b.op('Range', [b.ints(0), total0, b.ints(1)]);
    const causal = b.op('LessOrEqual', [b.op('Unsqueeze', [kIdx, b.ints([0])]), b.op('Unsqueeze', [qIdx, b.ints([1])])]);
    const padOk = b.op('Unsqueeze', [b.op('Cast', [mask], { to: TENSOR_TYPE.BOOL }), b.ints([1, 2])]);
    const allowed = b.op('And', [causal, padOk]);
    // The merged model's no-cache branch: the past is cut to length 0.
    const pastEnd = useCache
      ? b.op('Mul', [b.op('Cast', [useCache], { to: TENSOR_TYPE.INT64 }), b.op('Shape', [past[0]!.key], { start: 2, end: 3 })])
      : undefined;
    return { x0, allowed, pastEnd };
  });

  const splitShape = b.ints([0, 0, heads, D], 'split_heads_shape');
  const kvSplitShape = group > 1 ? b.ints([0, 0, kvHeads, D], 'split_kv_heads_shape') : splitShape;
  // Grouped-query attention: [batch, kv_heads, group, sequence, head_dim] against K/V of one group axis.
  const groupShape = group > 1 ? b.ints([0, kvHeads, group, -1, D], 'group_heads_shape') : '';
  const ungroupShape = group > 1 ? b.ints([0, heads, -1, D], 'ungroup_heads_shape') : '';
  const allowedForGroups = group > 1 ? b.op('Unsqueeze', [allowed, b.ints([1])]) : allowed;
  const mergeShape = b.ints([0, 0, H], 'merge_heads_shape');
  const scale = b.floats(1 / Math.sqrt(D), 'attention_scale');
  const maskedScore = b.floats(-10000, 'masked_score');
  const residualScale = 1 / Math.sqrt(2 * layers);
  let x = x0;
  for (let l = 0; l < layers; l++) {
    const p = `transformer.h.${l}`;
    x = b.scope(`transformer/h.${l}`, () => {
      const attnOut = b.scope('attn', () => {
        const h = layerNorm(x, `${p}.ln_1`);
        const split = (name: string, n: number, shape: string): string =>
          b.op('Transpose', [b.op('Reshape', [dense(h, `${p}.attn.${name}`, H, n * D), shape])], { perm: [0, 2, 1, 3] });
        const q = split('q_proj', heads, splitShape);
        const cache = (fresh: string, pastName: string, presentName: string): string => {
          let pastIn = pastName;
          if (pastEnd) pastIn = b.op('Slice', [pastIn, b.ints([0]), pastEnd, b.ints([2])]);
          if (kvType === 'float16') {
            const present = b.op('Concat', [pastIn, b.op('Cast', [fresh], { to: TENSOR_TYPE.FLOAT16 })], { axis: 2 }, presentName);
            return b.op('Cast', [present], { to: TENSOR_TYPE.FLOAT });
          }
          return b.op('Concat', [pastIn, fresh], { axis: 2 }, presentName);
        };
        const k = cache(split('k_proj', kvHeads, kvSplitShape), past[l]!.key, `present.${l}.key`);
        const v = cache(split('v_proj', kvHeads, kvSplitShape), past[l]!.value, `present.${l}.value`);
        let heads4: string;
        if (group === 1) {
          const scores = b.op('Mul', [b.op('MatMul', [q, b.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), scale]);
          const probs = b.op('Softmax', [b.op('Where', [allowed, scores, maskedScore])], { axis: -1 });
          heads4 = b.op('MatMul', [probs, v]);
        } else {
          const q5 = b.op('Reshape', [q, groupShape]);
          const k5 = b.op('Transpose', [b.op('Unsqueeze', [k, b.ints([2])])], { perm: [0, 1, 2, 4, 3] });
          const scores = b.op('Mul', [b.op('MatMul', [q5, k5]), scale]);
          const probs = b.op('Softmax', [b.op('Where', [allowedForGroups, scores, maskedScore])], { axis: -1 });
          heads4 = b.op('Reshape', [b.op('MatMul', [probs, b.op('Unsqueeze', [v, b.ints([2])])]), ungroupShape]);
        }
        const context = b.op('Reshape', [b.op('Transpose', [heads4], { perm: [0, 2, 1, 3] }), mergeShape]);
        return b.op('Add', [x, dense(context, `${p}.attn.out_proj`, H, H, residualScale)]);
      });
      return b.scope('mlp', () => {
        const h = dense(layerNorm(attnOut, `${p}.ln_2`), `${p}.mlp.c_fc`, H, I);
        // GELU, tanh form (GPT-2's "gelu_new"): 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3)))
        const cube = b.op('Mul', [b.op('Mul', [h, h]), h]);
        const inner = b.op('Mul', [b.op('Add', [h, b.op('Mul', [cube, b.floats(0.044715)])]), b.floats(Math.sqrt(2 / Math.PI))]);
        const gelu = b.op('Mul', [b.op('Mul', [h, b.floats(0.5)]), b.op('Add', [b.op('Tanh', [inner]), b.floats(1)])]);
        return b.op('Add', [attnOut, dense(gelu, `${p}.mlp.c_proj`, I, H, residualScale)]);
      });
    });
  }

  b.scope('lm_head', () => {
    const final = layerNorm(x, 'transformer.ln_f');
    const w = normal('lm_head.weight', [H, cfg.vocabSize], 1 / Math.sqrt(H));
    b.op('Add', [b.op('MatMul', [final, w]), normal('lm_head.bias', [cfg.vocabSize], 0.02)], {}, 'logits');
  });
  b.output('logits', 'float32', ['batch_size', 'sequence_length', cfg.vocabSize]);
  for (let l = 0; l < layers; l++) {
    b.output(`present.${l}.key`, kvType, ['batch_size', kvHeads, 'total_sequence_length', D]);
    b.output(`present.${l}.value`, kvType, ['batch_size', kvHeads, 'total_sequence_length', D]);
  }

  return b.build({
    docString: `GPT-2-style decoder with a KV cache and seeded random weights (tensorrt-node): ${layers} layers, hidden ${H}, ${heads} heads (${kvHeads} key/value), seed ${cfg.seed}`,
    metadata: { [DECODER_METADATA_KEY]: JSON.stringify(cfg) },
  });
}
