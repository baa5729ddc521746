#pragma once

#include <atomic>
// One TensorRT execution context bound to one optimization profile, with its own stream,
// device buffers (fixed addresses, so CUDA graphs stay valid) and pinned staging buffers.
// Built on a worker thread; used from the JS thread by one run at a time: enqueue() stages
// the inputs and enqueues H2D -> inference -> D2H, the caller waits for the stream (through
// the completion queue) and reads the outputs from outputHost() before the next enqueue().

#include <NvInferRuntime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "trt/cuda_graph.h"
#include "trt/engine.h"
#include "trt/error_recorder.h"

namespace trtn::cuda {
class Stream;
class DeviceMemory;
class PinnedBlock;
}  // namespace trtn::cuda

namespace trtn::trt {

struct ContextOptions {
  int profile = 0;
  // Per engine input (in engine order): the staging and device bytes to allocate, which must
  // hold the profile's max shape (the TypeScript layer sizes them).
  std::vector<std::size_t> inputBytes;
  bool cudaGraphs = false;
};

class ExecutionContext {
 public:
  struct Input {
    const void* data = nullptr;
    std::size_t bytes = 0;
    std::vector<int64_t> dims;
  };
  struct Output {
    int index = 0;  // among the engine's outputs
    std::vector<int64_t> dims;
    std::size_t bytes = 0;
    // The block the output was copied into, handed to JS as is; null when it went to the
    // context's staging buffer instead (outputHost), which the caller copies out.
    std::shared_ptr<cuda::PinnedBlock> block;
  };

  // Outputs go into fresh pinned blocks (handed to JS without a copy) while the engine's
  // output blocks held by JS and runs stay under this; beyond it they are staged and copied.
  static constexpr std::size_t kZeroCopyBytes = 256u << 20;
  // Smaller outputs (logits) are copied: a small ArrayBuffer costs less than an external one.
  static constexpr std::size_t kZeroCopyMinBytes = 64u << 10;

  // At most this many graphs per context; further shapes run without one.
  static constexpr std::size_t kMaxGraphs = 64;

  // Worker thread. Throws ERR_INVALID_ARG for unsupported engines (shape-tensor inputs,
  // host or vectorized I/O, data-dependent output shapes), ERR_CUDA_OOM, ERR_TENSORRT.
  ExecutionContext(std::shared_ptr<Engine> engine, const ContextOptions& options);
  ~ExecutionContext();
  ExecutionContext(const ExecutionContext&) = delete;
  ExecutionContext& operator=(const ExecutionContext&) = delete;

  // JS thread. `inputs` in engine input order; `wanted` indexes engine outputs to copy back.
  std::vector<Output> enqueue(const std::vector<Input>& inputs, const std::vector<int>& wanted);
  // The staged bytes of output `index` once the stream has completed.
  const void* outputHost(int index) const;

  const std::shared_ptr<cuda::Stream>& stream() const noexcept { return stream_; }
  const std::shared_ptr<Engine>& engine() const noexcept { return engine_; }
  int profile() const noexcept { return options_.profile; }
  std::size_t inputs() const noexcept { return inputs_.size(); }
  std::size_t inputRank(std::size_t index) const { return inputs_.at(index).tensor->dims.size(); }
  std::size_t outputs() const noexcept { return outputs_.size(); }
  const std::string& outputName(int index) const { return outputs_.at(static_cast<std::size_t>(index)).tensor->name; }
  const std::string& outputDtype(int index) const { return outputs_.at(static_cast<std::size_t>(index)).tensor->dtype; }
  std::size_t outputCapacity(int index) const { return outputs_.at(static_cast<std::size_t>(index)).capacity; }
  std::size_t graphs() const noexcept;
  std::size_t graphFailures() const noexcept { return graphFailures_; }

  // One run at a time: begin() throws ERR_BUSY while a run is in flight.
  void begin();
  void end() noexcept { busy_.store(false); }

 private:
  struct Binding {
    const EngineTensor* tensor = nullptr;
    std::size_t capacity = 0;
    std::unique_ptr<cuda::DeviceMemory> device;
    std::shared_ptr<cuda::PinnedBlock> host;
    std::vector<int64_t> lastDims;  // inputs: the shape set last; outputs: its shape then
  };
  struct GraphEntry {
    int runs = 0;
    bool failed = false;
    std::unique_ptr<CudaGraph> graph;
  };

  void init();
  void allocate(Binding& b, std::size_t bytes);
  void setAddress(Binding& b);
  void setInputShape(Binding& b, const std::vector<int64_t>& dims);
  std::vector<int64_t> outputShape(const Binding& b);
  void probeOutputs();
  void infer(bool shapesChanged);
  void enqueueV3();

  std::shared_ptr<Engine> engine_;  // first: destroyed last
  ContextOptions options_;
  std::shared_ptr<cuda::Stream> stream_;
  std::unique_ptr<ErrorRecorder> recorder_;
  std::unique_ptr<nvinfer1::IExecutionContext> context_;
  std::vector<Binding> inputs_;
  std::vector<Binding> outputs_;
  std::unordered_map<std::string, GraphEntry> graphs_;
  std::size_t graphFailures_ = 0;
  bool shapesStale_ = false;  // outputs' lastDims may not match the shapes set in the context
  // Set on the JS thread; cleared there or, at environment teardown, on the completion thread.
  std::atomic<bool> busy_{false};
};

}  // namespace trtn::trt
