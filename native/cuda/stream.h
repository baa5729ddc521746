#pragma once
// A non-blocking CUDA stream on one device (in its primary context). get() is what TensorRT
// takes as a cudaStream_t: both name the same driver type.

#include <cuda.h>

namespace trtn::cuda {

class Stream {
 public:
  explicit Stream(int device);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  CUstream get() const noexcept { return stream_; }
  int device() const noexcept { return device_; }
  // True when all work enqueued so far has completed.
  bool query() const;
  // Blocks the calling thread; never called on the JS thread.
  void synchronize() const;

 private:
  int device_;
  CUstream stream_ = nullptr;
};

}  // namespace trtn::cuda
