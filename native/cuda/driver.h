#pragma once
// The CUDA driver, loaded at run time. The addon links no CUDA library: on first CUDA use,
// libcuda.so.1 is dlopen'ed by its bare name (so LD_LIBRARY_PATH and the ld.so cache decide
// which driver, as for every CUDA program), every entry point of driver_api.h is resolved with
// dlsym, and cuInit(0) is called. Loading the addon never touches the driver, so it loads on
// machines without one; there every CUDA call throws one clear ERR_CUDA instead.
//
// One binary serves every driver from CUDA 12.0 on (kMinDriverVersion); older ones are
// refused by name, before any other entry point is looked up.

#include <cuda.h>

#include <string>

#include "common/native_error.h"
#include "cuda/driver_api.h"

namespace trtn::cuda {

// cuDriverGetVersion() of the oldest driver supported: CUDA 12.0 (NVIDIA driver R525).
constexpr int kMinDriverVersion = 12000;

// The resolved entry points, one member per line of driver_api.h.
struct DriverApi {
#define TRTN_DRIVER_MEMBER(member, symbol, params) CUresult(CUDAAPI* member) params = nullptr;
  TRTN_CUDA_DRIVER_FUNCTIONS(TRTN_DRIVER_MEMBER)
#undef TRTN_DRIVER_MEMBER
};

// The driver, loaded and initialised on the first call (thread-safe; the outcome is kept for
// the process). Throws ERR_CUDA when libcuda.so.1 cannot be loaded, is older than CUDA 12.0,
// lacks an entry point, or cuInit failed (e.g. CUDA_ERROR_NO_DEVICE).
const DriverApi& driver();

// cuDriverGetVersion() (1000 * major + 10 * minor), also for a driver too old to use; throws
// only when there is no libcuda.so.1 at all.
int driverVersion();

// Devices the driver sees; 0 (not an error) when the driver reports it has none.
int deviceCount();

// The exported symbol behind a member name of driver_api.h ("streamCreate" -> "cuStreamCreate").
const char* symbolOf(const char* member) noexcept;

// The driver's name for `status` ("CUDA_ERROR_OUT_OF_MEMORY"), or "CUresult <n>".
std::string errorName(CUresult status);

// The NativeError for a failed driver call: ERR_CUDA_OOM for CUDA_ERROR_OUT_OF_MEMORY, else
// ERR_CUDA; `cudaError` holds the driver's error name, `sticky` is set for the errors that
// leave the context unusable. `member` names the call (a driver_api.h member or any text).
NativeError driverFailure(CUresult status, const char* member);
[[noreturn]] void throwDriver(CUresult status, const char* member);
bool isStickyError(CUresult status) noexcept;

inline void check(CUresult status, const char* member) {
  if (status != CUDA_SUCCESS) throwDriver(status, member);
}

}  // namespace trtn::cuda

// TRTN_CU(streamCreate, &stream, CU_STREAM_NON_BLOCKING): calls the driver's entry point and
// throws its NativeError (naming cuStreamCreate) unless it returns CUDA_SUCCESS.
#define TRTN_CU(member, ...) ::trtn::cuda::check(::trtn::cuda::driver().member(__VA_ARGS__), #member)
