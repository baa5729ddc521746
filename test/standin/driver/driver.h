#pragma once
// The stand-in CUDA driver's state. One mutex guards all of it; blocking calls wait on one
// condition variable that every completed stream operation signals (no polling). Each stream
// runs its operations in order on a thread of its own. Nothing here is ever destroyed: stream
// threads may still run while the process exits.

#include <cuda.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../common/control.hpp"

struct CUstream_st;
struct CUevent_st;

namespace standin::cuda {

struct Device;
struct Capture;

// One operation queued on a stream (or recorded as a node of a graph).
struct Op {
  enum class Kind { kCopy, kSet, kHost, kRecord, kWaitEvent, kWaitStream, kFree, kGraph, kNop };
  Kind kind = Kind::kCopy;
  CUdeviceptr dst = 0;
  CUdeviceptr src = 0;
  std::size_t bytes = 0;
  unsigned char value = 0;
  std::shared_ptr<std::vector<unsigned char>> staged;  // a pageable source copied at enqueue time
  CUhostFn fn = nullptr;
  void* data = nullptr;
  std::shared_ptr<CUevent_st> event;
  std::shared_ptr<CUstream_st> stream;  // kWaitStream: the stream waited for
  uint64_t target = 0;                  // kRecord/kWaitEvent: the record; kWaitStream: the op count
  std::shared_ptr<const std::vector<Op>> graph;
};

struct Capture {
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
  std::thread::id thread;
  bool invalid = false;
  uint64_t id = 0;
  std::vector<Op> nodes;
};

struct Allocation {
  CUdeviceptr base = 0;
  std::size_t bytes = 0;
  unsigned char* backing = nullptr;
  Device* device = nullptr;
  uint64_t id = 0;
  bool freeQueued = false;  // cuMemFreeAsync was called; the free runs in stream order
};

struct HostAllocation {
  void* base = nullptr;
  std::size_t bytes = 0;
  uint64_t id = 0;
};

}  // namespace standin::cuda

struct CUmemPoolHandle_st {
  standin::cuda::Device* device = nullptr;
  std::size_t reserved = 0;  // freed by cuMemFreeAsync, kept by the pool until trimmed or a sync
};

struct CUctx_st {
  standin::cuda::Device* device = nullptr;
  int refs = 0;  // primary context retains
  bool active = false;
  CUresult sticky = CUDA_SUCCESS;  // once set, every call on the context returns it
  std::shared_ptr<CUstream_st> legacy;
};

struct CUstream_st {
  CUctx_st* ctx = nullptr;
  unsigned flags = 0;
  bool legacy = false;
  std::deque<standin::cuda::Op> queue;
  uint64_t enqueued = 0;
  uint64_t completed = 0;
  bool closing = false;
  std::condition_variable work;
  std::shared_ptr<standin::cuda::Capture> capture;
};

struct CUevent_st {
  CUctx_st* ctx = nullptr;
  unsigned flags = 0;
  uint64_t recorded = 0;   // records enqueued
  uint64_t completed = 0;  // the latest record reached by its stream
  std::chrono::steady_clock::time_point at{};
  std::weak_ptr<standin::cuda::Capture> capturedIn;  // the capture of its latest record, if any
};

struct CUgraph_st {
  std::vector<standin::cuda::Op> nodes;
};

struct CUgraphExec_st {
  std::shared_ptr<const std::vector<standin::cuda::Op>> nodes;
};

namespace standin::cuda {

struct Device {
  int ordinal = 0;
  std::string name;
  int ccMajor = 8;
  int ccMinor = 9;
  int sms = 76;
  std::size_t totalMemory = 0;
  int pciDomain = 0;
  int pciBus = 0;
  int pciDevice = 0;
  CUuuid uuid{};
  int l2Bytes = 0;
  int busWidth = 256;
  int clockKHz = 2100000;
  int memClockKHz = 10501000;
  bool integrated = false;

