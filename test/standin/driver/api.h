#pragma once
// The exported entry points: one declaration per line of native/cuda/driver_api.h and of
// extra_api.h, named by its member and bound to the table's symbol with an asm label. exports.cc
// takes the address of each, so a line without a definition fails the link.

#include <cuda.h>

#include "cuda/driver_api.h"
#include "extra_api.h"

namespace standin::cuda::api {

#define TRTN_STANDIN_DECLARE_ENTRY(member, symbol, params) \
  __attribute__((visibility("default"))) CUresult member params __asm__(symbol);
TRTN_CUDA_DRIVER_FUNCTIONS(TRTN_STANDIN_DECLARE_ENTRY)
TRTN_STANDIN_EXTRA_DRIVER_FUNCTIONS(TRTN_STANDIN_DECLARE_ENTRY)
#undef TRTN_STANDIN_DECLARE_ENTRY

}  // namespace standin::cuda::api
