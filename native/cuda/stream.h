#pragma once
// A non-blocking CUDA stream on one device.

#include <cuda_runtime_api.h>

namespace trtn::cuda {

class Stream {
 public:
  explicit Stream(int device);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const noexcept { return stream_; }
  int device() const noexcept { return device_; }
  // True when all work enqueued so far has completed.
  bool query() const;
  // Blocks the calling thread; never called on the JS thread.
  void synchronize() const;

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
};

}  // namespace trtn::cuda
