// Exercises the stand-in CUDA driver through the entry points the addon resolves, one scenario
// per run, and prints what it observed as one JSON object (checked by test/standin/*.test.ts).
//
//   standin-driver-probe info|memory|async|capture|faults|threads

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/control.hpp"
#include "probe/driver_table.h"
#include "probe/json.h"

namespace {

using standin::counterValue;
using standin::setFaults;

probe::Driver cu;
probe::Json out;

std::string nameOf(CUresult r) {
  return cu.name(r);
}

// Fails the probe (exit 1) when a call that must succeed does not.
void must(CUresult r, const char* what) {
  if (r != CUDA_SUCCESS) {
    std::fprintf(stderr, "probe: %s failed: %s\n", what, nameOf(r).c_str());
    std::exit(1);
  }
}

CUcontext initPrimary(int device = 0) {
  must(cu.init(0), "cuInit");
  CUdevice dev = 0;
  must(cu.deviceGet(&dev, device), "cuDeviceGet");
  CUcontext ctx = nullptr;
  must(cu.primaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
  must(cu.ctxSetCurrent(ctx), "cuCtxSetCurrent");
  return ctx;
}

std::string uuidText(const CUuuid& u) {
  char buf[64];
  const auto* b = reinterpret_cast<const unsigned char*>(u.bytes);
  std::snprintf(buf, sizeof buf, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return buf;
}

void info() {
  int version = 0;
  must(cu.driverGetVersion(&version), "cuDriverGetVersion");
  out.field("driverVersion", version);
  int count = -1;
  out.field("countBeforeInit", nameOf(cu.deviceGetCount(&count)));
  const CUresult init = cu.init(0);
  out.field("init", nameOf(init));
  if (init != CUDA_SUCCESS) return;
  must(cu.deviceGetCount(&count), "cuDeviceGetCount");
  out.field("count", count);
  CUcontext current = reinterpret_cast<CUcontext>(1);
  must(cu.ctxGetCurrent(&current), "cuCtxGetCurrent");
  out.field("currentBeforeRetain", current == nullptr ? std::string("null") : std::string("set"));
  CUdeviceptr p = 0;
  CUstream s = nullptr;
  size_t free = 0, total = 0;
  out.key("withoutContext").begin();
  out.field("cuMemAlloc", nameOf(cu.memAlloc(&p, 16)));
  out.field("cuStreamCreate", nameOf(cu.streamCreate(&s, 0)));
  out.field("cuMemGetInfo", nameOf(cu.memGetInfo(&free, &total)));
  out.end();
  out.key("devices").array();
  for (int i = 0; i < count; i++) {
    CUdevice dev = 0;
    must(cu.deviceGet(&dev, i), "cuDeviceGet");
    char name[256];
    must(cu.deviceGetName(name, sizeof name, dev), "cuDeviceGetName");
    size_t bytes = 0;
    must(cu.deviceTotalMem(&bytes, dev), "cuDeviceTotalMem");
    CUuuid uuid{};
    must(cu.deviceGetUuid(&uuid, dev), "cuDeviceGetUuid");
    auto attr = [&](CUdevice_attribute a) {
      int v = 0;
      must(cu.deviceGetAttribute(&v, a, dev), "cuDeviceGetAttribute");
      return v;
    };
    out.begin();
    out.field("name", std::string(name));
    out.field("totalMemory", static_cast<int64_t>(bytes));
    out.field("uuid", uuidText(uuid));
    out.field("ccMajor", attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR));
    out.field("ccMinor", attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
    out.field("sms", attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT));
    out.field("l2", attr(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE));
    out.field("busWidth", attr(CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH));
    out.field("integrated", attr(CU_DEVICE_ATTRIBUTE_INTEGRATED));
    char pci[32];
    std::snprintf(pci, sizeof pci, "%04x:%02x:%02x.0", attr(CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID),
                  attr(CU_DEVICE_ATTRIBUTE_PCI_BUS_ID), attr(CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID));
    out.field("pci", std::string(pci));
    out.field("unifiedAddressing", attr(CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING));
    out.field("memoryPools", attr(CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED));
    out.end();
  }
  out.endArray();
  int bad = 0;
  out.field("badOrdinal", nameOf(cu.deviceGet(&bad, count)));
  const char* text = nullptr;
  must(cu.getErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &text), "cuGetErrorString");
  out.field("illegalAddressText", std::string(text));
}

void memory() {
  initPrimary();
  size_t free0 = 0, total = 0;
  must(cu.memGetInfo(&free0, &total), "cuMemGetInfo");
  CUdeviceptr d = 0;
  must(cu.memAlloc(&d, 1 << 20), "cuMemAlloc");
  size_t free1 = 0;
  must(cu.memGetInfo(&free1, &total), "cuMemGetInfo");
  out.field("total", static_cast<int64_t>(total));
  out.field("freeDropOnAlloc", static_cast<int64_t>(free0 - free1));
  out.field("aligned256", d % 256 == 0);

  // Pointer attributes, asked of an interior pointer.
  unsigned int type = 0;
  int ordinal = -1;
  CUdeviceptr start = 0;
  size_t range = 0;
  must(cu.pointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d + 100), "MEMORY_TYPE");
  must(cu.pointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, d + 100), "DEVICE_ORDINAL");
  must(cu.pointerGetAttribute(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, d + 100), "RANGE_START");
  must(cu.pointerGetAttribute(&range, CU_POINTER_ATTRIBUTE_RANGE_SIZE, d + 100), "RANGE_SIZE");
  out.key("device").begin().field("type", static_cast<int>(type)).field("ordinal", ordinal).field("startIsBase", start == d);
  out.field("range", static_cast<int64_t>(range)).end();
  void* pinned = nullptr;
  must(cu.memHostAlloc(&pinned, 4096, 0), "cuMemHostAlloc");
  must(cu.pointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, reinterpret_cast<CUdeviceptr>(pinned)),
       "MEMORY_TYPE pinned");
  out.field("pinnedType", static_cast<int>(type));
  std::vector<unsigned char> pageable(4096, 7);
  out.field("pageableAttribute", nameOf(cu.pointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                                               reinterpret_cast<CUdeviceptr>(pageable.data()))));
  out.field("freeUnknown", nameOf(cu.memFree(d + 256)));

  // Copies of every direction on one stream: pinned -> device -> device -> pageable.
  CUstream s = nullptr;
  must(cu.streamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  auto* host = static_cast<unsigned char*>(pinned);
  for (int i = 0; i < 4096; i++) host[i] = static_cast<unsigned char>(i * 7);
  CUdeviceptr d2 = 0;
  must(cu.memAlloc(&d2, 4096), "cuMemAlloc");
  must(cu.memcpyAsync(d, reinterpret_cast<CUdeviceptr>(pinned), 4096, s), "H2D");
  must(cu.memcpyAsync(d2, d, 4096, s), "D2D");
  must(cu.memsetD8Async(d2 + 10, 0xEE, 6, s), "memset");
  must(cu.memcpyAsync(reinterpret_cast<CUdeviceptr>(pageable.data()), d2, 4096, s), "D2H pageable");
  // A copy to pageable memory is synchronous: the bytes are there without a sync.
  bool same = true;
  for (int i = 0; i < 4096; i++) {
    const unsigned char want = (i >= 10 && i < 16) ? 0xEE : static_cast<unsigned char>(i * 7);
    same = same && pageable[static_cast<std::size_t>(i)] == want;
  }
  out.field("roundTrip", same);
  // From pageable memory the source is staged at the call: changing it afterwards is harmless.
  std::vector<unsigned char> src(4096, 1);
  must(cu.memcpyAsync(d, reinterpret_cast<CUdeviceptr>(src.data()), 4096, s), "H2D pageable");
  std::fill(src.begin(), src.end(), 2);
  must(cu.memcpyAsync(reinterpret_cast<CUdeviceptr>(pinned), d, 4096, s), "D2H pinned");
  must(cu.streamSynchronize(s), "cuStreamSynchronize");
  out.field("pageableStaged", host[0] == 1 && host[4095] == 1);
  out.field("copyOutOfRange", nameOf(cu.memcpyAsync(d2 + 4000, d, 200, s)));
  out.field("memsetHost", nameOf(cu.memsetD8Async(reinterpret_cast<CUdeviceptr>(pinned), 0, 16, s)));

  // Stream-ordered memory and the default pool (release threshold 0: a sync returns it).
  size_t freeA = 0, freeB = 0, freeC = 0, freeD = 0;
  must(cu.memGetInfo(&freeA, &total), "cuMemGetInfo");
  CUdeviceptr a = 0;
  must(cu.memAllocAsync(&a, 8 << 20, s), "cuMemAllocAsync");
  must(cu.memFreeAsync(a, s), "cuMemFreeAsync");
  CUevent e = nullptr;
  must(cu.eventCreate(&e, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
  must(cu.eventRecord(e, s), "cuEventRecord");
  while (cu.eventQuery(e) == CUDA_ERROR_NOT_READY) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  must(cu.memGetInfo(&freeB, &total), "cuMemGetInfo");
  CUmemoryPool pool = nullptr;
  must(cu.deviceGetDefaultMemPool(&pool, 0), "cuDeviceGetDefaultMemPool");
  must(cu.memPoolTrimTo(pool, 2 << 20), "cuMemPoolTrimTo");
  must(cu.memGetInfo(&freeC, &total), "cuMemGetInfo");
  must(cu.memAllocAsync(&a, 1 << 20, s), "cuMemAllocAsync");
  must(cu.memFreeAsync(a, s), "cuMemFreeAsync");
  out.field("doubleFreeAsync", nameOf(cu.memFreeAsync(a, s)));
  must(cu.streamSynchronize(s), "cuStreamSynchronize");
  must(cu.memGetInfo(&freeD, &total), "cuMemGetInfo");
  out.key("pool").begin();
  out.field("heldAfterFree", static_cast<int64_t>(freeA - freeB));
  out.field("heldAfterTrim", static_cast<int64_t>(freeA - freeC));
  out.field("heldAfterSync", static_cast<int64_t>(freeA - freeD));
  out.end();

  must(cu.eventDestroy(e), "cuEventDestroy");
  must(cu.streamDestroy(s), "cuStreamDestroy");
  must(cu.memFree(d), "cuMemFree");
  must(cu.memFree(d2), "cuMemFree");
  must(cu.memFreeHost(pinned), "cuMemFreeHost");
  size_t free2 = 0;
  must(cu.memGetInfo(&free2, &total), "cuMemGetInfo");
  out.field("freeRestored", free2 == free0);
  out.field("useAfterDestroy", nameOf(cu.streamQuery(s)));
}

struct Flag {
  std::atomic<int> value{0};
  std::atomic<CUresult> apiCall{CUDA_SUCCESS};
  std::atomic<bool> otherThread{false};
  std::thread::id caller;
};

void CUDA_CB setFlag(void* data) {
  auto* f = static_cast<Flag*>(data);
  f->otherThread = std::this_thread::get_id() != f->caller;
  CUdeviceptr p = 0;
  f->apiCall = cu.memAlloc(&p, 16);  // a host function may not call CUDA
  f->value.fetch_add(1);
}

// Holds its stream until the probe opens it: completion cannot have happened before.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return open; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
    }
    cv.notify_all();
  }
};

