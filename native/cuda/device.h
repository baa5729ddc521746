#pragma once
// Devices, their properties, and the context every CUDA call of the addon runs in: the
// device's primary context, retained once for the process. TensorRT (which uses the runtime
// API) works in the primary context that is current on its thread, so memory, streams and
// events are shared with it and a CUstream is what TensorRT takes as a cudaStream_t.

#include <cuda.h>

#include <cstddef>
#include <new>
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

DeviceProperties deviceProperties(int device);
MemoryInfo memoryInfo(int device);

// The device's primary context, retained on first use and kept until the process ends.
// Throws ERR_CUDA (CUDA_ERROR_INVALID_DEVICE, or CUDA_ERROR_NO_DEVICE without devices) for
// an ordinal the driver does not have.
CUcontext primaryContext(int device);
CUdevice deviceHandle(int device);

// Makes `device`'s primary context current on this thread for the scope and restores the
// previous context afterwards. The nothrow form, for destructors, does nothing when the
// context cannot be made current.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  DeviceGuard(int device, const std::nothrow_t&) noexcept;
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  CUcontext previous_ = nullptr;
  bool restore_ = false;
};

// For calls that need some context but no particular device (pinned host memory, which
// CU_MEMHOSTALLOC_PORTABLE makes usable from every context): keeps the current one, or makes
// device 0's primary context current for the scope.
class AnyContextGuard {
 public:
  AnyContextGuard();
  AnyContextGuard(const std::nothrow_t&) noexcept;
  ~AnyContextGuard();
  AnyContextGuard(const AnyContextGuard&) = delete;
  AnyContextGuard& operator=(const AnyContextGuard&) = delete;

 private:
  bool restore_ = false;
};

}  // namespace trtn::cuda
