// Runtime (deserialization), engine (I/O description) and execution context (shapes and
// enqueueV3 on a stream).

#include "trt/runtime.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>

#include "trt/compute.h"
#include "trt/objects.h"

namespace standin::trt {

namespace {

constexpr std::size_t kStagingAlignment = 256;

std::size_t alignUp(std::size_t n) {
  return (n + kStagingAlignment - 1) / kStagingAlignment * kStagingAlignment;
}

std::size_t bytesOf(const TensorDesc& t, const std::vector<int64_t>& dims) {
  const int64_t v = volume(dims);
  return v <= 0 ? 0 : static_cast<std::size_t>(v) * elementSize(t.type);
}

bool pluginsRegistered() {
  return counterValue("trt.plugin.registered") > 0;
}

std::string oomText(std::size_t bytes) {
  return "Requested amount of GPU memory (" + std::to_string(bytes) +
         " bytes) could not be allocated. There may not be enough free memory for allocation to succeed: out of memory";
}

}  // namespace

struct Job {
  std::vector<const TensorDesc*> inDesc;
  std::vector<std::vector<int64_t>> inDims;
  std::vector<std::size_t> inOffset;
  std::vector<const TensorDesc*> outDesc;
  std::vector<std::vector<int64_t>> outDims;
  std::vector<std::size_t> outOffset;
  uint8_t* staging = nullptr;
};

namespace {

// Runs on the stream's thread, between the copies in and out: the stand-in's kernels.
void CUDA_CB runJob(void* data) {
  const Job& job = *static_cast<const Job*>(data);
  std::vector<HostInput> in;
  for (std::size_t i = 0; i < job.inDesc.size(); i++) in.push_back({job.inDesc[i], job.inDims[i], job.staging + job.inOffset[i]});
  std::vector<HostOutput> out;
  for (std::size_t i = 0; i < job.outDesc.size(); i++)
    out.push_back({job.outDesc[i], job.outDims[i], job.staging + job.outOffset[i]});
  computeOutputs(in, out);
  Counter("trt.kernelsRun").add();
}

}  // namespace

// Runtime

Runtime::Runtime(bool lean) : lean_(lean) {
  mImpl = this;
  Counter("trt.live.runtimes").add(1);
}

Runtime::~Runtime() noexcept {
  Counter("trt.live.runtimes").add(-1);
}

bool Runtime::setMaxThreads(int32_t maxThreads) noexcept {
  if (maxThreads < 1) return false;
  maxThreads_ = maxThreads;
  return true;
}

nv::IRuntime* Runtime::loadRuntime(char const* path) noexcept {
  const std::string p = path != nullptr ? path : "";
  void* lib = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    reporter_.error(ErrorCode::kINVALID_ARGUMENT,
                    "IRuntime::loadRuntime: Unable to load library: " + p + ": " + (e ? e : "unknown"));
    return nullptr;
  }
  using VersionFn = int32_t (*)();
  auto version = reinterpret_cast<VersionFn>(dlsym(lib, "trtn_standin_lean_runtime_version"));
  if (version == nullptr) {
    reporter_.error(ErrorCode::kINVALID_ARGUMENT, "IRuntime::loadRuntime: " + p + " is not a lean runtime library");
    return nullptr;
  }
  if (version() != NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH) {
    reporter_.error(ErrorCode::kINVALID_ARGUMENT, "IRuntime::loadRuntime: " + p + " is the lean runtime of TensorRT " +
                                                      versionString(version()) + "; this is TensorRT " + compiledVersionString());
    return nullptr;
  }
  Counter("trt.runtime.loadRuntime").add();
  try {
    auto* r = new Runtime(true);
    r->setErrorRecorder(reporter_.get());
    return r;
  } catch (...) {
    return nullptr;
  }
}

