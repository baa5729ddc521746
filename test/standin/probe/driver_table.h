#pragma once
// The driver loaded the way the addon loads it: dlopen("libcuda.so.1") by bare name, then
// dlsym of every symbol of native/cuda/driver_api.h (and the stand-ins' extra_api.h).

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cuda/driver_api.h"
#include "driver/extra_api.h"

namespace probe {

struct Driver {
#define PROBE_MEMBER(member, symbol, params) CUresult(*member) params = nullptr;
  TRTN_CUDA_DRIVER_FUNCTIONS(PROBE_MEMBER)
  TRTN_STANDIN_EXTRA_DRIVER_FUNCTIONS(PROBE_MEMBER)
#undef PROBE_MEMBER
  void* handle = nullptr;

  // Exits with a message when the library or a symbol is missing.
  void load() {
    handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      std::fprintf(stderr, "probe: %s\n", dlerror());
      std::exit(3);
    }
#define PROBE_RESOLVE(member, symbol, params)                         \
  member = reinterpret_cast<decltype(member)>(dlsym(handle, symbol)); \
  if (member == nullptr) {                                            \
    std::fprintf(stderr, "probe: libcuda.so.1 has no %s\n", symbol);  \
    std::exit(3);                                                     \
  }
    TRTN_CUDA_DRIVER_FUNCTIONS(PROBE_RESOLVE)
    TRTN_STANDIN_EXTRA_DRIVER_FUNCTIONS(PROBE_RESOLVE)
#undef PROBE_RESOLVE
  }

  std::string name(CUresult r) const {
    const char* n = nullptr;
    if (getErrorName(r, &n) != CUDA_SUCCESS || n == nullptr) return "CUresult " + std::to_string(static_cast<int>(r));
    return n;
  }
};

}  // namespace probe
