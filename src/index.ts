/**
 * tensorrt-node's root: what a service uses. Sessions and Tensors, the error classes, the
 * DynamicBatcher, building, saving and caching TensorRT engines (and a Triton model
 * repository), compare() and FP16 conversion, reading and writing ONNX models, and what
 * this machine can run. The rest sits under subpaths: `tensorrt-node/onnx` (the ONNX
 * toolkit), `/accuracy` (the harness's parts), `/bench` (the benchmark suite), `/cuda`
 * (devices, streams, memory). Option types are exported; their zod schemas are not.
 */
export {
  TensorRTNodeError,
  InvalidArgumentError,
  ShapeError,
  DTypeError,
  ProfileRangeError,
  QueueFullError,
  TimeoutError,
  AbortError,
  DisposedError,
  ShuttingDownError,
  BusyError,
  CudaError,
  CudaOutOfMemoryError,
  TensorRTError,
  TensorRTNotFoundError,
  TensorRTVersionError,
  OnnxParseError,
  OnnxError,
  OnnxRuntimeError,
  AddonLoadError,
  FileError,
  WorkerError,
  InternalError,
  ERROR_CLASSES,
  ERROR_CODES,
  type ErrorCode,
  type ErrorClass,
  type ErrorDetails,
} from './errors.js';
export {
  Tensor,
  asTensor,
  isTensorLike,
  castFloat,
  DATA_TYPES,
  DATA_TYPE_NAMES,
  FLOAT16_MAX,
  float32ToFloat16Bits,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  bfloat16BitsToFloat32,
  type DataType,
  type DataTypeInfo,
  type DataTypeKind,
  type FloatDataType,
  type TensorData,
  type TensorLike,
  type TensorLocation,
  type TypedArrayFor,
} from './tensor.js';
export {
  createSession,
  type InferenceSession,
  type TensorInfo,
  type DimLimit,
  type ProfileRange,
  type Dim,
  type Feeds,
  type FeedsLike,
  type Outputs,
  type RunOptions,
  type BackendName,
  type BackendChoice,
  type BackendSelection,
  type CreateSessionOptions,
  type OnnxRuntimeCreateOptions,
  type TensorRTCreateOptions,
  type AutoCreateOptions,
} from './session.js';
export { OnnxRuntimeSession, type OrtSessionOptions } from './backends/onnxruntime.js';
export {
  TensorRTSession,
  type TensorRTSessionOptions,
  type TensorRTFeeds,
  type TensorRTOutputTargets,
  type TensorRTRunOptions,
  type TensorRTOutputs,
  stageTimings,
  type StageTimings,
  type StageTotals,
} from './backends/tensorrt.js';
export { DeviceTensor } from './device-tensor.js';
export {
  DynamicBatcher,
  type DynamicBatcherOptions,
  type DynamicBatcherStats,
  type DynamicBatcherConfig,
  type BatcherRunOptions,
  type QueuePolicy,
  type CloseOptions,
} from './batching/index.js';
export {
  buildEngine,
  saveEngine,
  EngineCache,
  readSidecar,
  type BuildOptions,
  type BuiltEngine,
  type BuildProgressEvent,
  type DimRangeInput,
  type GenerationBuildOptions,
  type ProfileInput,
  type EngineInfo,
  type CacheEntry,
} from './build/index.js';
export { tritonConfig, writeTritonModel, type TritonExportOptions } from './build/triton.js';
export { compare, type CompareOptions, type CompareResult, type OutputReport, type ReferenceOutputs } from './accuracy/compare.js';
export { convertToFloat16 } from './fp16/convert.js';
export type { Fp16Options, Fp16Report, Fp16Calibration } from './fp16/options.js';
export { readModel, writeModel, type ReadModelOptions, type WriteModelOptions } from './onnx/model.js';
export type { ModelProto } from './onnx/schema.js';
export { runtimeInfo, type RuntimeInfo } from './info.js';
export { addonStatus, type AddonStatus } from './native.js';
export {
  Generator,
  GenerationStream,
  type GenerateResult,
  type FinishReason,
  type GeneratorOptions,
  type GenerateOptions,
  type GeneratorCloseOptions,
  type GeneratorConfig,
  type GeneratorStats,
} from './generation/index.js';
