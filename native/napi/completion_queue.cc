#include "napi/completion_queue.h"

#include <algorithm>
#include <chrono>

#include "cuda/device.h"
#include "cuda/driver.h"
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
    for (CUevent e : events) destroyEvent(device, e);
  }
  eventPool_.clear();
}

CompletionQueue::SpinStats CompletionQueue::spinStats() {
  std::lock_guard<std::mutex> lock(mu_);
  return SpinStats{spinHits_, waitHits_};
}

CUevent CompletionQueue::takeEvent(int device) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& pool = eventPool_[device];
    if (!pool.empty()) {
      CUevent e = pool.back();
      pool.pop_back();
      return e;
    }
  }
  cuda::DeviceGuard guard(device);
  CUevent e = nullptr;
  TRTN_CU(eventCreate, &e, CU_EVENT_DISABLE_TIMING);
  return e;
}

void CompletionQueue::returnEvent(int device, CUevent event) {
  std::lock_guard<std::mutex> lock(mu_);
  eventPool_[device].push_back(event);
}

void CompletionQueue::destroyEvent(int device, CUevent event) noexcept {
  cuda::DeviceGuard guard(device, std::nothrow);
  (void)cuda::driver().eventDestroy(event);
}

void CompletionQueue::checkOpen() const {
  if (shutDown_) throw NativeError("ERR_DISPOSED", "the environment is shutting down");
}

void CompletionQueue::afterStream(const cuda::Stream& stream, std::unique_ptr<Completion>&& item,
                                  std::chrono::microseconds spin) {
  checkOpen();
  Pending p;
  p.spin = std::max(spin, std::chrono::microseconds(0));
  p.device = stream.device();
  p.event = takeEvent(p.device);
  p.pooled = true;
  p.stream = stream.get();
  CUresult status;
  {
    cuda::DeviceGuard guard(p.device);
    status = cuda::driver().eventRecord(p.event, stream.get());
  }
  if (status != CUDA_SUCCESS) {
    returnEvent(p.device, p.event);
    cuda::throwDriver(status, "eventRecord");
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
  // Only pending work makes this thread call the driver, so a queue started where CUDA is
  // unusable never does. The thread works in the primary context of the device whose events
  // it reads, made current when that device changes.
  int currentDevice = -1;
  auto enter = [&currentDevice](int device) {
    if (device == currentDevice) return;
    try {
      (void)cuda::driver().ctxSetCurrent(cuda::primaryContext(device));
      currentDevice = device;
    } catch (...) {
      // Events were created in that context, so it exists; a failure shows in the query.
    }
  };
  // Spin-wait: whether the thread is polling without sleeping, and since when.
  bool spinning = false;
  bool waited = false;
  std::chrono::steady_clock::time_point spinStart;
  // The events of one scan and their statuses (reused across scans).
  std::vector<std::pair<CUevent, int>> probe;
  std::vector<CUresult> statuses;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left
    // Deliver everything already complete, in any order; then wait on the oldest. The events
    // are queried without the lock (one driver call per item; the JS thread takes the lock
    // twice per run, and a spinning scan must not hold it off): only this thread removes
    // items and the JS thread only appends, so the first items are still the ones queried.
    // The finished items leave the deque under the lock and are delivered after it is
    // released.
    probe.clear();
    for (const Pending& p : pending_) probe.emplace_back(p.event, p.device);
    lock.unlock();
    statuses.resize(probe.size());
    for (std::size_t i = 0; i < probe.size(); i++) {
      enter(probe[i].second);
      statuses[i] = cuda::driver().eventQuery(probe[i].first);
    }
    lock.lock();
    std::size_t kept = 0;
    for (std::size_t i = 0; i < probe.size(); i++) {
      if (statuses[i] == CUDA_ERROR_NOT_READY) {
        if (kept != i) pending_[kept] = std::move(pending_[i]);
        kept++;
      } else {
        ready_.emplace_back(std::move(pending_[i]), statuses[i]);
      }
    }
    const auto from = pending_.begin() + static_cast<std::ptrdiff_t>(kept);
    pending_.erase(from, from + static_cast<std::ptrdiff_t>(probe.size() - kept));
    if (!ready_.empty()) {
      (spinning && !waited ? spinHits_ : waitHits_) += ready_.size();
      spinning = false;
      waited = false;
      lock.unlock();
      for (auto& [done, status] : ready_) deliver(done, status);
      ready_.clear();
      lock.lock();
      continue;
    }
    if (pending_.empty()) continue;
    std::chrono::microseconds budget{0};
    for (const Pending& p : pending_) budget = std::max(budget, p.spin);
    if (budget.count() > 0 && !waited) {
      const auto now = std::chrono::steady_clock::now();
      if (!spinning) {
        spinning = true;
        spinStart = now;
      }
      if (now - spinStart < budget) {
        // Let the JS thread queue more work between polls; never sleep.
        lock.unlock();
        std::this_thread::yield();
        lock.lock();
        continue;
      }
    }
    waited = true;
    const Pending& front = pending_.front();
    bool oneStream = front.stream != nullptr;
    for (const Pending& p : pending_) oneStream = oneStream && p.stream == front.stream;
    if (!oneStream) {
      // Work on several streams may finish in any order: look again shortly (or when more
      // work arrives) rather than wait for the oldest.
      cv_.wait_for(lock, std::chrono::microseconds(20));
      continue;
    }
    CUevent oldest = front.event;
    const int device = front.device;
    lock.unlock();
    // The oldest item cannot leave the deque while unlocked: only this thread removes items.
    enter(device);
    (void)cuda::driver().eventSynchronize(oldest);  // its status is read by cuEventQuery above
    lock.lock();
  }
}

void CompletionQueue::deliver(Pending& pending, CUresult status) {
  auto done = std::make_unique<Done>();
  done->item = std::move(pending.item);
  if (status != CUDA_SUCCESS) done->error = std::make_unique<NativeError>(cuda::driverFailure(status, "eventQuery"));
  if (pending.pooled) {
    if (status == CUDA_SUCCESS) {
      returnEvent(pending.device, pending.event);
    } else {
      destroyEvent(pending.device, pending.event);
    }
  }
  pending.borrowed.reset();
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stopping_;
  }
  // While stopping, the environment is going away: free the item without calling into JS.
  if (stopping) {
    done->item->abandon();
    return;
  }
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
