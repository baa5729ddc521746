#include "napi/cuda_functions.h"

#include <memory>
#include <string>
#include <vector>

#include "cuda/device.h"
#include "cuda/device_memory.h"
#include "cuda/driver.h"
#include "cuda/pinned_pool.h"
#include "cuda/stream.h"
#include "napi/args.h"
#include "napi/completion_queue.h"
#include "napi/device_buffer_wrap.h"
#include "napi/instance.h"
#include "napi/js_error.h"
#include "napi/pinned_pool_wrap.h"
#include "napi/promise_worker.h"
#include "napi/stream_wrap.h"

namespace trtn {

namespace {

Napi::Value driverVersion(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] { return Napi::Number::New(info.Env(), cuda::driverVersion()).As<Napi::Value>(); });
}

Napi::Value headerVersion(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), CUDA_VERSION);
}

Napi::Value deviceCount(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] { return Napi::Number::New(info.Env(), cuda::deviceCount()).As<Napi::Value>(); });
}

Napi::Value deviceProperties(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    const auto p = cuda::deviceProperties(static_cast<int>(argInt(info, 0, "device", 0, 1 << 16)));
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", p.index);
    o.Set("name", p.name);
    o.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
    o.Set("major", p.major);
    o.Set("minor", p.minor);
    o.Set("totalMemory", static_cast<double>(p.totalMemory));
    o.Set("multiProcessorCount", p.multiProcessorCount);
    o.Set("pciBusId", p.pciBusId);
    o.Set("uuid", p.uuid);
    o.Set("l2CacheBytes", static_cast<double>(p.l2CacheBytes));
    o.Set("memoryBusWidth", p.memoryBusWidth);
    o.Set("integrated", p.integrated);
    return o.As<Napi::Value>();
  });
}

Napi::Value memoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    const auto m = cuda::memoryInfo(static_cast<int>(argInt(info, 0, "device", 0, 1 << 16)));
    Napi::Object o = Napi::Object::New(env);
    o.Set("free", static_cast<double>(m.free));
    o.Set("total", static_cast<double>(m.total));
    return o.As<Napi::Value>();
  });
}

// trimMemoryPool(device, keepBytes): returns unused memory of the device's stream-ordered pool
// to the driver (cuMemAllocAsync keeps freed memory for reuse until a synchronize or a trim).
Napi::Value trimMemoryPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    const int device = static_cast<int>(argInt(info, 0, "device", 0, 1 << 16));
    const std::size_t keep = argSize(info, 1, "keepBytes");
    cuda::DeviceGuard guard(device);
    CUmemoryPool pool = nullptr;
    TRTN_CU(deviceGetDefaultMemPool, &pool, cuda::deviceHandle(device));
    TRTN_CU(memPoolTrimTo, pool, keep);
    return env.Undefined();
  });
}

// One side of a copy: device memory, pinned host memory, or pageable JS memory.
struct Endpoint {
  char* base = nullptr;
  std::size_t size = 0;
  bool pageable = false;
  std::shared_ptr<const void> keep;
  Napi::Value js;  // the pageable JS object, kept referenced while the copy runs
};

Endpoint endpoint(Napi::Env env, Napi::Value v, const char* name) {
  Endpoint e;
  if (DeviceBufferWrap::is(env, v)) {
    auto mem = DeviceBufferWrap::from(env, v, name);
    e.base = static_cast<char*>(mem->data());
    e.size = mem->size();
    e.keep = std::move(mem);
  } else if (PinnedBufferWrap::is(env, v)) {
    auto block = PinnedBufferWrap::from(env, v, name);
    e.base = static_cast<char*>(block->data());
    e.size = block->size();
    e.keep = std::move(block);
  } else if (v.IsTypedArray() || v.IsDataView()) {
    napi_value ab = nullptr;
    void* data = nullptr;
    std::size_t length = 0;
    if (v.IsTypedArray()) {
      auto ta = v.As<Napi::TypedArray>();
      data = static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      length = ta.ByteLength();
      ab = ta.ArrayBuffer();
    } else {
      auto dv = v.As<Napi::DataView>();
      data = static_cast<char*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
      length = dv.ByteLength();
      ab = dv.ArrayBuffer();
    }
    e.base = static_cast<char*>(data);
    e.size = length;
    e.pageable = true;
    e.js = Napi::Value(env, ab);
  } else if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    e.base = static_cast<char*>(ab.Data());
    e.size = ab.ByteLength();
    e.pageable = true;
    e.js = v;
  } else {
    throwInvalidArg(std::string(name) + " must be a DeviceBuffer, a PinnedBuffer, a typed array or an ArrayBuffer");
  }
  return e;
}

