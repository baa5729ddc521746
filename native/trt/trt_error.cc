#include "trt/trt_error.h"

#include "cuda/driver.h"
#include "trt/logger.h"

namespace trtn::trt {

NativeError trtFailure(ErrorRecorder* recorder, const std::string& what, CUstream stream, const LoggedErrors* logged) {
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
  if (reasons.empty() && logged != nullptr) {
    reasons = logged->summary();
    // What the logger said is text only: read allocation failures from it as from the recorder.
    if (!reasons.empty()) entries.push_back({nvinfer1::ErrorCode::kUNSPECIFIED_ERROR, reasons});
  }
  // TensorRT returns false when a CUDA call inside it failed; a sticky error shows on the
  // stream, and that is what the caller must see (it says the context is lost).
  if (stream != nullptr) {
    const CUresult status = cuda::driver().streamQuery(stream);
    if (status != CUDA_SUCCESS && status != CUDA_ERROR_NOT_READY) {
      const NativeError failure = cuda::driverFailure(status, fn.c_str());
      std::string message = std::string(failure.what());
      if (!reasons.empty()) message += " (TensorRT: " + reasons + ")";
      return NativeError(failure.code(), message, failure.cudaError(), failure.sticky());
    }
  }
  const bool oom = isOutOfMemory(entries);
  std::string message = fn + " failed";
  message += reasons.empty() ? " (TensorRT gave no reason; set TENSORRT_NODE_LOG=verbose to see its log)" : ": " + reasons;
  if (oom) message += "; the GPU is out of memory";
  return NativeError(oom ? "ERR_CUDA_OOM" : "ERR_TENSORRT", message);
}

void throwTrt(ErrorRecorder* recorder, const std::string& what, CUstream stream, const LoggedErrors* logged) {
  throw trtFailure(recorder, what, stream, logged);
}

}  // namespace trtn::trt
