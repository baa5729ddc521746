// Module entry: per-environment instance data, the classes and functions, build information.

#include <cuda.h>
#include <napi.h>

#include <string>

#include "napi/cuda_functions.h"
#include "napi/device_buffer_wrap.h"
#include "napi/event_wrap.h"
#include "napi/instance.h"
#include "napi/pinned_pool_wrap.h"
#include "napi/stream_wrap.h"
#include "napi/trt_functions.h"

namespace trtn {

// init({ makeError(code, message, details) }): the JS layer's error factory, so native
// failures become its error classes.
static Napi::Value init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "init() takes { makeError }");
  Napi::Value factory = info[0].As<Napi::Object>().Get("makeError");
  if (!factory.IsFunction()) throw Napi::TypeError::New(env, "init(): makeError must be a function");
  InstanceData::of(env).errorFactory = Napi::Persistent(factory.As<Napi::Function>());
  return env.Undefined();
}

static Napi::Object buildInfo(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  // The CUDA headers the addon was compiled with; the driver found at run time may be older
  // (down to CUDA 12.0) or newer.
  o.Set("cuda", std::to_string(CUDA_VERSION / 1000) + "." + std::to_string((CUDA_VERSION % 1000) / 10));
  o.Set("tensorrt", trtBuildVersion(env));
  o.Set("napiVersion", NAPI_VERSION);
#if defined(__clang__)
  o.Set("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  o.Set("compiler", "gcc " __VERSION__);
#endif
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new InstanceData();
  env.SetInstanceData<InstanceData>(data);

  Napi::Function stream = StreamWrap::define(env);
  Napi::Function event = EventWrap::define(env);
  Napi::Function deviceBuffer = DeviceBufferWrap::define(env);
  Napi::Function pinnedPool = PinnedPoolWrap::define(env);
  Napi::Function pinnedBuffer = PinnedBufferWrap::define(env);
  data->streamCtor = Napi::Persistent(stream);
  data->eventCtor = Napi::Persistent(event);
  data->deviceBufferCtor = Napi::Persistent(deviceBuffer);
  data->pinnedPoolCtor = Napi::Persistent(pinnedPool);
  data->pinnedBufferCtor = Napi::Persistent(pinnedBuffer);

  exports.Set("init", Napi::Function::New<init>(env, "init"));
  exports.Set("buildInfo", buildInfo(env));
  exports.Set("Stream", stream);
  exports.Set("Event", event);
  exports.Set("DeviceBuffer", deviceBuffer);
  exports.Set("PinnedPool", pinnedPool);
  exports.Set("PinnedBuffer", pinnedBuffer);
  defineCudaFunctions(env, exports);
  defineTrtFunctions(env, exports);
  return exports;
}

}  // namespace trtn

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return trtn::Init(env, exports);
}

NODE_API_MODULE(tensorrt_node, InitModule)
