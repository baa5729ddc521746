#include "napi/trt_engine_wrap.h"

#include <vector>

#include "napi/args.h"
#include "napi/instance.h"
#include "napi/js_error.h"
#include "napi/pinned_output.h"
#include "napi/promise_worker.h"
#include "napi/trt_context_wrap.h"
#include "napi/trt_convert.h"

namespace trtn {

namespace {

// The plan is copied on the JS thread: JavaScript may detach or transfer its buffer while the
// deserialization reads it on a pool thread.
class DeserializeWorker : public PromiseWorker {
 public:
  DeserializeWorker(Napi::Env env, ByteView plan, trt::DeserializeOptions options)
      : PromiseWorker(env, "tensorrt-node:deserialize"), plan_(plan.data, plan.data + plan.size), options_(options) {}

 protected:
  void work() override {
    engine_ = trt::deserialize(plan_.data(), plan_.size(), options_);
    std::vector<uint8_t>().swap(plan_);
  }
  Napi::Value result(Napi::Env env) override { return EngineWrap::create(env, std::move(engine_)); }

 private:
  std::vector<uint8_t> plan_;
  trt::DeserializeOptions options_;
  std::shared_ptr<trt::Engine> engine_;
};

class ContextsWorker : public PromiseWorker {
 public:
  ContextsWorker(Napi::Env env, std::shared_ptr<trt::Engine> engine, std::vector<trt::ContextOptions> specs)
      : PromiseWorker(env, "tensorrt-node:contexts"), engine_(std::move(engine)), specs_(std::move(specs)) {}

 protected:
  void work() override {
    try {
      for (const auto& spec : specs_) contexts_.push_back(trt::createContext(engine_, spec));
    } catch (...) {
      // Those already made go now, on this thread, rather than on the JS thread.
      contexts_.clear();
      throw;
    }
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, contexts_.size());
    for (std::size_t i = 0; i < contexts_.size(); i++) out.Set(static_cast<uint32_t>(i), ContextWrap::create(env, contexts_[i]));
    contexts_.clear();
    return out;
  }

 private:
  std::shared_ptr<trt::Engine> engine_;
  std::vector<trt::ContextOptions> specs_;
  std::vector<std::shared_ptr<trt::ExecutionContext>> contexts_;
};

}  // namespace

Napi::Function EngineWrap::define(Napi::Env env) {
  return DefineClass(env, "TrtEngine",
                     {
                         InstanceMethod<&EngineWrap::describe>("describe"),
                         InstanceMethod<&EngineWrap::createContexts>("createContexts"),
                         InstanceMethod<&EngineWrap::allocPinned>("allocPinned"),
                         InstanceAccessor<&EngineWrap::lost>("lost"),
                         InstanceMethod<&EngineWrap::dispose>("dispose"),
                         InstanceAccessor<&EngineWrap::disposed>("disposed"),
                     });
}

EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "TrtEngine is created by trtDeserialize(), not with new");
  }
  engine_ = *info[0].As<Napi::External<std::shared_ptr<trt::Engine>>>().Data();
}

Napi::Object EngineWrap::create(Napi::Env env, std::shared_ptr<trt::Engine> engine) {
  return InstanceData::of(env).trtEngineCtor.New({Napi::External<std::shared_ptr<trt::Engine>>::New(env, &engine)});
}

const std::shared_ptr<trt::Engine>& EngineWrap::live() const {
  if (!engine_) throw NativeError("ERR_DISPOSED", "the engine was disposed");
  return engine_;
}

// describe() -> { tensors: EngineTensor[], profiles: number, deviceMemoryBytes: number }
Napi::Value EngineWrap::describe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const auto& e = live();
    Napi::Object o = Napi::Object::New(env);
    o.Set("tensors", toJsArray(env, e->tensors()));
    o.Set("profiles", e->profiles());
    o.Set("deviceMemoryBytes", static_cast<double>(e->deviceMemoryBytes()));
    return o;
  });
}

// createContexts([{ profile, inputBytes: number[], cudaGraphs, spinWaitMicros? }]) -> Promise<TrtContext[]>
Napi::Value EngineWrap::createContexts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const auto& e = live();
    Napi::Value specsValue = argAt(info, 0);
    if (!specsValue.IsArray()) throwInvalidArg("specs must be an array");
    Napi::Array specs = specsValue.As<Napi::Array>();
    std::vector<trt::ContextOptions> options;
    for (uint32_t i = 0; i < specs.Length(); i++) {
      Napi::Value sv = specs.Get(i);
      if (!sv.IsObject()) throwInvalidArg("specs[" + std::to_string(i) + "] must be an object");
      Napi::Object s = sv.As<Napi::Object>();
      trt::ContextOptions o;
      o.profile = static_cast<int>(intProperty(s, "profile", 0, 0, 1 << 16));
      for (int64_t b : int64Array(property(s, "inputBytes"), "specs[" + std::to_string(i) + "].inputBytes")) {
        if (b < 0) throwInvalidArg("inputBytes must not be negative");
        o.inputBytes.push_back(static_cast<std::size_t>(b));
      }
      o.cudaGraphs = boolProperty(s, "cudaGraphs", false);
      o.spinWaitMicros = static_cast<int>(intProperty(s, "spinWaitMicros", 0, 0, 1000000));
      options.push_back(std::move(o));
    }
    auto* worker = new ContextsWorker(env, e, std::move(options));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

// allocPinned(bytes) -> ArrayBuffer over pinned memory of the engine's pool (freed back to the
// pool when the ArrayBuffer is collected). Runs copy from and into it without staging.
Napi::Value EngineWrap::allocPinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const auto& e = live();
    const std::size_t bytes = argSize(info, 0, "bytes");
    return pinnedArrayBuffer(env, e->allocPinned(bytes), bytes);
  });
}

Napi::Value EngineWrap::lost(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), engine_ && engine_->lost());
}

Napi::Value EngineWrap::dispose(const Napi::CallbackInfo& info) {
  // Contexts hold the engine; it is freed with the last of them.
  engine_.reset();
  return info.Env().Undefined();
}

Napi::Value EngineWrap::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !engine_);
}

// trtDeserialize(plan: Uint8Array, { device, allowHostCode, leanRuntime }) -> Promise<TrtEngine>
Napi::Value trtDeserialize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Value plan = argAt(info, 0);
    const ByteView view = bytesOf(plan, "plan");
    if (view.size == 0) throwInvalidArg("plan is empty");
    trt::DeserializeOptions options;
    Napi::Value opts = argAt(info, 1);
    if (opts.IsObject()) {
      options.device = static_cast<int>(intProperty(opts.As<Napi::Object>(), "device", 0, 0, 1 << 16));
      options.allowHostCode = boolProperty(opts.As<Napi::Object>(), "allowHostCode", false);
      options.leanRuntime = boolProperty(opts.As<Napi::Object>(), "leanRuntime", false);
    }
    auto* worker = new DeserializeWorker(env, view, options);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace trtn
