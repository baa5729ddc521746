#pragma once

#include <napi.h>

namespace trtn {

// Adds the TensorRT entry points to `exports` (only in builds with TensorRT headers).
void defineTrtFunctions(Napi::Env env, Napi::Object exports);
// The TensorRT version of the headers the addon was built with, or null.
Napi::Value trtBuildVersion(Napi::Env env);

}  // namespace trtn
