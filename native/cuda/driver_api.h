#pragma once
// Every CUDA driver entry point tensorrt-node calls, one line each:
//   X(member, "exported symbol", (parameters))
// `member` names the function pointer in the loaded driver table; the symbol is the explicit
// ABI version to resolve with dlsym from libcuda.so.1 (the unversioned macros of cuda.h point at
// newer versions that older drivers lack, e.g. cuEventElapsedTime -> _v2 needs 12.8). Every
// symbol here exists in CUDA 12.0 and newer drivers. All return CUresult.
//
// The addon resolves exactly this list, and the stand-in driver in test/standin exports
// exactly this list (it defines one function per line, so an entry added here without a
// stand-in body fails the stand-in's build). Keep it short: each line is a dependency on
// every driver we support.

#include <cuda.h>

#define TRTN_CUDA_DRIVER_FUNCTIONS(X)                                                                               \
  X(init, "cuInit", (unsigned int flags))                                                                           \
  X(driverGetVersion, "cuDriverGetVersion", (int* version))                                                         \
  X(getErrorName, "cuGetErrorName", (CUresult error, const char** name))                                            \
  X(getErrorString, "cuGetErrorString", (CUresult error, const char** text))                                        \
  X(deviceGetCount, "cuDeviceGetCount", (int* count))                                                               \
  X(deviceGet, "cuDeviceGet", (CUdevice * device, int ordinal))                                                     \
  X(deviceGetName, "cuDeviceGetName", (char* name, int length, CUdevice device))                                    \
  X(deviceGetAttribute, "cuDeviceGetAttribute", (int* value, CUdevice_attribute attribute, CUdevice device))        \
  X(deviceTotalMem, "cuDeviceTotalMem_v2", (size_t * bytes, CUdevice device))                                       \
  X(deviceGetUuid, "cuDeviceGetUuid_v2", (CUuuid * uuid, CUdevice device))                                          \
  X(primaryCtxRetain, "cuDevicePrimaryCtxRetain", (CUcontext * context, CUdevice device))                           \
  X(primaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", (CUdevice device))                                           \
  X(ctxGetCurrent, "cuCtxGetCurrent", (CUcontext * context))                                                        \
  X(ctxSetCurrent, "cuCtxSetCurrent", (CUcontext context))                                                          \
  X(memGetInfo, "cuMemGetInfo_v2", (size_t * free, size_t * total))                                                 \
  X(streamCreate, "cuStreamCreate", (CUstream * stream, unsigned int flags))                                        \
  X(streamDestroy, "cuStreamDestroy_v2", (CUstream stream))                                                         \
  X(streamQuery, "cuStreamQuery", (CUstream stream))                                                                \
  X(streamSynchronize, "cuStreamSynchronize", (CUstream stream))                                                    \
  X(streamWaitEvent, "cuStreamWaitEvent", (CUstream stream, CUevent event, unsigned int flags))                     \
  X(eventCreate, "cuEventCreate", (CUevent * event, unsigned int flags))                                            \
  X(eventDestroy, "cuEventDestroy_v2", (CUevent event))                                                             \
  X(eventRecord, "cuEventRecord", (CUevent event, CUstream stream))                                                 \
  X(eventQuery, "cuEventQuery", (CUevent event))                                                                    \
  X(eventSynchronize, "cuEventSynchronize", (CUevent event))                                                        \
  X(eventElapsedTime, "cuEventElapsedTime", (float* milliseconds, CUevent start, CUevent end))                      \
  X(memAlloc, "cuMemAlloc_v2", (CUdeviceptr * pointer, size_t bytes))                                               \
  X(memFree, "cuMemFree_v2", (CUdeviceptr pointer))                                                                 \
  X(memAllocAsync, "cuMemAllocAsync", (CUdeviceptr * pointer, size_t bytes, CUstream stream))                       \
  X(memFreeAsync, "cuMemFreeAsync", (CUdeviceptr pointer, CUstream stream))                                         \
  X(memHostAlloc, "cuMemHostAlloc", (void** pointer, size_t bytes, unsigned int flags))                             \
  X(memFreeHost, "cuMemFreeHost", (void* pointer))                                                                  \
  X(memcpyAsync, "cuMemcpyAsync", (CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream))                \
  X(memsetD8Async, "cuMemsetD8Async", (CUdeviceptr dst, unsigned char value, size_t count, CUstream stream))        \
  X(deviceGetDefaultMemPool, "cuDeviceGetDefaultMemPool", (CUmemoryPool * pool, CUdevice device))                   \
  X(memPoolTrimTo, "cuMemPoolTrimTo", (CUmemoryPool pool, size_t keepBytes))                                        \
  X(pointerGetAttribute, "cuPointerGetAttribute", (void* data, CUpointer_attribute attribute, CUdeviceptr pointer)) \
  X(streamBeginCapture, "cuStreamBeginCapture_v2", (CUstream stream, CUstreamCaptureMode mode))                     \
  X(streamEndCapture, "cuStreamEndCapture", (CUstream stream, CUgraph * graph))                                     \
  X(graphInstantiate, "cuGraphInstantiateWithFlags", (CUgraphExec * exec, CUgraph graph, unsigned long long flags)) \
  X(graphLaunch, "cuGraphLaunch", (CUgraphExec exec, CUstream stream))                                              \
  X(graphExecDestroy, "cuGraphExecDestroy", (CUgraphExec exec))                                                     \
  X(graphDestroy, "cuGraphDestroy", (CUgraph graph))