void CUDA_CB waitGate(void* data) {
  static_cast<Gate*>(data)->wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the timed span
}

void async() {
  initPrimary();
  CUstream a = nullptr, b = nullptr;
  must(cu.streamCreate(&a, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  must(cu.streamCreate(&b, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  CUevent start = nullptr, stop = nullptr, mark = nullptr;
  must(cu.eventCreate(&start, 0), "cuEventCreate");
  must(cu.eventCreate(&stop, 0), "cuEventCreate");
  must(cu.eventCreate(&mark, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
  out.field("queryUnrecorded", nameOf(cu.eventQuery(mark)));
  void* pinned = nullptr;
  must(cu.memHostAlloc(&pinned, 1 << 16, 0), "cuMemHostAlloc");
  CUdeviceptr d = 0;
  must(cu.memAlloc(&d, 1 << 16), "cuMemAlloc");
  std::memset(pinned, 5, 1 << 16);
  Flag flag;
  flag.caller = std::this_thread::get_id();
  Gate gate;
  must(cu.eventRecord(start, a), "cuEventRecord");
  must(cu.launchHostFunc(a, waitGate, &gate), "cuLaunchHostFunc");
  must(cu.memcpyAsync(d, reinterpret_cast<CUdeviceptr>(pinned), 1 << 16, a), "H2D");
  must(cu.launchHostFunc(a, setFlag, &flag), "cuLaunchHostFunc");
  must(cu.eventRecord(mark, a), "cuEventRecord");
  must(cu.eventRecord(stop, a), "cuEventRecord");
  out.field("streamQueryAfterEnqueue", nameOf(cu.streamQuery(a)));
  out.field("eventQueryAfterEnqueue", nameOf(cu.eventQuery(mark)));
  out.field("hostFunctionRanBeforeSync", flag.value.load() != 0);
  float ms = 0;
  out.field("elapsedBeforeDone", nameOf(cu.eventElapsedTime(&ms, start, stop)));
  // Stream b waits for a's mark, then overwrites what a copied.
  unsigned char* bytes = static_cast<unsigned char*>(pinned);
  must(cu.streamWaitEvent(b, mark, 0), "cuStreamWaitEvent");
  must(cu.memsetD8Async(d, 9, 1 << 16, b), "memset");
  must(cu.memcpyAsync(reinterpret_cast<CUdeviceptr>(pinned), d, 1 << 16, b), "D2H");
  out.field("waitingStreamQuery", nameOf(cu.streamQuery(b)));
  gate.release();
  must(cu.streamSynchronize(b), "cuStreamSynchronize");
  out.field("orderedAcrossStreams", bytes[0] == 9 && bytes[(1 << 16) - 1] == 9);
  must(cu.eventSynchronize(stop), "cuEventSynchronize");
  must(cu.eventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
  out.field("elapsedMs", static_cast<double>(ms));
  out.field("hostFunctionRan", flag.value.load());
  out.field("hostFunctionOnStreamThread", flag.otherThread.load());
  out.field("hostFunctionApiCall", nameOf(flag.apiCall.load()));
  CUevent noTiming = mark;
  out.field("elapsedWithoutTiming", nameOf(cu.eventElapsedTime(&ms, start, noTiming)));
  // Destroying a stream with work queued: the work still runs.
  Flag late;
  late.caller = std::this_thread::get_id();
  Gate gate2;
  must(cu.launchHostFunc(a, waitGate, &gate2), "cuLaunchHostFunc");
  must(cu.launchHostFunc(a, setFlag, &late), "cuLaunchHostFunc");
  must(cu.eventRecord(mark, a), "cuEventRecord");
  must(cu.streamDestroy(a), "cuStreamDestroy");
  out.field("pendingAfterDestroy", late.value.load() == 0);
  gate2.release();
  must(cu.eventSynchronize(mark), "cuEventSynchronize");
  out.field("workAfterDestroyRan", late.value.load() == 1);
  // The legacy default stream waits for blocking streams.
  CUstream blocking = nullptr;
  must(cu.streamCreate(&blocking, 0), "cuStreamCreate");
  Flag legacy;
  legacy.caller = std::this_thread::get_id();
  Gate gate3;
  must(cu.launchHostFunc(blocking, waitGate, &gate3), "cuLaunchHostFunc");
  must(cu.launchHostFunc(blocking, setFlag, &legacy), "cuLaunchHostFunc");
  std::thread opener([&] { gate3.release(); });
  must(cu.streamSynchronize(nullptr), "cuStreamSynchronize(legacy)");
  opener.join();
  out.field("legacyWaitedForBlocking", legacy.value.load() == 1);
  must(cu.streamDestroy(blocking), "cuStreamDestroy");
  must(cu.streamDestroy(b), "cuStreamDestroy");
  must(cu.eventDestroy(start), "cuEventDestroy");
  must(cu.eventDestroy(stop), "cuEventDestroy");
  must(cu.eventDestroy(mark), "cuEventDestroy");
  must(cu.memFree(d), "cuMemFree");
  must(cu.memFreeHost(pinned), "cuMemFreeHost");
}

void CUDA_CB addOne(void* data) {
  auto* p = static_cast<unsigned char*>(data);
  for (int i = 0; i < 64; i++) p[i] = static_cast<unsigned char>(p[i] + 1);
}

void capture() {
  initPrimary();
  CUstream s = nullptr;
  must(cu.streamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  void* pinned = nullptr;
  must(cu.memHostAlloc(&pinned, 64, 0), "cuMemHostAlloc");
  auto* host = static_cast<unsigned char*>(pinned);
  std::memset(host, 0, 64);
  CUdeviceptr d = 0;
  must(cu.memAlloc(&d, 64), "cuMemAlloc");
  // Captured: H2D, host function (+1 on the pinned staging), D2H. Nothing runs until launched.
  must(cu.streamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
  CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
  must(cu.streamIsCapturing(s, &status), "cuStreamIsCapturing");
  out.field("capturing", status == CU_STREAM_CAPTURE_STATUS_ACTIVE);
  must(cu.memcpyAsync(d, reinterpret_cast<CUdeviceptr>(pinned), 64, s), "H2D");
  must(cu.launchHostFunc(s, addOne, pinned), "cuLaunchHostFunc");
  must(cu.memcpyAsync(d, reinterpret_cast<CUdeviceptr>(pinned), 64, s), "H2D");
  // A thread other than the capturing one may still allocate in thread-local mode.
  CUresult other = CUDA_ERROR_UNKNOWN;
  std::thread t([&] {
    CUcontext ctx = nullptr;
    CUdevice dev = 0;
    (void)cu.deviceGet(&dev, 0);
    (void)cu.primaryCtxRetain(&ctx, dev);
    (void)cu.ctxSetCurrent(ctx);
    CUdeviceptr p = 0;
    other = cu.memAlloc(&p, 16);
    if (other == CUDA_SUCCESS) (void)cu.memFree(p);
    (void)cu.primaryCtxRelease(dev);
  });
  t.join();
  out.field("otherThreadAllocDuringThreadLocalCapture", nameOf(other));
  CUgraph graph = nullptr;
  must(cu.streamEndCapture(s, &graph), "cuStreamEndCapture");
  out.field("ranDuringCapture", host[0] != 0);
  CUgraphExec exec = nullptr;
  must(cu.graphInstantiate(&exec, graph, 0), "cuGraphInstantiateWithFlags");
  for (int i = 0; i < 3; i++) must(cu.graphLaunch(exec, s), "cuGraphLaunch");
  must(cu.streamSynchronize(s), "cuStreamSynchronize");
  out.field("afterThreeLaunches", static_cast<int>(host[0]));
  out.field("graphsInstantiated", counterValue("cuda.graph.instantiated"));
  out.field("graphsLaunched", counterValue("cuda.graph.launched"));

  // Operations a capture forbids invalidate it.
  auto invalidatedBy = [&](CUstreamCaptureMode mode, const std::function<CUresult()>& call) {
    must(cu.streamBeginCapture(s, mode), "cuStreamBeginCapture");
    const CUresult r = call();
    CUgraph g = nullptr;
    const CUresult end = cu.streamEndCapture(s, &g);
    if (g != nullptr) (void)cu.graphDestroy(g);
    return nameOf(r) + "/" + nameOf(end);
  };
  out.key("illegal").begin();
  out.field("streamSynchronize", invalidatedBy(CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, [&] { return cu.streamSynchronize(s); }));
  out.field("streamQuery", invalidatedBy(CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, [&] { return cu.streamQuery(s); }));
  out.field("memAllocThreadLocal", invalidatedBy(CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, [&] {
              CUdeviceptr p = 0;
              return cu.memAlloc(&p, 16);
            }));
  out.field("pageableCopy", invalidatedBy(CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, [&] {
              static unsigned char buf[64];
              return cu.memcpyAsync(d, reinterpret_cast<CUdeviceptr>(buf), 64, s);
            }));
  out.field("otherThreadAllocGlobal", invalidatedBy(CU_STREAM_CAPTURE_MODE_GLOBAL, [&] {
              CUresult r = CUDA_ERROR_UNKNOWN;
              std::thread u([&] {
                CUcontext ctx = nullptr;
                (void)cu.primaryCtxRetain(&ctx, 0);
                (void)cu.ctxSetCurrent(ctx);
                CUdeviceptr p = 0;
                r = cu.memAlloc(&p, 16);
                (void)cu.primaryCtxRelease(0);
              });
              u.join();
              return r;
            }));
  out.field("relaxedAlloc", invalidatedBy(CU_STREAM_CAPTURE_MODE_RELAXED, [&] {
              CUdeviceptr p = 0;
              const CUresult r = cu.memAlloc(&p, 16);
              if (r == CUDA_SUCCESS) (void)cu.memFree(p);
              return r;
            }));
  out.field("capturedEventQuery", invalidatedBy(CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, [&] {
              CUevent e = nullptr;
              (void)cu.eventCreate(&e, CU_EVENT_DISABLE_TIMING);
              (void)cu.eventRecord(e, s);
              const CUresult r = cu.eventQuery(e);
              (void)cu.eventDestroy(e);
              return r;
            }));
  out.end();
  CUresult wrongThread = CUDA_ERROR_UNKNOWN;
  must(cu.streamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
  std::thread w([&] {
    CUcontext ctx = nullptr;
    (void)cu.primaryCtxRetain(&ctx, 0);
    (void)cu.ctxSetCurrent(ctx);
    CUgraph g = nullptr;
    wrongThread = cu.streamEndCapture(s, &g);
    (void)cu.primaryCtxRelease(0);
  });
  w.join();
  out.field("endFromOtherThread", nameOf(wrongThread));
  CUgraph g = nullptr;
  must(cu.streamEndCapture(s, &g), "cuStreamEndCapture");
  out.field("emptyGraph", g != nullptr);
  must(cu.graphDestroy(g), "cuGraphDestroy");
  out.field("legacyCapture", nameOf(cu.streamBeginCapture(nullptr, CU_STREAM_CAPTURE_MODE_GLOBAL)));
  out.field("invalidations", counterValue("cuda.capture.invalidated"));
  must(cu.graphExecDestroy(exec), "cuGraphExecDestroy");
  must(cu.graphDestroy(graph), "cuGraphDestroy");
  must(cu.streamDestroy(s), "cuStreamDestroy");
  must(cu.memFree(d), "cuMemFree");
  must(cu.memFreeHost(pinned), "cuMemFreeHost");
}

void CUDA_CB nothing(void*) {}

void faults() {
  initPrimary();
  // The second of the next device allocations fails; then every one above 1 MiB.
  if (setFaults("cuda.oom_alloc=2") != 0) std::exit(2);
  CUdeviceptr a = 0, b = 0, c = 0;
  out.key("nth").array();
  out.str(nameOf(cu.memAlloc(&a, 256)));
  out.str(nameOf(cu.memAlloc(&b, 256)));
  out.str(nameOf(cu.memAlloc(&c, 256)));
  out.endArray();
  must(cu.memFree(a), "cuMemFree");
  must(cu.memFree(c), "cuMemFree");
  if (setFaults("cuda.oom_above=1048576") != 0) std::exit(2);
  out.field("small", nameOf(cu.memAlloc(&a, 1 << 20)));
  out.field("large", nameOf(cu.memAlloc(&b, (1 << 20) + 1)));
  must(cu.memFree(a), "cuMemFree");
  if (setFaults("cuda.oom_host_alloc=1") != 0) std::exit(2);
  void* h = nullptr;
  out.field("hostAlloc", nameOf(cu.memHostAlloc(&h, 64, 0)));
  out.field("badSpec", setFaults("cuda.no_such_fault=1"));
  // A kernel's bad access is sticky: the context answers every call with it from then on.
  if (setFaults("cuda.sticky_kernel=2") != 0) std::exit(2);
  CUstream s = nullptr;
  must(cu.streamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  CUevent e = nullptr;
  must(cu.eventCreate(&e, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
  must(cu.launchHostFunc(s, nothing, nullptr), "cuLaunchHostFunc");
  must(cu.streamSynchronize(s), "first kernel");
  must(cu.launchHostFunc(s, nothing, nullptr), "cuLaunchHostFunc");
  // The fault is asynchronous: the record may be enqueued before the kernel runs, or already
  // see the poisoned context (as on a GPU, a later call reports an earlier kernel's fault).
  const CUresult record = cu.eventRecord(e, s);
  out.key("sticky").begin();
  out.field("recordAfterFault", record == CUDA_SUCCESS || record == CUDA_ERROR_ILLEGAL_ADDRESS);
  out.field("eventSynchronize", nameOf(cu.eventSynchronize(e)));
  out.field("eventQuery", nameOf(cu.eventQuery(e)));
  out.field("streamQuery", nameOf(cu.streamQuery(s)));
  out.field("memAlloc", nameOf(cu.memAlloc(&a, 16)));
  CUstream s2 = nullptr;
  out.field("streamCreate", nameOf(cu.streamCreate(&s2, 0)));
  int version = 0;
  out.field("driverGetVersion", nameOf(cu.driverGetVersion(&version)));
  out.end();
  (void)cu.eventDestroy(e);
  (void)cu.streamDestroy(s);
  // Only a fresh primary context recovers.
  must(cu.primaryCtxRelease(0), "cuDevicePrimaryCtxRelease");
  CUcontext ctx = nullptr;
  must(cu.primaryCtxRetain(&ctx, 0), "cuDevicePrimaryCtxRetain");
  must(cu.ctxSetCurrent(ctx), "cuCtxSetCurrent");
  out.field("afterReset", nameOf(cu.memAlloc(&a, 16)));
  (void)cu.memFree(a);
  out.field("faultsFired", counterValue("fault.cuda.oom_alloc") + counterValue("fault.cuda.oom_above") +
                               counterValue("fault.cuda.oom_host_alloc") + counterValue("fault.cuda.sticky_kernel"));
}

void CUDA_CB increment(void* data) {
  static_cast<std::atomic<int64_t>*>(data)->fetch_add(1);
}

void threads() {
  // Many threads, each with its own stream, copying and running host functions: for the
  // sanitizers (ThreadSanitizer, AddressSanitizer) more than for values.
  initPrimary();
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  std::atomic<int64_t> calls{0};
  std::atomic<int> mismatches{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; t++) {
    pool.emplace_back([&, t] {
      CUcontext ctx = nullptr;
      (void)cu.primaryCtxRetain(&ctx, 0);
      (void)cu.ctxSetCurrent(ctx);
      CUstream s = nullptr;
      must(cu.streamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
      CUevent e = nullptr;
      must(cu.eventCreate(&e, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
      void* pinned = nullptr;
      must(cu.memHostAlloc(&pinned, 1024, 0), "cuMemHostAlloc");
      auto* bytes = static_cast<unsigned char*>(pinned);
      for (int r = 0; r < kRounds; r++) {
        CUdeviceptr d = 0;
        must(cu.memAllocAsync(&d, 1024, s), "cuMemAllocAsync");
        std::memset(bytes, (t + r) & 0xFF, 1024);
        must(cu.memcpyAsync(d, reinterpret_cast<CUdeviceptr>(pinned), 1024, s), "H2D");
        must(cu.memsetD8Async(d, static_cast<unsigned char>((t * 3 + r) & 0xFF), 512, s), "memset");
        must(cu.launchHostFunc(s, increment, &calls), "cuLaunchHostFunc");
        must(cu.memcpyAsync(reinterpret_cast<CUdeviceptr>(pinned), d, 1024, s), "D2H");
        must(cu.memFreeAsync(d, s), "cuMemFreeAsync");
        must(cu.eventRecord(e, s), "cuEventRecord");
        must(cu.eventSynchronize(e), "cuEventSynchronize");
        if (bytes[0] != static_cast<unsigned char>((t * 3 + r) & 0xFF) ||
            bytes[1023] != static_cast<unsigned char>((t + r) & 0xFF)) {
          mismatches++;
        }
      }
      must(cu.memFreeHost(pinned), "cuMemFreeHost");
      must(cu.eventDestroy(e), "cuEventDestroy");
      must(cu.streamDestroy(s), "cuStreamDestroy");
      (void)cu.primaryCtxRelease(0);
    });
  }
  for (auto& t : pool) t.join();
  out.field("hostFunctions", calls.load());
  out.field("mismatches", mismatches.load());
  out.field("liveDeviceAllocations", counterValue("cuda.live.deviceAllocations"));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "";
  cu.load();
  out.begin();
  out.field("scenario", scenario);
  if (scenario == "info")
    info();
  else if (scenario == "memory")
    memory();
  else if (scenario == "async")
    async();
  else if (scenario == "capture")
    capture();
  else if (scenario == "faults")
    faults();
  else if (scenario == "threads")
    threads();
  else {
    std::fprintf(stderr, "usage: standin-driver-probe info|memory|async|capture|faults|threads\n");
    return 2;
  }
  out.key("counters").raw(standin::countersJson());
  out.end();
  std::printf("%s\n", out.text().c_str());
  return 0;
}
