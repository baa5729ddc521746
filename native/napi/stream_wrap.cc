#include "napi/stream_wrap.h"

#include "napi/args.h"
#include "napi/completion_queue.h"
#include "napi/instance.h"
#include "napi/js_error.h"

namespace trtn {

Napi::Function StreamWrap::define(Napi::Env env) {
  return DefineClass(env, "Stream",
                     {
                         InstanceAccessor<&StreamWrap::device>("device"),
                         InstanceAccessor<&StreamWrap::disposed>("disposed"),
                         InstanceMethod<&StreamWrap::query>("query"),
                         InstanceMethod<&StreamWrap::synchronize>("synchronize"),
                         InstanceMethod<&StreamWrap::dispose>("dispose"),
                     });
}

StreamWrap::StreamWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StreamWrap>(info) {
  guarded(info.Env(), [&] {
    device_ = static_cast<int>(argInt(info, 0, "device", 0, 1 << 16));
    stream_ = std::make_shared<cuda::Stream>(device_);
  });
}

std::shared_ptr<cuda::Stream> StreamWrap::from(Napi::Env env, Napi::Value value, const char* name) {
  auto& data = InstanceData::of(env);
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data.streamCtor.Value())) {
    throwInvalidArg(std::string(name) + " must be a Stream");
  }
  return Unwrap(value.As<Napi::Object>())->live();
}

const std::shared_ptr<cuda::Stream>& StreamWrap::live() const {
  if (!stream_) throw NativeError("ERR_DISPOSED", "the stream was disposed");
  return stream_;
}

Napi::Value StreamWrap::device(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), device_);
}

Napi::Value StreamWrap::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !stream_);
}

Napi::Value StreamWrap::query(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] { return Napi::Boolean::New(info.Env(), live()->query()).As<Napi::Value>(); });
}

Napi::Value StreamWrap::synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto item = std::make_unique<PromiseCompletion>(env);
    item->hold(live());
    Napi::Promise promise = item->promise();
    InstanceData::of(env).completionQueue(env).afterStream(*live(), std::move(item));
    return promise.As<Napi::Value>();
  });
}

Napi::Value StreamWrap::dispose(const Napi::CallbackInfo& info) {
  // Pending completions hold their own reference; CUDA destroys the stream once its work is done.
  stream_.reset();
  return info.Env().Undefined();
}

}  // namespace trtn