// Copies that touch pageable memory block the calling thread inside CUDA, so they run on the
// libuv pool: the JS thread only validates and queues them.
class PageableCopy : public PromiseWorker {
 public:
  PageableCopy(Napi::Env env, std::shared_ptr<cuda::Stream> stream, void* dst, const void* src, std::size_t bytes,
               std::vector<std::shared_ptr<const void>> keep, std::vector<Napi::Value> js)
      : PromiseWorker(env, "tensorrt-node:copy"),
        stream_(std::move(stream)),
        dst_(dst),
        src_(src),
        bytes_(bytes),
        keep_(std::move(keep)) {
    for (auto& v : js) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

 protected:
  void work() override {
    cuda::DeviceGuard guard(stream_->device());
    TRTN_CU(memcpyAsync, cuda::address(dst_), cuda::address(src_), bytes_, stream_->get());
    stream_->synchronize();
  }

 private:
  std::shared_ptr<cuda::Stream> stream_;
  void* dst_;
  const void* src_;
  std::size_t bytes_;
  std::vector<std::shared_ptr<const void>> keep_;
  std::vector<Napi::ObjectReference> refs_;
};

// copyAsync(dst, dstOffset, src, srcOffset, bytes, stream) -> Promise<void>
Napi::Value copyAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Endpoint dst = endpoint(env, argAt(info, 0), "dst");
    const std::size_t dstOffset = argSize(info, 1, "dstOffset");
    Endpoint src = endpoint(env, argAt(info, 2), "src");
    const std::size_t srcOffset = argSize(info, 3, "srcOffset");
    const std::size_t bytes = argSize(info, 4, "bytes");
    auto stream = StreamWrap::from(env, argAt(info, 5), "stream");
    checkRange("dst", dstOffset, bytes, dst.size);
    checkRange("src", srcOffset, bytes, src.size);
    char* to = dst.base + dstOffset;
    const char* from = src.base + srcOffset;

    if (dst.pageable || src.pageable) {
      std::vector<Napi::Value> js;
      if (dst.pageable) js.push_back(dst.js);
      if (src.pageable) js.push_back(src.js);
      auto* worker = new PageableCopy(env, std::move(stream), to, from, bytes, {dst.keep, src.keep}, std::move(js));
      Napi::Promise promise = worker->promise();
      worker->Queue();
      return promise;
    }
    cuda::DeviceGuard guard(stream->device());
    TRTN_CU(memcpyAsync, cuda::address(to), cuda::address(from), bytes, stream->get());
    auto item = std::make_unique<PromiseCompletion>(env);
    item->hold(std::move(dst.keep));
    item->hold(std::move(src.keep));
    item->hold(stream);
    Napi::Promise promise = item->promise();
    InstanceData::of(env).completionQueue(env).afterStream(*stream, std::move(item));
    return promise;
  });
}

// memsetAsync(buffer, offset, value, bytes, stream): enqueued only; await stream.synchronize().
Napi::Value memsetAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    auto mem = DeviceBufferWrap::from(env, argAt(info, 0), "buffer");
    const std::size_t offset = argSize(info, 1, "offset");
    const int value = static_cast<int>(argInt(info, 2, "value", 0, 255));
    const std::size_t bytes = argSize(info, 3, "bytes");
    auto stream = StreamWrap::from(env, argAt(info, 4), "stream");
    checkRange("buffer", offset, bytes, mem->size());
    cuda::DeviceGuard guard(stream->device());
    TRTN_CU(memsetD8Async, mem->address() + offset, static_cast<unsigned char>(value), bytes, stream->get());
    return env.Undefined();
  });
}

// The baseline for the pinned-pool benchmark: plain cuMemcpyAsync between a cuMemHostAlloc
// buffer and device memory in a C++ loop, timed with CUDA events, on a libuv pool thread.
class BandwidthProbe : public PromiseWorker {
 public:
  BandwidthProbe(Napi::Env env, int device, std::size_t bytes, int iterations, bool toDevice)
      : PromiseWorker(env, "tensorrt-node:bandwidth"),
        device_(device),
        bytes_(bytes),
        iterations_(iterations),
        toDevice_(toDevice) {}

