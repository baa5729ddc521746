// Streams (a thread each, running its operations in order), events, stream capture and graphs.

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "api.h"
#include "driver.h"

namespace standin::cuda {

namespace {

// TRTN_STANDIN_OP_DELAY_US, unless a test set "cuda.op_delay_us" through the control interface.
int64_t opDelayUs(const Driver& d) {
  const std::string set = faultValue("cuda.op_delay_us");
  return set.empty() ? d.opDelayUs : std::strtoll(set.c_str(), nullptr, 10);
}

void push(CUstream_st& s, Op op) {
  s.queue.push_back(std::move(op));
  s.enqueued++;
  s.work.notify_one();
}

CUresult execute(Driver& d, const Op& op) {
  switch (op.kind) {
    case Op::Kind::kCopy: {
      unsigned char* dst = nullptr;
      const unsigned char* src = nullptr;
      {
        Lock lock(d.mu);
        dst = translate(d, op.dst, op.bytes);
        src = op.staged ? op.staged->data() : translate(d, op.src, op.bytes);
      }
      if (dst == nullptr || src == nullptr) {
        std::fprintf(stderr,
                     "tensorrt-node stand-in driver: a copy of %zu bytes 0x%llx -> 0x%llx touches freed or unallocated "
                     "device memory: CUDA_ERROR_ILLEGAL_ADDRESS\n",
                     op.bytes, static_cast<unsigned long long>(op.src), static_cast<unsigned long long>(op.dst));
        return CUDA_ERROR_ILLEGAL_ADDRESS;
      }
      std::memmove(dst, src, op.bytes);
      return CUDA_SUCCESS;
    }
    case Op::Kind::kSet: {
      unsigned char* dst = nullptr;
      {
        Lock lock(d.mu);
        dst = translate(d, op.dst, op.bytes);
      }
      if (dst == nullptr) {
        std::fprintf(stderr, "tensorrt-node stand-in driver: a memset of %zu bytes at 0x%llx touches freed device memory\n",
                     op.bytes, static_cast<unsigned long long>(op.dst));
        return CUDA_ERROR_ILLEGAL_ADDRESS;
      }
      std::memset(dst, op.value, op.bytes);
      return CUDA_SUCCESS;
    }
    case Op::Kind::kHost: {
      Counter("cuda.hostFunction.executed").add();
      // A host function stands for a kernel here: the injected fault is a kernel's bad access.
      if (faultHit("cuda.sticky_kernel")) return CUDA_ERROR_ILLEGAL_ADDRESS;
      setInHostFunction(true);
      op.fn(op.data);
      setInHostFunction(false);
      return CUDA_SUCCESS;
    }
    case Op::Kind::kGraph: {
      for (const Op& node : *op.graph) {
        if (CUresult r = execute(d, node); r != CUDA_SUCCESS) return r;
      }
      return CUDA_SUCCESS;
    }
    default:
      return CUDA_SUCCESS;
  }
}

// Runs one stream's operations until it is destroyed and drained (the lock held on entry and exit).
void runStream(Driver& d, Lock& lock, const std::shared_ptr<CUstream_st>& s) {
  for (;;) {
    s->work.wait(lock, [&] { return !s->queue.empty() || s->closing; });
    if (s->queue.empty()) break;
    Op op = std::move(s->queue.front());
    s->queue.pop_front();
    CUctx_st* ctx = s->ctx;
    switch (op.kind) {
      case Op::Kind::kWaitEvent:
        d.progress.wait(lock, [&] {
          return op.event->completed >= op.target || ctx->sticky != CUDA_SUCCESS || op.event->ctx->sticky != CUDA_SUCCESS;
        });
        break;
      case Op::Kind::kWaitStream:
        d.progress.wait(lock, [&] { return op.stream->completed >= op.target || ctx->sticky != CUDA_SUCCESS; });
        break;
      case Op::Kind::kRecord:
        if (ctx->sticky == CUDA_SUCCESS && op.target > op.event->completed) {
          op.event->completed = op.target;
          op.event->at = std::chrono::steady_clock::now();
        }
        break;
      case Op::Kind::kFree: {
        auto it = d.allocations.find(static_cast<uintptr_t>(op.dst));
        if (it != d.allocations.end()) releaseAllocation(d, it, true);
        break;
      }
      default:
        // After a sticky error the context runs nothing more; queued work is dropped.
        if (ctx->sticky == CUDA_SUCCESS) {
          lock.unlock();
          const int64_t delay = opDelayUs(d);
          if (delay > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay));
          const CUresult r = execute(d, op);
          lock.lock();
          if (r != CUDA_SUCCESS) poison(d, ctx, r, "a stream operation");
        }
        break;
    }
    s->completed++;
    d.progress.notify_all();
  }
}

void runWorker(Worker* w) {
  Driver& d = driver();
  Lock lock(d.mu);
  for (;;) {
    w->wake.wait(lock, [&] { return w->stream != nullptr; });
    runStream(d, lock, w->stream);
    w->stream.reset();
    d.idleWorkers.push_back(w);
  }
}

std::shared_ptr<Capture> activeCapture(const CUevent_st& e) {
  std::shared_ptr<Capture> c = e.capturedIn.lock();
  if (!c) return nullptr;
  const Driver& d = driver();
  return std::find(d.captures.begin(), d.captures.end(), c) != d.captures.end() ? c : nullptr;
}

void endCaptureOf(Driver& d, CUstream_st& s) {
  if (!s.capture) return;
  d.captures.erase(std::remove(d.captures.begin(), d.captures.end(), s.capture), d.captures.end());
  s.capture.reset();
}

template <typename Map, typename Key>
auto lookup(Map& m, Key k) -> decltype(m.begin()->second.get()) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : it->second.get();
}

}  // namespace

