#include "common/native_error.h"

#include <utility>

namespace trtn {

NativeError::NativeError(std::string code, const std::string& message, std::string cudaError, bool sticky)
    : std::runtime_error(message), code_(std::move(code)), cudaError_(std::move(cudaError)), sticky_(sticky) {}

void throwInvalidArg(const std::string& message) {
  throw NativeError("ERR_INVALID_ARG", message);
}

}  // namespace trtn
