#include "cuda/driver.h"

#include <dlfcn.h>
#include <link.h>

#include <cstring>
#include <memory>
#include <vector>

namespace trtn::cuda {

namespace {

struct Symbol {
  const char* member;
  const char* symbol;
};

constexpr Symbol kSymbols[] = {
#define TRTN_DRIVER_SYMBOL(member, symbol, params) {#member, symbol},
    TRTN_CUDA_DRIVER_FUNCTIONS(TRTN_DRIVER_SYMBOL)
#undef TRTN_DRIVER_SYMBOL
};

std::string versionText(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// What loading the driver gave, kept for the process: a driver that is missing or unusable
// stays so (the dynamic loader would not find another one later either).
struct LoadedDriver {
  DriverApi api;
  int version = 0;  // 0: no libcuda.so.1 (or one that reports no version)
  std::string path;
  std::unique_ptr<NativeError> error;  // why `api` cannot be used; null when it can
  CUresult initStatus = CUDA_SUCCESS;
};

std::string loadedPath(void* handle) {
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr && map->l_name[0] != '\0') {
    return map->l_name;
  }
  return "libcuda.so.1";
}

std::unique_ptr<NativeError> insufficient(const std::string& message) {
  return std::make_unique<NativeError>("ERR_CUDA", message, "CUDA_ERROR_INSUFFICIENT_DRIVER");
}

LoadedDriver load() {
  LoadedDriver d;
  // By bare name: LD_LIBRARY_PATH and the ld.so cache choose the driver, as for any CUDA program.
  void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    std::string why = error != nullptr ? error : "unknown error";
    // dlerror() starts with the name it was given; say it once.
    if (why.rfind("libcuda.so.1: ", 0) == 0) why.erase(0, 14);
    d.error = std::make_unique<NativeError>(
        "ERR_CUDA",
        "no NVIDIA driver: libcuda.so.1 could not be loaded: " + why +
            ". Install the NVIDIA driver (CUDA 12.0 or newer) to use the GPU; the ONNX Runtime backend works without it",
        "CUDA_ERROR_NO_DRIVER");
    return d;
  }
  // Never closed: CUDA objects live as long as the process.
  d.path = loadedPath(handle);
  using VersionFn = CUresult(CUDAAPI*)(int*);
  auto getVersion = reinterpret_cast<VersionFn>(dlsym(handle, "cuDriverGetVersion"));
  int version = 0;
  if (getVersion == nullptr || getVersion(&version) != CUDA_SUCCESS || version <= 0) {
    d.error = insufficient(d.path + " does not report a CUDA version (cuDriverGetVersion): it is not a usable NVIDIA driver");
    return d;
  }
  d.version = version;
  if (version < kMinDriverVersion) {
    d.error = insufficient("the NVIDIA driver (" + d.path + ") supports CUDA " + versionText(version) +
                           "; tensorrt-node needs a driver for CUDA " + versionText(kMinDriverVersion) +
                           " or newer (NVIDIA driver 525 or newer)");
    return d;
  }
  std::vector<std::string> missing;
#define TRTN_RESOLVE(member, symbol, params)                                      \
  d.api.member = reinterpret_cast<decltype(d.api.member)>(dlsym(handle, symbol)); \
  if (d.api.member == nullptr) missing.push_back(symbol);
  TRTN_CUDA_DRIVER_FUNCTIONS(TRTN_RESOLVE)
#undef TRTN_RESOLVE
  if (!missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    d.error = insufficient("the NVIDIA driver (" + d.path + ", CUDA " + versionText(version) + ") lacks " + names +
                           "; tensorrt-node needs a driver for CUDA " + versionText(kMinDriverVersion) + " or newer");
    return d;
  }
  d.initStatus = d.api.init(0);
  return d;
}

const LoadedDriver& loaded() {
  // Thread-safe once (C++11 static initialisation). Never destroyed: the completion thread or
  // a TensorRT thread may still call the driver while the process exits.
  static const LoadedDriver* d = new LoadedDriver(load());
  return *d;
}

}  // namespace

const DriverApi& driver() {
  const LoadedDriver& d = loaded();
  if (d.error) throw *d.error;
  if (d.initStatus == CUDA_ERROR_NO_DEVICE) {
    // Named here: a driver may not name errors before cuInit succeeded.
    throw NativeError("ERR_CUDA", "the driver sees no CUDA device", "CUDA_ERROR_NO_DEVICE");
  }
  if (d.initStatus != CUDA_SUCCESS) throw driverFailure(d.initStatus, "init");
  return d.api;
}

int driverVersion() {
  const LoadedDriver& d = loaded();
  if (d.version == 0) throw *d.error;
  return d.version;
}

int deviceCount() {
  const LoadedDriver& d = loaded();
  if (d.error) throw *d.error;
  // A driver without a GPU fails cuInit (or the count) with CUDA_ERROR_NO_DEVICE: that is an
  // answer, not a failure.
  if (d.initStatus == CUDA_ERROR_NO_DEVICE) return 0;
  if (d.initStatus != CUDA_SUCCESS) throw driverFailure(d.initStatus, "init");
  int count = 0;
  const CUresult status = d.api.deviceGetCount(&count);
  if (status == CUDA_ERROR_NO_DEVICE) return 0;
  check(status, "deviceGetCount");
  return count;
}

const char* symbolOf(const char* member) noexcept {
  for (const Symbol& s : kSymbols) {
    if (std::strcmp(s.member, member) == 0) return s.symbol;
  }
  return member;
}

std::string errorName(CUresult status) {
  const DriverApi& api = loaded().api;
  const char* name = nullptr;
  if (api.getErrorName != nullptr && api.getErrorName(status, &name) == CUDA_SUCCESS && name != nullptr) return name;
  return "CUresult " + std::to_string(static_cast<int>(status));
}

namespace {

std::string errorText(CUresult status) {
  const DriverApi& api = loaded().api;
  const char* text = nullptr;
  if (api.getErrorString != nullptr && api.getErrorString(status, &text) == CUDA_SUCCESS && text != nullptr) return text;
  return "no description from the driver";
}

}  // namespace

bool isStickyError(CUresult status) noexcept {
  switch (status) {
    case CUDA_ERROR_ILLEGAL_ADDRESS:
    case CUDA_ERROR_LAUNCH_FAILED:
    case CUDA_ERROR_LAUNCH_TIMEOUT:
    case CUDA_ERROR_HARDWARE_STACK_ERROR:
    case CUDA_ERROR_ILLEGAL_INSTRUCTION:
    case CUDA_ERROR_MISALIGNED_ADDRESS:
    case CUDA_ERROR_INVALID_ADDRESS_SPACE:
    case CUDA_ERROR_INVALID_PC:
    case CUDA_ERROR_ASSERT:
    case CUDA_ERROR_ECC_UNCORRECTABLE:
    case CUDA_ERROR_CONTEXT_IS_DESTROYED:
    case CUDA_ERROR_EXTERNAL_DEVICE:
      return true;
    default:
      return false;
  }
}

NativeError driverFailure(CUresult status, const char* member) {
  const std::string name = errorName(status);
  const bool sticky = isStickyError(status);
  std::string message = std::string(symbolOf(member)) + " failed: " + name + " (" + errorText(status) + ")";
  if (sticky) message += "; the CUDA context is lost and the process must restart to use the GPU again";
  return NativeError(status == CUDA_ERROR_OUT_OF_MEMORY ? "ERR_CUDA_OOM" : "ERR_CUDA", message, name, sticky);
}

void throwDriver(CUresult status, const char* member) {
  throw driverFailure(status, member);
}

}  // namespace trtn::cuda