std::shared_ptr<CUstream_st> makeStream(Driver& d, CUctx_st* ctx, unsigned flags, bool legacy) {
  auto s = std::make_shared<CUstream_st>();
  s->ctx = ctx;
  s->flags = flags;
  s->legacy = legacy;
  if (!d.idleWorkers.empty()) {
    Worker* w = d.idleWorkers.back();
    d.idleWorkers.pop_back();
    w->stream = s;
    w->wake.notify_one();
  } else {
    auto* w = new Worker();  // lives as long as the process
    w->stream = s;
    try {
      std::thread(runWorker, w).detach();
    } catch (...) {
      delete w;
      return nullptr;
    }
    Counter("cuda.streamThreads").set(++d.workers);
  }
  d.streams.emplace(s.get(), s);
  Counter("cuda.streamCreate").add();
  Counter("cuda.live.streams").set(static_cast<int64_t>(d.streams.size()));
  return s;
}

CUresult resolveStream(Driver& d, CUstream handle, std::shared_ptr<CUstream_st>& out) {
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return r;
  if (handle == nullptr || handle == CU_STREAM_LEGACY || handle == CU_STREAM_PER_THREAD) {
    CUctx_st* ctx = currentSlot();
    if (CUresult r = usable(ctx); r != CUDA_SUCCESS) return r;
    if (!ctx->legacy) ctx->legacy = makeStream(d, ctx, 0, true);
    if (!ctx->legacy) return CUDA_ERROR_OUT_OF_MEMORY;
    out = ctx->legacy;
    return CUDA_SUCCESS;
  }
  auto it = d.streams.find(handle);
  if (it == d.streams.end() || it->second->legacy) return CUDA_ERROR_INVALID_HANDLE;
  out = it->second;
  return usable(out->ctx);
}

