/**
 * Options of convertToFloat16 and the default list of op types kept in FP32.
 *
 * FP16 (IEEE binary16) has 11 significant bits (relative spacing 2^-10 ≈ 1e-3), a largest
 * finite value of 65504, a smallest normal of 6.1e-5 and a smallest subnormal of 6e-8. The
 * default block list names the ops where those limits bite in transformer models; each entry
 * says why. Everything else (MatMul, Gemm, Add, Mul, Erf, Tanh, GELU, data movement...) runs
 * in FP16, where tensor-core kernels accumulate in FP32 anyway.
 */
import { z } from 'zod';
import { Tensor } from '../tensor.js';
import { FLOAT16_MAX } from '../tensor.js';

export const DEFAULT_FP16_BLOCK_OPS: Readonly<Record<string, string>> = Object.freeze({
  LayerNormalization:
    'mean and variance over the normalised width W: the sum of squares of W activations of magnitude 10 is 100 W, past FP16 max once W > 655; TensorRT itself warns about FP16 LayerNorm overflow',
  GroupNormalization: 'mean/variance statistics over many elements overflow or lose precision in FP16',
  InstanceNormalization: 'mean/variance statistics over the spatial size overflow or lose precision in FP16',
  BatchNormalization: 'running variance + epsilon: epsilons (1e-5) and small variances are below FP16’s smallest normal (6.1e-5)',
  LpNormalization: 'sum of p-th powers over an axis overflows FP16',
  MeanVarianceNormalization: 'mean/variance statistics over many elements',
  RMSNormalization: 'mean of squares over the hidden size overflows FP16 like LayerNorm',
  Softmax: 'exp and a normalising sum along the axis: the sum of thousands of terms loses low bits, and attention-mask biases (-1e4 ... -3.4e38) saturate',
  LogSoftmax: 'log of a sum of exponentials, as Softmax, and logs of tiny FP16 values',
  Exp: 'exp(x) overflows FP16 for x > 11.09',
  Pow: 'x^p overflows quickly (x^2 > 65504 for |x| > 256); decomposed LayerNorm/variance patterns square activations',
  Log: 'inputs near zero underflow in FP16 (below 6e-8 is 0) and log(0) is -Inf',
  Reciprocal: 'small inputs underflow or give 1/x past FP16 max (1/x > 65504 for |x| < 1.5e-5)',
  Sqrt: 'takes variances plus tiny epsilons (1e-12 is 0 in FP16) in decomposed normalisations',
  ReduceSum: 'sums of many terms grow past FP16 max and lose low bits',
  ReduceSumSquare: 'sums of squares overflow FP16',
  ReduceMean: 'the statistics of decomposed LayerNorm (mean, mean of squares)',
  ReduceL1: 'sums of many absolute values grow past FP16 max and lose low bits',
  ReduceL2: 'sums of squares overflow FP16',
  ReduceLogSum: 'log of a sum of many terms',
  ReduceLogSumExp: 'sum of exponentials overflows FP16',
  ReduceProd: 'products of many terms overflow or underflow FP16',
  CumSum: 'running sums grow with the axis length and lose low bits',
  Sin: 'periodic functions of large arguments (positions × frequencies in rotary/sinusoidal embeddings): FP16 spacing at 1024 is 1, so the phase is lost',
  Cos: 'periodic function of large arguments, as Sin: the phase of positions × frequencies is lost in FP16',
  Range: 'arange in FP16 loses integers above 2048 and accumulates step error',
});

/** The default reduction-depth limit; see Fp16OptionsSchema.maxReductionDepth. */
export const DEFAULT_MAX_REDUCTION_DEPTH = 8192;

