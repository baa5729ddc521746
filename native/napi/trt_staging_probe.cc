#include "napi/trt_staging_probe.h"

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/device.h"
#include "cuda/device_memory.h"
#include "cuda/driver.h"
#include "cuda/pinned_pool.h"
#include "cuda/stream.h"
#include "napi/args.h"
#include "napi/completion_queue.h"
#include "napi/instance.h"
#include "napi/js_error.h"
#include "napi/pinned_output.h"
#include "napi/promise_worker.h"

namespace trtn {

struct StagingProbeState {
  int device = 0;
  std::shared_ptr<cuda::Stream> stream;
  std::shared_ptr<cuda::PinnedPool> pool;
  std::shared_ptr<cuda::PinnedPool> outputPool;  // as Engine::outputPool
  std::vector<std::unique_ptr<cuda::DeviceMemory>> inDevice, outDevice;
  std::vector<std::shared_ptr<cuda::PinnedBlock>> inHost, outHost;
  std::vector<std::size_t> inBytes, outBytes;
  std::vector<std::vector<double>> outDims;
  bool busy = false;
};

namespace {

// As ExecutionContext::kZeroCopyBytes and kZeroCopyMinBytes.
constexpr std::size_t kZeroCopyBytes = 256u << 20;
constexpr std::size_t kZeroCopyMinBytes = 64u << 10;

std::vector<double> numberArray(Napi::Value v, const std::string& what) {
  if (!v.IsArray()) throwInvalidArg(what + " must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber() || x.As<Napi::Number>().DoubleValue() < 0) throwInvalidArg(what + " must hold non-negative numbers");
    out.push_back(x.As<Napi::Number>().DoubleValue());
  }
  return out;
}

// The bytes and memory of a typed array, or false when `value` is none.
bool typedArrayBytes(napi_env env, napi_value value, void*& data, std::size_t& bytes) {
  bool is = false;
  if (napi_is_typedarray(env, value, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  std::size_t length = 0;
  napi_value buffer = nullptr;
  std::size_t offset = 0;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &offset) != napi_ok) return false;
  bytes = Napi::TypedArray(env, value).ByteLength();
  return true;
}

class ProbeCompletion : public Completion {
 public:
  ProbeCompletion(Napi::Env env, std::shared_ptr<StagingProbeState> state, std::vector<int> wanted,
                  std::vector<std::shared_ptr<cuda::PinnedBlock>> blocks, std::vector<Napi::ObjectReference> targets)
      : deferred_(Napi::Promise::Deferred::New(env)),
        state_(std::move(state)),
        wanted_(std::move(wanted)),
        blocks_(std::move(blocks)),
        targets_(std::move(targets)) {}
  ~ProbeCompletion() override { state_->busy = false; }
  Napi::Promise promise() const { return deferred_.Promise(); }
  // Freed off the JS thread at teardown: the references are dropped with their environment.
  void abandon() noexcept override {
    for (auto& t : targets_) t.SuppressDestruct();
  }