 protected:
  void work() override {
    void* host = nullptr;
    CUdeviceptr dev = 0;
    CUstream stream = nullptr;
    CUevent start = nullptr;
    CUevent stop = nullptr;
    // Frees what was made, whether the loop finished or threw.
    struct Cleanup {
      BandwidthProbe& self;
      void*& host;
      CUdeviceptr& dev;
      CUstream& stream;
      CUevent& start;
      CUevent& stop;
      ~Cleanup() {
        if (stream == nullptr && host == nullptr && dev == 0) return;  // the driver was never usable
        cuda::DeviceGuard guard(self.device_, std::nothrow);
        const cuda::DriverApi& api = cuda::driver();
        if (start) (void)api.eventDestroy(start);
        if (stop) (void)api.eventDestroy(stop);
        if (stream) (void)api.streamDestroy(stream);
        if (dev) (void)api.memFree(dev);
        if (host) (void)api.memFreeHost(host);
      }
    } cleanup{*this, host, dev, stream, start, stop};
    cuda::DeviceGuard guard(device_);
    TRTN_CU(memHostAlloc, &host, bytes_, CU_MEMHOSTALLOC_PORTABLE);
    TRTN_CU(memAlloc, &dev, bytes_);
    TRTN_CU(streamCreate, &stream, CU_STREAM_NON_BLOCKING);
    TRTN_CU(eventCreate, &start, CU_EVENT_DEFAULT);
    TRTN_CU(eventCreate, &stop, CU_EVENT_DEFAULT);
    const CUdeviceptr to = toDevice_ ? dev : cuda::address(host);
    const CUdeviceptr from = toDevice_ ? cuda::address(host) : dev;
    TRTN_CU(memcpyAsync, to, from, bytes_, stream);  // warm-up
    TRTN_CU(streamSynchronize, stream);
    for (int i = 0; i < iterations_; i++) {
      TRTN_CU(eventRecord, start, stream);
      TRTN_CU(memcpyAsync, to, from, bytes_, stream);
      TRTN_CU(eventRecord, stop, stream);
      TRTN_CU(eventSynchronize, stop);
      float ms = 0;
      TRTN_CU(eventElapsedTime, &ms, start, stop);
      ms_.push_back(ms);
    }
  }

  Napi::Value result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, ms_.size());
    for (std::size_t i = 0; i < ms_.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, ms_[i]));
    return out;
  }

 private:
  int device_;
  std::size_t bytes_;
  int iterations_;
  bool toDevice_;
  std::vector<float> ms_;
};

// bandwidthProbe(device, bytes, iterations, 'h2d' | 'd2h') -> Promise<number[]> (ms per copy)
Napi::Value bandwidthProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    const int device = static_cast<int>(argInt(info, 0, "device", 0, 1 << 16));
    const std::size_t bytes = argSize(info, 1, "bytes");
    const int iterations = static_cast<int>(argInt(info, 2, "iterations", 1, 100000));
    const Napi::Value dir = argAt(info, 3);
    if (!dir.IsString()) throwInvalidArg("direction must be 'h2d' or 'd2h'");
    const std::string d = dir.As<Napi::String>();
    if (d != "h2d" && d != "d2h") throwInvalidArg("direction must be 'h2d' or 'd2h'");
    auto* worker = new BandwidthProbe(env, device, bytes, iterations, d == "h2d");
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise.As<Napi::Value>();
  });
}

}  // namespace

void defineCudaFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaDriverVersion", Napi::Function::New<driverVersion>(env, "cudaDriverVersion"));
  exports.Set("cudaHeaderVersion", Napi::Function::New<headerVersion>(env, "cudaHeaderVersion"));
  exports.Set("cudaDeviceCount", Napi::Function::New<deviceCount>(env, "cudaDeviceCount"));
  exports.Set("cudaDeviceProperties", Napi::Function::New<deviceProperties>(env, "cudaDeviceProperties"));
  exports.Set("cudaMemGetInfo", Napi::Function::New<memoryInfo>(env, "cudaMemGetInfo"));
  exports.Set("trimMemoryPool", Napi::Function::New<trimMemoryPool>(env, "trimMemoryPool"));
  exports.Set("copyAsync", Napi::Function::New<copyAsync>(env, "copyAsync"));
  exports.Set("memsetAsync", Napi::Function::New<memsetAsync>(env, "memsetAsync"));
  exports.Set("bandwidthProbe", Napi::Function::New<bandwidthProbe>(env, "bandwidthProbe"));
}

}  // namespace trtn
