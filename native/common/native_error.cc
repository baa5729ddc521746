#include "common/native_error.h"

#include <utility>

namespace trtn {

NativeError::NativeError(std::string code, const std::string& message, std::string cudaError, bool sticky)
    : std::runtime_error(message), code_(std::move(code)), cudaError_(std::move(cudaError)), sticky_(sticky) {}

bool isStickyCudaError(cudaError_t err) noexcept {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed:
      return true;
    default:
      return false;
  }
}

NativeError cudaFailure(cudaError_t err, const char* call) {
  // Clear the runtime's last-error slot so a non-sticky failure does not resurface later.
  (void)cudaGetLastError();
  std::string fn(call);
  const auto paren = fn.find('(');
  if (paren != std::string::npos) fn.resize(paren);
  const char* name = cudaGetErrorName(err);
  const char* text = cudaGetErrorString(err);
  const bool sticky = isStickyCudaError(err);
  std::string message = fn + " failed: " + (name ? name : "cudaErrorUnknown") + " (" + (text ? text : "unknown error") + ")";
  if (sticky) message += "; the CUDA context is lost and the process must restart to use the GPU again";
  const char* code = err == cudaErrorMemoryAllocation ? "ERR_CUDA_OOM" : "ERR_CUDA";
  return NativeError(code, message, name ? name : "cudaErrorUnknown", sticky);
}

void throwCuda(cudaError_t err, const char* call) { throw cudaFailure(err, call); }

void throwInvalidArg(const std::string& message) { throw NativeError("ERR_INVALID_ARG", message); }

}  // namespace trtn