  void settle(Napi::Env env, const NativeError* error) override {
    state_->busy = false;
    if (error != nullptr) {
      deferred_.Reject(toJsError(env, *error));
      return;
    }
    // Caller-provided outputs (as TrtContext.run): the staged bytes are copied into them; the
    // promise resolves undefined when every wanted output had one.
    bool allTargets = !wanted_.empty();
    for (std::size_t i = 0; i < wanted_.size(); i++) {
      if (i >= targets_.size() || targets_[i].IsEmpty()) {
        allTargets = false;
        continue;
      }
      const auto index = static_cast<std::size_t>(wanted_[i]);
      void* data = nullptr;
      std::size_t bytes = 0;
      if (!typedArrayBytes(env, targets_[i].Value(), data, bytes) || bytes != state_->outBytes[index]) {
        deferred_.Reject(toJsError(
            env, NativeError("ERR_INVALID_ARG", "targets[" + std::to_string(i) + "] was detached while the run was in flight")));
        return;
      }
      if (bytes > 0) std::memcpy(data, state_->outHost[index]->data(), bytes);
    }
    if (allTargets) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    Napi::Array out = Napi::Array::New(env, wanted_.size());
    for (std::size_t i = 0; i < wanted_.size(); i++) {
      const auto index = static_cast<std::size_t>(wanted_[i]);
      const std::size_t bytes = state_->outBytes[index];
      if (i < targets_.size() && !targets_[i].IsEmpty()) {
        Napi::Object item = Napi::Object::New(env);
        item.Set("index", static_cast<double>(index));
        Napi::Array dims = Napi::Array::New(env, state_->outDims[index].size());
        for (std::size_t d = 0; d < state_->outDims[index].size(); d++)
          dims.Set(static_cast<uint32_t>(d), state_->outDims[index][d]);
        item.Set("dims", dims);
        out.Set(static_cast<uint32_t>(i), item);
        continue;
      }
      Napi::ArrayBuffer data;
      if (blocks_[i]) {
        data = pinnedArrayBuffer(env, blocks_[i], bytes);
      } else {
        data = Napi::ArrayBuffer::New(env, bytes);
        if (bytes > 0) std::memcpy(data.Data(), state_->outHost[index]->data(), bytes);
      }
      Napi::Array dims = Napi::Array::New(env, state_->outDims[index].size());
      for (std::size_t d = 0; d < state_->outDims[index].size(); d++)
        dims.Set(static_cast<uint32_t>(d), state_->outDims[index][d]);
      Napi::Object item = Napi::Object::New(env);
      item.Set("index", static_cast<double>(index));
      item.Set("dims", dims);
      item.Set("data", data);
      out.Set(static_cast<uint32_t>(i), item);
    }
    deferred_.Resolve(out);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<StagingProbeState> state_;
  std::vector<int> wanted_;
  std::vector<std::shared_ptr<cuda::PinnedBlock>> blocks_;
  std::vector<Napi::ObjectReference> targets_;  // parallel to wanted_; empty: none
};

// The baseline: the same H2D and D2H copies and a stream synchronize, in a C++ loop, each
// round trip timed with a steady clock (wall time, as the JS side measures).
class BareLoop : public PromiseWorker {
 public:
  BareLoop(Napi::Env env, std::shared_ptr<StagingProbeState> state, int iterations)
      : PromiseWorker(env, "tensorrt-node:bare-loop"), state_(std::move(state)), iterations_(iterations) {}

 protected:
  void work() override {
    cuda::DeviceGuard guard(state_->device);
    CUstream s = state_->stream->get();
    auto once = [&] {
      for (std::size_t i = 0; i < state_->inBytes.size(); i++) {
        TRTN_CU(memcpyAsync, state_->inDevice[i]->address(), cuda::address(state_->inHost[i]->data()), state_->inBytes[i], s);
      }
      for (std::size_t i = 0; i < state_->outBytes.size(); i++) {
        TRTN_CU(memcpyAsync, cuda::address(state_->outHost[i]->data()), state_->outDevice[i]->address(), state_->outBytes[i], s);
      }
      TRTN_CU(streamSynchronize, s);
    };
    for (int i = 0; i < 10; i++) once();
    for (int i = 0; i < iterations_; i++) {
      const auto t0 = std::chrono::steady_clock::now();
      once();
      micros_.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  void finished() noexcept override { state_->busy = false; }
  Napi::Value result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, micros_.size());
    for (std::size_t i = 0; i < micros_.size(); i++) out.Set(static_cast<uint32_t>(i), micros_[i]);
    return out;
  }

