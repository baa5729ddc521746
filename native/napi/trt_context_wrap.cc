#include "napi/trt_context_wrap.h"

#include <chrono>
#include <cstring>
#include <vector>

#include "cuda/pinned_pool.h"
#include "cuda/stream.h"
#include "napi/args.h"
#include "napi/completion_queue.h"
#include "napi/device_buffer_wrap.h"
#include "napi/instance.h"
#include "napi/js_error.h"
#include "napi/pinned_output.h"
#include "napi/trt_convert.h"

namespace trtn {

namespace {

std::size_t typedArrayElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 1;
  }
}

struct TypedArrayView {
  void* data = nullptr;
  std::size_t bytes = 0;
};

bool typedArrayView(napi_env env, napi_value value, TypedArrayView& out) {
  napi_typedarray_type type;
  std::size_t length = 0;
  void* data = nullptr;
  bool is = false;
  if (napi_is_typedarray(env, value, &is) != napi_ok || !is) return false;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok) return false;
  out.data = data;
  out.bytes = length * typedArrayElementSize(type);
  return true;
}

// Device memory of another GPU cannot be bound or copied by this context's stream.
void checkDevice(const trt::ExecutionContext& ctx, int device, const std::string& what) {
  if (device != ctx.engine()->device()) {
    throwInvalidArg(what + " is device memory of GPU " + std::to_string(device) + ", but the engine runs on GPU " +
                    std::to_string(ctx.engine()->device()));
  }
}

std::string outputName(const trt::ExecutionContext& ctx, int index) {
  int k = 0;
  for (const trt::EngineTensor& t : ctx.engine()->tensors()) {
    if (t.input) continue;
    if (k++ == index) return t.name;
  }
  return "#" + std::to_string(index);
}

// Settles a run once its stream is done: copies the staged outputs into new ArrayBuffers (or
// into the caller's target tensors) and
// frees the context for the next run. A run whose enqueue failed part-way also comes here, so
// the context is handed on only after the work it did enqueue has drained. The context is
// marked busy before the item exists and freed exactly once: in settle(), or on destruction
// of an item that never reached the queue (the caller drains the stream first).
class RunCompletion : public Completion {
 public:
  RunCompletion(Napi::Env env, std::shared_ptr<trt::ExecutionContext> context)
      : deferred_(Napi::Promise::Deferred::New(env)), context_(std::move(context)) {}
  ~RunCompletion() override {
    if (!settled_) context_->end();
  }

  Napi::Promise promise() const { return deferred_.Promise(); }
  void setOutputs(std::vector<trt::ExecutionContext::Output> outputs) { outputs_ = std::move(outputs); }
  // The run records timing events: it resolves { outputs, timings }.
  void setTimed() { timed_ = true; }
  // Keeps a pinned feed or target alive until the stream is done with it.
  void hold(std::shared_ptr<cuda::PinnedBlock> block) { holds_.push_back(std::move(block)); }
  // Keeps a device feed or target alive until the stream is done with it (its free is ordered
  // on the stream that allocated it, not on this run's).
  void hold(std::shared_ptr<cuda::DeviceMemory> memory) { deviceHolds_.push_back(std::move(memory)); }
  // The typed array of wanted[k]'s target, which a staged output is copied into on settle.
  void setTarget(std::size_t k, Napi::Value target) {
    if (targets_.size() <= k) targets_.resize(k + 1);
    targets_[k] = Napi::Persistent(target.As<Napi::Object>());
  }
  void setFailure(const NativeError& failure) { failure_ = std::make_unique<NativeError>(failure); }
  // Freed off the JS thread at teardown: the references are dropped with their environment.
  void abandon() noexcept override {
    for (auto& t : targets_) t.SuppressDestruct();
  }

