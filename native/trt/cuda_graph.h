#pragma once
// A CUDA graph captured from a stream and instantiated for replay. Capture uses
// CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, as trtexec does: other threads' CUDA calls (the
// completion thread's event waits) stay legal while this thread captures.

#include <cuda.h>

namespace trtn::trt {

class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  void beginCapture(CUstream stream);
  // Ends the capture. Returns false (and leaves no graph) when the capture was invalidated or
  // `captured` is false (the work inside failed); throws only for errors that lose the context.
  bool endCapture(CUstream stream, bool captured);
  void launch(CUstream stream) const;
  bool ready() const noexcept { return exec_ != nullptr; }

 private:
  CUgraphExec exec_ = nullptr;
};

}  // namespace trtn::trt
