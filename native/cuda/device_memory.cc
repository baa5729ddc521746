#include "cuda/device_memory.h"

#include <cuda_runtime_api.h>

#include "common/native_error.h"
#include "cuda/device.h"
#include "cuda/stream.h"

namespace trtn::cuda {

DeviceMemory::DeviceMemory(std::shared_ptr<const Stream> stream, std::size_t bytes) : stream_(std::move(stream)), bytes_(bytes) {
  DeviceGuard guard(stream_->device());
  // cudaMallocAsync rejects 0 bytes on some drivers; keep a 1-byte allocation so data() is valid.
  CHECK_CUDA(cudaMallocAsync(&ptr_, bytes == 0 ? 1 : bytes, stream_->get()));
}

DeviceMemory::~DeviceMemory() {
  if (ptr_ != nullptr) (void)cudaFreeAsync(ptr_, stream_->get());
}

int DeviceMemory::device() const noexcept { return stream_->device(); }

}  // namespace trtn::cuda
