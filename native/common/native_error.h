#pragma once
// The one exception type native code throws. `code` is the JS error code (ERR_CUDA,
// ERR_CUDA_OOM, ERR_INVALID_ARG, ...); napi/js_error.cc turns it into the matching JS error
// class. Nothing below napi/ knows about N-API.

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace trtn {

class NativeError : public std::runtime_error {
 public:
  NativeError(std::string code, const std::string& message, std::string cudaError = {}, bool sticky = false);

  const std::string& code() const noexcept { return code_; }
  // The CUDA error's name (e.g. "cudaErrorNoDevice"); empty for non-CUDA errors.
  const std::string& cudaError() const noexcept { return cudaError_; }
  // True for CUDA errors that leave the context unusable until the process restarts.
  bool sticky() const noexcept { return sticky_; }

 private:
  std::string code_;
  std::string cudaError_;
  bool sticky_;
};

// Builds the NativeError for a failed CUDA call; `call` is the source text of the call.
NativeError cudaFailure(cudaError_t err, const char* call);
[[noreturn]] void throwCuda(cudaError_t err, const char* call);
[[noreturn]] void throwInvalidArg(const std::string& message);
bool isStickyCudaError(cudaError_t err) noexcept;

}  // namespace trtn

#define CHECK_CUDA(call)                                                 \
  do {                                                                   \
    const cudaError_t trtn_status_ = (call);                             \
    if (trtn_status_ != cudaSuccess) ::trtn::throwCuda(trtn_status_, #call); \
  } while (0)
