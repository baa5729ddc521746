#pragma once
// Builds a serialized engine (a plan: TensorRT's own bytes, what trtexec --saveEngine writes)
// from a parsed network and plain options. Runs on a worker thread.

#include <NvInfer.h>

#include <string>
#include <vector>

#include "trt/api.h"
#include "trt/network.h"
#include "trt/progress_monitor.h"

namespace trtn::trt {

class EngineBuilder {
 public:
  EngineBuilder(ParsedNetwork& network, BuildConfig config) : net_(network), config_(std::move(config)) {}

  // See Network::build.
  BuildResult build(ProgressMonitor* monitor);

 private:
  void addProfiles(nvinfer1::IBuilderConfig& config);
  void saveTimingCache(nvinfer1::IBuilderConfig& config, const nvinfer1::ITimingCache& cache, std::vector<std::string>& warnings);

  ParsedNetwork& net_;
  BuildConfig config_;
};

}  // namespace trtn::trt
