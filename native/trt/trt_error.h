#pragma once
// TensorRT failures as NativeError, in the spirit of TRTN_CU: TensorRT calls return false or
// null and put the reason in the object's error recorder, so the throw reads the recorder.
// A CUDA error of the stream outranks TensorRT's own text (it names the CUDA error and says
// whether the context is lost); allocation failures become ERR_CUDA_OOM.

#include <cuda.h>

#include <string>

#include "common/native_error.h"
#include "trt/error_recorder.h"

namespace trtn::trt {

class LoggedErrors;

// The NativeError for a failed TensorRT call: `what` names the call, `recorder` (may be null)
// holds TensorRT's reasons, which are consumed; `logged` (may be null) the errors TensorRT
// logged meanwhile, which explain the calls that report on the logger only (factories). With
// `stream`, an error the stream reports wins (TensorRT's CUDA runtime is its own, so its
// last-error slot is invisible here).
NativeError trtFailure(ErrorRecorder* recorder, const std::string& what, CUstream stream = nullptr,
                       const LoggedErrors* logged = nullptr);
[[noreturn]] void throwTrt(ErrorRecorder* recorder, const std::string& what, CUstream stream = nullptr,
                           const LoggedErrors* logged = nullptr);

template <typename T>
T* notNull(T* p, ErrorRecorder* recorder, const char* what, const LoggedErrors* logged = nullptr) {
  if (p == nullptr) throwTrt(recorder, what, nullptr, logged);
  return p;
}

}  // namespace trtn::trt

// CHECK_TRT(context->enqueueV3(stream), &recorder): throws unless the call returned true.
#define CHECK_TRT(call, recorder)                          \
  do {                                                     \
    if (!(call)) ::trtn::trt::throwTrt((recorder), #call); \
  } while (0)