 private:
  std::shared_ptr<StagingProbeState> state_;
  int iterations_;
  std::vector<double> micros_;
};

}  // namespace

Napi::Function StagingProbeWrap::define(Napi::Env env) {
  return DefineClass(env, "TrtStagingProbe",
                     {
                         InstanceMethod<&StagingProbeWrap::run>("run"),
                         InstanceMethod<&StagingProbeWrap::bareRoundTrips>("bareRoundTrips"),
                         InstanceAccessor<&StagingProbeWrap::profile>("profile"),
                         InstanceMethod<&StagingProbeWrap::stats>("stats"),
                         InstanceMethod<&StagingProbeWrap::dispose>("dispose"),
                         InstanceAccessor<&StagingProbeWrap::disposed>("disposed"),
                     });
}

StagingProbeWrap::StagingProbeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StagingProbeWrap>(info) {
  Napi::Env env = info.Env();
  guarded(env, [&] {
    auto s = std::make_shared<StagingProbeState>();
    s->device = static_cast<int>(argInt(info, 0, "device", 0, 1 << 16));
    for (double b : numberArray(argAt(info, 1), "inputBytes")) s->inBytes.push_back(static_cast<std::size_t>(b));
    Napi::Value outputs = argAt(info, 2);
    if (!outputs.IsArray()) throwInvalidArg("outputs must be an array of { bytes, dims }");
    Napi::Array outs = outputs.As<Napi::Array>();
    for (uint32_t i = 0; i < outs.Length(); i++) {
      Napi::Value o = outs.Get(i);
      if (!o.IsObject()) throwInvalidArg("outputs[i] must be { bytes, dims }");
      Napi::Value bytes = o.As<Napi::Object>().Get("bytes");
      if (!bytes.IsNumber()) throwInvalidArg("outputs[i].bytes must be a number");
      s->outBytes.push_back(static_cast<std::size_t>(bytes.As<Napi::Number>().DoubleValue()));
      s->outDims.push_back(numberArray(o.As<Napi::Object>().Get("dims"), "outputs[i].dims"));
    }
    s->stream = std::make_shared<cuda::Stream>(s->device);
    s->pool = cuda::PinnedPool::create(0);
    s->outputPool = cuda::PinnedPool::create(kZeroCopyBytes);
    for (std::size_t b : s->inBytes) {
      s->inDevice.push_back(std::make_unique<cuda::DeviceMemory>(s->stream, b));
      s->inHost.push_back(s->pool->acquire(b == 0 ? 1 : b));
    }
    for (std::size_t b : s->outBytes) {
      s->outDevice.push_back(std::make_unique<cuda::DeviceMemory>(s->stream, b));
      s->outHost.push_back(s->pool->acquire(b == 0 ? 1 : b));
    }
    s->stream->synchronize();
    state_ = std::move(s);
  });
}

// run(inputs: typed arrays, dims (unused: the shapes are fixed), wanted?: number[],
//     targets?: (typed array | undefined)[] parallel to wanted, targetDims?: number[]), as
// TrtContext.run: a target must hold exactly its output's bytes (ERR_SHAPE otherwise, before
// anything is enqueued); its output is copied D2H into the staging buffer and from there into
// the target when the stream is done.
Napi::Value StagingProbeWrap::run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!state_) throw NativeError("ERR_DISPOSED", "the probe was disposed");
    auto s = state_;
    if (s->busy) throw NativeError("ERR_BUSY", "the probe is running another request");
    Napi::Value inputsValue = argAt(info, 0);
    if (!inputsValue.IsArray()) throwInvalidArg("inputs must be an array of typed arrays");
    Napi::Array inputs = inputsValue.As<Napi::Array>();
    if (inputs.Length() != s->inBytes.size()) throwInvalidArg("wrong number of inputs");
    std::vector<int> wanted;
    Napi::Value w = argAt(info, 2);
    if (w.IsArray()) {
      for (double x : numberArray(w, "wanted")) {
        if (x >= static_cast<double>(s->outBytes.size())) throwInvalidArg("wanted index out of range");
        wanted.push_back(static_cast<int>(x));
      }
    } else {
      for (std::size_t i = 0; i < s->outBytes.size(); i++) wanted.push_back(static_cast<int>(i));
    }
    std::vector<Napi::ObjectReference> targets;
    Napi::Value targetsValue = argAt(info, 3);
    if (!targetsValue.IsUndefined() && !targetsValue.IsNull()) {
      if (!targetsValue.IsArray() || targetsValue.As<Napi::Array>().Length() != wanted.size()) {
        throwInvalidArg("targets must be an array parallel to wanted");
      }
      Napi::Array list = targetsValue.As<Napi::Array>();
      targets.resize(wanted.size());
      for (uint32_t k = 0; k < list.Length(); k++) {
        Napi::Value v = list.Get(k);
        if (v.IsUndefined() || v.IsNull()) continue;
        void* data = nullptr;
        std::size_t bytes = 0;
        if (!typedArrayBytes(env, v, data, bytes)) throwInvalidArg("targets[" + std::to_string(k) + "] must be a typed array");
        const auto index = static_cast<std::size_t>(wanted[k]);
        if (bytes != s->outBytes[index]) {
          throw NativeError("ERR_SHAPE", "targets[" + std::to_string(k) + "] holds " + std::to_string(bytes) + " bytes; output " +
                                             std::to_string(index) + " has " + std::to_string(s->outBytes[index]));
        }
        targets[k] = Napi::Persistent(v.As<Napi::Object>());
      }
    }
    cuda::DeviceGuard guard(s->device);
    for (uint32_t i = 0; i < inputs.Length(); i++) {
      napi_value element = nullptr;
      napi_typedarray_type type;
      std::size_t length = 0;
      void* data = nullptr;
      if (napi_get_element(env, inputs, i, &element) != napi_ok ||
          napi_get_typedarray_info(env, element, &type, &length, &data, nullptr, nullptr) != napi_ok) {
        throwInvalidArg("inputs[" + std::to_string(i) + "] must be a typed array");
      }
      const std::size_t bytes = Napi::TypedArray(env, element).ByteLength();
      if (bytes != s->inBytes[i]) throwInvalidArg("inputs[" + std::to_string(i) + "] has the wrong size");
      std::memcpy(s->inHost[i]->data(), data, bytes);
      TRTN_CU(memcpyAsync, s->inDevice[i]->address(), cuda::address(s->inHost[i]->data()), bytes, s->stream->get());
    }
    std::vector<std::shared_ptr<cuda::PinnedBlock>> blocks;
    for (std::size_t k = 0; k < wanted.size(); k++) {
      const auto i = static_cast<std::size_t>(wanted[k]);
      std::shared_ptr<cuda::PinnedBlock> block;
      const bool toTarget = k < targets.size() && !targets[k].IsEmpty();
      if (!toTarget && s->outBytes[i] >= kZeroCopyMinBytes &&
          s->outputPool->stats().inUseBytes + s->outBytes[i] <= kZeroCopyBytes) {
        block = s->outputPool->acquire(s->outBytes[i]);
      }
      void* target = block ? block->data() : s->outHost[i]->data();
      TRTN_CU(memcpyAsync, cuda::address(target), s->outDevice[i]->address(), s->outBytes[i], s->stream->get());
      blocks.push_back(std::move(block));
    }
    s->busy = true;
    auto item = std::make_unique<ProbeCompletion>(env, s, std::move(wanted), std::move(blocks), std::move(targets));
    Napi::Promise promise = item->promise();
    InstanceData::of(env).completionQueue(env).afterStream(*s->stream, std::move(item));
    return promise;
  });
}

