#pragma once
// The one shape of every async entry point: work on a libuv pool thread, a promise settled on
// the JS thread. Whatever the work throws is captured as the one native error type
// (NativeError: its own code, or ERR_INTERNAL for any other exception) and becomes the JS
// error class of its code (js_error.h); whatever building the result throws rejects the
// promise; the promise settles exactly once; and nothing escapes into libuv or node-addon-api,
// also while a worker_thread's environment is torn down (when no JS can run and the settle is
// dropped). Subclasses implement work() (pool thread) and, optionally, result() and finished()
// (JS thread).

#include <napi.h>

#include <memory>
#include <utility>

#include "common/native_error.h"
#include "napi/js_error.h"

namespace trtn {

template <typename Base>
class PromiseWorkerBase : public Base {
 public:
  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  PromiseWorkerBase(Napi::Env env, const char* resourceName)
      : Base(env, resourceName), deferred_(Napi::Promise::Deferred::New(env)) {}

  // JS thread, after work() returned: the value the promise resolves with (undefined by
  // default). May throw; the promise is then rejected with that error.
  virtual Napi::Value result(Napi::Env env) { return env.Undefined(); }
  // JS thread, once, before the promise settles either way: release what the work held.
  virtual void finished() noexcept {}

  // Pool thread: runs `body`, keeping what it throws for the JS thread.
  template <typename F>
  void capture(F&& body) noexcept {
    try {
      std::forward<F>(body)();
    } catch (...) {
      try {
        error_ = std::make_unique<NativeError>(currentNativeError());
      } catch (...) {
        outOfMemory_ = true;  // no memory left even for the error
      }
    }
  }

 private:
  void OnOK() final { settle(nullptr); }
  // Reached only through Napi::AsyncWorker::SetError, which these workers never call; kept so
  // the promise settles even then.
  void OnError(const Napi::Error& e) final { settle(&e); }

  void settle(const Napi::Error* asyncError) noexcept {
    if (settled_) return;
    settled_ = true;
    finished();
    Napi::Env env = this->Env();
    // A Deferred may be concluded once: a failed Resolve/Reject (the environment is being torn
    // down, a terminated worker_thread, where no JS runs and nobody waits) is not retried.
    bool concluding = false;
    try {
      Napi::HandleScope scope(env);
      Napi::Value rejection;
      if (asyncError != nullptr) {
        rejection = asyncError->Value();
      } else if (error_) {
        rejection = toJsError(env, *error_);
      } else if (outOfMemory_) {
        rejection = toJsError(env, NativeError("ERR_INTERNAL", "out of host memory in the native addon"));
      } else {
        Napi::Value value;
        try {
          value = result(env);
        } catch (const Napi::Error& e) {
          rejection = e.Value();
        } catch (...) {
          rejection = toJsError(env, currentNativeError());
        }
        if (rejection.IsEmpty()) {
          concluding = true;
          deferred_.Resolve(value);
          return;
        }
      }
      concluding = true;
      deferred_.Reject(rejection);
    } catch (...) {
      if (concluding) return;
      // Building the error failed (e.g. the JS error factory threw): a plain error still settles it.
      try {
        deferred_.Reject(Napi::Error::New(env, "tensorrt-node: the native call failed and its error could not be built").Value());
      } catch (...) {
      }
    }
  }

  Napi::Promise::Deferred deferred_;
  std::unique_ptr<NativeError> error_;
  bool outOfMemory_ = false;
  bool settled_ = false;
};

// Work without progress reports.
class PromiseWorker : public PromiseWorkerBase<Napi::AsyncWorker> {
 protected:
  using PromiseWorkerBase::PromiseWorkerBase;
  // Pool thread; may throw anything.
  virtual void work() = 0;

 private:
  void Execute() final {
    capture([this] { work(); });
  }
};

// Work that reports progress of type T to the JS thread (OnProgress) while it runs.
template <typename T>
class ProgressPromiseWorker : public PromiseWorkerBase<Napi::AsyncProgressQueueWorker<T>> {
 protected:
  using Progress = typename Napi::AsyncProgressQueueWorker<T>::ExecutionProgress;
  using PromiseWorkerBase<Napi::AsyncProgressQueueWorker<T>>::PromiseWorkerBase;
  // Pool thread; may throw anything.
  virtual void work(const Progress& progress) = 0;

 private:
  void Execute(const Progress& progress) final {
    this->capture([&] { work(progress); });
  }
};

}  // namespace trtn
