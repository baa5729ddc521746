#pragma once
// An ONNX model parsed into a TensorRT network definition (see Network in api.h): the builder,
// the network and the ONNX parser (whose weights the network refers to until the build ends).

#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <memory>

#include "trt/api.h"
#include "trt/error_recorder.h"

namespace trtn::trt {

class ParsedNetwork final : public Network {
 public:
  static std::unique_ptr<ParsedNetwork> parse(const void* data, std::size_t size, const std::string& modelPath,
                                              const ParseOptions& options, std::vector<ParserError>& errors);
  ~ParsedNetwork() override;
  ParsedNetwork(const ParsedNetwork&) = delete;
  ParsedNetwork& operator=(const ParsedNetwork&) = delete;

  std::vector<NetworkTensor> inputs() const override;
  std::vector<NetworkTensor> outputs() const override;
  BuildResult build(BuildConfig config, BuildProgress* progress) override;  // builder.cc

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
