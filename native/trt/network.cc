#include "trt/network.h"

#include "common/native_error.h"
#include "cuda/device.h"
#include "trt/data_type.h"
#include "trt/loader.h"
#include "trt/logger.h"
#include "trt/trt_error.h"

namespace trtn::trt {

namespace {

const char* parserCodeName(nvonnxparser::ErrorCode code) noexcept {
  using nvonnxparser::ErrorCode;
  switch (code) {
    case ErrorCode::kSUCCESS:
      return "kSUCCESS";
    case ErrorCode::kINTERNAL_ERROR:
      return "kINTERNAL_ERROR";
    case ErrorCode::kMEM_ALLOC_FAILED:
      return "kMEM_ALLOC_FAILED";
    case ErrorCode::kMODEL_DESERIALIZE_FAILED:
      return "kMODEL_DESERIALIZE_FAILED";
    case ErrorCode::kINVALID_VALUE:
      return "kINVALID_VALUE";
    case ErrorCode::kINVALID_GRAPH:
      return "kINVALID_GRAPH";
    case ErrorCode::kINVALID_NODE:
      return "kINVALID_NODE";
    case ErrorCode::kUNSUPPORTED_GRAPH:
      return "kUNSUPPORTED_GRAPH";
    case ErrorCode::kUNSUPPORTED_NODE:
      return "kUNSUPPORTED_NODE";
    case ErrorCode::kUNSUPPORTED_NODE_ATTR:
      return "kUNSUPPORTED_NODE_ATTR";
    case ErrorCode::kUNSUPPORTED_NODE_INPUT:
      return "kUNSUPPORTED_NODE_INPUT";
    case ErrorCode::kUNSUPPORTED_NODE_DATATYPE:
      return "kUNSUPPORTED_NODE_DATATYPE";
    case ErrorCode::kUNSUPPORTED_NODE_DYNAMIC:
      return "kUNSUPPORTED_NODE_DYNAMIC";
    case ErrorCode::kUNSUPPORTED_NODE_SHAPE:
      return "kUNSUPPORTED_NODE_SHAPE";
    case ErrorCode::kREFIT_FAILED:
      return "kREFIT_FAILED";
  }
  return "kUNKNOWN";
}

std::string str(const char* s) {
  return s != nullptr ? s : "";
}

}  // namespace

std::unique_ptr<ParsedNetwork> ParsedNetwork::parse(const void* data, std::size_t size, const std::string& modelPath,
                                                    const ParseOptions& options, std::vector<ParserError>& errors) {
  const Library& lib = requireLibrary(true);
  cuda::DeviceGuard guard(options.device);
  // The factories return null with the reason on the logger only.
  LoggedErrors logged;
  std::unique_ptr<ParsedNetwork> net(new ParsedNetwork());
  net->device_ = options.device;
  net->recorder_ = std::make_unique<ErrorRecorder>();
  ErrorRecorder* rec = net->recorder_.get();
  nvinfer1::ILogger* logger = &Logger::instance();

  net->builder_.reset(notNull(static_cast<nvinfer1::IBuilder*>(lib.createBuilder(logger, NV_TENSORRT_VERSION)), nullptr,
                              "createInferBuilder", &logged));
  net->builder_->setErrorRecorder(rec);

  nvinfer1::NetworkDefinitionCreationFlags flags = 0;
#if NV_TENSORRT_MAJOR >= 11
  // TensorRT 11 networks are always strongly typed (kSTRONGLY_TYPED is deprecated and ignored).
  net->stronglyTyped_ = true;
#else
  net->stronglyTyped_ = options.stronglyTyped;
  if (options.stronglyTyped) flags |= 1U << static_cast<uint32_t>(nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#endif
  net->network_.reset(notNull(net->builder_->createNetworkV2(flags), rec, "createNetworkV2", &logged));

  net->parser_.reset(notNull(static_cast<nvonnxparser::IParser*>(
                                 lib.createParser(static_cast<void*>(net->network_.get()), logger, NV_ONNX_PARSER_VERSION)),
                             rec, "createParser", &logged));

  const bool ok = net->parser_->parse(data, size, modelPath.empty() ? nullptr : modelPath.c_str());
  const int n = net->parser_->getNbErrors();
  if (ok && n == 0) return net;
  for (int i = 0; i < n; i++) {
    const nvonnxparser::IParserError* e = net->parser_->getError(i);
    if (e == nullptr) continue;
    ParserError pe;
    pe.code = parserCodeName(e->code());
    pe.message = str(e->desc());
    pe.node = e->node();
    pe.nodeName = str(e->nodeName());
    pe.opType = str(e->nodeOperator());
    pe.file = str(e->file());
    pe.line = e->line();
    pe.func = str(e->func());
    const int32_t depth = e->localFunctionStackSize();
    const char* const* stack = e->localFunctionStack();
    for (int32_t j = 0; stack != nullptr && j < depth; j++) pe.localFunctionStack.push_back(str(stack[j]));
    errors.push_back(std::move(pe));
  }
  if (!ok && errors.empty()) {
    ParserError pe;
    pe.code = "kUNKNOWN";
    const std::string reasons = rec->takeSummary();
    pe.message = reasons.empty() ? "the ONNX parser failed without reporting an error" : reasons;
    errors.push_back(std::move(pe));
  }
  return nullptr;
}

ParsedNetwork::~ParsedNetwork() {
  Logger::markAddonThread();
  // TensorRT frees device memory of the builder in its device's context.
  cuda::DeviceGuard guard(device_, std::nothrow);
  parser_.reset();
  network_.reset();
  builder_.reset();
}

NetworkTensor ParsedNetwork::describe(const nvinfer1::ITensor& t, bool input) {
  NetworkTensor out;
  out.name = str(t.getName());
  out.dtype = dataTypeName(t.getType());
  const nvinfer1::Dims d = t.getDimensions();
  out.dims = toVector(d);
  if (input) {
    for (int32_t i = 0; i < d.nbDims; i++) out.dimNames.push_back(str(t.getDimensionName(i)));
  }
  out.isShapeTensor = t.isShapeTensor();
  return out;
}

std::vector<NetworkTensor> ParsedNetwork::inputs() const {
  std::vector<NetworkTensor> out;
  for (int32_t i = 0; i < network_->getNbInputs(); i++) out.push_back(describe(*network_->getInput(i), true));
  return out;
}

std::vector<NetworkTensor> ParsedNetwork::outputs() const {
  std::vector<NetworkTensor> out;
  for (int32_t i = 0; i < network_->getNbOutputs(); i++) out.push_back(describe(*network_->getOutput(i), false));
  return out;
}

std::unique_ptr<Network> parseOnnx(const void* data, std::size_t size, const std::string& modelPath, const ParseOptions& options,
                                   std::vector<ParserError>& errors) {
  return ParsedNetwork::parse(data, size, modelPath, options, errors);
}

}  // namespace trtn::trt