const regexLike = z.union([z.string().min(1), z.instanceof(RegExp)]).transform((v, ctx) => {
  if (v instanceof RegExp) return v;
  try {
    return new RegExp(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(e as Error).message}` });
    return z.NEVER;
  }
});

const feedsSchema = z.record(z.string(), z.instanceof(Tensor));

export const Fp16OptionsSchema = z
  .object({
    /** Keep the graph's float32 inputs and outputs float32 (casts at the edges). Default true. */
    keepIoTypes: z.boolean().default(true),
    /** Op types kept in FP32; replaces the default list (DEFAULT_FP16_BLOCK_OPS). */
    blockOps: z.array(z.string().min(1)).optional(),
    /** Op types kept in FP32 in addition to blockOps (or to the default list). */
    extraBlockOps: z.array(z.string().min(1)).default([]),
    /** Node names matching any of these regular expressions stay FP32. */
    blockNodes: z.array(regexLike).default([]),
    /**
     * A node whose constant inputs (initializers, Constant nodes) hold a finite value of
     * magnitude above initMax stays FP32; nothing is clamped. Default 65504 (FP16 max).
     */
    initMax: z.number().positive().default(FLOAT16_MAX),
    /**
     * Keep FP32 a node whose small constant input (at most 64 elements: epsilons, scales) has a
     * nonzero value that becomes 0 in FP16 (|x| < 2^-25). Default true.
     */
    checkUnderflow: z.boolean().default(true),
    /**
     * With calibration data: a node whose input or output activations reach a magnitude above
     * dataMax (or Inf) in the reference run stays FP32. Default 512, which leaves a factor of
     * 128 of headroom below FP16 max for the sums that follow (AutoCast uses the same default).
     */
    dataMax: z.number().positive().default(512),
    /**
     * Nodes that sum more than this many terms into one output element stay FP32: MatMul and
     * Gemm (the inner dimension K), Conv/ConvTranspose (input channels per group × kernel
     * size), reductions and Softmax (the reduced size), normalisations (the normalised size).
     * Depths come from static shapes (initializers, value_info) or the calibration run; where
     * neither gives them the rule does not apply. A sum of D unit-scale products grows like
     * sqrt(D) and an FP16 accumulator's rounding error too (sqrt(8192) · 2^-12 ≈ 2%), so the
     * default 8192 converts every MatMul of BERT-base/large (K ≤ 4096) and keeps the deepest
     * reductions FP32. Infinity disables the rule.
     */
    maxReductionDepth: z
      .union([z.number().positive(), z.custom<number>((v) => v === Infinity, { message: 'expected a positive number or Infinity' })])
      .default(DEFAULT_MAX_REDUCTION_DEPTH),
    /**
     * Inputs for a reference run under ONNX Runtime (FP32) that measures every float
     * activation for the dataMax rule (and gives reduction depths over symbolic dims).
     */
    calibrationData: z.union([feedsSchema, z.array(feedsSchema).min(1)]).optional(),
    /**
     * Without calibrationData, calibrate on generated inputs (the accuracy harness's seeded
     * generator: token ids within the embedding table, padded attention masks), as ModelOpt
     * AutoCast does when given no data. true (default) uses the defaults below; an object sets
     * them; false checks no activation range (the report says so). Generated calibration that
     * cannot run (inputs it cannot generate, a model ONNX Runtime refuses) is reported as not
     * done, with the reason, instead of failing the conversion.
     */
    calibrate: z
      .union([
        z.boolean(),
        z
          .object({
            batch: z.number().int().min(1).max(4096).default(2),
            seq: z
              .number()
              .int()
              .min(1)
              .max(1 << 20)
              .default(128),
            seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(1),
            iterations: z.number().int().min(1).max(1000).default(2),
            /** Sizes of other symbolic dims, by name. */
            dims: z.record(z.string(), z.number().int().min(0)).default({}),
          })
          .strict(),
      ])
      .default(true),
    /** ONNX Runtime intra-op threads for the calibration run (0: ONNX Runtime's default). */
    calibrationThreads: z.number().int().min(0).max(1024).default(0),
  })
  .strict();

export type Fp16Options = z.input<typeof Fp16OptionsSchema>;
export type ResolvedFp16Options = z.output<typeof Fp16OptionsSchema>;

/** Why a node stayed FP32. */
export type KeepRule =
  'blockOps' | 'blockNodes' | 'initMax' | 'initUnderflow' | 'dataMax' | 'reductionDepth' | 'unknownOp' | 'unknownType' | 'dataMovement' | 'consumers';

export interface Fp16KeptNode {
  node: string;
  opType: string;
  /** Human-readable reason, with the numbers that decided it. */
  reason: string;
  rule: KeepRule;
  /** The graph holding the node ("" for the main graph, else the subgraph's name). */
  graph: string;
}

export interface Fp16Report {
  /** Nodes now computing in FP16, by op type (Constant and Cast nodes whose output became FP16 included). */
  convertedNodes: Record<string, number>;
  /** Float nodes left in FP32, with the rule and reason. */
  keptFp32: Fp16KeptNode[];
  /** Bytes of tensor data (initializers and Constant values of all graphs) before and after. */
  bytesBefore: number;
  bytesAfter: number;
  /** Cast nodes inserted at precision boundaries. */
  castsAdded: number;
  /** Float32 initializers converted to FP16 (in place or as an FP16 copy next to an FP32 one). */
  initializersConverted: number;
  /** Which activation ranges the dataMax rule checked, on what inputs. */
  calibration: Fp16Calibration;
}

export interface Fp16Calibration {
  /** data: the calibrationData given; random: generated inputs; none: no activation range was checked. */
  source: 'data' | 'random' | 'none';
  /** Why nothing was checked (source "none"). */
  reason?: string;
  /** Generated inputs: the generator's settings. */
  generated?: { seed: number; batch: number; seq: number; iterations: number };
  runs: number;
  /** The inputs the ranges were measured on: dims of the first run, values over all runs. */
  inputs: { name: string; dtype: string; dims: number[]; min: number; max: number }[];
  /** Float tensors (inputs and intermediates of the main graph) whose magnitude was measured. */
  tensorsMeasured: number;
  /** The largest finite magnitude measured, and where (absent when nothing was measured). */
  largest?: { tensor: string; maxAbs: number };
  /** The threshold the measured magnitudes were held against. */
  dataMax: number;
  /** Nodes kept FP32 because an activation passed dataMax. */
  keptByDataMax: number;
}