CUresult enqueue(Driver& d, const std::shared_ptr<CUstream_st>& s, Op op) {
  if (s->capture) {
    Capture& c = *s->capture;
    if (c.invalid) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    switch (op.kind) {
      case Op::Kind::kCopy:
      case Op::Kind::kSet:
      case Op::Kind::kHost:
        c.nodes.push_back(std::move(op));
        return CUDA_SUCCESS;
      case Op::Kind::kGraph:
        c.nodes.insert(c.nodes.end(), op.graph->begin(), op.graph->end());
        return CUDA_SUCCESS;
      default:
        invalidate(c, "unsupported operation");
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
  }
  CUctx_st* ctx = s->ctx;
  // The legacy default stream waits for every blocking stream of its context, and they for it.
  if (s->legacy) {
    for (auto& [handle, other] : d.streams) {
      if (other->ctx != ctx || other->legacy || (other->flags & CU_STREAM_NON_BLOCKING) != 0) continue;
      if (other->capture) {
        invalidate(*other->capture, "legacy stream dependency");
        return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
      }
      if (other->completed < other->enqueued) {
        Op wait;
        wait.kind = Op::Kind::kWaitStream;
        wait.stream = other;
        wait.target = other->enqueued;
        push(*s, std::move(wait));
      }
    }
  } else if ((s->flags & CU_STREAM_NON_BLOCKING) == 0 && ctx->legacy && ctx->legacy->completed < ctx->legacy->enqueued) {
    Op wait;
    wait.kind = Op::Kind::kWaitStream;
    wait.stream = ctx->legacy;
    wait.target = ctx->legacy->enqueued;
    push(*s, std::move(wait));
  }
  push(*s, std::move(op));
  return CUDA_SUCCESS;
}

void drainAll(Driver& d, Lock& lock, const CUctx_st* ctx) {
  std::vector<std::pair<std::shared_ptr<CUstream_st>, uint64_t>> targets;
  for (auto& [handle, s] : d.streams) {
    if (ctx == nullptr || s->ctx == ctx) targets.emplace_back(s, s->enqueued);
  }
  d.progress.wait(lock, [&] {
    for (const auto& [s, target] : targets) {
      if (s->completed < target && s->ctx->sticky == CUDA_SUCCESS) return false;
    }
    return true;
  });
}

void poison(Driver& d, CUctx_st* ctx, CUresult error, const char* what) {
  if (ctx->sticky != CUDA_SUCCESS) return;
  ctx->sticky = error;
  Counter("cuda.stickyErrors").add();
  (void)what;
  d.progress.notify_all();
}

namespace api {

CUresult streamCreate(CUstream* stream, unsigned int flags) {
  Driver& d = driver();
  Lock lock(d.mu);
  CUctx_st* ctx = nullptr;
  if (CUresult r = currentContext(d, &ctx); r != CUDA_SUCCESS) return ret(r);
  if (stream == nullptr || (flags & ~static_cast<unsigned>(CU_STREAM_NON_BLOCKING)) != 0) return ret(CUDA_ERROR_INVALID_VALUE);
  auto s = makeStream(d, ctx, flags, false);
  if (!s) return ret(CUDA_ERROR_OUT_OF_MEMORY);
  *stream = s.get();
  return CUDA_SUCCESS;
}

CUresult streamDestroy(CUstream stream) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  auto it = d.streams.find(stream);
  if (it == d.streams.end() || it->second->legacy) return ret(CUDA_ERROR_INVALID_HANDLE);
  std::shared_ptr<CUstream_st> s = it->second;
  if (s->capture) {
    invalidate(*s->capture, "cuStreamDestroy");
    endCaptureOf(d, *s);
  }
  // Work already queued still runs; the stream's thread ends after it.
  s->closing = true;
  s->work.notify_one();
  d.streams.erase(it);
  Counter("cuda.streamDestroy").add();
  Counter("cuda.live.streams").set(static_cast<int64_t>(d.streams.size()));
  return ret(s->ctx->sticky);
}

CUresult streamQuery(CUstream stream) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  if (s->capture) {
    invalidate(*s->capture, "cuStreamQuery");
    return ret(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  }
  if (CUresult r = refuseUnderCapture(d, "cuStreamQuery"); r != CUDA_SUCCESS) return ret(r);
  return s->completed >= s->enqueued ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult streamSynchronize(CUstream stream) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  if (s->capture) {
    invalidate(*s->capture, "cuStreamSynchronize");
    return ret(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  }
  if (CUresult r = refuseUnderCapture(d, "cuStreamSynchronize"); r != CUDA_SUCCESS) return ret(r);
  Counter("cuda.streamSynchronize").add();
  if (s->legacy) {
    // The legacy stream's point "now" comes after the work of every blocking stream.
    Op nop;
    nop.kind = Op::Kind::kNop;
    if (CUresult r = enqueue(d, s, std::move(nop)); r != CUDA_SUCCESS) return ret(r);
  }
  const uint64_t target = s->enqueued;
  d.progress.wait(lock, [&] { return s->completed >= target || s->ctx->sticky != CUDA_SUCCESS; });
  releasePools(d);
  return ret(s->ctx->sticky);
}

CUresult streamWaitEvent(CUstream stream, CUevent event, unsigned int flags) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  auto it = d.events.find(event);
  if (it == d.events.end()) return ret(CUDA_ERROR_INVALID_HANDLE);
  if ((flags & ~static_cast<unsigned>(CU_EVENT_WAIT_EXTERNAL)) != 0) return ret(CUDA_ERROR_INVALID_VALUE);
  std::shared_ptr<CUevent_st> e = it->second;
  const std::shared_ptr<Capture> captured = activeCapture(*e);
  if (s->capture) {
    if (captured == s->capture) return CUDA_SUCCESS;  // ordered within the one captured stream
    invalidate(*s->capture, "cuStreamWaitEvent on uncaptured work");
    return ret(CUDA_ERROR_STREAM_CAPTURE_ISOLATION);
  }
  if (captured) {
    // Joining another stream into a capture (fork/join) is not modelled by the stand-in.
    std::fprintf(stderr,
                 "tensorrt-node stand-in driver: cuStreamWaitEvent on an event recorded in a capture "
                 "(joining a stream into a capture) is not modelled\n");
    invalidate(*captured, "cross-stream capture");
    return ret(CUDA_ERROR_NOT_SUPPORTED);
  }
  Counter("cuda.streamWaitEvent").add();
  if (e->recorded == 0) return CUDA_SUCCESS;
  Op op;
  op.kind = Op::Kind::kWaitEvent;
  op.event = e;
  op.target = e->recorded;
  return ret(enqueue(d, s, std::move(op)));
}

CUresult streamIsCapturing(CUstream stream, CUstreamCaptureStatus* status) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  if (status == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *status = !s->capture           ? CU_STREAM_CAPTURE_STATUS_NONE
            : s->capture->invalid ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                                  : CU_STREAM_CAPTURE_STATUS_ACTIVE;
  return CUDA_SUCCESS;
}

CUresult launchHostFunc(CUstream stream, CUhostFn fn, void* userData) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  if (fn == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  Counter("cuda.launchHostFunc").add();
  Op op;
  op.kind = Op::Kind::kHost;
  op.fn = fn;
  op.data = userData;
  return ret(enqueue(d, s, std::move(op)));
}

CUresult eventCreate(CUevent* event, unsigned int flags) {
  Driver& d = driver();
  Lock lock(d.mu);
  CUctx_st* ctx = nullptr;
  if (CUresult r = currentContext(d, &ctx); r != CUDA_SUCCESS) return ret(r);
  constexpr unsigned kKnown = CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
  if (event == nullptr || (flags & ~kKnown) != 0) return ret(CUDA_ERROR_INVALID_VALUE);
  if ((flags & CU_EVENT_INTERPROCESS) != 0 && (flags & CU_EVENT_DISABLE_TIMING) == 0) return ret(CUDA_ERROR_INVALID_VALUE);
  auto e = std::make_shared<CUevent_st>();
  e->ctx = ctx;
  e->flags = flags;
  d.events.emplace(e.get(), e);
  *event = e.get();
  Counter("cuda.eventCreate").add();
  Counter("cuda.live.events").set(static_cast<int64_t>(d.events.size()));
  return CUDA_SUCCESS;
}

CUresult eventDestroy(CUevent event) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  auto it = d.events.find(event);
  if (it == d.events.end()) return ret(CUDA_ERROR_INVALID_HANDLE);
  const CUresult sticky = it->second->ctx->sticky;
  d.events.erase(it);  // a record still queued keeps the event's state alive
  Counter("cuda.eventDestroy").add();
  Counter("cuda.live.events").set(static_cast<int64_t>(d.events.size()));
  return ret(sticky);
}

