#pragma once
// JS: TrtContext.run(inputs, dims, wanted) -> Promise<{ dims, data: ArrayBuffer }[]>. The inputs
// (typed arrays, in engine input order) are copied into pinned staging on the JS thread, then
// H2D, inference and D2H are enqueued on the context's stream; the completion thread settles
// the promise once the stream is done, copying the staged outputs into new ArrayBuffers.
#include <napi.h>

#include <memory>

#include "trt/api.h"

namespace trtn {

class ContextWrap : public Napi::ObjectWrap<ContextWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit ContextWrap(const Napi::CallbackInfo& info);
  static Napi::Object create(Napi::Env env, std::shared_ptr<trt::ExecutionContext> context);

 private:
  Napi::Value run(const Napi::CallbackInfo& info);
  Napi::Value profile(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);

  std::shared_ptr<trt::ExecutionContext> context_;
  int profile_ = 0;
};

}  // namespace trtn
