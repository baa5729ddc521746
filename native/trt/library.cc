#include "trt/library.h"

#include "common/native_error.h"

namespace trtn::trt {

const Library& requireLibrary(bool parser) {
  const Library* lib = loaded();
  if (lib == nullptr) {
    throw NativeError("ERR_TENSORRT_NOT_FOUND", "TensorRT is not loaded (trtLoad was not called or found no library)");
  }
  if (parser && lib->createParser == nullptr) {
    throw NativeError("ERR_TENSORRT_NOT_FOUND",
                      "TensorRT's ONNX parser (" + parserLibraryName() + ") was not loaded: " + lib->parserError);
  }
  return *lib;
}

}  // namespace trtn::trt
