#include "napi/trt_network_wrap.h"

#include <cstring>

#include "napi/args.h"
#include "napi/instance.h"
#include "napi/js_error.h"
#include "napi/promise_worker.h"
#include "napi/trt_convert.h"

namespace trtn {

namespace {

// What a build reports to JS: progress (kinds 0-2) and TensorRT log lines (kind 3).
struct BuildEvent {
  int kind = 0;
  std::string phase;
  std::string parent;
  int32_t steps = 0;
  int32_t step = 0;
  int severity = 0;
  std::string message;
};

// Forwards events to the JS thread while a build's Execute runs and drops them afterwards, so
// TensorRT threads (or the process-wide logger) that still hold the sink reach nothing stale.
struct BuildGate {
  std::mutex mu;
  const Napi::AsyncProgressQueueWorker<BuildEvent>::ExecutionProgress* progress = nullptr;

  void send(const BuildEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (progress != nullptr) progress->Send(&e, 1);
  }
};

trt::BuildConfig parseBuildConfig(Napi::Object o) {
  trt::BuildConfig c;
  Napi::Value profiles = property(o, "profiles");
  if (!profiles.IsArray()) throwInvalidArg("config.profiles must be an array");
  Napi::Array ps = profiles.As<Napi::Array>();
  for (uint32_t p = 0; p < ps.Length(); p++) {
    Napi::Value pv = ps.Get(p);
    if (!pv.IsArray()) throwInvalidArg("config.profiles[" + std::to_string(p) + "] must be an array");
    Napi::Array ranges = pv.As<Napi::Array>();
    std::vector<trt::InputRange> profile;
    for (uint32_t i = 0; i < ranges.Length(); i++) {
      const std::string where = "config.profiles[" + std::to_string(p) + "][" + std::to_string(i) + "]";
      Napi::Value rv = ranges.Get(i);
      if (!rv.IsObject()) throwInvalidArg(where + " must be an object");
      Napi::Object r = rv.As<Napi::Object>();
      Napi::Value name = property(r, "input");
      if (!name.IsString()) throwInvalidArg(where + ".input must be a string");
      trt::InputRange range;
      range.input = name.As<Napi::String>();
      range.min = int64Array(property(r, "min"), where + ".min");
      range.opt = int64Array(property(r, "opt"), where + ".opt");
      range.max = int64Array(property(r, "max"), where + ".max");
      profile.push_back(std::move(range));
    }
    c.profiles.push_back(std::move(profile));
  }
  Napi::Value ws = property(o, "workspaceBytes");
  if (!ws.IsUndefined() && !ws.IsNull())
    c.workspaceBytes = static_cast<uint64_t>(intProperty(o, "workspaceBytes", 0, 0, kMaxSafeInteger));
  c.optimizationLevel = static_cast<int>(intProperty(o, "optimizationLevel", 3, 0, 5));
  c.hardwareCompatibility = static_cast<int>(intProperty(o, "hardwareCompatibility", 0, 0, 2));
  c.versionCompatible = boolProperty(o, "versionCompatible", false);
  c.excludeLeanRuntime = boolProperty(o, "excludeLeanRuntime", false);
  c.refit = boolProperty(o, "refit", false);
  c.fp16BuilderFlag = boolProperty(o, "fp16BuilderFlag", false);
  c.tf32 = boolProperty(o, "tf32", true);
  c.maxAuxStreams = static_cast<int>(intProperty(o, "maxAuxStreams", -1, -1, 64));
  Napi::Value tc = property(o, "timingCachePath");
  if (tc.IsString()) {
    c.timingCachePath = tc.As<Napi::String>();
    if (c.timingCachePath.empty()) throwInvalidArg("config.timingCachePath must not be empty");
  } else if (!tc.IsUndefined() && !tc.IsNull()) {
    throwInvalidArg("config.timingCachePath must be a string or null");
  }
  return c;
}

class BuildWorker : public ProgressPromiseWorker<BuildEvent> {
 public:
  BuildWorker(Napi::Env env, NetworkWrap* owner, Napi::Object ownerObject, std::shared_ptr<trt::Network> network,
              trt::BuildConfig config, std::shared_ptr<trt::BuildProgress> progress, std::shared_ptr<BuildGate> gate,
              Napi::Value onEvent, int logSeverity)
      : ProgressPromiseWorker(env, "tensorrt-node:build"),
        owner_(owner),
        network_(std::move(network)),
        config_(std::move(config)),
        progress_(std::move(progress)),
        gate_(std::move(gate)),
        logSeverity_(logSeverity),
        env_(env) {
    ownerRef_ = Napi::Persistent(ownerObject);
    if (onEvent.IsFunction()) onEvent_ = Napi::Persistent(onEvent.As<Napi::Function>());
    // A worker_thread that ends mid-build cancels it, so its libuv thread comes back soon.
    napi_add_env_cleanup_hook(env, &BuildWorker::onCleanup, this);
  }
  ~BuildWorker() override {
    if (!cleanupRan_) napi_remove_env_cleanup_hook(env_, &BuildWorker::onCleanup, this);
  }