  CUctx_st primary;
  CUmemPoolHandle_st pool;
  // Device addresses come from a reserved, inaccessible range, so host code that dereferences
  // a device pointer faults as it would on a GPU; the bytes live in `backing`.
  uintptr_t spaceBase = 0;
  std::size_t spaceBytes = 0;
  std::map<uintptr_t, std::size_t> freeRanges;  // offset -> length
  uintptr_t cursor = 0;                         // next-fit: freed addresses are not reused at once
  std::size_t usedBytes = 0;
};

// A stream thread. When its stream is destroyed and drained it parks and serves the next
// stream created, so threads never end while the process runs (nor race its exit).
struct Worker {
  std::condition_variable wake;
  std::shared_ptr<CUstream_st> stream;
};

struct Driver {
  std::mutex mu;
  std::condition_variable progress;  // signalled whenever a stream operation completes
  bool configured = false;
  std::string configError;
  int version = 13000;
  bool initialized = false;
  std::vector<std::unique_ptr<Device>> devices;
  std::unordered_map<CUstream_st*, std::shared_ptr<CUstream_st>> streams;
  std::unordered_map<CUevent_st*, std::shared_ptr<CUevent_st>> events;
  std::unordered_map<CUgraph_st*, std::unique_ptr<CUgraph_st>> graphs;
  std::unordered_map<CUgraphExec_st*, std::unique_ptr<CUgraphExec_st>> execs;
  std::map<uintptr_t, Allocation> allocations;  // by device base address
  std::map<uintptr_t, HostAllocation> hostAllocations;
  std::vector<std::shared_ptr<Capture>> captures;  // active ones
  uint64_t nextId = 1;
  int64_t opDelayUs = 0;
  std::vector<Worker*> idleWorkers;
  int64_t workers = 0;
};

Driver& driver();
using Lock = std::unique_lock<std::mutex>;

// Reads TRTN_STANDIN_DEVICES / TRTN_STANDIN_DRIVER_VERSION once (under the lock).
void configure(Driver& d);
CUresult deviceAttribute(const Device& dev, CUdevice_attribute attribute, int* value);
const char* errorName(CUresult r) noexcept;
const char* errorString(CUresult r) noexcept;

// Counts the error (except CUDA_ERROR_NOT_READY) under "cuda.error.<NAME>" and returns it.
CUresult ret(CUresult r) noexcept;

// Call prologues (the lock held): the driver is initialized, the call is not made from a host
// function, and (current) there is a current, active, healthy context.
CUresult checkInit(Driver& d);
// Host functions may not call the driver (as on a GPU): the stream thread marks itself.
void setInHostFunction(bool on);
CUctx_st*& currentSlot();
CUresult currentContext(Driver& d, CUctx_st** ctx);
CUresult usable(const CUctx_st* ctx);
Device* deviceOf(Driver& d, CUdevice ordinal);

// A call that stream capture forbids on this thread: invalidates the captures that forbid it and
// returns CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, else CUDA_SUCCESS.
CUresult refuseUnderCapture(Driver& d, const char* call);
void invalidate(Capture& c, const char* why);

// Streams (the lock held).
CUresult resolveStream(Driver& d, CUstream handle, std::shared_ptr<CUstream_st>& out);
std::shared_ptr<CUstream_st> makeStream(Driver& d, CUctx_st* ctx, unsigned flags, bool legacy);
CUresult enqueue(Driver& d, const std::shared_ptr<CUstream_st>& s, Op op);
// Waits until every operation enqueued on the streams of `ctx` (all contexts when null) so far
// has run: the implicit synchronization of cuMemFree and cuMemFreeHost.
void drainAll(Driver& d, Lock& lock, const CUctx_st* ctx);
void poison(Driver& d, CUctx_st* ctx, CUresult error, const char* what);
// A synchronizing call returns unused pool memory (the default pool's release threshold is 0).
void releasePools(Driver& d);

// Memory (the lock held).
enum class PointerKind { kDevice, kPinned, kPageable, kInvalid };
PointerKind classify(Driver& d, CUdeviceptr p, std::size_t bytes, Allocation** alloc = nullptr);
// The host address of device or pinned memory for a stream operation, or null when the range is
// no live allocation (a device fault).
unsigned char* translate(Driver& d, CUdeviceptr p, std::size_t bytes);
void releaseAllocation(Driver& d, std::map<uintptr_t, Allocation>::iterator it, bool toPool);

}  // namespace standin::cuda
