#include "trt/engine.h"

#include <algorithm>

#include "common/native_error.h"
#include "cuda/device.h"
#include "cuda/pinned_pool.h"
#include "trt/data_type.h"
#include "trt/loader.h"
#include "trt/logger.h"
#include "trt/trt_error.h"

namespace trtn::trt {

namespace {
// Staging blocks are kept per context; the pool only smooths a context's output growth.
constexpr std::size_t kPinnedCacheBytes = 64u << 20;
// Output blocks come back when JS collects the outputs. The cache holds as much as outputs
// may keep out (ExecutionContext::kZeroCopyBytes), so in steady state blocks cycle between JS
// and the pool and neither cuMemHostAlloc nor cuMemFreeHost (both slow, on the JS thread) runs.
constexpr std::size_t kOutputCacheBytes = 256u << 20;
}  // namespace

std::shared_ptr<DeserializedEngine> DeserializedEngine::deserialize(const void* data, std::size_t size,
                                                                    const DeserializeOptions& options) {
  const Library& lib = requireLibrary(false);
  if (data == nullptr || size == 0) throwInvalidArg("the plan is empty");
  if (options.leanRuntime && lib.leanRuntimePath.empty()) {
    throw NativeError("ERR_TENSORRT_NOT_FOUND",
                      "the plan was built with excludeLeanRuntime and loads only through TensorRT's lean runtime (" +
                          std::string("libnvinfer_lean.so.") + std::to_string(NV_TENSORRT_MAJOR) + "), which is not beside " +
                          lib.inferPath);
  }
  cuda::DeviceGuard guard(options.device);
  // createInferRuntime returns null with the reason on the logger only.
  LoggedErrors logged;
  std::shared_ptr<DeserializedEngine> e(new DeserializedEngine());
  e->device_ = options.device;
  e->recorder_ = std::make_unique<ErrorRecorder>();
  ErrorRecorder* rec = e->recorder_.get();
  nvinfer1::ILogger* logger = &Logger::instance();
  e->runtime_.reset(notNull(static_cast<nvinfer1::IRuntime*>(lib.createRuntime(logger, NV_TENSORRT_VERSION)), nullptr,
                            "createInferRuntime", &logged));
  e->runtime_->setErrorRecorder(rec);
  nvinfer1::IRuntime* runtime = e->runtime_.get();
  if (options.leanRuntime) {
    // A plan without its runtime (kVERSION_COMPATIBLE + kEXCLUDE_LEAN_RUNTIME): the lean
    // runtime library deserializes and runs it; the caller owns the runtime it returns.
    e->leanRuntime_.reset(notNull(e->runtime_->loadRuntime(lib.leanRuntimePath.c_str()), rec, "loadRuntime", &logged));
    e->leanRuntime_->setErrorRecorder(rec);
    runtime = e->leanRuntime_.get();
  }
  if (options.allowHostCode) runtime->setEngineHostCodeAllowed(true);
  e->engine_.reset(notNull(runtime->deserializeCudaEngine(data, size), rec, "deserializeCudaEngine", &logged));
  e->profiles_ = e->engine_->getNbOptimizationProfiles();
  e->pinned_ = cuda::PinnedPool::create(kPinnedCacheBytes);
  e->outputPool_ = cuda::PinnedPool::create(kOutputCacheBytes);
  e->describe();
  return e;
}

DeserializedEngine::~DeserializedEngine() {
  Logger::markAddonThread();
  cuda::DeviceGuard guard(device_, std::nothrow);
  engine_.reset();
  leanRuntime_.reset();
  runtime_.reset();
}

int64_t DeserializedEngine::deviceMemoryBytes() const noexcept {
  return engine_->getDeviceMemorySizeV2();
}

void DeserializedEngine::describe() {
  const int32_t n = engine_->getNbIOTensors();
  for (int32_t i = 0; i < n; i++) {
    const char* name = engine_->getIOTensorName(i);
    EngineTensor t;
    t.name = name != nullptr ? name : "";
    t.input = engine_->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT;
    const nvinfer1::DataType type = engine_->getTensorDataType(name);
    t.dtype = dataTypeName(type);
    t.elementSize = dataTypeSize(type);
    t.dims = toVector(engine_->getTensorShape(name));
    t.isShapeTensor = engine_->isShapeInferenceIO(name);
    t.onHost = engine_->getTensorLocation(name) == nvinfer1::TensorLocation::kHOST;
    t.linear = engine_->getTensorFormat(name) == nvinfer1::TensorFormat::kLINEAR;
    if (!t.input) {
      const char* alias = engine_->getAliasedInputTensor(name);
      if (alias != nullptr) t.aliasOf = alias;
    }
    if (t.input) {
      for (int32_t p = 0; p < profiles_; p++) {
        using nvinfer1::OptProfileSelector;
        ProfileShape s;
        s.min = toVector(engine_->getProfileShape(name, p, OptProfileSelector::kMIN));
        s.opt = toVector(engine_->getProfileShape(name, p, OptProfileSelector::kOPT));
        s.max = toVector(engine_->getProfileShape(name, p, OptProfileSelector::kMAX));
        // An input whose shape is fixed may have no profile entry (engines built without
        // profiles): its range is its shape.
        const bool fixed = std::all_of(t.dims.begin(), t.dims.end(), [](int64_t d) { return d >= 0; });
        if (fixed && (s.min.size() != t.dims.size() || s.max.size() != t.dims.size() || s.opt.size() != t.dims.size())) {
          s.min = s.opt = s.max = t.dims;
        }
        t.profiles.push_back(std::move(s));
      }
    }
    tensors_.push_back(std::move(t));
  }
}

std::shared_ptr<Engine> deserialize(const void* data, std::size_t size, const DeserializeOptions& options) {
  return DeserializedEngine::deserialize(data, size, options);
}

std::shared_ptr<cuda::PinnedBlock> DeserializedEngine::allocPinned(std::size_t bytes) {
  // From the pool of blocks JS holds: released blocks are kept for the next allocation.
  return outputPool_->acquire(bytes == 0 ? 1 : bytes);
}

}  // namespace trtn::trt
