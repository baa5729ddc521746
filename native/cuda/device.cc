#include "cuda/device.h"

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda/driver.h"

namespace trtn::cuda {

namespace {

struct Primary {
  CUdevice device = 0;
  std::atomic<CUcontext> context{nullptr};
};

// One slot per device the driver reported, made once; a slot's context is retained on first
// use under the mutex and read without it afterwards.
struct PrimaryTable {
  std::vector<Primary> slots;
  std::mutex mu;
  explicit PrimaryTable(int count) : slots(static_cast<std::size_t>(count)) {}
};

PrimaryTable& table() {
  // Never destroyed, like the driver itself (threads may still enter contexts at exit); a
  // failed driver load throws here and is retried on the next call.
  static PrimaryTable* t = new PrimaryTable(deviceCount());
  return *t;
}

Primary& slot(int device) {
  PrimaryTable& t = table();
  const int count = static_cast<int>(t.slots.size());
  if (device < 0 || device >= count) {
    if (count == 0) {
      throw NativeError("ERR_CUDA", "CUDA device " + std::to_string(device) + " does not exist: the driver sees no CUDA device",
                        "CUDA_ERROR_NO_DEVICE");
    }
    throw NativeError("ERR_CUDA",
                      "CUDA device " + std::to_string(device) + " does not exist: the driver sees " + std::to_string(count) +
                          " device(s), 0.." + std::to_string(count - 1),
                      "CUDA_ERROR_INVALID_DEVICE");
  }
  return t.slots[static_cast<std::size_t>(device)];
}

}  // namespace

CUcontext primaryContext(int device) {
  Primary& p = slot(device);
  CUcontext ctx = p.context.load(std::memory_order_acquire);
  if (ctx != nullptr) return ctx;
  std::lock_guard<std::mutex> lock(table().mu);
  ctx = p.context.load(std::memory_order_relaxed);
  if (ctx != nullptr) return ctx;
  CUdevice handle = 0;
  TRTN_CU(deviceGet, &handle, device);
  TRTN_CU(primaryCtxRetain, &ctx, handle);
  p.device = handle;
  p.context.store(ctx, std::memory_order_release);
  return ctx;
}

CUdevice deviceHandle(int device) {
  (void)primaryContext(device);
  return slot(device).device;
}

DeviceGuard::DeviceGuard(int device) {
  const CUcontext ctx = primaryContext(device);
  const DriverApi& api = driver();
  check(api.ctxGetCurrent(&previous_), "ctxGetCurrent");
  if (previous_ != ctx) {
    check(api.ctxSetCurrent(ctx), "ctxSetCurrent");
    restore_ = true;
  }
}

DeviceGuard::DeviceGuard(int device, const std::nothrow_t&) noexcept {
  try {
    const CUcontext ctx = primaryContext(device);
    const DriverApi& api = driver();
    if (api.ctxGetCurrent(&previous_) == CUDA_SUCCESS && previous_ != ctx) restore_ = api.ctxSetCurrent(ctx) == CUDA_SUCCESS;
  } catch (...) {
    restore_ = false;
  }
}

DeviceGuard::~DeviceGuard() {
  if (restore_) (void)driver().ctxSetCurrent(previous_);
}

AnyContextGuard::AnyContextGuard() {
  if (deviceCount() == 0) (void)primaryContext(0);  // throws: no device to pin memory for
  const DriverApi& api = driver();
  CUcontext current = nullptr;
  check(api.ctxGetCurrent(&current), "ctxGetCurrent");
  if (current != nullptr) return;
  check(api.ctxSetCurrent(primaryContext(0)), "ctxSetCurrent");
  restore_ = true;
}

AnyContextGuard::AnyContextGuard(const std::nothrow_t&) noexcept {
  try {
    const DriverApi& api = driver();
    CUcontext current = nullptr;
    if (api.ctxGetCurrent(&current) != CUDA_SUCCESS || current != nullptr) return;
    restore_ = api.ctxSetCurrent(primaryContext(0)) == CUDA_SUCCESS;
  } catch (...) {
    restore_ = false;
  }
}

AnyContextGuard::~AnyContextGuard() {
  if (restore_) (void)driver().ctxSetCurrent(nullptr);
}

DeviceProperties deviceProperties(int device) {
  const CUdevice dev = deviceHandle(device);
  const DriverApi& api = driver();
  auto attribute = [&](CUdevice_attribute a) {
    int v = 0;
    TRTN_CU(deviceGetAttribute, &v, a, dev);
    return v;
  };
  DeviceProperties p;
  p.index = device;
  char name[256] = {};
  TRTN_CU(deviceGetName, name, static_cast<int>(sizeof name - 1), dev);
  p.name = name;
  p.major = attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
  p.minor = attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
  check(api.deviceTotalMem(&p.totalMemory, dev), "deviceTotalMem");
  p.multiProcessorCount = attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  p.l2CacheBytes = static_cast<std::size_t>(attribute(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE));
  p.memoryBusWidth = attribute(CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
  p.integrated = attribute(CU_DEVICE_ATTRIBUTE_INTEGRATED) != 0;
  char bus[32];
  std::snprintf(bus, sizeof bus, "%04x:%02x:%02x.0", static_cast<unsigned>(attribute(CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID)),
                static_cast<unsigned>(attribute(CU_DEVICE_ATTRIBUTE_PCI_BUS_ID)),
                static_cast<unsigned>(attribute(CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID)));
  p.pciBusId = bus;
  CUuuid id{};
  TRTN_CU(deviceGetUuid, &id, dev);
  const auto* u = reinterpret_cast<const unsigned char*>(id.bytes);
  char uuid[48];
  std::snprintf(uuid, sizeof uuid, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
                u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  p.uuid = uuid;
  return p;
}

MemoryInfo memoryInfo(int device) {
  DeviceGuard guard(device);
  MemoryInfo info;
  TRTN_CU(memGetInfo, &info.free, &info.total);
  return info;
}

}  // namespace trtn::cuda
