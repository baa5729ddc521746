// Stand-in sibling libraries of libnvinfer (builder resource, lean and dispatch runtimes): each
// counts its loads, so a test can tell whether and how often it was loaded.

#include <NvInferVersion.h>

#include "common/control.hpp"

#ifndef TRTN_STANDIN_SIBLING
#error "TRTN_STANDIN_SIBLING names the library (a counter name part)"
#endif

namespace {
__attribute__((constructor)) void countLoad() {
  standin::Counter("trt." TRTN_STANDIN_SIBLING ".loaded").add();
}
}  // namespace

#ifdef TRTN_STANDIN_LEAN
// IRuntime::loadRuntime checks that it loaded a lean runtime of its own version.
extern "C" __attribute__((visibility("default"))) int32_t trtn_standin_lean_runtime_version() {
  return NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH;
}
#endif
