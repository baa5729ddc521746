#include "cuda/device_memory.h"

#include "cuda/device.h"
#include "cuda/driver.h"
#include "cuda/stream.h"

namespace trtn::cuda {

DeviceMemory::DeviceMemory(std::shared_ptr<const Stream> stream, std::size_t bytes) : stream_(std::move(stream)), bytes_(bytes) {
  DeviceGuard guard(stream_->device());
  // Some drivers reject 0 bytes; keep a 1-byte allocation so data() is valid.
  TRTN_CU(memAllocAsync, &ptr_, bytes == 0 ? 1 : bytes, stream_->get());
}

DeviceMemory::~DeviceMemory() {
  if (ptr_ == 0) return;
  DeviceGuard guard(stream_->device(), std::nothrow);
  (void)driver().memFreeAsync(ptr_, stream_->get());
}

int DeviceMemory::device() const noexcept {
  return stream_->device();
}

}  // namespace trtn::cuda
