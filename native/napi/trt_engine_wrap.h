#pragma once
// JS: trtDeserialize(plan, { device, allowHostCode }) resolves to a TrtEngine (deserialized on
// a worker thread). engine.describe() gives the I/O tensors with each profile's min/opt/max;
// engine.createContexts([{ profile, inputBytes, cudaGraphs }]) resolves to TrtContexts, each
// with its own stream and buffers (created on a worker thread).
#include <napi.h>

#include <memory>

#include "trt/api.h"

namespace trtn {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit EngineWrap(const Napi::CallbackInfo& info);
  static Napi::Object create(Napi::Env env, std::shared_ptr<trt::Engine> engine);

 private:
  Napi::Value describe(const Napi::CallbackInfo& info);
  Napi::Value createContexts(const Napi::CallbackInfo& info);
  Napi::Value allocPinned(const Napi::CallbackInfo& info);
  Napi::Value lost(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);
  const std::shared_ptr<trt::Engine>& live() const;

  std::shared_ptr<trt::Engine> engine_;
};

Napi::Value trtDeserialize(const Napi::CallbackInfo& info);

}  // namespace trtn
