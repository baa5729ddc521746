#pragma once

#include <napi.h>

namespace trtn {

// Adds the CUDA entry points (device queries, copies, memset, bandwidth probe) to `exports`.
void defineCudaFunctions(Napi::Env env, Napi::Object exports);

}  // namespace trtn
