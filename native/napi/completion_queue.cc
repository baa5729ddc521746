#include "napi/completion_queue.h"

#include <chrono>

#include "cuda/device.h"
#include "cuda/event.h"
#include "cuda/stream.h"
#include "napi/js_error.h"

namespace trtn {

void PromiseCompletion::settle(Napi::Env env, const NativeError* error) {
  if (error != nullptr) {
    deferred_.Reject(toJsError(env, *error));
  } else {
    deferred_.Resolve(env.Undefined());
  }
}

CompletionQueue::CompletionQueue(Napi::Env env) : env_(env) {
  tsfn_ = Tsfn::New(env, "tensorrt-node:completion", 0, 1, this);
  // Referenced only while work is in flight, so an idle queue never keeps the process alive.
  tsfn_.Unref(env);
  // Registered after the thread-safe function's own hook, so it runs before it (hooks run in
  // reverse order of registration).
  napi_add_env_cleanup_hook(env, &CompletionQueue::onCleanup, this);
  thread_ = std::thread([this] { loop(); });
}

CompletionQueue::~CompletionQueue() {
  if (!cleanupRan_) napi_remove_env_cleanup_hook(env_, &CompletionQueue::onCleanup, this);
  shutdown();
}

void CompletionQueue::onCleanup(void* arg) {
  auto* queue = static_cast<CompletionQueue*>(arg);
  queue->cleanupRan_ = true;
  queue->shutdown();
}

void CompletionQueue::shutdown() {
  if (shutDown_) return;
  shutDown_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  tsfn_.Release();
  for (auto& [device, events] : eventPool_) {
    for (cudaEvent_t e : events) (void)cudaEventDestroy(e);
  }
  eventPool_.clear();
}

cudaEvent_t CompletionQueue::takeEvent(int device) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& pool = eventPool_[device];
    if (!pool.empty()) {
      cudaEvent_t e = pool.back();
      pool.pop_back();
      return e;
    }
  }
  cuda::DeviceGuard guard(device);
  cudaEvent_t e = nullptr;
  CHECK_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void CompletionQueue::returnEvent(int device, cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(mu_);
  eventPool_[device].push_back(event);
}

void CompletionQueue::checkOpen() const {
  if (shutDown_) throw NativeError("ERR_DISPOSED", "the environment is shutting down");
}

void CompletionQueue::afterStream(const cuda::Stream& stream, std::unique_ptr<Completion>&& item) {
  checkOpen();
  Pending p;
  p.device = stream.device();
  p.event = takeEvent(p.device);
  p.pooled = true;
  p.stream = stream.get();
  const cudaError_t err = cudaEventRecord(p.event, stream.get());
  if (err != cudaSuccess) {
    returnEvent(p.device, p.event);
    throwCuda(err, "cudaEventRecord");
  }
  p.item = std::move(item);
  enqueue(Napi::Env(env_), std::move(p));
}

void CompletionQueue::afterEvent(std::shared_ptr<const cuda::Event> event, std::unique_ptr<Completion>&& item) {
  checkOpen();
  Pending p;
  p.device = event->device();
  p.event = event->get();
  p.borrowed = std::move(event);
  p.item = std::move(item);
  enqueue(Napi::Env(env_), std::move(p));
}

void CompletionQueue::enqueue(Napi::Env env, Pending pending) {
  if (inflight_++ == 0) tsfn_.Ref(env);
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(pending));
  }
  cv_.notify_one();
}

void CompletionQueue::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left
    // Deliver everything already complete, in any order; then wait on the oldest.
    bool progressed = false;
    for (auto it = pending_.begin(); it != pending_.end();) {
      const cudaError_t status = cudaEventQuery(it->event);
      if (status == cudaErrorNotReady) {
        ++it;
        continue;
      }
      Pending done = std::move(*it);
      it = pending_.erase(it);
      lock.unlock();
      deliver(done, status);
      lock.lock();
      progressed = true;
    }
    if (progressed || pending_.empty()) continue;
    const Pending& front = pending_.front();
    bool oneStream = front.stream != nullptr;
    for (const Pending& p : pending_) oneStream = oneStream && p.stream == front.stream;
    if (!oneStream) {
      // Work on several streams may finish in any order: look again shortly (or when more
      // work arrives) rather than wait for the oldest.
      cv_.wait_for(lock, std::chrono::microseconds(20));
      continue;
    }
    cudaEvent_t oldest = front.event;
    const int device = front.device;
    lock.unlock();
    // The oldest item cannot leave the deque while unlocked: only this thread removes items.
    (void)cudaSetDevice(device);
    (void)cudaEventSynchronize(oldest);  // its status is read by cudaEventQuery above
    lock.lock();
  }
}

void CompletionQueue::deliver(Pending& pending, cudaError_t status) {
  auto done = std::make_unique<Done>();
  done->item = std::move(pending.item);
  if (status != cudaSuccess) done->error = std::make_unique<NativeError>(cudaFailure(status, "cudaEventSynchronize"));
  if (pending.pooled) {
    if (status == cudaSuccess) {
      returnEvent(pending.device, pending.event);
    } else {
      (void)cudaEventDestroy(pending.event);
    }
  }
  pending.borrowed.reset();
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stopping_;
  }
  // While stopping, the environment is going away: free the item without calling into JS.
  if (stopping) return;
  if (tsfn_.NonBlockingCall(done.get()) == napi_ok) (void)done.release();
}

void CompletionQueue::callJs(Napi::Env env, Napi::Function, CompletionQueue* queue, Done* raw) {
  std::unique_ptr<Done> done(raw);
  if (env == nullptr || queue == nullptr || queue->shutDown_) return;  // torn down: free only
  if (--queue->inflight_ == 0) queue->tsfn_.Unref(env);
  Napi::HandleScope scope(env);
  try {
    done->item->settle(env, done->error.get());
  } catch (const Napi::Error& e) {
    // A throwing settle must not take the process down; the error is reported as uncaught.
    e.ThrowAsJavaScriptException();
  }
}

}  // namespace trtn
