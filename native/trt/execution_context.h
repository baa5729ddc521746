#pragma once
// An execution context of a deserialized engine (see ExecutionContext in api.h).

#include <NvInferRuntime.h>

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "trt/api.h"
#include "trt/cuda_graph.h"
#include "trt/engine.h"
#include "trt/error_recorder.h"

namespace trtn::cuda {
class Stream;
class DeviceMemory;
class PinnedBlock;
class Event;
}  // namespace trtn::cuda

namespace trtn::trt {

class EngineContext final : public ExecutionContext {
 public:
  // At most this many shapes keep a graph (or a failed capture's back-off) per context; the
  // least recently run shape makes room for a new one.
  static constexpr std::size_t kMaxGraphs = 64;
  // A shape whose capture failed runs plainly this many times before the next attempt, twice
  // as many after each further failure, at most kMaxRetryRuns: graphs stay on for shapes that
  // failed once for a passing reason, and cost little for shapes that never capture.
  static constexpr int kRetryRuns = 2;
  static constexpr int kMaxRetryRuns = 1024;

  EngineContext(std::shared_ptr<DeserializedEngine> engine, const ContextOptions& options);
  ~EngineContext() override;
  EngineContext(const EngineContext&) = delete;
  EngineContext& operator=(const EngineContext&) = delete;

  std::vector<Output> enqueue(const std::vector<Input>& inputs, const std::vector<int>& wanted,
                              const std::vector<Target>& targets, bool timed) override;
  StageTimes stageTimes() const override;
  const void* outputHost(int index) const override;

  const std::shared_ptr<cuda::Stream>& stream() const noexcept override { return stream_; }
  const std::shared_ptr<Engine>& engine() const noexcept override { return engineBase_; }
  int profile() const noexcept override { return options_.profile; }
  std::size_t inputs() const noexcept override { return inputs_.size(); }
  std::size_t inputRank(std::size_t index) const override { return inputs_.at(index).tensor->dims.size(); }
  std::size_t outputs() const noexcept override { return outputs_.size(); }
  std::size_t outputCapacity(int index) const override { return outputs_.at(static_cast<std::size_t>(index)).capacity; }
  std::size_t graphs() const noexcept override;
  std::size_t graphFailures() const noexcept override { return graphFailures_; }
  int spinWaitMicros() const noexcept override { return options_.spinWaitMicros; }

 private:
  struct Binding {
    const EngineTensor* tensor = nullptr;
    std::size_t capacity = 0;
    std::unique_ptr<cuda::DeviceMemory> device;  // null for an output aliasing an input
    std::shared_ptr<cuda::PinnedBlock> host;
    std::vector<int64_t> lastDims;  // inputs: the shape set last; outputs: its shape then
    int aliasOf = -1;               // outputs: the input whose device buffer it is written into
  };
  struct GraphEntry {
    std::string key;                   // the input shapes
    std::unique_ptr<CudaGraph> graph;  // null while captures of this shape fail
    int failures = 0;
    int skip = 0;  // plain runs left before the next capture attempt
  };
  using GraphList = std::list<GraphEntry>;  // most recently run first

  void init();
  void allocate(Binding& b, std::size_t bytes);
  void setAddress(Binding& b);
  void setInputShape(Binding& b, const std::vector<int64_t>& dims);
  std::vector<int64_t> outputShape(const Binding& b);
  const cuda::DeviceMemory& deviceOf(const Binding& b) const;
  void probeOutputs();
  void infer(bool shapesChanged);
  void enqueueV3();
  std::string shapeKey() const;
  GraphEntry& addGraph(std::string key);
  void clearGraphs() noexcept;

  std::shared_ptr<DeserializedEngine> engine_;  // first: destroyed last
  std::shared_ptr<Engine> engineBase_;
  ContextOptions options_;
  std::shared_ptr<cuda::Stream> stream_;
  std::unique_ptr<ErrorRecorder> recorder_;
  std::unique_ptr<nvinfer1::IExecutionContext> context_;
  std::vector<Binding> inputs_;
  std::vector<Binding> outputs_;
  // Timing events of this context's runs (one run at a time): before H2D, after H2D, after
  // the inference, after D2H. Made on the first timed run.
  std::array<std::unique_ptr<cuda::Event>, 4> events_;
  void mark(std::size_t i);
  GraphList graphs_;
  std::unordered_map<std::string, GraphList::iterator> graphIndex_;
  std::size_t graphFailures_ = 0;
  bool warmedUp_ = false;     // a plain enqueueV3 ran (TensorRT's lazy first-run work is done)
  bool shapesStale_ = false;  // outputs' lastDims may not match the shapes set in the context
};

}  // namespace trtn::trt
