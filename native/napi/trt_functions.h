#pragma once

#include <napi.h>

namespace trtn {

// Adds the TensorRT entry points to `exports` (only in variants built with TensorRT headers).
void defineTrtFunctions(Napi::Env env, Napi::Object exports);
// The TensorRT version of the headers this variant was built with, or null.
Napi::Value trtBuildVersion(Napi::Env env);

}  // namespace trtn