 protected:
  void work(const Progress& progress) override {
    {
      std::lock_guard<std::mutex> lock(gate_->mu);
      gate_->progress = &progress;
    }
    // Closes the gate and removes the listener however the build ends.
    struct Done {
      BuildWorker& self;
      int64_t listener = -1;
      ~Done() {
        if (listener >= 0) trt::removeLogListener(listener);
        std::lock_guard<std::mutex> lock(self.gate_->mu);
        self.gate_->progress = nullptr;
      }
    } done{*this};
    if (logSeverity_ >= 0 && !onEvent_.IsEmpty()) {
      auto gate = gate_;
      // Registered on this thread, which runs the build: it hears this build's messages only.
      done.listener = trt::addThreadLogListener(static_cast<trt::Severity>(logSeverity_),
                                                [gate](trt::Severity severity, const char* message) {
                                                  BuildEvent e;
                                                  e.kind = 3;
                                                  e.severity = static_cast<int>(severity);
                                                  e.message = message;
                                                  gate->send(e);
                                                });
    }
    result_ = network_->build(std::move(config_), progress_.get());
  }

  void OnProgress(const BuildEvent* events, size_t count) override {
    if (onEvent_.IsEmpty() || events == nullptr) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < count; i++) {
      const BuildEvent& e = events[i];
      Napi::Object o = Napi::Object::New(env);
      static const char* const kinds[] = {"phaseStart", "step", "phaseFinish", "log"};
      o.Set("kind", kinds[e.kind]);
      if (e.kind == 3) {
        o.Set("severity", trt::severityName(static_cast<trt::Severity>(e.severity)));
        o.Set("message", e.message);
      } else {
        o.Set("phase", e.phase);
        if (e.kind == 0) o.Set("parent", e.parent.empty() ? env.Null() : Napi::String::New(env, e.parent));
        o.Set("steps", e.steps);
        if (e.kind == 1) o.Set("step", e.step);
      }
      try {
        onEvent_.Call({o});
      } catch (const Napi::Error&) {
        // The TypeScript layer catches its callbacks' errors; nothing to do with one here.
      }
    }
  }

  void finished() noexcept override { owner_->buildFinished(); }

  Napi::Value result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("plan", planArray(env));
    out.Set("warnings", toJs(env, result_.warnings));
    return out;
  }

 private:
  // The plan's bytes as TensorRT made them, handed to JS without a copy where the runtime
  // allows external buffers.
  Napi::Uint8Array planArray(Napi::Env env) {
    std::unique_ptr<trt::HostBlob> mem = std::move(result_.plan);
    const std::size_t size = mem->size();
    napi_value ab = nullptr;
    const napi_status status = napi_create_external_arraybuffer(
        env, const_cast<void*>(mem->data()), size, [](napi_env, void*, void* hint) { delete static_cast<trt::HostBlob*>(hint); },
        mem.get(), &ab);
    if (status == napi_ok) {
      mem.release();  // the ArrayBuffer's finalizer owns it now
      return Napi::Uint8Array::New(env, size, Napi::ArrayBuffer(env, ab), 0);
    }
    Napi::Uint8Array copy = Napi::Uint8Array::New(env, size);
    std::memcpy(copy.Data(), mem->data(), size);
    return copy;
  }

  static void onCleanup(void* arg) {
    auto* self = static_cast<BuildWorker*>(arg);
    self->cleanupRan_ = true;
    self->progress_->cancel();
  }

  NetworkWrap* owner_;
  Napi::ObjectReference ownerRef_;  // keeps owner_ alive until the build ends
  Napi::FunctionReference onEvent_;
  std::shared_ptr<trt::Network> network_;
  trt::BuildConfig config_;
  std::shared_ptr<trt::BuildProgress> progress_;
  std::shared_ptr<BuildGate> gate_;
  int logSeverity_;
  napi_env env_;
  bool cleanupRan_ = false;
  trt::BuildResult result_;
};

// The model is copied on the JS thread: JavaScript may detach or transfer its buffer while the
// parser reads it on a pool thread.
class ParseWorker : public PromiseWorker {
 public:
  ParseWorker(Napi::Env env, ByteView model, std::string modelPath, trt::ParseOptions options)
      : PromiseWorker(env, "tensorrt-node:parse"),
        model_(model.data, model.data + model.size),
        modelPath_(std::move(modelPath)),
        options_(options) {}

 protected:
  void work() override {
    network_ = trt::parseOnnx(model_.data(), model_.size(), modelPath_, options_, errors_);
    if (network_) {
      inputs_ = network_->inputs();
      outputs_ = network_->outputs();
    }
  }