nv::ICudaEngine* Runtime::deserializeCudaEngine(void const* blob, std::size_t size) noexcept {
  try {
    Counter("trt.deserialize.calls").add();
    const std::string where = "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (";
    auto fail = [&](ErrorCode code, const std::string& why) -> nv::ICudaEngine* {
      reporter_.error(code, where + why + ")");
      Counter("trt.deserialize.failed").add();
      return nullptr;
    };
    readDelay();
    if (faultHit("trt.deserialize_fail")) return fail(ErrorCode::kINTERNAL_ERROR, "stand-in fault trt.deserialize_fail");
    if (blob == nullptr || size == 0) return fail(ErrorCode::kINVALID_ARGUMENT, "the plan is empty");
    Plan plan;
    std::string why;
    if (!deserializePlan(blob, size, plan, why)) return fail(ErrorCode::kINVALID_ARGUMENT, why);
    const int32_t here = reportedVersion();
    if (plan.versionCompatible) {
      if (plan.trtVersion > here) {
        return fail(ErrorCode::kINVALID_ARGUMENT, "the version-compatible plan was built by TensorRT " +
                                                      versionString(plan.trtVersion) + ", newer than this TensorRT " +
                                                      versionString(here));
      }
      if (plan.excludeLeanRuntime && !lean_) {
        return fail(ErrorCode::kINVALID_STATE,
                    "the plan was built with kEXCLUDE_LEAN_RUNTIME: deserialize it with a runtime from "
                    "IRuntime::loadRuntime(<libnvinfer_lean>)");
      }
      if (!plan.excludeLeanRuntime && !hostCodeAllowed_) {
        return fail(ErrorCode::kINVALID_STATE,
                    "the version-compatible plan embeds a lean runtime (host code); call "
                    "IRuntime::setEngineHostCodeAllowed(true) to run it");
      }
    } else if (plan.trtVersion != here) {
      return fail(ErrorCode::kINVALID_ARGUMENT, "the plan was built by TensorRT " + versionString(plan.trtVersion) +
                                                    " and this is TensorRT " + versionString(here) +
                                                    "; rebuild the engine (or build it version-compatible)");
    }
    DeviceInfo dev;
    if (!currentDevice(dev, why)) return fail(ErrorCode::kFAILED_INITIALIZATION, why);
    const bool sameCc = dev.ccMajor == plan.ccMajor && dev.ccMinor == plan.ccMinor;
    const bool compatible = sameCc || (plan.hardwareCompatibility == 1 && dev.ccMajor >= 8 && plan.ccMajor >= 8);
    if (!compatible) {
      return fail(ErrorCode::kINVALID_STATE, "the plan was built for compute capability " + std::to_string(plan.ccMajor) + "." +
                                                 std::to_string(plan.ccMinor) + " (" + plan.deviceName + ") and this device (" +
                                                 dev.name + ") has " + std::to_string(dev.ccMajor) + "." +
                                                 std::to_string(dev.ccMinor));
    }
    if (plan.usesPlugins && !pluginsRegistered()) {
      return fail(ErrorCode::kINVALID_STATE,
                  "the plan uses TensorRT's standard plugins and no creator is registered "
                  "(getPluginCreator could not find the plugin; call initLibNvInferPlugins first)");
    }
    log(Severity::kINFO, "Loaded engine size: " + std::to_string(size) + " bytes (stand-in plan, " +
                             std::to_string(plan.tensors.size()) + " I/O tensors)");
    Counter("trt.deserialize.engines").add();
    return new Engine(std::move(plan), dev.ordinal, reporter_.get());
  } catch (const std::exception& e) {
    reporter_.error(ErrorCode::kINTERNAL_ERROR, std::string("IRuntime::deserializeCudaEngine: ") + e.what());
    return nullptr;
  }
}

// Engine

Engine::Engine(Plan plan, int device, nv::IErrorRecorder* recorder) : plan_(std::move(plan)), device_(device) {
  mImpl = this;
  reporter_.set(recorder);
  Counter("trt.live.engines").add(1);
}

Engine::~Engine() noexcept {
  Counter("trt.live.engines").add(-1);
}

