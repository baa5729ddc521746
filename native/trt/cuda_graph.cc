#include "trt/cuda_graph.h"

#include "cuda/driver.h"

namespace trtn::trt {

CudaGraph::~CudaGraph() {
  if (exec_ != nullptr) (void)cuda::driver().graphExecDestroy(exec_);
}

void CudaGraph::beginCapture(CUstream stream) {
  TRTN_CU(streamBeginCapture, stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
}

bool CudaGraph::endCapture(CUstream stream, bool captured) {
  const cuda::DriverApi& api = cuda::driver();
  CUgraph graph = nullptr;
  const CUresult status = api.streamEndCapture(stream, &graph);
  if (status != CUDA_SUCCESS || !captured || graph == nullptr) {
    if (graph != nullptr) (void)api.graphDestroy(graph);
    // An invalidated capture is the expected failure (TensorRT did something capture forbids);
    // only a lost context is the caller's problem.
    if (status != CUDA_SUCCESS && cuda::isStickyError(status)) cuda::throwDriver(status, "streamEndCapture");
    return false;
  }
  const CUresult inst = api.graphInstantiate(&exec_, graph, 0);
  (void)api.graphDestroy(graph);
  if (inst != CUDA_SUCCESS) {
    exec_ = nullptr;
    if (cuda::isStickyError(inst)) cuda::throwDriver(inst, "graphInstantiate");
    return false;
  }
  return true;
}

void CudaGraph::launch(CUstream stream) const {
  TRTN_CU(graphLaunch, exec_, stream);
}

}  // namespace trtn::trt
