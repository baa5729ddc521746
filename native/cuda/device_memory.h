#pragma once
// Stream-ordered device memory (cudaMallocAsync / cudaFreeAsync).

#include <cstddef>
#include <memory>

namespace trtn::cuda {

class Stream;

class DeviceMemory {
 public:
  // Allocates `bytes` on `stream`'s device, ordered on `stream`.
  DeviceMemory(std::shared_ptr<const Stream> stream, std::size_t bytes);
  // Frees on the allocating stream, after all work enqueued there. Whoever enqueues work on
  // other streams holds a reference until that work has completed, so the free never races it.
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  void* data() const noexcept { return ptr_; }
  std::size_t size() const noexcept { return bytes_; }
  int device() const noexcept;

 private:
  std::shared_ptr<const Stream> stream_;
  void* ptr_ = nullptr;
  std::size_t bytes_;
};

}  // namespace trtn::cuda
