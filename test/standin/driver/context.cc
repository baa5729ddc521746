// Initialization, versions, errors, devices and primary contexts.

#include <cstdlib>
#include <cstring>

#include "api.h"
#include "driver.h"

namespace standin::cuda {

namespace {

CUresult initError(Driver& d) {
  if (!d.configError.empty()) return CUDA_ERROR_INVALID_VALUE;
  const std::string injected = faultValue("cuda.init_error");
  if (!injected.empty()) {
    for (int code = 1; code < 1000; code++) {
      const char* name = errorName(static_cast<CUresult>(code));
      if (name != nullptr && injected == name) return static_cast<CUresult>(code);
    }
    return static_cast<CUresult>(std::strtol(injected.c_str(), nullptr, 0));
  }
  if (d.devices.empty()) return CUDA_ERROR_NO_DEVICE;
  return CUDA_SUCCESS;
}

bool knownContext(Driver& d, CUcontext ctx) {
  for (auto& dev : d.devices) {
    if (&dev->primary == ctx) return true;
  }
  return false;
}

}  // namespace

namespace api {

CUresult init(unsigned int flags) {
  Driver& d = driver();
  Lock lock(d.mu);
  configure(d);
  if (flags != 0) return ret(CUDA_ERROR_INVALID_VALUE);
  if (CUresult r = initError(d); r != CUDA_SUCCESS) return ret(r);
  d.initialized = true;
  Counter("cuda.init").add();
  return CUDA_SUCCESS;
}

CUresult driverGetVersion(int* version) {
  Driver& d = driver();
  Lock lock(d.mu);
  configure(d);
  if (version == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *version = d.version;
  return CUDA_SUCCESS;
}

CUresult getErrorName(CUresult error, const char** name) {
  if (name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *name = errorName(error);
  return *name != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult getErrorString(CUresult error, const char** text) {
  if (text == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *text = errorString(error);
  return *text != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult deviceGetCount(int* count) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  if (count == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *count = static_cast<int>(d.devices.size());
  return CUDA_SUCCESS;
}

CUresult deviceGet(CUdevice* device, int ordinal) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  if (device == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  if (deviceOf(d, ordinal) == nullptr) return ret(CUDA_ERROR_INVALID_DEVICE);
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult deviceGetName(char* name, int length, CUdevice device) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  Device* dev = deviceOf(d, device);
  if (dev == nullptr) return ret(CUDA_ERROR_INVALID_DEVICE);
  if (name == nullptr || length <= 0) return ret(CUDA_ERROR_INVALID_VALUE);
  std::strncpy(name, dev->name.c_str(), static_cast<std::size_t>(length) - 1);
  name[length - 1] = '\0';
  return CUDA_SUCCESS;
}

CUresult deviceGetAttribute(int* value, CUdevice_attribute attribute, CUdevice device) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  Device* dev = deviceOf(d, device);
  if (dev == nullptr) return ret(CUDA_ERROR_INVALID_DEVICE);
  if (value == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  return ret(deviceAttribute(*dev, attribute, value));
}

CUresult deviceTotalMem(size_t* bytes, CUdevice device) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  Device* dev = deviceOf(d, device);
  if (dev == nullptr) return ret(CUDA_ERROR_INVALID_DEVICE);
  if (bytes == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *bytes = dev->totalMemory;
  return CUDA_SUCCESS;
}

CUresult deviceGetUuid(CUuuid* uuid, CUdevice device) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  Device* dev = deviceOf(d, device);
  if (dev == nullptr) return ret(CUDA_ERROR_INVALID_DEVICE);
  if (uuid == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *uuid = dev->uuid;
  return CUDA_SUCCESS;
}

CUresult primaryCtxRetain(CUcontext* context, CUdevice device) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  Device* dev = deviceOf(d, device);
  if (dev == nullptr) return ret(CUDA_ERROR_INVALID_DEVICE);
  if (context == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  CUctx_st& ctx = dev->primary;
  if (ctx.refs++ == 0) {
    // A fresh activation: an earlier sticky error is gone with the context that had it.
    ctx.active = true;
    ctx.sticky = CUDA_SUCCESS;
    Counter("cuda.ctx.activated").add();
  }
  Counter("cuda.ctx.retain").add();
  *context = &ctx;
  return CUDA_SUCCESS;
}

CUresult primaryCtxRelease(CUdevice device) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  Device* dev = deviceOf(d, device);
  if (dev == nullptr) return ret(CUDA_ERROR_INVALID_DEVICE);
  CUctx_st& ctx = dev->primary;
  if (ctx.refs == 0) return ret(CUDA_ERROR_INVALID_CONTEXT);
  Counter("cuda.ctx.release").add();
  if (--ctx.refs == 0) {
    ctx.active = false;
    Counter("cuda.ctx.deactivated").add();
  }
  return CUDA_SUCCESS;
}

CUresult ctxGetCurrent(CUcontext* context) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  if (context == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *context = currentSlot();
  return CUDA_SUCCESS;
}

CUresult ctxSetCurrent(CUcontext context) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  if (context != nullptr && !knownContext(d, context)) return ret(CUDA_ERROR_INVALID_CONTEXT);
  currentSlot() = context;
  return CUDA_SUCCESS;
}

CUresult ctxGetDevice(CUdevice* device) {
  Driver& d = driver();
  Lock lock(d.mu);
  CUctx_st* ctx = nullptr;
  if (CUresult r = currentContext(d, &ctx); r != CUDA_SUCCESS) return ret(r);
  if (device == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *device = ctx->device->ordinal;
  return CUDA_SUCCESS;
}

}  // namespace api

}  // namespace standin::cuda
