#include "trt/trt_error.h"

#include <cuda_runtime_api.h>

namespace trtn::trt {

NativeError trtFailure(ErrorRecorder* recorder, const std::string& what, cudaStream_t stream) {
  std::string fn(what);
  const auto paren = fn.find('(');
  if (paren != std::string::npos) fn.resize(paren);
  std::vector<ErrorRecorder::Entry> entries;
  if (recorder != nullptr) entries = recorder->take();
  std::string reasons;
  for (const auto& e : entries) {
    if (!reasons.empty()) reasons += "; ";
    reasons += e.desc;
  }
  // TensorRT returns false when a CUDA call inside it failed; that error is what the caller
  // must see (and whether it is sticky).
  cudaError_t cudaStatus = cudaPeekAtLastError();
  if (cudaStatus == cudaSuccess && stream != nullptr) {
    cudaStatus = cudaStreamQuery(stream);
    if (cudaStatus == cudaErrorNotReady) {
      (void)cudaGetLastError();
      cudaStatus = cudaSuccess;
    }
  }
  if (cudaStatus != cudaSuccess) {
    NativeError cuda = cudaFailure(cudaStatus, fn.c_str());
    std::string message = std::string(cuda.what());
    if (!reasons.empty()) message += " (TensorRT: " + reasons + ")";
    return NativeError(cuda.code(), message, cuda.cudaError(), cuda.sticky());
  }
  const bool oom = isOutOfMemory(entries);
  std::string message = fn + " failed";
  message += reasons.empty() ? " (TensorRT gave no reason; set TENSORRT_NODE_LOG=verbose to see its log)" : ": " + reasons;
  if (oom) message += "; the GPU is out of memory";
  return NativeError(oom ? "ERR_CUDA_OOM" : "ERR_TENSORRT", message);
}

void throwTrt(ErrorRecorder* recorder, const std::string& what, cudaStream_t stream) {
  throw trtFailure(recorder, what, stream);
}

}  // namespace trtn::trt
