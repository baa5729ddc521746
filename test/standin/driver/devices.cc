// Fake devices, their attributes, error names, and the checks every call begins with.

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "driver.h"

namespace standin::cuda {

Driver& driver() {
  static Driver* d = new Driver();
  return *d;
}

namespace {

// CUresult names and descriptions (the stand-in's own words).
#define TRTN_STANDIN_ERRORS(X)                                                                                          \
  X(CUDA_SUCCESS, "no error")                                                                                           \
  X(CUDA_ERROR_INVALID_VALUE, "invalid argument")                                                                       \
  X(CUDA_ERROR_OUT_OF_MEMORY, "out of memory")                                                                          \
  X(CUDA_ERROR_NOT_INITIALIZED, "initialization error: cuInit has not been called")                                     \
  X(CUDA_ERROR_DEINITIALIZED, "driver shutting down")                                                                   \
  X(CUDA_ERROR_STUB_LIBRARY, "CUDA driver is a stub library")                                                           \
  X(CUDA_ERROR_DEVICE_UNAVAILABLE, "CUDA-capable device(s) is/are busy or unavailable")                                 \
  X(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected")                                                         \
  X(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal")                                                                \
  X(CUDA_ERROR_INVALID_CONTEXT, "invalid device context")                                                               \
  X(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle")                                                               \
  X(CUDA_ERROR_ILLEGAL_STATE, "the operation cannot be performed in the present state")                                 \
  X(CUDA_ERROR_NOT_FOUND, "named symbol not found")                                                                     \
  X(CUDA_ERROR_NOT_READY, "device not ready")                                                                           \
  X(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered")                                             \
  X(CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure")                                                             \
  X(CUDA_ERROR_CONTEXT_IS_DESTROYED, "context is destroyed")                                                            \
  X(CUDA_ERROR_NOT_PERMITTED, "operation not permitted")                                                                \
  X(CUDA_ERROR_NOT_SUPPORTED, "operation not supported")                                                                \
  X(CUDA_ERROR_SYSTEM_DRIVER_MISMATCH, "system has unsupported display driver / cuda driver combination")               \
  X(CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE, "forward compatibility was attempted on non supported HW")               \
  X(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "operation not permitted when stream is capturing")                          \
  X(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "operation failed due to a previous error during capture")                   \
  X(CUDA_ERROR_STREAM_CAPTURE_ISOLATION, "dependency created on uncaptured work in another stream")                     \
  X(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "operation would make the legacy stream depend on a capturing blocking stream") \
  X(CUDA_ERROR_CAPTURED_EVENT, "operation not permitted on an event last recorded in a capturing stream")               \
  X(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "attempt to terminate a thread-local capture sequence from another thread") \
  X(CUDA_ERROR_UNKNOWN, "unknown error")

struct ErrorEntry {
  CUresult code;
  const char* name;
  const char* text;
};
#define TRTN_STANDIN_ERROR_ENTRY(code, text) {code, #code, text},
constexpr ErrorEntry kErrors[] = {TRTN_STANDIN_ERRORS(TRTN_STANDIN_ERROR_ENTRY)};

const ErrorEntry* findError(CUresult r) {
  for (const auto& e : kErrors) {
    if (e.code == r) return &e;
  }
  return nullptr;
}

uint32_t fnv(const std::string& s, uint32_t h = 2166136261u) {
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

// "16G", "80GiB", "512M", "1048576": GiB/MiB/KiB multiples (1024-based, as GPU memory is quoted).
bool parseBytes(const std::string& v, std::size_t& out) {
  char* end = nullptr;
  const double n = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || n <= 0) return false;
  std::string unit(end);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double mult = 1;
  if (unit == "" || unit == "B")
    mult = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB")
    mult = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB")
    mult = 1024.0 * 1024 * 1024;
  else
    return false;
  out = static_cast<std::size_t>(n * mult);
  return true;
}

void setUuid(Device& dev);

std::unique_ptr<Device> defaultDevice(int ordinal) {
  auto dev = std::make_unique<Device>();
  dev->ordinal = ordinal;
  dev->name = "tensorrt-node stand-in GPU";
  dev->totalMemory = std::size_t{16} << 30;
  dev->l2Bytes = 64 << 20;
  dev->pciBus = 0x17 + ordinal;
  setUuid(*dev);
  return dev;
}

void setUuid(Device& dev) {
  uint32_t h = fnv(dev.name + "#" + std::to_string(dev.ordinal));
  for (int i = 0; i < 16; i++) {
    h = h * 16777619u ^ static_cast<uint32_t>(i);
    dev.uuid.bytes[i] = static_cast<char>(h >> 24);
  }
}

// One device spec: key=value pairs separated by ','.
std::string parseDevice(const std::string& spec, Device& dev) {
  std::size_t start = 0;
  bool uuidSet = false;
  while (start < spec.size()) {
    std::size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = spec.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) return "\"" + item + "\" is not key=value";
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    const long n = std::strtol(value.c_str(), nullptr, 0);
    if (key == "name") {
      dev.name = value;
    } else if (key == "cc") {
      int major = 0, minor = 0;
      if (std::sscanf(value.c_str(), "%d.%d", &major, &minor) != 2) return "cc must be MAJOR.MINOR, got \"" + value + "\"";
      dev.ccMajor = major;
      dev.ccMinor = minor;
    } else if (key == "sms") {
      dev.sms = static_cast<int>(n);
    } else if (key == "memory") {
      if (!parseBytes(value, dev.totalMemory)) return "memory must be bytes with an optional K/M/G suffix, got \"" + value + "\"";
    } else if (key == "l2") {
      std::size_t b = 0;
      if (!parseBytes(value, b)) return "l2 must be bytes, got \"" + value + "\"";
      dev.l2Bytes = static_cast<int>(b);
    } else if (key == "bus") {
      dev.busWidth = static_cast<int>(n);
    } else if (key == "clock") {
      dev.clockKHz = static_cast<int>(n);
    } else if (key == "memclock") {
      dev.memClockKHz = static_cast<int>(n);
    } else if (key == "integrated") {
      dev.integrated = n != 0;
    } else if (key == "pci") {
      unsigned domain = 0, bus = 0, device = 0;
      if (std::sscanf(value.c_str(), "%x:%x:%x", &domain, &bus, &device) != 3)
        return "pci must be DOMAIN:BUS:DEVICE in hex, got \"" + value + "\"";
      dev.pciDomain = static_cast<int>(domain);
      dev.pciBus = static_cast<int>(bus);
      dev.pciDevice = static_cast<int>(device);
    } else if (key == "uuid") {
      std::string hex;
      for (char c : value) {
        if (c != '-') hex += c;
      }
      if (hex.rfind("GPU", 0) == 0) hex = hex.substr(3);
      if (hex.size() != 32) return "uuid must have 32 hex digits, got \"" + value + "\"";
      for (int i = 0; i < 16; i++) dev.uuid.bytes[i] = static_cast<char>(std::strtoul(hex.substr(2 * i, 2).c_str(), nullptr, 16));
      uuidSet = true;
    } else {
      return "unknown key \"" + key + "\" (name, cc, sms, memory, l2, bus, clock, memclock, integrated, pci, uuid)";
    }
  }
  if (!uuidSet) setUuid(dev);
  return "";
}

void reserveSpace(Device& dev) {
  // The range is never touched: PROT_NONE, no backing. A 64 KiB gap after the last address keeps
  // an overrun past the end of the range inside it.
  dev.spaceBytes = dev.totalMemory + (std::size_t{64} << 10);
  void* base = mmap(nullptr, dev.spaceBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    dev.spaceBytes = 0;
    return;
  }
  dev.spaceBase = reinterpret_cast<uintptr_t>(base);
  dev.freeRanges.emplace(0, dev.totalMemory);
  dev.primary.device = &dev;
  dev.pool.device = &dev;
}

}  // namespace

void configure(Driver& d) {
  if (d.configured) return;
  d.configured = true;
  d.opDelayUs = envInt("TRTN_STANDIN_OP_DELAY_US", 0);
  if (const char* v = std::getenv("TRTN_STANDIN_DRIVER_VERSION"); v != nullptr && *v != '\0') {
    int major = 0, minor = 0;
    if (std::strchr(v, '.') != nullptr && std::sscanf(v, "%d.%d", &major, &minor) == 2) {
      d.version = major * 1000 + minor * 10;
    } else {
      d.version = static_cast<int>(std::strtol(v, nullptr, 10));
    }
  }
  const char* spec = std::getenv("TRTN_STANDIN_DEVICES");
  std::string text = spec != nullptr ? spec : "";
  if (text.empty()) {
    d.devices.push_back(defaultDevice(0));
  } else if (text.find('=') == std::string::npos) {
    const long n = std::strtol(text.c_str(), nullptr, 10);
    if (n < 0 || n > 16) d.configError = "TRTN_STANDIN_DEVICES must be a count 0..16 or device specs, got \"" + text + "\"";
    for (long i = 0; i < n && d.configError.empty(); i++) d.devices.push_back(defaultDevice(static_cast<int>(i)));
  } else {
    std::size_t start = 0;
    while (start <= text.size() && d.configError.empty()) {
      std::size_t semi = text.find(';', start);
      if (semi == std::string::npos) semi = text.size();
      const std::string one = text.substr(start, semi - start);
      start = semi + 1;
      if (one.empty()) continue;
      auto dev = defaultDevice(static_cast<int>(d.devices.size()));
      const std::string err = parseDevice(one, *dev);
      if (!err.empty()) d.configError = "TRTN_STANDIN_DEVICES device " + std::to_string(d.devices.size()) + ": " + err;
      d.devices.push_back(std::move(dev));
    }
  }
  for (auto& dev : d.devices) {
    reserveSpace(*dev);
    if (dev->spaceBytes == 0) d.configError = "could not reserve the address range of device " + std::to_string(dev->ordinal);
  }
  if (!d.configError.empty()) std::fprintf(stderr, "tensorrt-node stand-in driver: %s\n", d.configError.c_str());
}

CUresult deviceAttribute(const Device& dev, CUdevice_attribute attribute, int* value) {
  switch (attribute) {
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
      *value = 1024;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X:
      *value = 1024;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y:
      *value = 1024;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z:
      *value = 64;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X:
      *value = 2147483647;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y:
      *value = 65535;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z:
      *value = 65535;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK:
      *value = 49152;
      break;
    case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY:
      *value = 65536;
      break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE:
      *value = 32;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_PITCH:
      *value = 2147483647;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK:
      *value = 65536;
      break;
    case CU_DEVICE_ATTRIBUTE_CLOCK_RATE:
      *value = dev.clockKHz;
      break;
    case CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT:
      *value = 512;
      break;
    case CU_DEVICE_ATTRIBUTE_GPU_OVERLAP:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
      *value = dev.sms;
      break;
    case CU_DEVICE_ATTRIBUTE_KERNEL_EXEC_TIMEOUT:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_INTEGRATED:
      *value = dev.integrated ? 1 : 0;
      break;
    case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_MODE:
      *value = CU_COMPUTEMODE_DEFAULT;
      break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_ECC_ENABLED:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID:
      *value = dev.pciBus;
      break;
    case CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID:
      *value = dev.pciDevice;
      break;
    case CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID:
      *value = dev.pciDomain;
      break;
    case CU_DEVICE_ATTRIBUTE_TCC_DRIVER:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE:
      *value = dev.memClockKHz;
      break;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH:
      *value = dev.busWidth;
      break;
    case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE:
      *value = dev.l2Bytes;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR:
      *value = 2048;
      break;
    case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT:
      *value = 2;
      break;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
      *value = dev.ccMajor;
      break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
      *value = dev.ccMinor;
      break;
    case CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR:
      *value = 102400;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR:
      *value = 65536;
      break;
    case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD_GROUP_ID:
      *value = dev.ordinal;
      break;
    case CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_PREEMPTION_SUPPORTED:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
      *value = 101376;
      break;
    case CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR:
      *value = 24;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE:
      *value = dev.l2Bytes / 2;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_ACCESS_POLICY_WINDOW_SIZE:
      *value = 134213632;
      break;
    case CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK:
      *value = 1024;
      break;
    case CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED:
      *value = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH:
      *value = dev.ccMajor >= 9 ? 1 : 0;
      break;
    case CU_DEVICE_ATTRIBUTE_NUMA_CONFIG:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_NUMA_ID:
      *value = -1;
      break;
    case CU_DEVICE_ATTRIBUTE_MPS_ENABLED:
      *value = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_HOST_NUMA_ID:
      *value = 0;
      break;
    default: {
      // Not modelled: say so once, so the attribute can be added here when the addon reads it.
      static bool warned[256] = {};
      const int a = static_cast<int>(attribute);
      if (a > 0 && a < CU_DEVICE_ATTRIBUTE_MAX) {
        if (a < 256 && !warned[a]) {
          warned[a] = true;
          std::fprintf(
              stderr,
              "tensorrt-node stand-in driver: cuDeviceGetAttribute(%d) is not modelled (test/standin/driver/devices.cc)\n", a);
        }
      }
      return CUDA_ERROR_INVALID_VALUE;
    }
  }
  return CUDA_SUCCESS;
}

const char* errorName(CUresult r) noexcept {
  const ErrorEntry* e = findError(r);
  return e != nullptr ? e->name : nullptr;
}

const char* errorString(CUresult r) noexcept {
  const ErrorEntry* e = findError(r);
  return e != nullptr ? e->text : nullptr;
}

CUresult ret(CUresult r) noexcept {
  if (r == CUDA_SUCCESS || r == CUDA_ERROR_NOT_READY) return r;
  try {
    const char* name = errorName(r);
    const std::string counter =
        std::string("cuda.error.") + (name != nullptr ? name : std::to_string(static_cast<int>(r)).c_str());
    Counter(counter.c_str()).add();
  } catch (...) {
  }
  return r;
}

namespace {
// initial-exec: static TLS, which no tracer or teardown can find half freed.
__attribute__((tls_model("initial-exec"))) thread_local bool tInHostFunction = false;
__attribute__((tls_model("initial-exec"))) thread_local CUctx_st* tCurrent = nullptr;
}  // namespace

void setInHostFunction(bool on) {
  tInHostFunction = on;
}
CUctx_st*& currentSlot() {
  return tCurrent;
}

CUresult checkInit(Driver& d) {
  if (tInHostFunction) {
    Counter("cuda.hostFunction.apiCalls").add();
    return CUDA_ERROR_NOT_PERMITTED;
  }
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  return CUDA_SUCCESS;
}

CUresult usable(const CUctx_st* ctx) {
  if (ctx == nullptr || !ctx->active) return CUDA_ERROR_INVALID_CONTEXT;
  return ctx->sticky;
}

CUresult currentContext(Driver& d, CUctx_st** ctx) {
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return r;
  *ctx = tCurrent;
  return usable(*ctx);
}

Device* deviceOf(Driver& d, CUdevice ordinal) {
  if (ordinal < 0 || static_cast<std::size_t>(ordinal) >= d.devices.size()) return nullptr;
  return d.devices[static_cast<std::size_t>(ordinal)].get();
}

void invalidate(Capture& c, const char* why) {
  if (!c.invalid) {
    c.invalid = true;
    Counter("cuda.capture.invalidated").add();
    (void)why;
  }
}

CUresult refuseUnderCapture(Driver& d, const char* call) {
  bool refused = false;
  const auto self = std::this_thread::get_id();
  for (const auto& c : d.captures) {
    const bool forbids =
        c->mode == CU_STREAM_CAPTURE_MODE_GLOBAL || (c->mode == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL && c->thread == self);
    if (forbids) {
      invalidate(*c, call);
      refused = true;
    }
  }
  if (refused) {
    Counter("cuda.capture.refusedCalls").add();
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  return CUDA_SUCCESS;
}

}  // namespace standin::cuda
