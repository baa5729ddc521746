#pragma once
// The loaded TensorRT library, for code that needs it to create builders, runtimes and parsers
// (the addon never links TensorRT; see loader.h).

#include "trt/loader.h"

namespace trtn::trt {

// The loaded library; throws ERR_TENSORRT_NOT_FOUND when trtLoad found none, or when `parser`
// is asked for and libnvonnxparser did not load.
const Library& requireLibrary(bool parser);

}  // namespace trtn::trt