  void settle(Napi::Env env, const NativeError* error) override {
    settled_ = true;
    // Read before the context is handed on: the next run re-records its events.
    trt::ExecutionContext::StageTimes times;
    std::unique_ptr<NativeError> timesError;
    if (timed_ && error == nullptr && failure_ == nullptr) {
      try {
        times = context_->stageTimes();
      } catch (const NativeError& e) {
        timesError = std::make_unique<NativeError>(e);
      }
    }
    context_->end();
    if (timesError) {
      deferred_.Reject(toJsError(env, *timesError));
      return;
    }
    // A CUDA error of the stream outranks the enqueue's own: it says whether the GPU is lost.
    const NativeError* e = error != nullptr ? error : failure_.get();
    if (e != nullptr) {
      if (e->sticky()) context_->engine()->markLost();
      deferred_.Reject(toJsError(env, *e));
      return;
    }
    try {
      // Outputs that went to the caller's tensors: copy the staged ones in. A target detached
      // (transferred) while the run was in flight has no memory to fill: reject, naming it.
      // Every target is checked before any is written, so a refused run writes none.
      bool allTargets = !outputs_.empty();
      std::vector<TypedArrayView> views(outputs_.size());
      for (std::size_t i = 0; i < outputs_.size(); i++) {
        const auto& o = outputs_[i];
        if (!o.toTarget) {
          allTargets = false;
          continue;
        }
        if (!o.staged || o.bytes == 0) continue;
        if (i >= targets_.size() || targets_[i].IsEmpty() || !typedArrayView(env, targets_[i].Value(), views[i]) ||
            views[i].bytes != o.bytes) {
          deferred_.Reject(
              toJsError(env, NativeError("ERR_INVALID_ARG", "options.outputs[\"" + outputName(*context_, o.index) +
                                                                "\"] was detached (transferred) while the run was in "
                                                                "flight; no output of the run was written")));
          return;
        }
      }
      for (std::size_t i = 0; i < outputs_.size(); i++) {
        const auto& o = outputs_[i];
        if (o.toTarget && o.staged && o.bytes > 0) std::memcpy(views[i].data, context_->outputHost(o.index), o.bytes);
      }
      auto resolve = [&](Napi::Value outputs) {
        if (!timed_) {
          deferred_.Resolve(outputs);
          return;
        }
        Napi::Object t = Napi::Object::New(env);
        t.Set("h2dMs", times.h2dMs);
        t.Set("computeMs", times.computeMs);
        t.Set("d2hMs", times.d2hMs);
        Napi::Object r = Napi::Object::New(env);
        r.Set("outputs", outputs);
        r.Set("timings", t);
        deferred_.Resolve(r);
      };
      if (allTargets) {
        resolve(env.Undefined());
        return;
      }
      Napi::Array out = Napi::Array::New(env, outputs_.size());
      for (std::size_t i = 0; i < outputs_.size(); i++) {
        const auto& o = outputs_[i];
        if (o.toTarget) {
          Napi::Object item = Napi::Object::New(env);
          item.Set("index", o.index);
          item.Set("dims", toJs(env, o.dims));
          out.Set(static_cast<uint32_t>(i), item);
          continue;
        }
        Napi::ArrayBuffer data;
        if (o.block) {
          data = pinnedArrayBuffer(env, o.block, o.bytes);
        } else {
          data = Napi::ArrayBuffer::New(env, o.bytes);
          if (o.bytes > 0) std::memcpy(data.Data(), context_->outputHost(o.index), o.bytes);
        }
        Napi::Object item = Napi::Object::New(env);
        item.Set("index", o.index);
        item.Set("dims", toJs(env, o.dims));
        item.Set("data", data);
        if (o.block) item.Set("pinned", true);
        out.Set(static_cast<uint32_t>(i), item);
      }
      resolve(out);
    } catch (const Napi::Error& e) {
      // V8 could not allocate an output: the run's promise must still settle.
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<trt::ExecutionContext> context_;
  std::vector<trt::ExecutionContext::Output> outputs_;
  std::vector<std::shared_ptr<cuda::PinnedBlock>> holds_;
  std::vector<std::shared_ptr<cuda::DeviceMemory>> deviceHolds_;
  std::vector<Napi::ObjectReference> targets_;  // by position in wanted
  std::unique_ptr<NativeError> failure_;
  bool settled_ = false;
  bool timed_ = false;
};

// Waits for what a failed run managed to enqueue, so the context's staging buffers are not
// handed to the next run while copies still use them.
void drain(trt::ExecutionContext& ctx) noexcept {
  try {
    ctx.stream()->synchronize();
  } catch (...) {
    // The stream's error is the caller's to report; draining is best effort.
  }
}

}  // namespace

Napi::Function ContextWrap::define(Napi::Env env) {
  return DefineClass(env, "TrtContext",
                     {
                         InstanceMethod<&ContextWrap::run>("run"),
                         InstanceAccessor<&ContextWrap::profile>("profile"),
                         InstanceMethod<&ContextWrap::stats>("stats"),
                         InstanceMethod<&ContextWrap::dispose>("dispose"),
                         InstanceAccessor<&ContextWrap::disposed>("disposed"),
                     });
}

ContextWrap::ContextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContextWrap>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "TrtContext is created by TrtEngine.createContexts(), not with new");
  }
  context_ = *info[0].As<Napi::External<std::shared_ptr<trt::ExecutionContext>>>().Data();
  profile_ = context_->profile();
}

