/**
 * `tensorrt-node/onnx`: the ONNX toolkit. Protobuf I/O with unknown fields preserved,
 * external data, inspection, tensor conversion, graph edits, type inference, a graph builder,
 * the embedded encoder and decoder and the seeded generator their weights come from, and the FP16
 * conversion's parts (its check, activation measurement, default block list).
 */
export {
  ATTRIBUTE_TYPE,
  TENSOR_TYPE,
  DATA_LOCATION,
  ModelProtoSchema,
  GraphProtoSchema,
  NodeProtoSchema,
  TensorProtoSchema,
  ValueInfoProtoSchema,
  AttributeProtoSchema,
  TypeProtoSchema,
  type ModelProto,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
  type AttributeProto,
  type TypeProto,
  type OperatorSetIdProto,
  type StringStringEntryProto,
  type SparseTensorProto,
  type FunctionProto,
} from '../onnx/schema.js';
export {
  decodeModel,
  readModel,
  encodeModel,
  writeModel,
  loadExternalData,
  resolveExternalLocation,
  externalDataInfo,
  cloneModel,
  allTensors,
  PROTOBUF_LIMIT,
  type ReadModelOptions,
  type WriteModelOptions,
  type ExternalDataOptions,
  type ExternalDataInfo,
} from '../onnx/model.js';
export {
  tensorFromProto,
  tensorToProto,
  readTensorProto,
  encodeTensorProto,
  float32Values,
  onnxTypeName,
  onnxTypeOf,
  onnxElementBytes,
  tensorProtoDims,
  tensorProtoByteSize,
  isExternal,
} from '../onnx/tensor-proto.js';
export { inspectModel, defaultOpset, type ModelInfo, type OnnxValueInfo, type OnnxInitializerInfo } from '../onnx/inspect.js';
export {
  sortGraph,
  producerMap,
  consumerMap,
  makeNode,
  addNodes,
  removeNodes,
  renameTensor,
  renameOuterUse,
  makeTensorType,
  makeValueInfo,
  dimsOf,
  valueInfoMap,
  setElemType,
  allNames,
  nameGenerator,
  exposeTensors,
  type NodeSpec,
  type ExposeResult,
} from '../onnx/graph.js';
export { topologicalOrder, inferElemTypes, inferOutputTypes, outerScopeInputs, opSignature, elemTypeOf, OP_SIGNATURES, type OpSignature } from '../onnx/ops.js';
export {
  getAttribute,
  getIntAttribute,
  getIntsAttribute,
  getFloatAttribute,
  getStringAttribute,
  getTensorAttribute,
  subgraphsOf,
  makeAttribute,
  floatAttr,
  floatsAttr,
  type AttributeValue,
} from '../onnx/attributes.js';
export { GraphBuilder, irVersionForOpset, type GraphBuilderOptions, type NodeOptions } from '../onnx/builder.js';
export { Random } from '../random.js';
export {
  createEncoderModel,
  resolveEncoderConfig,
  encoderParameterCount,
  ENCODER_PRESETS,
  ENCODER_METADATA_KEY,
  type EncoderOptions,
  type EncoderConfig,
  type EncoderPreset,
} from '../onnx/encoder.js';
export {
  createDecoderModel,
  resolveDecoderConfig,
  decoderParameterCount,
  decoderKvBytesPerToken,
  DECODER_PRESETS,
  DECODER_METADATA_KEY,
  type DecoderOptions,
  type DecoderConfig,
  type DecoderPreset,
} from '../onnx/decoder.js';
export { convertToFloat16 } from '../fp16/convert.js';
export {
  DEFAULT_FP16_BLOCK_OPS,
  DEFAULT_MAX_REDUCTION_DEPTH,
  type Fp16Options,
  type Fp16Report,
  type Fp16Calibration,
  type Fp16KeptNode,
  type KeepRule,
} from '../fp16/options.js';
export { checkMixedPrecision, type PrecisionProblem } from '../fp16/check.js';
export { measureActivations, type TensorStats } from '../fp16/calibrate.js';