const TensorDesc* Engine::find(char const* name) const noexcept {
  if (name == nullptr) return nullptr;
  for (const TensorDesc& t : plan_.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<const TensorDesc*> Engine::inputs() const {
  std::vector<const TensorDesc*> v;
  for (const TensorDesc& t : plan_.tensors) {
    if (t.input) v.push_back(&t);
  }
  return v;
}

std::vector<const TensorDesc*> Engine::outputs() const {
  std::vector<const TensorDesc*> v;
  for (const TensorDesc& t : plan_.tensors) {
    if (!t.input) v.push_back(&t);
  }
  return v;
}

int Engine::inputIndex(const std::string& name) const {
  int i = 0;
  for (const TensorDesc& t : plan_.tensors) {
    if (!t.input) continue;
    if (t.name == name) return i;
    i++;
  }
  return -1;
}

nv::IHostMemory* Engine::serialize() const noexcept {
  try {
    return new HostMemory(serializePlan(plan_));
  } catch (...) {
    return nullptr;
  }
}

Dims Engine::getTensorShape(char const* tensorName) const noexcept {
  const TensorDesc* t = find(tensorName);
  return t != nullptr ? toDims(t->dims) : invalidDims();
}

DataType Engine::getTensorDataType(char const* tensorName) const noexcept {
  const TensorDesc* t = find(tensorName);
  return t != nullptr ? t->type : DataType::kFLOAT;
}

nv::TensorLocation Engine::getTensorLocation(char const* tensorName) const noexcept {
  const TensorDesc* t = find(tensorName);
  return t != nullptr && t->shapeTensor ? nv::TensorLocation::kHOST : nv::TensorLocation::kDEVICE;
}

bool Engine::isShapeInferenceIO(char const* tensorName) const noexcept {
  const TensorDesc* t = find(tensorName);
  return t != nullptr && t->shapeTensor;
}

nv::TensorIOMode Engine::getTensorIOMode(char const* tensorName) const noexcept {
  const TensorDesc* t = find(tensorName);
  if (t == nullptr) return nv::TensorIOMode::kNONE;
  return t->input ? nv::TensorIOMode::kINPUT : nv::TensorIOMode::kOUTPUT;
}

int32_t Engine::getTensorBytesPerComponent(char const* tensorName) const noexcept {
  const TensorDesc* t = find(tensorName);
  return t != nullptr ? static_cast<int32_t>(elementSize(t->type)) : -1;
}

int32_t Engine::getTensorComponentsPerElement(char const* tensorName) const noexcept {
  return find(tensorName) != nullptr ? 1 : -1;
}

nv::TensorFormat Engine::getTensorFormat(char const* tensorName) const noexcept {
  (void)tensorName;
  return nv::TensorFormat::kLINEAR;
}

char const* Engine::getTensorFormatDesc(char const* tensorName) const noexcept {
  return find(tensorName) != nullptr ? "Row major linear format" : nullptr;
}

int32_t Engine::getTensorVectorizedDim(char const* tensorName) const noexcept {
  (void)tensorName;
  return -1;
}

Dims Engine::getProfileShape(char const* tensorName, int32_t profileIndex, nv::OptProfileSelector select) const noexcept {
  const TensorDesc* t = find(tensorName);
  if (t == nullptr || !t->input || profileIndex < 0 || static_cast<std::size_t>(profileIndex) >= plan_.profiles.size()) {
    return invalidDims();
  }
  const ProfileRange& r = plan_.profiles[static_cast<std::size_t>(profileIndex)][static_cast<std::size_t>(inputIndex(t->name))];
  return toDims(select == nv::OptProfileSelector::kMIN ? r.min : select == nv::OptProfileSelector::kOPT ? r.opt : r.max);
}

char const* Engine::getIOTensorName(int32_t index) const noexcept {
  if (index < 0 || static_cast<std::size_t>(index) >= plan_.tensors.size()) return nullptr;
  return plan_.tensors[static_cast<std::size_t>(index)].name.c_str();
}

int64_t Engine::getDeviceMemorySizeForProfileV2(int32_t profileIndex) const noexcept {
  if (profileIndex < 0 || static_cast<std::size_t>(profileIndex) >= plan_.deviceMemory.size()) return -1;
  return plan_.deviceMemory[static_cast<std::size_t>(profileIndex)];
}

char const* Engine::getAliasedInputTensor(char const* tensorName) const noexcept {
  const TensorDesc* t = find(tensorName);
  if (t == nullptr || t->input || t->aliasOf.empty()) return nullptr;
  return t->aliasOf.c_str();
}

nv::IExecutionContext* Engine::createExecutionContext(nv::ExecutionContextAllocationStrategy strategy) noexcept {
  try {
    auto ctx = std::make_unique<ExecutionContext>(*this, strategy);
    if (!ctx->init()) return nullptr;
    return ctx.release();
  } catch (...) {
    reporter_.error(ErrorCode::kFAILED_ALLOCATION, "ICudaEngine::createExecutionContext: out of host memory");
    return nullptr;
  }
}

// ExecutionContext

ExecutionContext::ExecutionContext(Engine& engine, nv::ExecutionContextAllocationStrategy strategy)
    : engine_(engine), strategy_(strategy) {
  mImpl = this;
  // A context reports to its engine's recorder until it is given its own.
  reporter_.set(engine.getErrorRecorder());
  Counter("trt.live.contexts").add(1);
}

ExecutionContext::~ExecutionContext() noexcept {
  const Cuda& c = cuda();
  std::string why;
  (void)ensureContext(why);
  if (activations_ != 0) (void)c.memFree(activations_);
  if (lazyModule_ != 0) (void)c.memFree(lazyModule_);
  if (staging_ != nullptr) (void)c.memFreeHost(staging_);
  Counter("trt.live.contexts").add(-1);
}

bool ExecutionContext::allocateActivations(int32_t profile) {
  const Cuda& c = cuda();
  if (activations_ != 0) {
    (void)c.memFree(activations_);
    activations_ = 0;
  }
  const int64_t bytes = strategy_ == nv::ExecutionContextAllocationStrategy::kSTATIC
                            ? engine_.plan().deviceMemoryMax
                            : engine_.getDeviceMemorySizeForProfileV2(profile);
  const CUresult r = c.memAlloc(&activations_, static_cast<std::size_t>(bytes));
  if (r != CUDA_SUCCESS) {
    activations_ = 0;
    const std::string text = r == CUDA_ERROR_OUT_OF_MEMORY ? oomText(static_cast<std::size_t>(bytes)) : cudaErrorText(r);
    reporter_.error(r == CUDA_ERROR_OUT_OF_MEMORY ? ErrorCode::kFAILED_ALLOCATION : ErrorCode::kFAILED_EXECUTION,
                    "ICudaEngine::createExecutionContext: Error Code 1: Cuda Runtime (" + text + ")");
    return false;
  }
  return true;
}

bool ExecutionContext::init() {
  const Cuda& c = cuda();
  if (faultHit("trt.context_oom")) {
    reporter_.error(ErrorCode::kFAILED_ALLOCATION, "ICudaEngine::createExecutionContext: Error Code 1: Cuda Runtime (" +
                                                       oomText(static_cast<std::size_t>(engine_.plan().deviceMemoryMax)) + ")");
    return false;
  }
  std::string why;
  int device = -1;
  if (!ensureContext(why, &device)) {
    reporter_.error(ErrorCode::kFAILED_INITIALIZATION, "ICudaEngine::createExecutionContext: " + why);
    return false;
  }
  if (device != engine_.device()) {
    reporter_.error(ErrorCode::kINVALID_STATE, "ICudaEngine::createExecutionContext: the engine was deserialized on device " +
                                                   std::to_string(engine_.device()) + " and the current device is " +
                                                   std::to_string(device));
    return false;
  }
  // Staging for the largest run of any profile.
  for (std::size_t p = 0; p < engine_.plan().profiles.size(); p++) {
    std::vector<std::vector<int64_t>> maxDims;
    std::size_t bytes = 0;
    const auto inputs = engine_.inputs();
    for (std::size_t i = 0; i < inputs.size(); i++) {
      maxDims.push_back(engine_.plan().profiles[p][i].max);
      bytes += alignUp(bytesOf(*inputs[i], maxDims.back()));
    }
    for (const TensorDesc* o : engine_.outputs()) bytes += alignUp(bytesOf(*o, resolveOutputDims(*o, inputs, maxDims)));
    stagingBytes_ = std::max(stagingBytes_, bytes);
  }
  void* host = nullptr;
  const CUresult hr = c.memHostAlloc(&host, std::max<std::size_t>(stagingBytes_, 1), 0);
  if (hr != CUDA_SUCCESS) {
    reporter_.error(
        hr == CUDA_ERROR_OUT_OF_MEMORY ? ErrorCode::kFAILED_ALLOCATION : ErrorCode::kFAILED_EXECUTION,
        "ICudaEngine::createExecutionContext: Error Code 1: Cuda Runtime (pinned staging: " + cudaErrorText(hr) + ")");
    return false;
  }
  staging_ = static_cast<uint8_t*>(host);
  if (strategy_ != nv::ExecutionContextAllocationStrategy::kUSER_MANAGED && !allocateActivations(0)) return false;
  if (faultHit("trt.context_report")) {
    reporter_.error(ErrorCode::kINTERNAL_ERROR,
                    "ICudaEngine::createExecutionContext: Error Code 2: Internal Error (stand-in fault trt.context_report: "
                    "reported on a call that succeeds)");
  }
  Counter("trt.contexts.created").add();
  return true;
}

std::vector<int64_t> ExecutionContext::currentDims(const TensorDesc& t) const {
  if (t.input) {
    auto it = shapes_.find(t.name);
    return it != shapes_.end() ? it->second : t.dims;
  }
  std::vector<std::vector<int64_t>> dims;
  const auto inputs = engine_.inputs();
  for (const TensorDesc* in : inputs) dims.push_back(currentDims(*in));
  return resolveOutputDims(t, inputs, dims);
}

bool ExecutionContext::setOptimizationProfileAsync(int32_t profileIndex, cudaStream_t stream) noexcept {
  (void)stream;
  if (profileIndex < 0 || profileIndex >= engine_.getNbOptimizationProfiles()) {
    reporter_.error(ErrorCode::kINVALID_ARGUMENT,
                    "IExecutionContext::setOptimizationProfileAsync: Error Code 3: API Usage Error (profile index " +
                        std::to_string(profileIndex) + " is out of range; the engine has " +
                        std::to_string(engine_.getNbOptimizationProfiles()) + " profile(s))");
    return false;
  }
  if (profileIndex != profile_ && strategy_ == nv::ExecutionContextAllocationStrategy::kON_PROFILE_CHANGE &&
      !allocateActivations(profileIndex)) {
    return false;
  }
  profile_ = profileIndex;
  shapes_.clear();
  return true;
}

bool ExecutionContext::allInputDimensionsSpecified() const noexcept {
  for (const TensorDesc* t : engine_.inputs()) {
    if (volume(t->dims) < 0 && shapes_.count(t->name) == 0) return false;
  }
  return true;
}

bool ExecutionContext::setInputShape(char const* tensorName, Dims const& dims) noexcept {
  try {
    Counter("trt.setInputShape").add();
    const std::string where =
        "IExecutionContext::setInputShape: Error Code 3: API Usage Error (Parameter check failed, condition: ";
    const TensorDesc* t = engine_.find(tensorName);
    const std::string name = tensorName != nullptr ? tensorName : "";
    if (t == nullptr || !t->input) {
      reporter_.error(ErrorCode::kINVALID_ARGUMENT, where + "\"" + name + "\" is not an input tensor of the engine)");
      return false;
    }
    const std::vector<int64_t> v = toVector(dims);
    if (v.size() != t->dims.size()) {
      reporter_.error(ErrorCode::kINVALID_ARGUMENT, where + "rank. Input " + name + " has rank " +
                                                        std::to_string(t->dims.size()) + "; set dimensions are " + formatDims(v) +
                                                        ")");
      return false;
    }
    const ProfileRange& r =
        engine_.plan().profiles[static_cast<std::size_t>(profile_)][static_cast<std::size_t>(engine_.inputIndex(name))];
    for (std::size_t k = 0; k < v.size(); k++) {
      if (t->dims[k] >= 0 && v[k] != t->dims[k]) {
        reporter_.error(ErrorCode::kINVALID_ARGUMENT,
                        where + "engineDims.d[" + std::to_string(k) + "] == dims.d[" + std::to_string(k) +
                            "]. Static dimension mismatch while setting input shape for " + name + ". Set dimensions are " +
                            formatDims(v) + ". Expected dimensions are " + formatDims(t->dims) + ".)");
        return false;
      }
      if (v[k] < r.min[k] || v[k] > r.max[k]) {
        reporter_.error(ErrorCode::kINVALID_ARGUMENT, where + "satisfyProfile. Set dimensions " + formatDims(v) + " for tensor " +
                                                          name + " do not satisfy optimization profile " +
                                                          std::to_string(profile_) + ": dimension " + std::to_string(k) +
                                                          " must be in [" + std::to_string(r.min[k]) + ", " +
                                                          std::to_string(r.max[k]) + "].)");
        return false;
      }
    }
    shapes_[name] = v;
    return true;
  } catch (...) {
    return false;
  }
}

Dims ExecutionContext::getTensorShape(char const* tensorName) const noexcept {
  try {
    const TensorDesc* t = engine_.find(tensorName);
    if (t == nullptr) {
      reporter_.error(ErrorCode::kINVALID_ARGUMENT, std::string("IExecutionContext::getTensorShape: no tensor named \"") +
                                                        (tensorName ? tensorName : "") + "\"");
      return invalidDims();
    }
    return toDims(currentDims(*t));
  } catch (...) {
    return invalidDims();
  }
}

Dims ExecutionContext::getTensorStrides(char const* tensorName) const noexcept {
  const TensorDesc* t = engine_.find(tensorName);
  if (t == nullptr) return invalidDims();
  std::vector<int64_t> dims = currentDims(*t);
  std::vector<int64_t> strides(dims.size(), 1);
  for (std::size_t k = dims.size(); k-- > 1;) strides[k - 1] = strides[k] * std::max<int64_t>(dims[k], 0);
  return toDims(strides);
}

bool ExecutionContext::setTensorAddress(char const* tensorName, void* data) noexcept {
  try {
    const TensorDesc* t = engine_.find(tensorName);
    if (t == nullptr) {
      reporter_.error(ErrorCode::kINVALID_ARGUMENT,
                      std::string("IExecutionContext::setTensorAddress: Error Code 3: API Usage Error (no tensor named \"") +
                          (tensorName ? tensorName : "") + "\")");
      return false;
    }
    if (reinterpret_cast<uintptr_t>(data) % 256 != 0) {
      reporter_.error(ErrorCode::kINVALID_ARGUMENT,
                      "IExecutionContext::setTensorAddress: Error Code 3: API Usage Error (the address of " + t->name +
                          " must have 256-byte alignment)");
      return false;
    }
    addresses_[t->name] = data;
    return true;
  } catch (...) {
    return false;
  }
}

void const* ExecutionContext::getTensorAddress(char const* tensorName) const noexcept {
  auto it = addresses_.find(tensorName != nullptr ? tensorName : "");
  return it == addresses_.end() ? nullptr : it->second;
}

void* ExecutionContext::getOutputTensorAddress(char const* tensorName) const noexcept {
  const TensorDesc* t = engine_.find(tensorName);
  if (t == nullptr || t->input) return nullptr;
  return const_cast<void*>(getTensorAddress(tensorName));
}

int32_t ExecutionContext::inferShapes(int32_t nbMaxNames, char const** tensorNames) noexcept {
  int32_t n = 0;
  for (const TensorDesc* t : engine_.inputs()) {
    if (volume(t->dims) < 0 && shapes_.count(t->name) == 0) {
      if (tensorNames != nullptr && n < nbMaxNames) tensorNames[n] = t->name.c_str();
      n++;
    }
  }
  return n;
}

size_t ExecutionContext::updateDeviceMemorySizeForShapes() noexcept {
  return static_cast<size_t>(engine_.getDeviceMemorySizeForProfileV2(profile_));
}

void ExecutionContext::setDeviceMemory(void* memory) noexcept {
  setDeviceMemoryV2(memory, engine_.getDeviceMemorySizeForProfileV2(profile_));
}

void ExecutionContext::setDeviceMemoryV2(void* memory, int64_t size) noexcept {
  if (strategy_ != nv::ExecutionContextAllocationStrategy::kUSER_MANAGED) {
    reporter_.error(ErrorCode::kINVALID_STATE,
                    "IExecutionContext::setDeviceMemoryV2: the context was not created with kUSER_MANAGED");
    return;
  }
  if (size < engine_.getDeviceMemorySizeForProfileV2(profile_)) {
    reporter_.error(ErrorCode::kINVALID_ARGUMENT, "IExecutionContext::setDeviceMemoryV2: " + std::to_string(size) +
                                                      " bytes is less than the profile needs (" +
                                                      std::to_string(engine_.getDeviceMemorySizeForProfileV2(profile_)) + ")");
    return;
  }
  userMemory_ = memory;
  userMemoryBytes_ = size;
}

bool ExecutionContext::checkBinding(const TensorDesc& t, const std::vector<int64_t>& dims, void* address) {
  const std::size_t bytes = bytesOf(t, dims);
  if (bytes == 0) return true;
  const std::string where = "IExecutionContext::enqueueV3: Error Code 3: API Usage Error (";
  if (address == nullptr) {
    reporter_.error(ErrorCode::kINVALID_STATE, where + "the address of tensor " + t.name + " is not set)");
    return false;
  }
  // What a kernel could not read faults on a GPU; the stand-in refuses it with the reason.
  const Cuda& c = cuda();
  unsigned int type = 0;
  size_t range = 0;
  CUdeviceptr start = 0;
  const auto p = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(address));
  const bool ok = c.pointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p) == CUDA_SUCCESS &&
                  type == CU_MEMORYTYPE_DEVICE &&
                  c.pointerGetAttribute(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, p) == CUDA_SUCCESS &&
                  c.pointerGetAttribute(&range, CU_POINTER_ATTRIBUTE_RANGE_SIZE, p) == CUDA_SUCCESS && p + bytes <= start + range;
  if (!ok) {
    reporter_.error(ErrorCode::kINVALID_ARGUMENT, where + "tensor " + t.name + " " + formatDims(dims) + " needs " +
                                                      std::to_string(bytes) +
                                                      " bytes of device memory at its address, which is not a device allocation "
                                                      "of that size; a kernel would fault here)");
    return false;
  }
  return true;
}

