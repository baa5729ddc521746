#pragma once

#include <napi.h>

#include <memory>

#include "cuda/device_memory.h"

namespace trtn {

// JS: new DeviceBuffer(stream, bytes): stream-ordered device memory. free() lets go of it;
// the memory returns to the device once no enqueued work uses it. new DeviceBuffer(address,
// bytes, device): a view of device memory another library owns (checked with the driver,
// never freed here). `address` is the device pointer as a bigint.
class DeviceBufferWrap : public Napi::ObjectWrap<DeviceBufferWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit DeviceBufferWrap(const Napi::CallbackInfo& info);
  static bool is(Napi::Env env, Napi::Value value);
  static std::shared_ptr<cuda::DeviceMemory> from(Napi::Env env, Napi::Value value, const char* name);

 private:
  Napi::Value byteLength(const Napi::CallbackInfo& info);
  Napi::Value address(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value freed(const Napi::CallbackInfo& info);
  Napi::Value free(const Napi::CallbackInfo& info);

  std::shared_ptr<cuda::DeviceMemory> memory_;
  std::size_t bytes_ = 0;
  int device_ = 0;
};

}  // namespace trtn
