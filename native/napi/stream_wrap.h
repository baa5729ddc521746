#pragma once

#include <napi.h>

#include <memory>

#include "cuda/stream.h"

namespace trtn {

// JS: new Stream(device). synchronize() resolves once the work enqueued so far has completed.
class StreamWrap : public Napi::ObjectWrap<StreamWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit StreamWrap(const Napi::CallbackInfo& info);

  // The wrapped stream of `value`, which must be a live Stream; `name` is for the message.
  static std::shared_ptr<cuda::Stream> from(Napi::Env env, Napi::Value value, const char* name);

 private:
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);
  Napi::Value query(const Napi::CallbackInfo& info);
  Napi::Value synchronize(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  const std::shared_ptr<cuda::Stream>& live() const;

  std::shared_ptr<cuda::Stream> stream_;
  int device_ = 0;
};

}  // namespace trtn
