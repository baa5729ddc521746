#pragma once
// A CUDA graph captured from a stream and instantiated for replay. Capture uses
// cudaStreamCaptureModeThreadLocal, as trtexec does: other threads' CUDA calls (the completion
// thread's event waits) stay legal while this thread captures.

#include <cuda_runtime_api.h>

namespace trtn::trt {

class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  void beginCapture(cudaStream_t stream);
  // Ends the capture. Returns false (and leaves no graph) when the capture was invalidated or
  // `captured` is false (the work inside failed); clears the error it leaves behind.
  bool endCapture(cudaStream_t stream, bool captured);
  void launch(cudaStream_t stream) const;
  bool ready() const noexcept { return exec_ != nullptr; }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace trtn::trt
