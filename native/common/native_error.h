#pragma once
// The one exception type native code throws. `code` is the JS error code (ERR_CUDA,
// ERR_CUDA_OOM, ERR_INVALID_ARG, ...); napi/js_error.cc turns it into the matching JS error
// class. Nothing below napi/ knows about N-API. CUDA driver failures are made in
// cuda/driver.h (driverFailure, TRTN_CU).

#include <stdexcept>
#include <string>

namespace trtn {

class NativeError : public std::runtime_error {
 public:
  NativeError(std::string code, const std::string& message, std::string cudaError = {}, bool sticky = false);

  const std::string& code() const noexcept { return code_; }
  // The CUDA driver's error name (e.g. "CUDA_ERROR_OUT_OF_MEMORY"); empty for non-CUDA errors.
  // Two names are tensorrt-node's own: CUDA_ERROR_NO_DRIVER (libcuda.so.1 could not be
  // loaded) and CUDA_ERROR_INSUFFICIENT_DRIVER (a driver older than CUDA 12.0).
  const std::string& cudaError() const noexcept { return cudaError_; }
  // True for CUDA errors that leave the context unusable until the process restarts.
  bool sticky() const noexcept { return sticky_; }

 private:
  std::string code_;
  std::string cudaError_;
  bool sticky_;
};

[[noreturn]] void throwInvalidArg(const std::string& message);

// The exception being handled, as a NativeError: itself, or ERR_INTERNAL with its message for
// any other exception. Call it only inside a catch block.
NativeError currentNativeError();

}  // namespace trtn