Napi::Object ContextWrap::create(Napi::Env env, std::shared_ptr<trt::ExecutionContext> context) {
  return InstanceData::of(env).trtContextCtor.New({Napi::External<std::shared_ptr<trt::ExecutionContext>>::New(env, &context)});
}

// run(inputs: ArrayBufferView[], dims: number[] (all inputs' dims, concatenated), wanted?: number[],
//     targets?: (ArrayBufferView | undefined)[] (parallel to wanted), targetDims?: number[] (the
//     given targets' dims, concatenated), timed?: boolean). Resolves undefined when every wanted
//     output went to a target; with `timed`, { outputs, timings: { h2dMs, computeMs, d2hMs } }.
Napi::Value ContextWrap::run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!context_) throw NativeError("ERR_DISPOSED", "the execution context was disposed");
    std::shared_ptr<trt::ExecutionContext> ctx = context_;
    Napi::Value inputsValue = argAt(info, 0);
    Napi::Value dimsValue = argAt(info, 1);
    if (!inputsValue.IsArray()) throwInvalidArg("inputs must be an array of typed arrays");
    if (!dimsValue.IsArray()) throwInvalidArg("dims must be an array of integers");
    Napi::Array inputsArray = inputsValue.As<Napi::Array>();
    const std::vector<int64_t> flatDims = int64Array(dimsValue, "dims");
    const uint32_t n = inputsArray.Length();
    if (n != ctx->inputs()) throwInvalidArg("expected " + std::to_string(ctx->inputs()) + " inputs, got " + std::to_string(n));
    std::vector<trt::ExecutionContext::Input> inputs(n);
    std::size_t pos = 0;
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value element = inputsArray.Get(i);
      TypedArrayView view;
      if (DeviceBufferWrap::is(env, element)) {
        inputs[i].device = DeviceBufferWrap::from(env, element, ("inputs[" + std::to_string(i) + "]").c_str());
        checkDevice(*ctx, inputs[i].device->device(), "inputs[" + std::to_string(i) + "]");
        inputs[i].bytes = inputs[i].device->size();
      } else if (typedArrayView(env, element, view)) {
        inputs[i].data = view.data;
        inputs[i].bytes = view.bytes;
      } else {
        throwInvalidArg("inputs[" + std::to_string(i) + "] must be a typed array or a DeviceBuffer");
      }
      const std::size_t rank = ctx->inputRank(i);
      if (pos + rank > flatDims.size()) throwInvalidArg("dims holds fewer values than the inputs' ranks need");
      inputs[i].dims.assign(flatDims.begin() + static_cast<std::ptrdiff_t>(pos),
                            flatDims.begin() + static_cast<std::ptrdiff_t>(pos + rank));
      pos += rank;
    }
    if (pos != flatDims.size()) throwInvalidArg("dims holds more values than the inputs' ranks need");
    std::vector<int> wanted;
    Napi::Value wantedValue = argAt(info, 2);
    if (wantedValue.IsUndefined() || wantedValue.IsNull()) {
      for (std::size_t i = 0; i < ctx->outputs(); i++) wanted.push_back(static_cast<int>(i));
    } else {
      for (int64_t w : int64Array(wantedValue, "wanted")) {
        if (w < 0 || static_cast<std::size_t>(w) >= ctx->outputs()) throwInvalidArg("wanted names an output index out of range");
        wanted.push_back(static_cast<int>(w));
      }
    }

    // Caller-provided outputs: typed arrays parallel to wanted, their dims concatenated.
    std::vector<trt::ExecutionContext::Target> targets;
    std::vector<Napi::Value> targetValues;
    Napi::Value targetsValue = argAt(info, 3);
    if (!targetsValue.IsUndefined() && !targetsValue.IsNull()) {
      if (!targetsValue.IsArray()) throwInvalidArg("targets must be an array parallel to wanted");
      Napi::Array list = targetsValue.As<Napi::Array>();
      if (list.Length() != wanted.size()) throwInvalidArg("targets must have one entry per wanted output");
      const std::vector<int64_t> flat = int64Array(argAt(info, 4), "targetDims");
      std::size_t at = 0;
      targets.resize(wanted.size());
      targetValues.resize(wanted.size());
      for (uint32_t k = 0; k < list.Length(); k++) {
        Napi::Value v = list.Get(k);
        if (v.IsUndefined() || v.IsNull()) continue;
        TypedArrayView view;
        std::shared_ptr<cuda::DeviceMemory> device;
        if (DeviceBufferWrap::is(env, v)) {
          device = DeviceBufferWrap::from(env, v, ("targets[" + std::to_string(k) + "]").c_str());
          checkDevice(*ctx, device->device(), "targets[" + std::to_string(k) + "]");
          view.bytes = device->size();
        } else if (!typedArrayView(env, v, view)) {
          throwInvalidArg("targets[" + std::to_string(k) + "] must be a typed array or a DeviceBuffer");
        }
        std::size_t rank = 0;
        int seen = 0;
        for (const trt::EngineTensor& t : ctx->engine()->tensors()) {
          if (t.input) continue;
          if (seen++ == wanted[k]) rank = t.dims.size();
        }
        if (at + rank > flat.size()) throwInvalidArg("targetDims holds fewer values than the targets' ranks need");
        auto& t = targets[k];
        t.given = true;
        t.data = view.data;
        t.bytes = view.bytes;
        t.dims.assign(flat.begin() + static_cast<std::ptrdiff_t>(at), flat.begin() + static_cast<std::ptrdiff_t>(at + rank));
        at += rank;
        t.device = std::move(device);
        if (!t.device) t.pinned = cuda::findPinned(view.data, view.bytes);
        targetValues[k] = v;
      }
      if (at != flat.size()) throwInvalidArg("targetDims holds more values than the targets' ranks need");
    }
    for (auto& in : inputs) {
      if (!in.device) in.pinned = cuda::findPinned(in.data, in.bytes);
    }
    const bool timed = argBool(info, 5, false);

    CompletionQueue& queue = InstanceData::of(env).completionQueue(env);
    ctx->begin();
    std::unique_ptr<Completion> item;
    RunCompletion* run = nullptr;
    try {
      auto made = std::make_unique<RunCompletion>(env, ctx);
      run = made.get();
      item = std::move(made);
    } catch (...) {
      ctx->end();
      throw;
    }
    Napi::Promise promise = run->promise();
    for (auto& in : inputs) {
      if (in.pinned) run->hold(in.pinned);
      if (in.device) run->hold(in.device);
    }
    for (std::size_t k = 0; k < targets.size(); k++) {
      if (!targets[k].given) continue;
      if (targets[k].pinned) run->hold(targets[k].pinned);
      if (targets[k].device) {
        run->hold(targets[k].device);
        continue;  // written on the device: nothing to copy on settle
      }
      run->setTarget(k, targetValues[k]);
    }
    try {
      if (timed) run->setTimed();
      run->setOutputs(ctx->enqueue(inputs, wanted, targets, timed));
    } catch (const NativeError& e) {
      // A non-sticky failure settles through the queue, after the stream drains.
      if (e.sticky()) {
        drain(*ctx);
        throw;  // `item` frees the context
      }
      run->setFailure(e);
    } catch (...) {
      drain(*ctx);
      throw;
    }
    try {
      queue.afterStream(*ctx->stream(), std::move(item), std::chrono::microseconds(ctx->spinWaitMicros()));
    } catch (...) {
      drain(*ctx);
      throw;  // `item` (still ours) frees the context
    }
    return promise;
  });
}

