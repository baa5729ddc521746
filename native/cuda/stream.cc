#include "cuda/stream.h"

#include "common/native_error.h"
#include "cuda/device.h"

namespace trtn::cuda {

Stream::Stream(int device) : device_(device) {
  DeviceGuard guard(device);
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

Stream::~Stream() {
  // Destroying a stream with pending work is allowed: CUDA releases it once the work is done.
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
}

bool Stream::query() const {
  const cudaError_t err = cudaStreamQuery(stream_);
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  if (err != cudaSuccess) throwCuda(err, "cudaStreamQuery");
  return true;
}

void Stream::synchronize() const { CHECK_CUDA(cudaStreamSynchronize(stream_)); }

}  // namespace trtn::cuda
