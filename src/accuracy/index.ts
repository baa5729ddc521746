/**
 * The accuracy harness: compare() over any two sessions (or one session and reference
 * outputs) with Polygraphy's tolerance semantics, seeded input generation, saved inputs,
 * reports, and node-by-node bisection of two ONNX models.
 */
export {
  compare,
  CompareOptionsSchema,
  type CompareOptions,
  type CompareResult,
  type OutputReport,
  type IterationVerdict,
  type ReferenceOutputs,
  type SideInfo,
} from './compare.js';
export {
  analyze,
  DEFAULT_TOLERANCE,
  ERROR_STATS,
  REL_EPSILON,
  type Analysis,
  type AnalyzeOptions,
  type ErrorStat,
  type ErrorHistogram,
  type OutputMetrics,
  type OutputTolerance,
  type TopKAgreement,
  type Verdict,
} from './metrics.js';
export { toleranceFor, type PerOutput, type ToleranceOptions } from './tolerance.js';
export { generateInputs, GenerateInputsOptionsSchema, type GenerateInputsOptions, type MaskPattern } from './inputs.js';
export { readInputFile, writeInputFile, parseInputJson, inputFileJson, INPUT_FILE_FORMAT, type InputFileFormat } from './input-file.js';
export { readRefData, type RefDataSet } from './ref-data.js';
export { inferValueRanges } from './model-hints.js';
export { formatCompareText, compareJson, compareHtml, formatBisectText } from './report.js';
export {
  bisect,
  BisectOptionsSchema,
  type BisectOptions,
  type BisectRun,
  type BisectResult,
  type BisectTensorReport,
  type BisectDivergence,
  type BisectInputStatus,
} from './bisect.js';