Napi::Value StagingProbeWrap::bareRoundTrips(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!state_) throw NativeError("ERR_DISPOSED", "the probe was disposed");
    if (state_->busy) throw NativeError("ERR_BUSY", "the probe is running another request");
    const int iterations = static_cast<int>(argInt(info, 0, "iterations", 1, 10'000'000));
    state_->busy = true;
    auto* worker = new BareLoop(env, state_, iterations);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value StagingProbeWrap::profile(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), 0);
}

Napi::Value StagingProbeWrap::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("graphs", 0);
  o.Set("graphFailures", 0);
  Napi::Array caps = Napi::Array::New(env);
  if (state_) {
    for (std::size_t i = 0; i < state_->outBytes.size(); i++)
      caps.Set(static_cast<uint32_t>(i), static_cast<double>(state_->outBytes[i]));
  }
  o.Set("outputCapacity", caps);
  if (state_) {
    const cuda::PinnedPoolStats p = state_->outputPool->stats();
    Napi::Object pool = Napi::Object::New(env);
    pool.Set("allocations", static_cast<double>(p.allocations));
    pool.Set("reuses", static_cast<double>(p.reuses));
    pool.Set("frees", static_cast<double>(p.frees));
    pool.Set("inUseBytes", static_cast<double>(p.inUseBytes));
    pool.Set("cachedBytes", static_cast<double>(p.cachedBytes));
    o.Set("outputPool", pool);
  }
  return o;
}

Napi::Value StagingProbeWrap::dispose(const Napi::CallbackInfo& info) {
  state_.reset();
  return info.Env().Undefined();
}

Napi::Value StagingProbeWrap::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !state_);
}

}  // namespace trtn
