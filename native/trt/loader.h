#pragma once
// Finds and dlopens TensorRT's libraries at run time: the addon never links them, so it
// loads on machines without TensorRT and reports where it looked. The library must be of the
// major version whose headers the addon was compiled with.

#include <cstdint>
#include <string>
#include <vector>

namespace trtn::trt {

struct Library {
  void* infer = nullptr;
  void* parser = nullptr;
  std::string inferPath;
  std::string parserPath;
  int version = 0;        // getInferLibVersion(): major * 10000 + minor * 100 + patch
  int parserVersion = 0;  // getNvOnnxParserVersion(), 0 when the parser was not found
  std::string parserError;

  using CreateBuilderFn = void* (*)(void* logger, int32_t version);
  using CreateRuntimeFn = void* (*)(void* logger, int32_t version);
  using CreateParserFn = void* (*)(void* network, void* logger, int version);
  CreateBuilderFn createBuilder = nullptr;
  CreateRuntimeFn createRuntime = nullptr;
  CreateParserFn createParser = nullptr;
};

struct Attempt {
  std::string path;
  std::string error;  // empty for the one that was used
};

struct LoadResult {
  const Library* library = nullptr;  // null when not found
  std::vector<Attempt> searched;
  std::string code;   // ERR_TENSORRT_NOT_FOUND or ERR_TENSORRT_VERSION when library is null
  std::string error;  // a summary when library is null
};

// Tries `dirs` in order; an empty string means the dynamic loader's own search (LD_LIBRARY_PATH,
// the ld.so cache, the default folders). The first success is kept for the process and
// returned by later calls regardless of `dirs`.
LoadResult load(const std::vector<std::string>& dirs);

// The library loaded so far, or null.
const Library* loaded();

int compiledMajor();
std::string compiledVersion();
std::string inferLibraryName();
std::string parserLibraryName();

}  // namespace trtn::trt
