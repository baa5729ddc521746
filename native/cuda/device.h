#pragma once
// Device queries and a scope guard for the current device.

#include <cstddef>
#include <string>

namespace trtn::cuda {

struct DeviceProperties {
  int index = 0;
  std::string name;
  int major = 0;
  int minor = 0;
  std::size_t totalMemory = 0;
  int multiProcessorCount = 0;
  std::string pciBusId;
  std::string uuid;
  std::size_t l2CacheBytes = 0;
  int memoryBusWidth = 0;
  bool integrated = false;
};

struct MemoryInfo {
  std::size_t free = 0;
  std::size_t total = 0;
};

// Version as reported by CUDA (1000 * major + 10 * minor). The driver version throws
// ERR_CUDA (cudaErrorInsufficientDriver) when no driver is installed.
int driverVersion();
int runtimeVersion() noexcept;
int deviceCount();
DeviceProperties deviceProperties(int device);
MemoryInfo memoryInfo(int device);

// Makes `device` current for the scope and restores the previous device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace trtn::cuda
