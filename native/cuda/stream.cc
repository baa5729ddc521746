#include "cuda/stream.h"

#include "cuda/device.h"
#include "cuda/driver.h"

namespace trtn::cuda {

Stream::Stream(int device) : device_(device) {
  DeviceGuard guard(device);
  TRTN_CU(streamCreate, &stream_, CU_STREAM_NON_BLOCKING);
}

Stream::~Stream() {
  // Destroying a stream with pending work is allowed: the driver releases it once the work is done.
  if (stream_ == nullptr) return;
  DeviceGuard guard(device_, std::nothrow);
  (void)driver().streamDestroy(stream_);
}

bool Stream::query() const {
  DeviceGuard guard(device_);
  const CUresult status = driver().streamQuery(stream_);
  if (status == CUDA_ERROR_NOT_READY) return false;
  check(status, "streamQuery");
  return true;
}

void Stream::synchronize() const {
  DeviceGuard guard(device_);
  TRTN_CU(streamSynchronize, stream_);
}

}  // namespace trtn::cuda
