#pragma once
// A deserialized engine (see Engine in api.h): the runtime, the ICudaEngine, its I/O metadata
// as plain structs, and the pinned pools its contexts stage through.

#include <NvInferRuntime.h>

#include <memory>

#include "trt/api.h"
#include "trt/error_recorder.h"

namespace trtn::cuda {
class PinnedPool;
}

namespace trtn::trt {

class DeserializedEngine final : public Engine {
 public:
  static std::shared_ptr<DeserializedEngine> deserialize(const void* data, std::size_t size, const DeserializeOptions& options);
  ~DeserializedEngine() override;
  DeserializedEngine(const DeserializedEngine&) = delete;
  DeserializedEngine& operator=(const DeserializedEngine&) = delete;

  int device() const noexcept override { return device_; }
  int profiles() const noexcept override { return profiles_; }
  const std::vector<EngineTensor>& tensors() const noexcept override { return tensors_; }
  int64_t deviceMemoryBytes() const noexcept override;
  std::shared_ptr<cuda::PinnedBlock> allocPinned(std::size_t bytes) override;

  nvinfer1::ICudaEngine& get() const noexcept { return *engine_; }
  const std::shared_ptr<cuda::PinnedPool>& pinned() const noexcept { return pinned_; }
  // Blocks that outputs are copied into and handed to JS (see ExecutionContext::Output).
  const std::shared_ptr<cuda::PinnedPool>& outputPool() const noexcept { return outputPool_; }
  // Receives errors of calls on the engine itself (createExecutionContext).
  ErrorRecorder& recorder() noexcept { return *recorder_; }

 private:
  DeserializedEngine() = default;
  void describe();

  int device_ = 0;
  int profiles_ = 0;
  std::vector<EngineTensor> tensors_;
  std::shared_ptr<cuda::PinnedPool> pinned_;
  std::shared_ptr<cuda::PinnedPool> outputPool_;
  // Destroyed in reverse: the engine before the runtime that made it (the lean runtime, for
  // plans without their own, before the runtime that loaded it), all before their recorder.
  std::unique_ptr<ErrorRecorder> recorder_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::IRuntime> leanRuntime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
};

}  // namespace trtn::trt
