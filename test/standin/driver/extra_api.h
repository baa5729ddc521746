#pragma once
// Driver entry points the stand-in driver exports beyond native/cuda/driver_api.h: what the
// TensorRT stand-ins call to run work on a stream and to find their device. Same format,
// X(member, "exported symbol", (parameters)); all exist in CUDA 12.0 and newer drivers, so the
// TensorRT stand-ins also run on a real driver.

#include <cuda.h>

#define TRTN_STANDIN_EXTRA_DRIVER_FUNCTIONS(X)                                          \
  X(launchHostFunc, "cuLaunchHostFunc", (CUstream stream, CUhostFn fn, void* userData)) \
  X(ctxGetDevice, "cuCtxGetDevice", (CUdevice * device))                                \
  X(streamIsCapturing, "cuStreamIsCapturing", (CUstream stream, CUstreamCaptureStatus * status))