  Napi::Value result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("network", network_ ? NetworkWrap::create(env, std::move(network_)).As<Napi::Value>() : env.Null());
    out.Set("errors", toJsArray(env, errors_));
    out.Set("inputs", toJsArray(env, inputs_));
    out.Set("outputs", toJsArray(env, outputs_));
    return out;
  }

 private:
  // IParser::parse reads the bytes during the call (the parser keeps its own copy of what the
  // network refers to), so the copy lives as long as the worker.
  std::vector<uint8_t> model_;
  std::string modelPath_;
  trt::ParseOptions options_;
  std::unique_ptr<trt::Network> network_;
  std::vector<trt::ParserError> errors_;
  std::vector<trt::NetworkTensor> inputs_;
  std::vector<trt::NetworkTensor> outputs_;
};

}  // namespace

Napi::Function NetworkWrap::define(Napi::Env env) {
  return DefineClass(env, "TrtNetwork",
                     {
                         InstanceMethod<&NetworkWrap::build>("build"),
                         InstanceMethod<&NetworkWrap::cancelBuild>("cancelBuild"),
                         InstanceMethod<&NetworkWrap::dispose>("dispose"),
                         InstanceAccessor<&NetworkWrap::disposed>("disposed"),
                         InstanceAccessor<&NetworkWrap::building>("building"),
                     });
}

NetworkWrap::NetworkWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetworkWrap>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "TrtNetwork is created by trtParseOnnx(), not with new");
  }
  network_ = *info[0].As<Napi::External<std::shared_ptr<trt::Network>>>().Data();
}

Napi::Object NetworkWrap::create(Napi::Env env, std::shared_ptr<trt::Network> network) {
  return InstanceData::of(env).trtNetworkCtor.New({Napi::External<std::shared_ptr<trt::Network>>::New(env, &network)});
}

void NetworkWrap::buildFinished() {
  progress_.reset();
}

// build(config, onEvent?) -> Promise<{ plan: Uint8Array, warnings: string[] }>
Napi::Value NetworkWrap::build(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!network_) throw NativeError("ERR_DISPOSED", "the parsed network was disposed");
    if (progress_) throw NativeError("ERR_BUSY", "a build of this network is already running");
    Napi::Value cfg = argAt(info, 0);
    if (!cfg.IsObject()) throwInvalidArg("config must be an object");
    trt::BuildConfig config = parseBuildConfig(cfg.As<Napi::Object>());
    int logSeverity = -1;
    Napi::Value level = property(cfg.As<Napi::Object>(), "logLevel");
    if (level.IsString()) logSeverity = static_cast<int>(trt::parseSeverity(level.As<Napi::String>()));
    auto gate = std::make_shared<BuildGate>();
    auto progress = std::make_shared<trt::BuildProgress>([gate](const trt::ProgressEvent& p) {
      BuildEvent e;
      e.kind = static_cast<int>(p.kind);
      e.phase = p.phase;
      e.parent = p.parent;
      e.steps = p.steps;
      e.step = p.step;
      gate->send(e);
    });
    auto* worker = new BuildWorker(env, this, info.This().As<Napi::Object>(), network_, std::move(config), progress, gate,
                                   argAt(info, 1), logSeverity);
    progress_ = progress;
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value NetworkWrap::cancelBuild(const Napi::CallbackInfo& info) {
  if (progress_) progress_->cancel();
  return Napi::Boolean::New(info.Env(), static_cast<bool>(progress_));
}

Napi::Value NetworkWrap::dispose(const Napi::CallbackInfo& info) {
  // A build in progress holds its own reference and frees the network when it ends.
  network_.reset();
  return info.Env().Undefined();
}

Napi::Value NetworkWrap::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !network_);
}

Napi::Value NetworkWrap::building(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), static_cast<bool>(progress_));
}

// trtParseOnnx(bytes: Uint8Array, modelPath: string | null, { device, stronglyTyped })
Napi::Value trtParseOnnx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Value bytes = argAt(info, 0);
    const ByteView view = bytesOf(bytes, "model");
    if (view.size == 0) throwInvalidArg("model is empty");
    std::string modelPath;
    Napi::Value path = argAt(info, 1);
    if (path.IsString()) {
      modelPath = path.As<Napi::String>();
    } else if (!path.IsNull() && !path.IsUndefined()) {
      throwInvalidArg("modelPath must be a string or null");
    }
    trt::ParseOptions options;
    Napi::Value opts = argAt(info, 2);
    if (opts.IsObject()) {
      options.device = static_cast<int>(intProperty(opts.As<Napi::Object>(), "device", 0, 0, 1 << 16));
      options.stronglyTyped = boolProperty(opts.As<Napi::Object>(), "stronglyTyped", true);
    }
    auto* worker = new ParseWorker(env, view, std::move(modelPath), options);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace trtn
