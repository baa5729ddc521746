#include "common/native_error.h"

#include <new>
#include <utility>

namespace trtn {

NativeError::NativeError(std::string code, const std::string& message, std::string cudaError, bool sticky)
    : std::runtime_error(message), code_(std::move(code)), cudaError_(std::move(cudaError)), sticky_(sticky) {}

void throwInvalidArg(const std::string& message) {
  throw NativeError("ERR_INVALID_ARG", message);
}

NativeError currentNativeError() {
  try {
    throw;
  } catch (const NativeError& e) {
    return e;
  } catch (const std::bad_alloc&) {
    return NativeError("ERR_INTERNAL", "out of host memory in the native addon");
  } catch (const std::exception& e) {
    return NativeError("ERR_INTERNAL", std::string("native addon error: ") + e.what());
  } catch (...) {
    return NativeError("ERR_INTERNAL", "native addon error: an exception of unknown type");
  }
}

}  // namespace trtn
