#pragma once
// An ONNX model parsed into a TensorRT network definition, ready to be built: the builder,
// the network and the ONNX parser (whose weights the network refers to until the build ends).
// Parsing and building run on worker threads; the object is used by one thread at a time.

#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trt/error_recorder.h"

namespace trtn::trt {

struct NetworkTensor {
  std::string name;
  std::string dtype;                   // see dataTypeName()
  std::vector<int64_t> dims;           // -1 for a dynamic dim
  std::vector<std::string> dimNames;   // the ONNX dim_param of each dim, "" where it has none
  bool isShapeTensor = false;
};

struct ParserError {
  std::string code;      // nvonnxparser::ErrorCode name, e.g. "kUNSUPPORTED_NODE"
  std::string message;   // the parser's desc()
  int node = -1;         // index of the failing node in the graph, -1 when not tied to a node
  std::string nodeName;  // may be empty
  std::string opType;    // the node's operator, may be empty
  std::string file;      // parser source location, for bug reports
  int line = 0;
  std::string func;
  std::vector<std::string> localFunctionStack;  // ONNX local functions the node sits in
};

struct ParseOptions {
  int device = 0;
  // Always true on TensorRT 11 (there is no other kind); on 10.x false only for the weakly
  // typed kFP16 builder-flag build.
  bool stronglyTyped = true;
};

class ParsedNetwork {
 public:
  // Parses `size` bytes of ONNX. `modelPath` (may be empty) locates external weights. On
  // failure returns null and fills `errors`; throws NativeError when TensorRT itself fails.
  static std::unique_ptr<ParsedNetwork> parse(const void* data, std::size_t size, const std::string& modelPath,
                                              const ParseOptions& options, std::vector<ParserError>& errors);
  ~ParsedNetwork();
  ParsedNetwork(const ParsedNetwork&) = delete;
  ParsedNetwork& operator=(const ParsedNetwork&) = delete;

  std::vector<NetworkTensor> inputs() const;
  std::vector<NetworkTensor> outputs() const;
  int device() const noexcept { return device_; }
  bool stronglyTyped() const noexcept { return stronglyTyped_; }

  nvinfer1::IBuilder& builder() { return *builder_; }
  nvinfer1::INetworkDefinition& network() { return *network_; }
  ErrorRecorder& recorder() { return *recorder_; }

 private:
  ParsedNetwork() = default;
  static NetworkTensor describe(const nvinfer1::ITensor& t, bool input);

  int device_ = 0;
  bool stronglyTyped_ = true;
  // Declaration order is destruction order reversed: parser, network, builder, then the
  // recorder they report to.
  std::unique_ptr<ErrorRecorder> recorder_;
  std::unique_ptr<nvinfer1::IBuilder> builder_;
  std::unique_ptr<nvinfer1::INetworkDefinition> network_;
  std::unique_ptr<nvonnxparser::IParser> parser_;
};

}  // namespace trtn::trt
