#pragma once
// A deserialized engine: the runtime, the ICudaEngine, and its I/O metadata as plain structs.
// Execution contexts hold the engine (shared), so it outlives them as TensorRT requires.

#include <NvInferRuntime.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trt/error_recorder.h"

namespace trtn::cuda {
class PinnedPool;
}

namespace trtn::trt {

struct ProfileShape {
  std::vector<int64_t> min;
  std::vector<int64_t> opt;
  std::vector<int64_t> max;
};

struct EngineTensor {
  std::string name;
  bool input = false;
  std::string dtype;              // see dataTypeName()
  std::size_t elementSize = 0;    // 0 for types not exchanged with JS
  std::vector<int64_t> dims;      // -1 for dims that vary at run time
  bool isShapeTensor = false;     // an input whose values (not only its shape) shape the outputs
  bool onHost = false;            // TensorLocation::kHOST
  bool linear = true;             // TensorFormat::kLINEAR (row-major), the only layout JS exchanges
  std::vector<ProfileShape> profiles;  // inputs: the range of each optimization profile
};

struct DeserializeOptions {
  int device = 0;
  // Version-compatible plans embed a lean runtime (host code) that TensorRT runs only when
  // allowed; allow it for plans you trust.
  bool allowHostCode = false;
};

class Engine {
 public:
  // Runs on a worker thread. Throws ERR_TENSORRT with TensorRT's reasons (wrong version,
  // corrupt plan, other GPU) or ERR_CUDA_OOM.
  static std::shared_ptr<Engine> deserialize(const void* data, std::size_t size, const DeserializeOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  nvinfer1::ICudaEngine& get() const noexcept { return *engine_; }
  int device() const noexcept { return device_; }
  int profiles() const noexcept { return profiles_; }
  const std::vector<EngineTensor>& tensors() const noexcept { return tensors_; }
  int64_t deviceMemoryBytes() const noexcept;
  const std::shared_ptr<cuda::PinnedPool>& pinned() const noexcept { return pinned_; }
  // Blocks that outputs are copied into and handed to JS (see ExecutionContext::Output).
  const std::shared_ptr<cuda::PinnedPool>& outputPool() const noexcept { return outputPool_; }
  // Receives errors of calls on the engine itself (createExecutionContext).
  ErrorRecorder& recorder() noexcept { return *recorder_; }

  // A sticky CUDA error was seen: nothing runs on this engine any more.
  bool lost() const noexcept { return lost_.load(); }
  void markLost() noexcept { lost_.store(true); }

 private:
  Engine() = default;
  void describe();

  int device_ = 0;
  int profiles_ = 0;
  std::vector<EngineTensor> tensors_;
  std::atomic<bool> lost_{false};
  std::shared_ptr<cuda::PinnedPool> pinned_;
  std::shared_ptr<cuda::PinnedPool> outputPool_;
  // Destroyed in reverse: the engine before the runtime, both before their recorder.
  std::unique_ptr<ErrorRecorder> recorder_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
};

}  // namespace trtn::trt
