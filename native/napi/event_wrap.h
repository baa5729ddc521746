#pragma once

#include <napi.h>

#include <memory>

#include "cuda/event.h"

namespace trtn {

// JS: new Event(device, timing?). record(stream); synchronize() -> Promise; Event.elapsedMs(a, b).
class EventWrap : public Napi::ObjectWrap<EventWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit EventWrap(const Napi::CallbackInfo& info);
  static std::shared_ptr<cuda::Event> from(Napi::Env env, Napi::Value value, const char* name);

 private:
  static Napi::Value elapsedMs(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value record(const Napi::CallbackInfo& info);
  Napi::Value query(const Napi::CallbackInfo& info);
  Napi::Value synchronize(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  const std::shared_ptr<cuda::Event>& live() const;

  std::shared_ptr<cuda::Event> event_;
  int device_ = 0;
};

}  // namespace trtn
