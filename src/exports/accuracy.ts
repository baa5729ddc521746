/**
 * `tensorrt-node/accuracy`: the accuracy harness's parts. compare() (also at the root) and
 * bisect(), the metrics and tolerance rules (Polygraphy's), seeded input generation, saved
 * inputs in our format and Polygraphy's, ONNX test-data sets, and the reports.
 */
export {
  compare,
  adaptFeeds,
  numbersOf,
  type CompareOptions,
  type CompareResult,
  type OutputReport,
  type IterationVerdict,
  type ReferenceOutputs,
  type SideInfo,
} from '../accuracy/compare.js';
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
} from '../accuracy/metrics.js';
export { toleranceFor, type PerOutput, type ToleranceOptions } from '../accuracy/tolerance.js';
export { generateInputs, type GenerateInputsOptions, type MaskPattern } from '../accuracy/inputs.js';
export { readInputFile, writeInputFile, parseInputJson, inputFileJson, INPUT_FILE_FORMAT, type InputFileFormat } from '../accuracy/input-file.js';
export { readRefData, type RefDataSet } from '../accuracy/ref-data.js';
export { inferValueRanges } from '../accuracy/model-hints.js';
export { formatCompareText, compareJson, compareHtml, formatBisectText } from '../accuracy/report.js';
export {
  bisect,
  type BisectOptions,
  type BisectRun,
  type BisectResult,
  type BisectTensorReport,
  type BisectDivergence,
  type BisectInputStatus,
} from '../accuracy/bisect.js';
