#include "trt/common.h"

#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace standin::trt {

std::size_t elementSize(DataType type) noexcept {
  switch (type) {
    case DataType::kFLOAT:
    case DataType::kINT32:
      return 4;
    case DataType::kHALF:
    case DataType::kBF16:
      return 2;
    case DataType::kINT8:
    case DataType::kUINT8:
    case DataType::kBOOL:
    case DataType::kFP8:
      return 1;
    case DataType::kINT64:
      return 8;
    default:
      return 0;
  }
}

const char* typeName(DataType type) noexcept {
  switch (type) {
    case DataType::kFLOAT:
      return "kFLOAT";
    case DataType::kHALF:
      return "kHALF";
    case DataType::kBF16:
      return "kBF16";
    case DataType::kINT8:
      return "kINT8";
    case DataType::kUINT8:
      return "kUINT8";
    case DataType::kINT32:
      return "kINT32";
    case DataType::kINT64:
      return "kINT64";
    case DataType::kBOOL:
      return "kBOOL";
    case DataType::kFP8:
      return "kFP8";
    default:
      return "other";
  }
}

int64_t volume(const std::vector<int64_t>& dims) noexcept {
  int64_t v = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    v *= d;
  }
  return v;
}

std::vector<int64_t> toVector(const Dims& d) {
  std::vector<int64_t> v;
  for (int32_t i = 0; i < d.nbDims && i < Dims::MAX_DIMS; i++) v.push_back(d.d[i]);
  return v;
}

Dims toDims(const std::vector<int64_t>& v) {
  Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (std::size_t i = 0; i < v.size() && i < static_cast<std::size_t>(Dims::MAX_DIMS); i++) d.d[i] = v[i];
  return d;
}

Dims invalidDims() {
  Dims d{};
  d.nbDims = -1;
  return d;
}

std::string formatDims(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

std::vector<int64_t> resolveOutputDims(const TensorDesc& out, const std::vector<const TensorDesc*>& inputs,
                                       const std::vector<std::vector<int64_t>>& inputDims) {
  auto runtime = [&](std::size_t i, std::size_t axis) -> int64_t {
    const auto& dims = inputDims[i];
    return axis < dims.size() ? dims[axis] : -1;
  };
  if (!out.aliasOf.empty()) {
    for (std::size_t i = 0; i < inputs.size(); i++) {
      if (inputs[i]->name == out.aliasOf) return inputDims[i].empty() ? inputs[i]->dims : inputDims[i];
    }
  }
  std::vector<int64_t> dims = out.dims;
  for (std::size_t k = 0; k < dims.size(); k++) {
    if (dims[k] >= 0) continue;
    const std::string& name = k < out.dimNames.size() ? out.dimNames[k] : std::string();
    bool found = false;
    if (!name.empty()) {
      for (std::size_t i = 0; i < inputs.size() && !found; i++) {
        for (std::size_t j = 0; j < inputs[i]->dimNames.size(); j++) {
          if (inputs[i]->dimNames[j] == name) {
            dims[k] = runtime(i, j);
            found = true;
            break;
          }
        }
      }
    }
    if (found) continue;
    if (out.dataDependent) continue;  // stays -1 until the data is known
    dims[k] = 1;
    for (std::size_t i = 0; i < inputs.size(); i++) {
      if (inputs[i]->dims.size() > k && (inputs[i]->dims[k] < 0 || k == 0)) {
        dims[k] = runtime(i, k);
        break;
      }
    }
  }
  return dims;
}

namespace {

struct LoggerState {
  std::mutex mu;
  ILogger* logger = nullptr;
};

LoggerState& loggerState() {
  static LoggerState* s = new LoggerState();
  return *s;
}

}  // namespace

void offerLogger(ILogger* logger, const char* factory) noexcept {
  if (logger == nullptr) return;
  LoggerState& s = loggerState();
  bool ignored = false;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.logger == nullptr)
      s.logger = logger;
    else
      ignored = s.logger != logger;
  }
  if (ignored) {
    log(Severity::kWARNING, std::string("The logger passed into ") + factory +
                                " differs from the one already registered; the new logger is ignored and the first one "
                                "is used (the stand-in keeps the first logger, as TensorRT does)");
  }
}

ILogger* processLogger() noexcept {
  LoggerState& s = loggerState();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.logger;
}

void log(Severity severity, const std::string& message) noexcept {
  ILogger* l = processLogger();
  if (l != nullptr) l->log(severity, message.c_str());
}

void readDelay() noexcept {
  try {
    const std::string ms = faultValue("trt.read_delay_ms");
    if (!ms.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(std::strtoll(ms.c_str(), nullptr, 10)));
  } catch (...) {
  }
}

