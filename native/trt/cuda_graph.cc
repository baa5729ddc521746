#include "trt/cuda_graph.h"

#include "common/native_error.h"

namespace trtn::trt {

CudaGraph::~CudaGraph() {
  if (exec_ != nullptr) (void)cudaGraphExecDestroy(exec_);
}

void CudaGraph::beginCapture(cudaStream_t stream) { CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal)); }

bool CudaGraph::endCapture(cudaStream_t stream, bool captured) {
  cudaGraph_t graph = nullptr;
  const cudaError_t status = cudaStreamEndCapture(stream, &graph);
  if (status != cudaSuccess || !captured || graph == nullptr) {
    if (graph != nullptr) (void)cudaGraphDestroy(graph);
    // An invalidated capture leaves its error in the last-error slot; it is not the caller's.
    (void)cudaGetLastError();
    if (status != cudaSuccess && status != cudaErrorStreamCaptureInvalidated && isStickyCudaError(status)) {
      throwCuda(status, "cudaStreamEndCapture");
    }
    return false;
  }
  const cudaError_t inst = cudaGraphInstantiate(&exec_, graph, 0);
  (void)cudaGraphDestroy(graph);
  if (inst != cudaSuccess) {
    exec_ = nullptr;
    if (isStickyCudaError(inst)) throwCuda(inst, "cudaGraphInstantiate");
    (void)cudaGetLastError();
    return false;
  }
  return true;
}

void CudaGraph::launch(cudaStream_t stream) const { CHECK_CUDA(cudaGraphLaunch(exec_, stream)); }

}  // namespace trtn::trt