bool ExecutionContext::enqueueV3(cudaStream_t stream) noexcept {
  try {
    Counter("trt.enqueueV3").add();
    const std::string where = "IExecutionContext::enqueueV3: ";
    auto fail = [&](ErrorCode code, const std::string& message) {
      reporter_.error(code, where + message);
      Counter("trt.enqueueV3.failed").add();
      return false;
    };
    if (faultHit("trt.enqueue_fail"))
      return fail(ErrorCode::kFAILED_EXECUTION, "Error Code 1: Cuda Runtime (stand-in fault trt.enqueue_fail)");
    if (faultHit("trt.enqueue_report")) {
      reporter_.error(
          ErrorCode::kINTERNAL_ERROR,
          where + "Error Code 2: Internal Error (stand-in fault trt.enqueue_report: reported on a call that succeeds)");
    }
    if (!allInputDimensionsSpecified()) {
      return fail(ErrorCode::kINVALID_STATE,
                  "Error Code 3: API Usage Error (not every input shape is set: call setInputShape for each dynamic input)");
    }
    if (strategy_ == nv::ExecutionContextAllocationStrategy::kUSER_MANAGED && userMemory_ == nullptr &&
        engine_.plan().deviceMemoryMax > 0) {
      return fail(ErrorCode::kINVALID_STATE, "Error Code 3: API Usage Error (device memory is not set: call setDeviceMemoryV2)");
    }
    auto job = std::make_unique<Job>();
    job->staging = staging_;
    std::size_t offset = 0;
    std::string key;
    for (const TensorDesc* t : engine_.inputs()) {
      std::vector<int64_t> dims = currentDims(*t);
      void* address = addresses_.count(t->name) ? addresses_[t->name] : nullptr;
      if (!checkBinding(*t, dims, address)) return false;
      job->inDesc.push_back(t);
      job->inDims.push_back(dims);
      job->inOffset.push_back(offset);
      offset += alignUp(bytesOf(*t, dims));
      key += t->name + formatDims(dims) + std::to_string(reinterpret_cast<uintptr_t>(address)) + ";";
    }
    for (const TensorDesc* t : engine_.outputs()) {
      std::vector<int64_t> dims = currentDims(*t);
      if (volume(dims) < 0) {
        return fail(ErrorCode::kUNSUPPORTED_STATE, "Error Code 3: API Usage Error (output " + t->name +
                                                       " has the data-dependent shape " + formatDims(dims) +
                                                       " and needs an IOutputAllocator, which the stand-in does not model)");
      }
      void* address = addresses_.count(t->name) ? addresses_[t->name] : nullptr;
      if (!t->aliasOf.empty()) {
        void* in = addresses_.count(t->aliasOf) ? addresses_[t->aliasOf] : nullptr;
        if (address != in) {
          return fail(ErrorCode::kINVALID_ARGUMENT, "Error Code 3: API Usage Error (output " + t->name + " aliases input " +
                                                        t->aliasOf +
                                                        " (getAliasedInputTensor) and must be bound to the same address)");
        }
      }
      if (!checkBinding(*t, dims, address)) return false;
      job->outDesc.push_back(t);
      job->outDims.push_back(dims);
      job->outOffset.push_back(offset);
      offset += alignUp(bytesOf(*t, dims));
      key += t->name + formatDims(dims) + std::to_string(reinterpret_cast<uintptr_t>(address)) + ";";
    }
    if (offset > stagingBytes_)
      return fail(ErrorCode::kINTERNAL_ERROR, "Error Code 2: Internal Error (the run needs more staging than its profile)");

    const Cuda& c = cuda();
    CUstream s = reinterpret_cast<CUstream>(stream);
    auto cudaFail = [&](const char* call, CUresult r) {
      return fail(ErrorCode::kFAILED_EXECUTION,
                  std::string("Error Code 1: Cuda Runtime (") + call + ": " + cudaErrorText(r) + ")");
    };
    // The first run loads its kernels (lazily, as CUDA does): an allocation, which stream
    // capture forbids. A graph is captured from a warmed-up context only.
    if (lazyModule_ == 0) {
      const CUresult r = c.memAlloc(&lazyModule_, 4096);
      if (r != CUDA_SUCCESS) {
        lazyModule_ = 0;
        return cudaFail("loading kernels (cuMemAlloc)", r);
      }
    }
    auto it = jobs_.find(key);
    if (it == jobs_.end()) it = jobs_.emplace(key, std::move(job)).first;
    Job& j = *it->second;
    for (std::size_t i = 0; i < j.inDesc.size(); i++) {
      const std::size_t bytes = bytesOf(*j.inDesc[i], j.inDims[i]);
      if (bytes == 0) continue;
      const auto src = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(addresses_[j.inDesc[i]->name]));
      const CUresult r =
          c.memcpyAsync(static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(staging_ + j.inOffset[i])), src, bytes, s);
      if (r != CUDA_SUCCESS) return cudaFail("cuMemcpyAsync (input)", r);
    }
    if (consumed_ != nullptr) {
      const CUresult r = c.eventRecord(reinterpret_cast<CUevent>(consumed_), s);
      if (r != CUDA_SUCCESS) return cudaFail("cuEventRecord (input consumed)", r);
    }
    if (const CUresult r = c.launchHostFunc(s, runJob, &j); r != CUDA_SUCCESS) return cudaFail("kernel launch", r);
    for (std::size_t i = 0; i < j.outDesc.size(); i++) {
      const std::size_t bytes = bytesOf(*j.outDesc[i], j.outDims[i]);
      if (bytes == 0) continue;
      const auto dst = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(addresses_[j.outDesc[i]->name]));
      const CUresult r =
          c.memcpyAsync(dst, static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(staging_ + j.outOffset[i])), bytes, s);
      if (r != CUDA_SUCCESS) return cudaFail("cuMemcpyAsync (output)", r);
    }
    if (debugSync_) {
      if (const CUresult r = c.streamSynchronize(s); r != CUDA_SUCCESS) return cudaFail("cuStreamSynchronize (debug sync)", r);
    }
    Counter("trt.enqueueV3.ok").add();
    return true;
  } catch (const std::exception& e) {
    reporter_.error(ErrorCode::kINTERNAL_ERROR, std::string("IExecutionContext::enqueueV3: ") + e.what());
    return false;
  }
}

}  // namespace standin::trt
