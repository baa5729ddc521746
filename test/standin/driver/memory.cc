// "Device memory": addresses from a reserved range per device, bytes in host memory behind them.
// Pinned host memory, the default memory pool, copies, memset and pointer attributes.

#include <cstdlib>
#include <cstring>

#include "api.h"
#include "driver.h"

namespace standin::cuda {

namespace {

constexpr std::size_t kAlignment = 256;  // what cudaMalloc guarantees

std::size_t roundUp(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

// Next-fit over the free ranges, starting at the cursor, so a freed address is not handed out
// again at once (a stale pointer then faults instead of reading someone else's bytes).
bool takeRange(Device& dev, std::size_t bytes, uintptr_t& offset) {
  const std::size_t need = roundUp(bytes, kAlignment);
  for (int pass = 0; pass < 2; pass++) {
    const uintptr_t from = pass == 0 ? dev.cursor : 0;
    for (auto it = dev.freeRanges.begin(); it != dev.freeRanges.end(); ++it) {
      const uintptr_t start = std::max<uintptr_t>(it->first, from);
      const uintptr_t end = it->first + it->second;
      if (start >= end || end - start < need) continue;
      const uintptr_t rangeStart = it->first;
      dev.freeRanges.erase(it);
      if (start > rangeStart) dev.freeRanges.emplace(rangeStart, start - rangeStart);
      if (end > start + need) dev.freeRanges.emplace(start + need, end - start - need);
      offset = start;
      dev.cursor = start + need;
      return true;
    }
  }
  return false;
}

void returnRange(Device& dev, uintptr_t offset, std::size_t bytes) {
  std::size_t len = roundUp(bytes, kAlignment);
  auto next = dev.freeRanges.lower_bound(offset);
  if (next != dev.freeRanges.end() && offset + len == next->first) {
    len += next->second;
    next = dev.freeRanges.erase(next);
  }
  if (next != dev.freeRanges.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += len;
      return;
    }
  }
  dev.freeRanges.emplace(offset, len);
}

std::size_t freeBytes(const Device& dev) {
  const std::size_t used = dev.usedBytes + dev.pool.reserved;
  return used >= dev.totalMemory ? 0 : dev.totalMemory - used;
}

void setLiveCounters(Driver& d) {
  std::size_t bytes = 0;
  for (const auto& [base, a] : d.allocations) bytes += a.bytes;
  Counter("cuda.live.deviceAllocations").set(static_cast<int64_t>(d.allocations.size()));
  Counter("cuda.live.deviceBytes").set(static_cast<int64_t>(bytes));
  const Counter peak("cuda.peak.deviceBytes");
  if (static_cast<int64_t>(bytes) > peak.get()) peak.set(static_cast<int64_t>(bytes));
  std::size_t hostBytes = 0;
  for (const auto& [base, h] : d.hostAllocations) hostBytes += h.bytes;
  Counter("cuda.live.hostAllocations").set(static_cast<int64_t>(d.hostAllocations.size()));
  Counter("cuda.live.hostBytes").set(static_cast<int64_t>(hostBytes));
}

CUresult allocate(Driver& d, Device& dev, std::size_t bytes, bool async, CUdeviceptr* out) {
  if (out == nullptr || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  // Fault injection counts every device allocation attempt, sync or stream-ordered.
  const bool injected = faultHit("cuda.oom_alloc");
  const std::string above = faultValue("cuda.oom_above");
  if (!above.empty() && bytes > std::strtoull(above.c_str(), nullptr, 0)) {
    Counter("fault.cuda.oom_above").add();
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  if (injected) return CUDA_ERROR_OUT_OF_MEMORY;
  std::size_t fromPool = 0;
  if (async) fromPool = std::min(dev.pool.reserved, bytes);
  if (bytes - fromPool > freeBytes(dev)) return CUDA_ERROR_OUT_OF_MEMORY;
  uintptr_t offset = 0;
  if (!takeRange(dev, bytes, offset)) return CUDA_ERROR_OUT_OF_MEMORY;
  auto* backing = static_cast<unsigned char*>(std::malloc(bytes));
  if (backing == nullptr) {
    returnRange(dev, offset, bytes);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  dev.pool.reserved -= fromPool;
  dev.usedBytes += bytes;
  Allocation a;
  a.base = static_cast<CUdeviceptr>(dev.spaceBase + offset);
  a.bytes = bytes;
  a.backing = backing;
  a.device = &dev;
  a.id = d.nextId++;
  d.allocations.emplace(a.base, a);
  setLiveCounters(d);
  *out = a.base;
  return CUDA_SUCCESS;
}

Device* spaceOf(Driver& d, uintptr_t p) {
  for (auto& dev : d.devices) {
    if (p >= dev->spaceBase && p < dev->spaceBase + dev->spaceBytes) return dev.get();
  }
  return nullptr;
}

template <typename Map>
auto containing(Map& m, uintptr_t p) -> decltype(m.begin()) {
  auto it = m.upper_bound(p);
  if (it == m.begin()) return m.end();
  return std::prev(it);
}

const char* directionName(PointerKind dst, PointerKind src) {
  const bool dDev = dst == PointerKind::kDevice;
  const bool sDev = src == PointerKind::kDevice;
  if (dDev && sDev) return "cuda.memcpy.DtoD";
  if (dDev) return "cuda.memcpy.HtoD";
  if (sDev) return "cuda.memcpy.DtoH";
  return "cuda.memcpy.HtoH";
}

}  // namespace

PointerKind classify(Driver& d, CUdeviceptr ptr, std::size_t bytes, Allocation** alloc) {
  const auto p = static_cast<uintptr_t>(ptr);
  if (spaceOf(d, p) != nullptr) {
    auto it = containing(d.allocations, p);
    if (it == d.allocations.end() || p + bytes > it->second.base + it->second.bytes) return PointerKind::kInvalid;
    if (alloc != nullptr) *alloc = &it->second;
    return PointerKind::kDevice;
  }
  auto h = containing(d.hostAllocations, p);
  if (h != d.hostAllocations.end() && p < reinterpret_cast<uintptr_t>(h->second.base) + h->second.bytes) {
    if (p + bytes > reinterpret_cast<uintptr_t>(h->second.base) + h->second.bytes) return PointerKind::kInvalid;
    return PointerKind::kPinned;
  }
  return PointerKind::kPageable;
}

unsigned char* translate(Driver& d, CUdeviceptr ptr, std::size_t bytes) {
  const auto p = static_cast<uintptr_t>(ptr);
  if (spaceOf(d, p) != nullptr) {
    auto it = containing(d.allocations, p);
    if (it == d.allocations.end() || p + bytes > it->second.base + it->second.bytes) return nullptr;
    return it->second.backing + (p - it->second.base);
  }
  return reinterpret_cast<unsigned char*>(p);
}

void releaseAllocation(Driver& d, std::map<uintptr_t, Allocation>::iterator it, bool toPool) {
  Allocation& a = it->second;
  Device& dev = *a.device;
  std::free(a.backing);
  returnRange(dev, static_cast<uintptr_t>(a.base - dev.spaceBase), a.bytes);
  dev.usedBytes -= a.bytes;
  if (toPool) dev.pool.reserved += a.bytes;
  d.allocations.erase(it);
  setLiveCounters(d);
}

void releasePools(Driver& d) {
  for (auto& dev : d.devices) dev->pool.reserved = 0;
}

namespace api {

CUresult memGetInfo(size_t* free, size_t* total) {
  Driver& d = driver();
  Lock lock(d.mu);
  CUctx_st* ctx = nullptr;
  if (CUresult r = currentContext(d, &ctx); r != CUDA_SUCCESS) return ret(r);
  if (free == nullptr || total == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *free = freeBytes(*ctx->device);
  *total = ctx->device->totalMemory;
  return CUDA_SUCCESS;
}

CUresult memAlloc(CUdeviceptr* pointer, size_t bytes) {
  Driver& d = driver();
  Lock lock(d.mu);
  CUctx_st* ctx = nullptr;
  if (CUresult r = currentContext(d, &ctx); r != CUDA_SUCCESS) return ret(r);
  if (CUresult r = refuseUnderCapture(d, "cuMemAlloc"); r != CUDA_SUCCESS) return ret(r);
  Counter("cuda.memAlloc").add();
  return ret(allocate(d, *ctx->device, bytes, false, pointer));
}

CUresult memFree(CUdeviceptr pointer) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  if (pointer == 0) return CUDA_SUCCESS;
  if (CUresult r = refuseUnderCapture(d, "cuMemFree"); r != CUDA_SUCCESS) return ret(r);
  auto it = d.allocations.find(static_cast<uintptr_t>(pointer));
  if (it == d.allocations.end() || it->second.freeQueued) return ret(CUDA_ERROR_INVALID_VALUE);
  CUctx_st* ctx = &it->second.device->primary;
  // cuMemFree synchronizes: work already queued may still use the memory.
  drainAll(d, lock, ctx);
  it = d.allocations.find(static_cast<uintptr_t>(pointer));
  if (it == d.allocations.end()) return ret(CUDA_ERROR_INVALID_VALUE);
  releaseAllocation(d, it, false);
  Counter("cuda.memFree").add();
  return ret(ctx->sticky);
}

CUresult memAllocAsync(CUdeviceptr* pointer, size_t bytes, CUstream stream) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  if (s->capture) {
    // Allocation nodes are not modelled: the capture cannot go on.
    invalidate(*s->capture, "cuMemAllocAsync");
    return ret(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  }
  Counter("cuda.memAllocAsync").add();
  return ret(allocate(d, *s->ctx->device, bytes, true, pointer));
}

CUresult memFreeAsync(CUdeviceptr pointer, CUstream stream) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) {
    // A poisoned context still gives the memory back, so a test can count what was freed.
    auto it = d.allocations.find(static_cast<uintptr_t>(pointer));
    if (s && it != d.allocations.end() && !it->second.freeQueued) releaseAllocation(d, it, false);
    return ret(r);
  }
  if (s->capture) {
    invalidate(*s->capture, "cuMemFreeAsync");
    return ret(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  }
  auto it = d.allocations.find(static_cast<uintptr_t>(pointer));
  if (it == d.allocations.end() || it->second.freeQueued) return ret(CUDA_ERROR_INVALID_VALUE);
  it->second.freeQueued = true;
  Op op;
  op.kind = Op::Kind::kFree;
  op.dst = pointer;
  Counter("cuda.memFreeAsync").add();
  return ret(enqueue(d, s, std::move(op)));
}

CUresult memHostAlloc(void** pointer, size_t bytes, unsigned int flags) {
  Driver& d = driver();
  Lock lock(d.mu);
  CUctx_st* ctx = nullptr;
  if (CUresult r = currentContext(d, &ctx); r != CUDA_SUCCESS) return ret(r);
  if (CUresult r = refuseUnderCapture(d, "cuMemHostAlloc"); r != CUDA_SUCCESS) return ret(r);
  if (pointer == nullptr || bytes == 0) return ret(CUDA_ERROR_INVALID_VALUE);
  if ((flags & ~(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED)) != 0) {
    return ret(CUDA_ERROR_INVALID_VALUE);
  }
  Counter("cuda.memHostAlloc").add();
  if (faultHit("cuda.oom_host_alloc")) return ret(CUDA_ERROR_OUT_OF_MEMORY);
  void* p = nullptr;
  if (posix_memalign(&p, 4096, bytes) != 0) return ret(CUDA_ERROR_OUT_OF_MEMORY);
  HostAllocation h;
  h.base = p;
  h.bytes = bytes;
  h.id = d.nextId++;
  d.hostAllocations.emplace(reinterpret_cast<uintptr_t>(p), h);
  setLiveCounters(d);
  *pointer = p;
  return CUDA_SUCCESS;
}

CUresult memFreeHost(void* pointer) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  if (CUresult r = refuseUnderCapture(d, "cuMemFreeHost"); r != CUDA_SUCCESS) return ret(r);
  auto it = d.hostAllocations.find(reinterpret_cast<uintptr_t>(pointer));
  if (it == d.hostAllocations.end()) return ret(CUDA_ERROR_INVALID_VALUE);
  // Freeing pinned memory synchronizes the device, as cudaFreeHost does.
  drainAll(d, lock, nullptr);
  it = d.hostAllocations.find(reinterpret_cast<uintptr_t>(pointer));
  if (it == d.hostAllocations.end()) return ret(CUDA_ERROR_INVALID_VALUE);
  std::free(it->second.base);
  d.hostAllocations.erase(it);
  setLiveCounters(d);
  Counter("cuda.memFreeHost").add();
  return CUDA_SUCCESS;
}

CUresult memcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  if (bytes == 0) return CUDA_SUCCESS;
  if (dst == 0 || src == 0) return ret(CUDA_ERROR_INVALID_VALUE);
  const PointerKind kd = classify(d, dst, bytes);
  const PointerKind ks = classify(d, src, bytes);
  if (kd == PointerKind::kInvalid || ks == PointerKind::kInvalid) return ret(CUDA_ERROR_INVALID_VALUE);
  const bool pageable = kd == PointerKind::kPageable || ks == PointerKind::kPageable;
  if (s->capture && pageable) {
    // Copies to or from pageable memory are synchronous, which a graph cannot replay.
    invalidate(*s->capture, "cuMemcpyAsync (pageable)");
    return ret(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  }
  Counter(directionName(kd, ks)).add();
  Counter("cuda.memcpy.bytes").add(static_cast<int64_t>(bytes));
  if (pageable) Counter("cuda.memcpy.pageable").add();
  Op op;
  op.kind = Op::Kind::kCopy;
  op.dst = dst;
  op.src = src;
  op.bytes = bytes;
  if (ks == PointerKind::kPageable && kd != PointerKind::kPageable) {
    // From pageable memory the call returns once the source is staged: the caller may reuse it.
    const auto* from = reinterpret_cast<const unsigned char*>(static_cast<uintptr_t>(src));
    op.staged = std::make_shared<std::vector<unsigned char>>(from, from + bytes);
  }
  if (CUresult r = enqueue(d, s, std::move(op)); r != CUDA_SUCCESS) return ret(r);
  if (kd == PointerKind::kPageable) {
    // To pageable memory the copy is synchronous: the bytes are there when the call returns.
    const uint64_t target = s->enqueued;
    d.progress.wait(lock, [&] { return s->completed >= target || s->ctx->sticky != CUDA_SUCCESS; });
    return ret(s->ctx->sticky);
  }
  return CUDA_SUCCESS;
}

CUresult memsetD8Async(CUdeviceptr dst, unsigned char value, size_t count, CUstream stream) {
  Driver& d = driver();
  Lock lock(d.mu);
  std::shared_ptr<CUstream_st> s;
  if (CUresult r = resolveStream(d, stream, s); r != CUDA_SUCCESS) return ret(r);
  if (count == 0) return CUDA_SUCCESS;
  if (classify(d, dst, count) != PointerKind::kDevice) return ret(CUDA_ERROR_INVALID_VALUE);
  Counter("cuda.memset").add();
  Op op;
  op.kind = Op::Kind::kSet;
  op.dst = dst;
  op.bytes = count;
  op.value = value;
  return ret(enqueue(d, s, std::move(op)));
}

CUresult deviceGetDefaultMemPool(CUmemoryPool* pool, CUdevice device) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  Device* dev = deviceOf(d, device);
  if (dev == nullptr) return ret(CUDA_ERROR_INVALID_DEVICE);
  if (pool == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  *pool = &dev->pool;
  return CUDA_SUCCESS;
}

CUresult memPoolTrimTo(CUmemoryPool pool, size_t keepBytes) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  for (auto& dev : d.devices) {
    if (&dev->pool == pool) {
      if (dev->pool.reserved > keepBytes) dev->pool.reserved = keepBytes;
      Counter("cuda.memPoolTrimTo").add();
      return CUDA_SUCCESS;
    }
  }
  return ret(CUDA_ERROR_INVALID_VALUE);
}

CUresult pointerGetAttribute(void* data, CUpointer_attribute attribute, CUdeviceptr pointer) {
  Driver& d = driver();
  Lock lock(d.mu);
  if (CUresult r = checkInit(d); r != CUDA_SUCCESS) return ret(r);
  if (data == nullptr) return ret(CUDA_ERROR_INVALID_VALUE);
  Allocation* a = nullptr;
  const PointerKind kind = classify(d, pointer, 1, &a);
  if (kind == PointerKind::kInvalid || kind == PointerKind::kPageable) return ret(CUDA_ERROR_INVALID_VALUE);
  uintptr_t base = 0;
  std::size_t bytes = 0;
  uint64_t id = 0;
  Device* dev = nullptr;
  if (kind == PointerKind::kDevice) {
    base = a->base;
    bytes = a->bytes;
    id = a->id;
    dev = a->device;
  } else {
    auto it = std::prev(d.hostAllocations.upper_bound(static_cast<uintptr_t>(pointer)));
    base = it->first;
    bytes = it->second.bytes;
    id = it->second.id;
    dev = d.devices.empty() ? nullptr : d.devices[0].get();
  }
  switch (attribute) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
      *static_cast<CUcontext*>(data) = dev != nullptr ? &dev->primary : nullptr;
      break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
      *static_cast<unsigned int*>(data) = kind == PointerKind::kDevice ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
      break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
      *static_cast<CUdeviceptr*>(data) = pointer;
      break;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
      if (kind == PointerKind::kDevice) return ret(CUDA_ERROR_INVALID_VALUE);
      *static_cast<void**>(data) = reinterpret_cast<void*>(static_cast<uintptr_t>(pointer));
      break;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
      *static_cast<unsigned long long*>(data) = id;
      break;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
      *static_cast<unsigned int*>(data) = 0;
      break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
      *static_cast<int*>(data) = dev != nullptr ? dev->ordinal : 0;
      break;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
      *static_cast<CUdeviceptr*>(data) = base;
      break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
      *static_cast<size_t*>(data) = bytes;
      break;
    case CU_POINTER_ATTRIBUTE_MAPPED:
      *static_cast<unsigned int*>(data) = 1;
      break;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
      *static_cast<CUmemoryPool*>(data) = kind == PointerKind::kDevice ? &a->device->pool : nullptr;
      break;
    default:
      return ret(CUDA_ERROR_INVALID_VALUE);
  }
  return CUDA_SUCCESS;
}

}  // namespace api

}  // namespace standin::cuda
