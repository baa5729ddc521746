// The TensorRT part of the plain addon, built where no TensorRT headers were found: the seam
// of api.h with nothing behind it. The N-API layer does not export the TensorRT entry points
// when available() is false; these bodies only keep a direct call from crashing.

#include "trt/api.h"

namespace trtn::trt {

namespace {

[[noreturn]] void notBuilt() {
  throw NativeError("ERR_TENSORRT_NOT_FOUND",
                    "this build of the addon has no TensorRT support: it was built without TensorRT headers");
}

}  // namespace

bool available() noexcept {
  return false;
}
std::string headerVersion() {
  return {};
}
std::string inferLibraryName() {
  return {};
}
std::string parserLibraryName() {
  return {};
}

LoadResult load(const std::vector<std::string>&) {
  LoadResult r;
  r.code = "ERR_TENSORRT_NOT_FOUND";
  r.error = "this build of the addon has no TensorRT support";
  return r;
}

LoadResult probe(const std::vector<std::string>& dirs) {
  return load(dirs);
}

int64_t addThreadLogListener(Severity, LogListener) {
  return 0;
}
void removeLogListener(int64_t) {}
const char* severityName(Severity) noexcept {
  return "unknown";
}
Severity parseSeverity(const std::string&) noexcept {
  return Severity::kWarning;
}

std::unique_ptr<Network> parseOnnx(const void*, std::size_t, const std::string&, const ParseOptions&, std::vector<ParserError>&) {
  notBuilt();
}

std::shared_ptr<Engine> deserialize(const void*, std::size_t, const DeserializeOptions&) {
  notBuilt();
}

std::shared_ptr<ExecutionContext> createContext(const std::shared_ptr<Engine>&, const ContextOptions&) {
  notBuilt();
}

}  // namespace trtn::trt
