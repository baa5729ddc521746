#include "napi/trt_engine_wrap.h"

#include <vector>

#include "napi/args.h"
#include "napi/instance.h"
#include "napi/js_error.h"
#include "napi/trt_context_wrap.h"
#include "napi/trt_convert.h"

namespace trtn {

namespace {

std::unique_ptr<NativeError> currentError() {
  try {
    throw;
  } catch (const NativeError& e) {
    return std::make_unique<NativeError>(e);
  } catch (const std::bad_alloc&) {
    return std::make_unique<NativeError>("ERR_INTERNAL", "out of host memory in the native addon");
  } catch (const std::exception& e) {
    return std::make_unique<NativeError>("ERR_INTERNAL", std::string("native addon error: ") + e.what());
  }
}

class DeserializeWorker : public Napi::AsyncWorker {
 public:
  DeserializeWorker(Napi::Env env, Napi::Value plan, ByteView view, trt::DeserializeOptions options)
      : Napi::AsyncWorker(env, "tensorrt-node:deserialize"),
        deferred_(Napi::Promise::Deferred::New(env)),
        view_(view),
        options_(options) {
    planRef_ = Napi::Persistent(plan.As<Napi::Object>());
  }
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      engine_ = trt::deserialize(view_.data, view_.size, options_);
    } catch (...) {
      error_ = currentError();
    }
  }
  void OnOK() override {
    if (error_) {
      deferred_.Reject(toJsError(Env(), *error_));
      return;
    }
    deferred_.Resolve(EngineWrap::create(Env(), std::move(engine_)));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference planRef_;
  ByteView view_;
  trt::DeserializeOptions options_;
  std::shared_ptr<trt::Engine> engine_;
  std::unique_ptr<NativeError> error_;
};

class ContextsWorker : public Napi::AsyncWorker {
 public:
  ContextsWorker(Napi::Env env, std::shared_ptr<trt::Engine> engine, std::vector<trt::ContextOptions> specs)
      : Napi::AsyncWorker(env, "tensorrt-node:contexts"),
        deferred_(Napi::Promise::Deferred::New(env)),
        engine_(std::move(engine)),
        specs_(std::move(specs)) {}
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      for (const auto& spec : specs_) contexts_.push_back(trt::createContext(engine_, spec));
    } catch (...) {
      error_ = currentError();
      // Those already made go now, on this thread, rather than on the JS thread.
      contexts_.clear();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (error_) {
      deferred_.Reject(toJsError(env, *error_));
      return;
    }
    Napi::Array out = Napi::Array::New(env, contexts_.size());
    for (std::size_t i = 0; i < contexts_.size(); i++) out.Set(static_cast<uint32_t>(i), ContextWrap::create(env, contexts_[i]));
    contexts_.clear();
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<trt::Engine> engine_;
  std::vector<trt::ContextOptions> specs_;
  std::vector<std::shared_ptr<trt::ExecutionContext>> contexts_;
  std::unique_ptr<NativeError> error_;
};

}  // namespace

Napi::Function EngineWrap::define(Napi::Env env) {
  return DefineClass(env, "TrtEngine",
                     {
                         InstanceMethod<&EngineWrap::describe>("describe"),
                         InstanceMethod<&EngineWrap::createContexts>("createContexts"),
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

// createContexts([{ profile, inputBytes: number[], cudaGraphs }]) -> Promise<TrtContext[]>
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
      options.push_back(std::move(o));
    }
    auto* worker = new ContextsWorker(env, e, std::move(options));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
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

// trtDeserialize(plan: Uint8Array, { device, allowHostCode }) -> Promise<TrtEngine>
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
    }
    auto* worker = new DeserializeWorker(env, plan, view, options);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace trtn
