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
  TensorRTError,
  TensorRTNotFoundError,
  TensorRTVersionError,
  OnnxParseError,
  OnnxError,
  OnnxRuntimeError,
  AddonLoadError,
  FileError,
  InternalError,
  type ErrorCode,
} from './errors.js';
export {
  Tensor,
  DATA_TYPES,
  DATA_TYPE_NAMES,
  FLOAT16_MAX,
  float32ToFloat16Bits,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  bfloat16BitsToFloat32,
  type DataType,
  type TensorData,
  type TypedArrayFor,
} from './tensor.js';
export {
  createSession,
  type InferenceSession,
  type TensorInfo,
  type ProfileRange,
  type Dim,
  type Feeds,
  type Outputs,
  type RunOptions,
  type BackendName,
  type CreateSessionOptions,
} from './session.js';
export { OnnxRuntimeSession, type OrtSessionOptions } from './backends/onnxruntime.js';
export { DynamicBatcher, type DynamicBatcherOptions, type DynamicBatcherStats, type DynamicBatcherConfig, type BatcherRunOptions, type QueuePolicy, type CloseOptions } from './batching/index.js';
export { runtimeInfo, type RuntimeInfo } from './info.js';
export { addonStatus, type AddonStatus } from './native.js';
export * as cuda from './cuda.js';
export * from './onnx/index.js';
export * from './accuracy/index.js';
export * from './fp16/index.js';
export { buildEngine, saveEngine, EngineCache, readSidecar, type BuildOptions, type BuiltEngine, type BuildProgressEvent, type EngineInfo } from './build/index.js';
export { TensorRTSession, type TensorRTSessionOptions } from './backends/tensorrt.js';
export * as bench from './bench/index.js';
export { tritonConfig, writeTritonModel, type TritonExportOptions } from './build/triton.js';
export { runDemo, formatDemo, type DemoOptions, type DemoSummary } from './demo.js';
export { Generator, GenerationStream, type GenerateResult, type FinishReason, type GeneratorOptions, type GenerateOptions, type GeneratorCloseOptions, type GeneratorConfig, type GeneratorStats } from './generation/index.js';
