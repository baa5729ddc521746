#include "cuda/device_memory.h"

#include <cstdio>
#include <string>

#include "common/native_error.h"
#include "cuda/device.h"
#include "cuda/driver.h"
#include "cuda/stream.h"

namespace trtn::cuda {

DeviceMemory::DeviceMemory(std::shared_ptr<const Stream> stream, std::size_t bytes) : stream_(std::move(stream)), bytes_(bytes) {
  DeviceGuard guard(stream_->device());
  // Some drivers reject 0 bytes; keep a 1-byte allocation so data() is valid.
  TRTN_CU(memAllocAsync, &ptr_, bytes == 0 ? 1 : bytes, stream_->get());
}

DeviceMemory::DeviceMemory(CUdeviceptr ptr, std::size_t bytes, int device) : ptr_(ptr), bytes_(bytes), device_(device) {
  DeviceGuard guard(device);
  const DriverApi& api = driver();
  unsigned int type = 0;
  int ordinal = -1;
  CUdeviceptr start = 0;
  std::size_t size = 0;
  const std::string where = "the device pointer 0x" + [&] {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(ptr));
    return std::string(buf);
  }();
  if (api.pointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, ptr) != CUDA_SUCCESS || type != CU_MEMORYTYPE_DEVICE) {
    throwInvalidArg(where + " is not device memory the CUDA driver knows");
  }
  check(api.pointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, ptr), "pointerGetAttribute(DEVICE_ORDINAL)");
  if (ordinal != device) {
    throwInvalidArg(where + " is memory of GPU " + std::to_string(ordinal) + ", not of GPU " + std::to_string(device));
  }
  check(api.pointerGetAttribute(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, ptr), "pointerGetAttribute(RANGE_START_ADDR)");
  check(api.pointerGetAttribute(&size, CU_POINTER_ATTRIBUTE_RANGE_SIZE, ptr), "pointerGetAttribute(RANGE_SIZE)");
  if (ptr - start > size || bytes > size - (ptr - start)) {
    throwInvalidArg(where + " + " + std::to_string(bytes) + " bytes runs past its allocation (" +
                    std::to_string(size - (ptr - start)) + " bytes from there)");
  }
}

DeviceMemory::~DeviceMemory() {
  if (ptr_ == 0 || !stream_) return;
  DeviceGuard guard(stream_->device(), std::nothrow);
  (void)driver().memFreeAsync(ptr_, stream_->get());
}

int DeviceMemory::device() const noexcept {
  return stream_ ? stream_->device() : device_;
}

}  // namespace trtn::cuda
