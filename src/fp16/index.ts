/** FP16 mixed-precision conversion (AutoCast-like) and its structural check. */
export { convertToFloat16 } from './convert.js';
export {
  Fp16OptionsSchema,
  DEFAULT_FP16_BLOCK_OPS,
  DEFAULT_MAX_REDUCTION_DEPTH,
  type Fp16Options,
  type Fp16Report,
  type Fp16Calibration,
  type Fp16KeptNode,
  type KeepRule,
} from './options.js';
export { checkMixedPrecision, type PrecisionProblem } from './check.js';
export { measureActivations, type TensorStats } from './calibrate.js';