void Reporter::set(nvinfer1::IErrorRecorder* recorder) noexcept {
  if (recorder == recorder_) return;
  if (recorder != nullptr) recorder->incRefCount();
  if (recorder_ != nullptr) recorder_->decRefCount();
  recorder_ = recorder;
}

void Reporter::error(ErrorCode code, const std::string& message) const noexcept {
  Counter("trt.errorsReported").add();
  if (recorder_ != nullptr) {
    recorder_->reportError(code, message.c_str());
  } else {
    log(Severity::kERROR, message);
  }
}

int32_t reportedVersion() noexcept {
  const char* v = std::getenv("TRTN_STANDIN_TRT_VERSION");
  if (v != nullptr && *v != '\0') {
    int major = 0, minor = 0, patch = 0;
    if (std::sscanf(v, "%d.%d.%d", &major, &minor, &patch) >= 2) return major * 10000 + minor * 100 + patch;
    return static_cast<int32_t>(std::strtol(v, nullptr, 10));
  }
  return NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH;
}

std::string versionString(int32_t v) {
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

std::string compiledVersionString() {
  return std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." + std::to_string(NV_TENSORRT_PATCH);
}

const Cuda& cuda() noexcept {
  static Cuda* table = [] {
    auto* t = new Cuda();
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* e = dlerror();
      t->error = std::string("libcuda.so.1 could not be loaded: ") + (e != nullptr ? e : "unknown error");
      return t;
    }
#define TRTN_STANDIN_CUDA_RESOLVE(member, symbol, params)                \
  t->member = reinterpret_cast<decltype(t->member)>(dlsym(lib, symbol)); \
  if (t->member == nullptr && t->error.empty()) t->error = std::string("libcuda.so.1 has no ") + symbol;
    TRTN_CUDA_DRIVER_FUNCTIONS(TRTN_STANDIN_CUDA_RESOLVE)
    TRTN_STANDIN_EXTRA_DRIVER_FUNCTIONS(TRTN_STANDIN_CUDA_RESOLVE)
#undef TRTN_STANDIN_CUDA_RESOLVE
    if (t->error.empty()) {
      const CUresult r = t->init(0);
      if (r != CUDA_SUCCESS) t->error = "CUDA initialization failure with error: " + std::to_string(static_cast<int>(r));
    }
    return t;
  }();
  return *table;
}

std::string cudaErrorText(CUresult r) {
  const Cuda& c = cuda();
  const char* name = nullptr;
  const char* text = nullptr;
  if (c.getErrorName != nullptr) (void)c.getErrorName(r, &name);
  if (c.getErrorString != nullptr) (void)c.getErrorString(r, &text);
  std::string s = name != nullptr ? name : "CUDA error " + std::to_string(static_cast<int>(r));
  if (text != nullptr) s += std::string(" (") + text + ")";
  return s;
}

bool ensureContext(std::string& why, int* device) noexcept {
  const Cuda& c = cuda();
  if (!c.error.empty()) {
    why = c.error;
    return false;
  }
  CUcontext ctx = nullptr;
  CUresult r = c.ctxGetCurrent(&ctx);
  if (r == CUDA_SUCCESS && ctx == nullptr) {
    // Like the CUDA runtime: the primary context of device 0, kept for the life of the process.
    CUdevice dev = 0;
    r = c.deviceGet(&dev, 0);
    if (r == CUDA_SUCCESS) r = c.primaryCtxRetain(&ctx, dev);
    if (r == CUDA_SUCCESS) r = c.ctxSetCurrent(ctx);
  }
  CUdevice dev = 0;
  if (r == CUDA_SUCCESS) r = c.ctxGetDevice(&dev);
  if (r != CUDA_SUCCESS) {
    why = "CUDA initialization failure with error: " + cudaErrorText(r);
    return false;
  }
  if (device != nullptr) *device = dev;
  return true;
}

bool currentDevice(DeviceInfo& out, std::string& why) noexcept {
  int ordinal = 0;
  if (!ensureContext(why, &ordinal)) return false;
  const Cuda& c = cuda();
  char name[256] = {};
  CUresult r = c.deviceGetName(name, sizeof name, ordinal);
  if (r == CUDA_SUCCESS) r = c.deviceGetAttribute(&out.ccMajor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, ordinal);
  if (r == CUDA_SUCCESS) r = c.deviceGetAttribute(&out.ccMinor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, ordinal);
  if (r == CUDA_SUCCESS) r = c.deviceGetAttribute(&out.sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, ordinal);
  if (r != CUDA_SUCCESS) {
    why = "cuDeviceGetAttribute failed: " + cudaErrorText(r);
    return false;
  }
  out.ordinal = ordinal;
  out.name = name;
  return true;
}

}  // namespace standin::trt
