#pragma once
// Builds a serialized engine (a plan: TensorRT's own bytes, what trtexec --saveEngine writes)
// from a parsed network and plain options. Runs on a worker thread.

#include <NvInfer.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trt/network.h"
#include "trt/progress_monitor.h"

namespace trtn::trt {

struct InputRange {
  std::string input;
  std::vector<int64_t> min;
  std::vector<int64_t> opt;
  std::vector<int64_t> max;
};

struct BuildConfig {
  // One entry per optimization profile; each names every input with a dynamic dim.
  std::vector<std::vector<InputRange>> profiles;
  std::optional<uint64_t> workspaceBytes;
  int optimizationLevel = 3;                // 0..5, TensorRT's default is 3
  int hardwareCompatibility = 0;            // HardwareCompatibilityLevel: 0 none, 1 Ampere+, 2 same CC
  bool versionCompatible = false;
  bool excludeLeanRuntime = false;
  bool refit = false;
  bool fp16BuilderFlag = false;             // TensorRT 10.x only (weakly typed network)
  bool tf32 = true;                         // TensorRT enables TF32 by default
  int maxAuxStreams = -1;                   // -1: TensorRT decides
  bool useTimingCache = false;
  std::vector<uint8_t> timingCache;         // serialized cache to start from (may be empty)
};

struct BuildResult {
  std::unique_ptr<nvinfer1::IHostMemory> plan;
  std::vector<uint8_t> timingCache;  // the cache after the build, when useTimingCache
  std::vector<std::string> warnings; // things the build did differently from what was asked
};

class EngineBuilder {
 public:
  EngineBuilder(ParsedNetwork& network, BuildConfig config) : net_(network), config_(std::move(config)) {}

  // Throws NativeError: ERR_ABORTED when `monitor` was cancelled, ERR_CUDA_OOM when TensorRT
  // ran out of device memory, ERR_INVALID_ARG for options this TensorRT refuses, ERR_TENSORRT
  // otherwise. Everything the build allocated is freed before it returns or throws.
  BuildResult build(ProgressMonitor* monitor);

 private:
  void addProfiles(nvinfer1::IBuilderConfig& config);

  ParsedNetwork& net_;
  BuildConfig config_;
};

}  // namespace trtn::trt