CUresult eventRecord(CUevent event, CUstream stream) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  auto it = d.events.find(event);
  if (it == d.events.end() || it->second->ctx != s->ctx) return ret(CUDA_ERROR_INVALID_HANDLE);
  std::shared_ptr<CUevent_st> e = it->second;
  Counter("cuda.eventRecord").add();
  if (s->capture) {
    if (s->capture->invalid) return ret(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    // Inside a capture a record only marks a point for waits in the same capture.
    e->capturedIn = s->capture;
    return CUDA_SUCCESS;
  }
  e->capturedIn.reset();
  Op op;
  op.kind = Op::Kind::kRecord;
  op.event = e;
  op.target = e->recorded + 1;
  if (CUresult r = enqueue(d, s, std::move(op)); r != CUDA_SUCCESS) return ret(r);
  e->recorded++;
  return CUDA_SUCCESS;
}

CUresult eventQuery(CUevent event) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  CUevent_st* e = lookup(d.events, event);
  if (e == nullptr) return ret(CUDA_ERROR_INVALID_HANDLE);
  if (CUresult r = refuseUnderCapture(d, "cuEventQuery"); r != CUDA_SUCCESS) return ret(r);
  if (e->ctx->sticky != CUDA_SUCCESS) return ret(e->ctx->sticky);
  if (activeCapture(*e)) return ret(CUDA_ERROR_CAPTURED_EVENT);
  return e->completed >= e->recorded ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult eventSynchronize(CUevent event) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  auto it = d.events.find(event);
  if (it == d.events.end()) return ret(CUDA_ERROR_INVALID_HANDLE);
  std::shared_ptr<CUevent_st> e = it->second;
  if (CUresult r = refuseUnderCapture(d, "cuEventSynchronize"); r != CUDA_SUCCESS) return ret(r);
  if (activeCapture(*e)) return ret(CUDA_ERROR_CAPTURED_EVENT);
  Counter("cuda.eventSynchronize").add();
  const uint64_t target = e->recorded;
  d.progress.wait(lock, [&] { return e->completed >= target || e->ctx->sticky != CUDA_SUCCESS; });
  releasePools(d);
  return ret(e->ctx->sticky);
}

