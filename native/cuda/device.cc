#include "cuda/device.h"

#include <cuda_runtime_api.h>

#include <cstdio>

#include "common/native_error.h"

namespace trtn::cuda {

int driverVersion() {
  int version = 0;
  CHECK_CUDA(cudaDriverGetVersion(&version));
  // cudaDriverGetVersion succeeds with 0 when no driver is installed.
  if (version == 0) throw cudaFailure(cudaErrorInsufficientDriver, "cudaDriverGetVersion");
  return version;
}

int runtimeVersion() noexcept {
  int version = 0;
  if (cudaRuntimeGetVersion(&version) != cudaSuccess) return 0;
  return version;
}

int deviceCount() {
  int count = 0;
  CHECK_CUDA(cudaGetDeviceCount(&count));
  return count;
}

DeviceProperties deviceProperties(int device) {
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, device));
  DeviceProperties p;
  p.index = device;
  p.name = prop.name;
  p.major = prop.major;
  p.minor = prop.minor;
  p.totalMemory = prop.totalGlobalMem;
  p.multiProcessorCount = prop.multiProcessorCount;
  p.l2CacheBytes = static_cast<std::size_t>(prop.l2CacheSize);
  p.memoryBusWidth = prop.memoryBusWidth;
  p.integrated = prop.integrated != 0;
  char bus[32];
  std::snprintf(bus, sizeof bus, "%04x:%02x:%02x.0", static_cast<unsigned>(prop.pciDomainID),
                static_cast<unsigned>(prop.pciBusID), static_cast<unsigned>(prop.pciDeviceID));
  p.pciBusId = bus;
  char uuid[48];
  const auto* u = reinterpret_cast<const unsigned char*>(prop.uuid.bytes);
  std::snprintf(uuid, sizeof uuid, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  p.uuid = uuid;
  return p;
}

MemoryInfo memoryInfo(int device) {
  DeviceGuard guard(device);
  MemoryInfo info;
  CHECK_CUDA(cudaMemGetInfo(&info.free, &info.total));
  return info;
}

DeviceGuard::DeviceGuard(int device) {
  CHECK_CUDA(cudaGetDevice(&previous_));
  if (previous_ != device) CHECK_CUDA(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current != previous_) (void)cudaSetDevice(previous_);
}

}  // namespace trtn::cuda
