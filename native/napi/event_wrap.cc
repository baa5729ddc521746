#include "napi/event_wrap.h"

#include "napi/args.h"
#include "napi/completion_queue.h"
#include "napi/instance.h"
#include "napi/js_error.h"
#include "napi/stream_wrap.h"

namespace trtn {

Napi::Function EventWrap::define(Napi::Env env) {
  return DefineClass(env, "Event",
                     {
                         StaticMethod<&EventWrap::elapsedMs>("elapsedMs"),
                         InstanceAccessor<&EventWrap::device>("device"),
                         InstanceMethod<&EventWrap::record>("record"),
                         InstanceMethod<&EventWrap::query>("query"),
                         InstanceMethod<&EventWrap::synchronize>("synchronize"),
                         InstanceMethod<&EventWrap::dispose>("dispose"),
                     });
}

EventWrap::EventWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EventWrap>(info) {
  guarded(info.Env(), [&] {
    device_ = static_cast<int>(argInt(info, 0, "device", 0, 1 << 16));
    event_ = std::make_shared<cuda::Event>(device_, argBool(info, 1, false));
  });
}

std::shared_ptr<cuda::Event> EventWrap::from(Napi::Env env, Napi::Value value, const char* name) {
  auto& data = InstanceData::of(env);
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data.eventCtor.Value())) {
    throwInvalidArg(std::string(name) + " must be an Event");
  }
  return Unwrap(value.As<Napi::Object>())->live();
}

const std::shared_ptr<cuda::Event>& EventWrap::live() const {
  if (!event_) throw NativeError("ERR_DISPOSED", "the event was disposed");
  return event_;
}

Napi::Value EventWrap::elapsedMs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto start = from(env, argAt(info, 0), "start");
    auto end = from(env, argAt(info, 1), "end");
    return Napi::Number::New(env, cuda::Event::elapsedMs(*start, *end)).As<Napi::Value>();
  });
}

Napi::Value EventWrap::device(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), device_);
}

Napi::Value EventWrap::record(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    live()->record(*StreamWrap::from(env, argAt(info, 0), "stream"));
    return env.Undefined();
  });
}

Napi::Value EventWrap::query(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] { return Napi::Boolean::New(info.Env(), live()->query()).As<Napi::Value>(); });
}

Napi::Value EventWrap::synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    if (!live()->recorded()) throwInvalidArg("synchronize() on an event that was never recorded");
    auto item = std::make_unique<PromiseCompletion>(env);
    Napi::Promise promise = item->promise();
    InstanceData::of(env).completionQueue(env).afterEvent(live(), std::move(item));
    return promise.As<Napi::Value>();
  });
}

Napi::Value EventWrap::dispose(const Napi::CallbackInfo& info) {
  event_.reset();
  return info.Env().Undefined();
}

}  // namespace trtn
