#include "trt/execution_context.h"

#include <algorithm>
#include <cstring>

#include "common/native_error.h"
#include "cuda/device.h"
#include "cuda/device_memory.h"
#include "cuda/driver.h"
#include "cuda/event.h"
#include "cuda/pinned_pool.h"
#include "cuda/stream.h"
#include "trt/data_type.h"
#include "trt/logger.h"
#include "trt/trt_error.h"

namespace trtn::trt {

namespace {

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

std::string formatVector(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (std::size_t i = 0; i < dims.size(); i++) {
    if (i > 0) out += ", ";
    out += std::to_string(dims[i]);
  }
  return out + "]";
}

int64_t volumeOf(const std::vector<int64_t>& dims) {
  return volume(toDims(dims, "dims"));
}

// Bytes of a tensor of `dims` and `elementSize`, or ERR_INVALID_ARG naming `what` when the
// dims are negative or the element count or its size in bytes does not fit in size_t.
std::size_t bytesOf(const std::vector<int64_t>& dims, std::size_t elementSize, const std::string& what) {
  const int64_t count = volumeOf(dims);
  std::size_t bytes = 0;
  if (count < 0 || __builtin_mul_overflow(static_cast<uint64_t>(count), elementSize, &bytes)) {
    throwInvalidArg(what + " dims " + formatVector(dims) + " describe more bytes than fit in memory (" +
                    std::to_string(elementSize) + "-byte elements)");
  }
  return bytes;
}

NativeError lostError() {
  return NativeError("ERR_CUDA",
                     "the CUDA context is lost: an earlier sticky CUDA error left the GPU unusable for this process; "
                     "restart the process",
                     "CUDA_ERROR_CONTEXT_IS_DESTROYED", true);
}

}  // namespace

EngineContext::EngineContext(std::shared_ptr<DeserializedEngine> engine, const ContextOptions& options)
    : engine_(std::move(engine)), engineBase_(engine_), options_(options) {
  Logger::markAddonThread();
  cuda::DeviceGuard guard(engine_->device());
  try {
    init();
  } catch (...) {
    // Free what was made on the engine's device, in TensorRT's order, before the members go.
    clearGraphs();
    context_.reset();
    inputs_.clear();
    outputs_.clear();
    throw;
  }
}

void EngineContext::init() {
  if (options_.profile < 0 || options_.profile >= engine_->profiles()) {
    throwInvalidArg("profile " + std::to_string(options_.profile) + " does not exist; the engine has " +
                    std::to_string(engine_->profiles()) + " optimization profile(s)");
  }
  for (const EngineTensor& t : engine_->tensors()) {
    const std::string kind = t.input ? "input " : "output ";
    if (t.elementSize == 0) {
      throwInvalidArg(kind + quoted(t.name) + " has element type " + t.dtype.substr(t.dtype.find(':') + 1) +
                      ", which tensorrt-node cannot exchange with JavaScript");
    }
    if (t.input && t.isShapeTensor) {
      throwInvalidArg("input " + quoted(t.name) +
                      " is a shape tensor (its values set output shapes); tensorrt-node does "
                      "not support shape-tensor inputs");
    }
    if (t.onHost) throwInvalidArg(kind + quoted(t.name) + " lives in host memory; tensorrt-node supports device I/O only");
    if (!t.linear) {
      throwInvalidArg(kind + quoted(t.name) +
                      " has a vectorized (non-linear) layout; rebuild the engine without "
                      "allowed-format restrictions on I/O tensors");
    }
    Binding b;
    b.tensor = &t;
    (t.input ? inputs_ : outputs_).push_back(std::move(b));
  }
  for (Binding& out : outputs_) {
    const std::string& alias = out.tensor->aliasOf;
    if (alias.empty()) continue;
    for (std::size_t i = 0; i < inputs_.size(); i++) {
      if (inputs_[i].tensor->name == alias) out.aliasOf = static_cast<int>(i);
    }
    const EngineTensor* in = out.aliasOf >= 0 ? inputs_[static_cast<std::size_t>(out.aliasOf)].tensor : nullptr;
    if (in == nullptr || in->dtype != out.tensor->dtype) {
      throwInvalidArg("output " + quoted(out.tensor->name) + " aliases input " + quoted(alias) +
                      (in == nullptr ? ", which the engine does not have"
                                     : " of element type " + in->dtype + ", but is " + out.tensor->dtype) +
                      "; tensorrt-node binds an aliased output to its input's buffer and needs both of one type");
    }
  }
  if (options_.inputBytes.size() != inputs_.size()) {
    throwInvalidArg("inputBytes has " + std::to_string(options_.inputBytes.size()) + " entries; the engine has " +
                    std::to_string(inputs_.size()) + " input(s)");
  }

  stream_ = std::make_shared<cuda::Stream>(engine_->device());
  recorder_ = std::make_unique<ErrorRecorder>();
  // The engine's recorder may hold reports of calls that succeeded; a failure here must show
  // its own reasons only.
  engine_->recorder().clear();
  // Each context allocates activation memory for its own profile only when there are several.
  const auto strategy = engine_->profiles() > 1 ? nvinfer1::ExecutionContextAllocationStrategy::kON_PROFILE_CHANGE
                                                : nvinfer1::ExecutionContextAllocationStrategy::kSTATIC;
  context_.reset(notNull(engine_->get().createExecutionContext(strategy), &engine_->recorder(), "createExecutionContext"));
  context_->setErrorRecorder(recorder_.get());
  if (!context_->setOptimizationProfileAsync(options_.profile, stream_->get())) {
    throwTrt(recorder_.get(), "setOptimizationProfileAsync", stream_->get());
  }

  for (std::size_t i = 0; i < inputs_.size(); i++) {
    Binding& b = inputs_[i];
    const auto& range = b.tensor->profiles.at(static_cast<std::size_t>(options_.profile));
    const std::size_t need = bytesOf(range.max, b.tensor->elementSize, "the profile max of input " + quoted(b.tensor->name));
    if (options_.inputBytes[i] < need) {
      throwInvalidArg("inputBytes for " + quoted(b.tensor->name) + " is " + std::to_string(options_.inputBytes[i]) +
                      ", less than its profile max " + formatVector(range.max) + " needs (" + std::to_string(need) + ")");
    }
    allocate(b, options_.inputBytes[i]);
    setAddress(b);
  }
  probeOutputs();
  stream_->synchronize();
}

EngineContext::~EngineContext() {
  Logger::markAddonThread();
  cuda::DeviceGuard guard(engine_->device(), std::nothrow);
  clearGraphs();
  context_.reset();
  for (auto& e : events_) e.reset();
  // Buffers free on the stream, after the work already there.
  inputs_.clear();
  outputs_.clear();
}

void EngineContext::allocate(Binding& b, std::size_t bytes) {
  b.device = std::make_unique<cuda::DeviceMemory>(stream_, bytes);
  b.host = engine_->pinned()->acquire(bytes == 0 ? 1 : bytes);
  b.capacity = bytes;
}

const cuda::DeviceMemory& EngineContext::deviceOf(const Binding& b) const {
  return b.aliasOf >= 0 ? *inputs_[static_cast<std::size_t>(b.aliasOf)].device : *b.device;
}

void EngineContext::setAddress(Binding& b) {
  // An aliased output is written into its input's buffer (TensorRT requires the same address).
  if (!context_->setTensorAddress(b.tensor->name.c_str(), deviceOf(b).data())) {
    throwTrt(recorder_.get(), "setTensorAddress(" + b.tensor->name + ")");
  }
}

void EngineContext::setInputShape(Binding& b, const std::vector<int64_t>& dims) {
  if (!context_->setInputShape(b.tensor->name.c_str(), toDims(dims, b.tensor->name.c_str()))) {
    const auto& range = b.tensor->profiles.at(static_cast<std::size_t>(options_.profile));
    const std::string reasons = recorder_->takeSummary();
    throw NativeError("ERR_PROFILE_RANGE", "input " + quoted(b.tensor->name) + " dims " + formatVector(dims) +
                                               " are outside optimization profile " + std::to_string(options_.profile) +
                                               " (min " + formatVector(range.min) + ", max " + formatVector(range.max) + ")" +
                                               (reasons.empty() ? "" : ": " + reasons));
  }
  b.lastDims = dims;
}

std::vector<int64_t> EngineContext::outputShape(const Binding& b) {
  const nvinfer1::Dims d = context_->getTensorShape(b.tensor->name.c_str());
  if (d.nbDims < 0) throwTrt(recorder_.get(), "getTensorShape(" + b.tensor->name + ")");
  std::vector<int64_t> dims = toVector(d);
  for (int64_t x : dims) {
    if (x < 0) {
      throwInvalidArg("output " + quoted(b.tensor->name) + " has a data-dependent shape " + formatDims(d) +
                      " (e.g. NonZero); tensorrt-node does not support data-dependent output shapes");
    }
  }
  return dims;
}

void EngineContext::probeOutputs() {
  // Output sizes follow from input shapes; the profile's corners bound them for the models
  // this library targets (sizes grow with batch and sequence). A run that still needs more
  // grows the buffer (see enqueue).
  std::vector<std::size_t> need(outputs_.size(), 0);
  for (int corner = 0; corner < 3; corner++) {
    for (Binding& b : inputs_) {
      const auto& range = b.tensor->profiles.at(static_cast<std::size_t>(options_.profile));
      setInputShape(b, corner == 0 ? range.min : corner == 1 ? range.opt : range.max);
    }
    for (std::size_t i = 0; i < outputs_.size(); i++) {
      Binding& b = outputs_[i];
      b.lastDims = outputShape(b);
      const std::size_t bytes = bytesOf(b.lastDims, b.tensor->elementSize, "output " + quoted(b.tensor->name));
      if (bytes > need[i]) need[i] = bytes;
    }
  }
  for (std::size_t i = 0; i < outputs_.size(); i++) {
    Binding& b = outputs_[i];
    if (b.aliasOf >= 0) {
      // Same shape and type as its input: the input's buffer holds it.
      b.capacity = inputs_[static_cast<std::size_t>(b.aliasOf)].capacity;
      b.host = engine_->pinned()->acquire(b.capacity == 0 ? 1 : b.capacity);
    } else {
      allocate(b, need[i]);
    }
    setAddress(b);
  }
}

std::size_t EngineContext::graphs() const noexcept {
  std::size_t n = 0;
  for (const GraphEntry& g : graphs_) n += g.graph ? 1 : 0;
  return n;
}

void EngineContext::clearGraphs() noexcept {
  graphIndex_.clear();
  graphs_.clear();
}

void EngineContext::enqueueV3() {
  if (!context_->enqueueV3(stream_->get())) throwTrt(recorder_.get(), "enqueueV3", stream_->get());
}

std::string EngineContext::shapeKey() const {
  std::string key;
  for (const Binding& b : inputs_) {
    key.append(reinterpret_cast<const char*>(b.lastDims.data()), b.lastDims.size() * sizeof(int64_t));
    key.push_back('|');
  }
  return key;
}

EngineContext::GraphEntry& EngineContext::addGraph(std::string key) {
  if (graphs_.size() >= kMaxGraphs) {
    // The least recently run shape goes (a replay still in flight keeps its graph until it ends).
    graphIndex_.erase(graphs_.back().key);
    graphs_.pop_back();
  }
  graphs_.emplace_front();
  graphs_.front().key = std::move(key);
  graphIndex_[graphs_.front().key] = graphs_.begin();
  return graphs_.front();
}

void EngineContext::infer(bool shapesChanged) {
  if (!options_.cudaGraphs) {
    enqueueV3();
    return;
  }
  // A graph replays the kernels TensorRT launched for one set of input shapes, including
  // copies of shape-dependent parameters it staged in its own buffers. It is therefore
  // captured and replayed only when this context ran the same shapes just before (the plain
  // enqueueV3 after a shape change brings TensorRT's state back to those shapes). The first
  // enqueueV3 of a context is never captured either: TensorRT loads kernels and allocates
  // lazily on it, which stream capture forbids (trtexec runs one un-captured enqueue first).
  if (shapesChanged || !warmedUp_) {
    enqueueV3();
    warmedUp_ = true;
    return;
  }
  std::string key = shapeKey();
  auto found = graphIndex_.find(key);
  GraphEntry* g = nullptr;
  if (found != graphIndex_.end()) {
    graphs_.splice(graphs_.begin(), graphs_, found->second);  // now the most recently run
    g = &graphs_.front();
    if (g->graph) {
      g->graph->launch(stream_->get());
      return;
    }
    if (g->skip > 0) {
      g->skip--;
      enqueueV3();
      return;
    }
  } else {
    // Entries are made on capture, so shapes seen once never take a slot.
    g = &addGraph(std::move(key));
  }
  auto graph = std::make_unique<CudaGraph>();
  graph->beginCapture(stream_->get());
  const bool captured = context_->enqueueV3(stream_->get());
  if (graph->endCapture(stream_->get(), captured)) {
    g->graph = std::move(graph);
    g->failures = 0;
    g->graph->launch(stream_->get());
    return;
  }
  // Not capturable this time (TensorRT did something capture forbids, or the enqueue failed
  // under capture): run it plainly, and try again after a back-off.
  g->failures++;
  g->skip = std::min(kMaxRetryRuns, kRetryRuns << std::min(g->failures - 1, 16));
  graphFailures_++;
  recorder_->clear();
  enqueueV3();
}

void EngineContext::mark(std::size_t i) {
  if (!events_[i]) events_[i] = std::make_unique<cuda::Event>(engine_->device(), true);
  events_[i]->record(*stream_);
}

ExecutionContext::StageTimes EngineContext::stageTimes() const {
  StageTimes t;
  for (const auto& e : events_) {
    if (!e || !e->recorded()) return t;
  }
  t.h2dMs = cuda::Event::elapsedMs(*events_[0], *events_[1]);
  t.computeMs = cuda::Event::elapsedMs(*events_[1], *events_[2]);
  t.d2hMs = cuda::Event::elapsedMs(*events_[2], *events_[3]);
  return t;
}

std::vector<ExecutionContext::Output> EngineContext::enqueue(const std::vector<Input>& inputs, const std::vector<int>& wanted,
                                                             const std::vector<Target>& targets, bool timed) {
  if (engine_->lost()) throw lostError();
  Logger::markAddonThread();
  // Reports of earlier calls (TensorRT may record errors on calls that succeed, and keeps a
  // bounded number) must not stand in for this run's reasons.
  recorder_->clear();
  // Declared outside the try: on a failure after the first copy was enqueued, the stream is
  // drained (below) before these blocks go back to the output pool, so no pending copy lands
  // in a block another run has taken.
  std::vector<Output> out;
  bool enqueued = false;
  const auto drain = [&] {
    // Only on a failed run: this thread waits for the copies already queued. Its own error,
    // if any, is the one being thrown already.
    if (enqueued) static_cast<void>(cuda::driver().streamSynchronize(stream_->get()));
  };
  try {
    cuda::DeviceGuard guard(engine_->device());
    if (inputs.size() != inputs_.size()) {
      throwInvalidArg("expected " + std::to_string(inputs_.size()) + " inputs, got " + std::to_string(inputs.size()));
    }
    // A run that failed between setting shapes and enqueueing left the outputs' shapes (and
    // TensorRT's per-shape state) out of step: treat the next run as a shape change.
    bool changed = shapesStale_;
    shapesStale_ = true;
    for (std::size_t i = 0; i < inputs.size(); i++) {
      Binding& b = inputs_[i];
      const Input& in = inputs[i];
      if (in.dims.size() != b.tensor->dims.size()) {
        throwInvalidArg("input " + quoted(b.tensor->name) + " must have rank " + std::to_string(b.tensor->dims.size()) +
                        ", got dims " + formatVector(in.dims));
      }
      if (bytesOf(in.dims, b.tensor->elementSize, "input " + quoted(b.tensor->name)) != in.bytes) {
        throwInvalidArg("input " + quoted(b.tensor->name) + " has " + std::to_string(in.bytes) +
                        " bytes, which do not match dims " + formatVector(in.dims));
      }
      if (in.bytes > b.capacity) {
        const auto& range = b.tensor->profiles.at(static_cast<std::size_t>(options_.profile));
        throw NativeError("ERR_PROFILE_RANGE", "input " + quoted(b.tensor->name) + " dims " + formatVector(in.dims) +
                                                   " exceed the buffers of optimization profile " +
                                                   std::to_string(options_.profile) + " (max " + formatVector(range.max) + ")");
      }
      if (in.dims != b.lastDims) {
        setInputShape(b, in.dims);
        changed = true;
      }
    }
    if (!targets.empty() && targets.size() != wanted.size()) throwInvalidArg("targets must be parallel to wanted");
    if (changed) {
      for (Binding& b : outputs_) {
        std::vector<int64_t> dims = outputShape(b);
        const std::size_t bytes = bytesOf(dims, b.tensor->elementSize, "output " + quoted(b.tensor->name));
        if (bytes > b.capacity) {
          if (b.aliasOf >= 0) {
            throw NativeError("ERR_TENSORRT", "output " + quoted(b.tensor->name) + " aliases input " + quoted(b.tensor->aliasOf) +
                                                  " but TensorRT gives it the larger shape " + formatVector(dims));
          }
          // The previous run finished (one run at a time), so nothing still uses the old buffers.
          allocate(b, bytes);
          setAddress(b);
          clearGraphs();
        }
        b.lastDims = std::move(dims);
      }
    }
    // Caller-provided outputs are checked against this run's shapes before anything is
    // enqueued, so a refused run leaves the feeds, the targets and the device untouched.
    for (std::size_t k = 0; k < targets.size(); k++) {
      const Target& t = targets[k];
      if (!t.given) continue;
      const int index = wanted[k];
      if (index < 0 || static_cast<std::size_t>(index) >= outputs_.size()) throwInvalidArg("output index out of range");
      const Binding& b = outputs_[static_cast<std::size_t>(index)];
      if (t.dims != b.lastDims) {
        throw NativeError("ERR_SHAPE", "options.outputs[" + quoted(b.tensor->name) + "] has dims " + formatVector(t.dims) +
                                           " but this run produces output " + quoted(b.tensor->name) + " with dims " +
                                           formatVector(b.lastDims));
      }
      const std::size_t need = bytesOf(b.lastDims, b.tensor->elementSize, "output " + quoted(b.tensor->name));
      if (t.bytes != need) {
        throwInvalidArg("options.outputs[" + quoted(b.tensor->name) + "] holds " + std::to_string(t.bytes) +
                        " bytes but output " + quoted(b.tensor->name) + " of dims " + formatVector(b.lastDims) + " needs " +
                        std::to_string(need) + (t.bytes == 0 ? "; was its ArrayBuffer detached (transferred)?" : ""));
      }
    }
    // Copies go after every shape was accepted, so a refused shape leaves nothing enqueued.
    // Pinned feeds are copied from where they are; others through the pinned staging buffer.
    enqueued = true;
    if (timed) mark(0);
    for (std::size_t i = 0; i < inputs.size(); i++) {
      Binding& b = inputs_[i];
      const Input& in = inputs[i];
      if (in.bytes == 0) continue;
      if (in.device) {
        TRTN_CU(memcpyAsync, b.device->address(), in.device->address(), in.bytes, stream_->get());
        continue;
      }
      const void* from = in.data;
      if (!in.pinned) {
        std::memcpy(b.host->data(), in.data, in.bytes);
        from = b.host->data();
      }
      TRTN_CU(memcpyAsync, b.device->address(), cuda::address(from), in.bytes, stream_->get());
    }
    if (timed) mark(1);
    infer(changed);
    if (timed) mark(2);
    shapesStale_ = false;
    out.reserve(wanted.size());
    for (std::size_t k = 0; k < wanted.size(); k++) {
      const int index = wanted[k];
      if (index < 0 || static_cast<std::size_t>(index) >= outputs_.size()) throwInvalidArg("output index out of range");
      Binding& b = outputs_[static_cast<std::size_t>(index)];
      const std::size_t bytes = bytesOf(b.lastDims, b.tensor->elementSize, "output " + quoted(b.tensor->name));
      if (!targets.empty() && targets[k].given) {
        // Into the caller's memory: straight when it is pinned, else staged and copied by the
        // caller on completion (a copy to pageable memory would block this thread).
        const Target& t = targets[k];
        const bool direct = t.pinned || t.device;
        const CUdeviceptr to = t.device ? t.device->address() : cuda::address(t.pinned ? t.data : b.host->data());
        if (bytes > 0) TRTN_CU(memcpyAsync, to, deviceOf(b).address(), bytes, stream_->get());
        Output o{index, b.lastDims, bytes, nullptr};
        o.toTarget = true;
        o.staged = !direct;
        out.push_back(std::move(o));
        continue;
      }
      std::shared_ptr<cuda::PinnedBlock> block;
      if (bytes > 0) {
        cuda::PinnedPool& pool = *engine_->outputPool();
        if (bytes >= kZeroCopyMinBytes && pool.stats().inUseBytes + bytes <= kZeroCopyBytes) block = pool.acquire(bytes);
        void* target = block ? block->data() : b.host->data();
        TRTN_CU(memcpyAsync, cuda::address(target), deviceOf(b).address(), bytes, stream_->get());
      }
      out.push_back(Output{index, b.lastDims, bytes, std::move(block)});
    }
    if (timed) mark(3);
    return out;
  } catch (const NativeError& e) {
    if (e.sticky()) engine_->markLost();
    drain();
    throw;
  } catch (...) {
    drain();
    throw;
  }
}

const void* EngineContext::outputHost(int index) const {
  return outputs_.at(static_cast<std::size_t>(index)).host->data();
}

std::shared_ptr<ExecutionContext> createContext(const std::shared_ptr<Engine>& engine, const ContextOptions& options) {
  auto ours = std::dynamic_pointer_cast<DeserializedEngine>(engine);
  if (!ours) throwInvalidArg("the engine was not made by this TensorRT variant");
  return std::make_shared<EngineContext>(std::move(ours), options);
}

}  // namespace trtn::trt