CUresult eventElapsedTime(float* milliseconds, CUevent start, CUevent end) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  CUevent_st* a = lookup(d.events, start);
  CUevent_st* b = lookup(d.events, end);
  if (a == nullptr || b == nullptr || milliseconds == nullptr) return ret(CUDA_ERROR_INVALID_HANDLE);
  if (((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING) != 0) return ret(CUDA_ERROR_INVALID_HANDLE);
  if (a->recorded == 0 || b->recorded == 0) return ret(CUDA_ERROR_INVALID_HANDLE);
  if (a->ctx->sticky != CUDA_SUCCESS) return ret(a->ctx->sticky);
  if (activeCapture(*a) || activeCapture(*b)) return ret(CUDA_ERROR_CAPTURED_EVENT);
  if (a->completed < a->recorded || b->completed < b->recorded) return CUDA_ERROR_NOT_READY;
  *milliseconds = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return CUDA_SUCCESS;
}

CUresult streamBeginCapture(CUstream stream, CUstreamCaptureMode mode) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  if (s->legacy) return ret(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
      mode != CU_STREAM_CAPTURE_MODE_RELAXED) {
    return ret(CUDA_ERROR_INVALID_VALUE);
  }
  if (s->capture) return ret(CUDA_ERROR_ILLEGAL_STATE);
  auto c = std::make_shared<Capture>();
  c->mode = mode;
  c->thread = std::this_thread::get_id();
  c->id = d.nextId++;
  s->capture = c;
  d.captures.push_back(c);
  Counter("cuda.capture.begun").add();
  return CUDA_SUCCESS;
}

CUresult streamEndCapture(CUstream stream, CUgraph* graph) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  if (graph == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *graph = nullptr;
  if (!s->capture) return ret(CUDA_ERROR_ILLEGAL_STATE);
  std::shared_ptr<Capture> c = s->capture;
  if (c->mode != CU_STREAM_CAPTURE_MODE_RELAXED && c->thread != std::this_thread::get_id()) {
    return ret(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD);
  }
  endCaptureOf(d, *s);
  if (c->invalid) return ret(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  auto g = std::make_unique<CUgraph_st>();
  g->nodes = std::move(c->nodes);
  *graph = g.get();
  d.graphs.emplace(g.get(), std::move(g));
  Counter("cuda.graph.captured").add();
  return CUDA_SUCCESS;
}

CUresult graphInstantiate(CUgraphExec* exec, CUgraph graph, unsigned long long flags) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  (void)flags;
  CUgraph_st* g = lookup(d.graphs, graph);
  if (g == nullptr || exec == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  auto e = std::make_unique<CUgraphExec_st>();
  e->nodes = std::make_shared<const std::vector<Op>>(g->nodes);
  *exec = e.get();
  d.execs.emplace(e.get(), std::move(e));
  Counter("cuda.graph.instantiated").add();
  Counter("cuda.live.graphExecs").set(static_cast<int64_t>(d.execs.size()));
  return CUDA_SUCCESS;
}

CUresult graphLaunch(CUgraphExec exec, CUstream stream) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  CUgraphExec_st* e = lookup(d.execs, exec);
  if (e == nullptr) return ret(CUDA_ERROR_INVALID_HANDLE);
  Counter("cuda.graph.launched").add();
  Op op;
  op.kind = Op::Kind::kGraph;
  op.graph = e->nodes;
  return ret(enqueue(d, s, std::move(op)));
}

CUresult graphExecDestroy(CUgraphExec exec) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  if (d.execs.erase(exec) == 0) return ret(CUDA_ERROR_INVALID_HANDLE);  // launches in flight keep the nodes
  Counter("cuda.graph.execDestroyed").add();
  Counter("cuda.live.graphExecs").set(static_cast<int64_t>(d.execs.size()));
  return CUDA_SUCCESS;
}

CUresult graphDestroy(CUgraph graph) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  if (d.graphs.erase(graph) == 0) return ret(CUDA_ERROR_INVALID_HANDLE);
  Counter("cuda.graph.destroyed").add();
  return CUDA_SUCCESS;
}

}  // namespace api

}  // namespace standin::cuda
