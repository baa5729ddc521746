#include "napi/device_buffer_wrap.h"

#include "napi/args.h"
#include "napi/instance.h"
#include "napi/js_error.h"
#include "napi/stream_wrap.h"

namespace trtn {

Napi::Function DeviceBufferWrap::define(Napi::Env env) {
  return DefineClass(env, "DeviceBuffer",
                     {
                         InstanceAccessor<&DeviceBufferWrap::byteLength>("byteLength"),
                         InstanceAccessor<&DeviceBufferWrap::address>("address"),
                         InstanceAccessor<&DeviceBufferWrap::device>("device"),
                         InstanceAccessor<&DeviceBufferWrap::freed>("freed"),
                         InstanceMethod<&DeviceBufferWrap::free>("free"),
                     });
}

DeviceBufferWrap::DeviceBufferWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBufferWrap>(info) {
  Napi::Env env = info.Env();
  guarded(env, [&] {
    if (argAt(info, 0).IsBigInt()) {
      // new DeviceBuffer(address: bigint, bytes, device): a view of memory another library owns.
      bool lossless = false;
      const uint64_t address = argAt(info, 0).As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless || address == 0) throwInvalidArg("address must be a non-zero device pointer (a bigint below 2^64)");
      bytes_ = argSize(info, 1, "bytes");
      device_ = static_cast<int>(argInt(info, 2, "device", 0, 65535));
      memory_ = std::make_shared<cuda::DeviceMemory>(static_cast<CUdeviceptr>(address), bytes_, device_);
      return;
    }
    auto stream = StreamWrap::from(env, argAt(info, 0), "stream");
    bytes_ = argSize(info, 1, "bytes");
    device_ = stream->device();
    memory_ = std::make_shared<cuda::DeviceMemory>(std::move(stream), bytes_);
  });
}

bool DeviceBufferWrap::is(Napi::Env env, Napi::Value value) {
  return value.IsObject() && value.As<Napi::Object>().InstanceOf(InstanceData::of(env).deviceBufferCtor.Value());
}

std::shared_ptr<cuda::DeviceMemory> DeviceBufferWrap::from(Napi::Env env, Napi::Value value, const char* name) {
  if (!is(env, value)) throwInvalidArg(std::string(name) + " must be a DeviceBuffer");
  auto* self = Unwrap(value.As<Napi::Object>());
  if (!self->memory_) throw NativeError("ERR_DISPOSED", std::string(name) + " was freed");
  return self->memory_;
}

Napi::Value DeviceBufferWrap::byteLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
}

Napi::Value DeviceBufferWrap::address(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!memory_) throw NativeError("ERR_DISPOSED", "the DeviceBuffer was freed");
    return Napi::BigInt::New(env, static_cast<uint64_t>(memory_->address()));
  });
}

Napi::Value DeviceBufferWrap::device(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), device_);
}

Napi::Value DeviceBufferWrap::freed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !memory_);
}

Napi::Value DeviceBufferWrap::free(const Napi::CallbackInfo& info) {
  memory_.reset();
  return info.Env().Undefined();
}

}  // namespace trtn