Napi::Value ContextWrap::profile(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), profile_);
}

// stats() -> { graphs, graphFailures, outputCapacity: number[] }
Napi::Value ContextWrap::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!context_) throw NativeError("ERR_DISPOSED", "the execution context was disposed");
    Napi::Object o = Napi::Object::New(env);
    o.Set("graphs", static_cast<double>(context_->graphs()));
    o.Set("graphFailures", static_cast<double>(context_->graphFailures()));
    Napi::Array caps = Napi::Array::New(env, context_->outputs());
    for (std::size_t i = 0; i < context_->outputs(); i++) {
      caps.Set(static_cast<uint32_t>(i), static_cast<double>(context_->outputCapacity(static_cast<int>(i))));
    }
    o.Set("outputCapacity", caps);
    // The environment's completion queue (shared by every context): completions it found
    // while spin-waiting, and otherwise.
    const CompletionQueue::SpinStats spin = InstanceData::of(env).completionQueue(env).spinStats();
    o.Set("queueSpinHits", static_cast<double>(spin.spinHits));
    o.Set("queueWaitHits", static_cast<double>(spin.waitHits));
    return o;
  });
}

Napi::Value ContextWrap::dispose(const Napi::CallbackInfo& info) {
  // A run in flight holds the context until it settles.
  context_.reset();
  return info.Env().Undefined();
}

Napi::Value ContextWrap::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !context_);
}

}  // namespace trtn
