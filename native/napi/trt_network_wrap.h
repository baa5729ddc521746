#pragma once
// JS: trtParseOnnx(bytes, modelPath, { device, stronglyTyped }) resolves to
// { network: TrtNetwork | null, errors: ParserError[], inputs, outputs }; TrtNetwork.build(config,
// onEvent) builds a plan on a worker thread, reporting progress and log lines through onEvent;
// cancelBuild() stops it at TensorRT's next progress step (IProgressMonitor::stepComplete).
#include <napi.h>

#include <memory>
#include <mutex>

#include "trt/api.h"

namespace trtn {

class NetworkWrap : public Napi::ObjectWrap<NetworkWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit NetworkWrap(const Napi::CallbackInfo& info);
  static Napi::Object create(Napi::Env env, std::shared_ptr<trt::Network> network);

  // Called by the build worker when it has finished (on the JS thread).
  void buildFinished();

 private:
  Napi::Value build(const Napi::CallbackInfo& info);
  Napi::Value cancelBuild(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);
  Napi::Value building(const Napi::CallbackInfo& info);

  std::shared_ptr<trt::Network> network_;
  std::shared_ptr<trt::BuildProgress> progress_;  // of the build in progress
};

Napi::Value trtParseOnnx(const Napi::CallbackInfo& info);

}  // namespace trtn
