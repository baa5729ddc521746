#pragma once
// Stream-ordered device memory (cuMemAllocAsync / cuMemFreeAsync from the device's default
// memory pool).

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace trtn::cuda {

class Stream;

class DeviceMemory {
 public:
  // Allocates `bytes` on `stream`'s device, ordered on `stream`.
  DeviceMemory(std::shared_ptr<const Stream> stream, std::size_t bytes);
  // A view of `bytes` at `ptr` that another library owns and frees (never freed here). The
  // driver must know [ptr, ptr + bytes) as device memory of `device`: ERR_INVALID_ARG otherwise.
  DeviceMemory(CUdeviceptr ptr, std::size_t bytes, int device);
  // Frees on the allocating stream, after all work enqueued there. Whoever enqueues work on
  // other streams holds a reference until that work has completed, so the free never races it.
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  void* data() const noexcept { return reinterpret_cast<void*>(static_cast<std::uintptr_t>(ptr_)); }
  CUdeviceptr address() const noexcept { return ptr_; }
  std::size_t size() const noexcept { return bytes_; }
  int device() const noexcept;

 private:
  std::shared_ptr<const Stream> stream_;  // null for a view
  CUdeviceptr ptr_ = 0;
  std::size_t bytes_;
  int device_ = 0;
};

// A host or device pointer as the driver's unified address (copies infer the direction).
inline CUdeviceptr address(const void* p) noexcept {
  return static_cast<CUdeviceptr>(reinterpret_cast<std::uintptr_t>(p));
}

}  // namespace trtn::cuda
