#pragma once
// Internal to the TensorRT part: the library load() kept, for code that creates builders,
// runtimes and parsers (the addon never links TensorRT; see load() in api.h).

#include "trt/api.h"

namespace trtn::trt {

// The library loaded so far, or null.
const Library* loaded();

// The loaded library; throws ERR_TENSORRT_NOT_FOUND when load() found none, or when `parser`
// is asked for and libnvonnxparser did not load.
const Library& requireLibrary(bool parser);

}  // namespace trtn::trt
