#include "napi/pinned_pool_wrap.h"

#include <cstring>
#include <utility>

#include "napi/args.h"
#include "napi/instance.h"
#include "napi/js_error.h"

namespace trtn {

Napi::Function PinnedPoolWrap::define(Napi::Env env) {
  return DefineClass(env, "PinnedPool",
                     {
                         InstanceMethod<&PinnedPoolWrap::acquire>("acquire"),
                         InstanceMethod<&PinnedPoolWrap::stats>("stats"),
                         InstanceMethod<&PinnedPoolWrap::trim>("trim"),
                     });
}

PinnedPoolWrap::PinnedPoolWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PinnedPoolWrap>(info) {
  guarded(info.Env(), [&] { pool_ = cuda::PinnedPool::create(argSize(info, 0, "maxCachedBytes")); });
}

Napi::Value PinnedPoolWrap::acquire(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] { return PinnedBufferWrap::create(env, pool_->acquire(argSize(info, 0, "bytes"))).As<Napi::Value>(); });
}

Napi::Value PinnedPoolWrap::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cuda::PinnedPoolStats s = pool_->stats();
  Napi::Object out = Napi::Object::New(env);
  out.Set("allocations", Napi::Number::New(env, static_cast<double>(s.allocations)));
  out.Set("reuses", Napi::Number::New(env, static_cast<double>(s.reuses)));
  out.Set("frees", Napi::Number::New(env, static_cast<double>(s.frees)));
  out.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(s.cachedBytes)));
  out.Set("inUseBytes", Napi::Number::New(env, static_cast<double>(s.inUseBytes)));
  out.Set("maxCachedBytes", Napi::Number::New(env, static_cast<double>(s.maxCachedBytes)));
  return out;
}

Napi::Value PinnedPoolWrap::trim(const Napi::CallbackInfo& info) {
  pool_->trim();
  return info.Env().Undefined();
}

Napi::Function PinnedBufferWrap::define(Napi::Env env) {
  return DefineClass(env, "PinnedBuffer",
                     {
                         InstanceAccessor<&PinnedBufferWrap::array>("array"),
                         InstanceAccessor<&PinnedBufferWrap::byteLength>("byteLength"),
                         InstanceAccessor<&PinnedBufferWrap::capacity>("capacity"),
                         InstanceAccessor<&PinnedBufferWrap::released>("released"),
                         InstanceMethod<&PinnedBufferWrap::write>("write"),
                         InstanceMethod<&PinnedBufferWrap::read>("read"),
                         InstanceMethod<&PinnedBufferWrap::release>("release"),
                     });
}

namespace {
using BlockPtr = std::shared_ptr<cuda::PinnedBlock>;
}

Napi::Object PinnedBufferWrap::create(Napi::Env env, std::shared_ptr<cuda::PinnedBlock> block) {
  auto* transfer = new BlockPtr(std::move(block));
  return InstanceData::of(env).pinnedBufferCtor.New({Napi::External<BlockPtr>::New(env, transfer)});
}

PinnedBufferWrap::PinnedBufferWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PinnedBufferWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(env, "PinnedBuffer is created by PinnedPool.acquire()");
  }
  std::unique_ptr<BlockPtr> block(info[0].As<Napi::External<BlockPtr>>().Data());
  block_ = std::move(*block);
  bytes_ = block_->size();
  capacity_ = block_->capacity();
}

char* PinnedBufferWrap::live(const char* what) const {
  if (!block_) throw NativeError("ERR_DISPOSED", std::string(what) + " on a released PinnedBuffer");
  return static_cast<char*>(block_->data());
}

Napi::Value PinnedBufferWrap::array(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!array_.IsEmpty()) return array_.Value();
    char* data = live("array");
    // The ArrayBuffer holds the block through `holder_`: its finalizer (garbage collection,
    // or later after a detach) deletes the holder, while release() empties it at once,
    // because a detached buffer can no longer reach the memory.
    holder_ = new BlockPtr(block_);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, data, bytes_, [](Napi::Env, void*, BlockPtr* hint) { delete hint; }, holder_);
    arrayBuffer_ = Napi::Persistent(ab);
    Napi::Uint8Array view = Napi::Uint8Array::New(env, bytes_, ab, 0);
    array_ = Napi::Persistent(view);
    return view;
  });
}

namespace {

// The bytes of a typed array, DataView or ArrayBuffer.
std::pair<char*, std::size_t> bytesOf(Napi::Value v, const char* name) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    return {static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength()};
  }
  if (v.IsDataView()) {
    auto dv = v.As<Napi::DataView>();
    return {static_cast<char*>(dv.ArrayBuffer().Data()) + dv.ByteOffset(), dv.ByteLength()};
  }
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<char*>(ab.Data()), ab.ByteLength()};
  }
  throwInvalidArg(std::string(name) + " must be a typed array, a DataView or an ArrayBuffer");
}

}  // namespace

// write(source, offset = 0): copies all of `source` into the block at `offset`.
Napi::Value PinnedBufferWrap::write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    char* data = live("write()");
    auto [src, bytes] = bytesOf(argAt(info, 0), "source");
    const std::size_t offset = info.Length() > 1 && !info[1].IsUndefined() ? argSize(info, 1, "offset") : 0;
    checkRange("write()", offset, bytes, bytes_);
    if (bytes > 0) std::memmove(data + offset, src, bytes);  // the source may be a view of this buffer
    return env.Undefined();
  });
}

// read(target, offset = 0): fills all of `target` from the block at `offset`.
Napi::Value PinnedBufferWrap::read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    const char* data = live("read()");
    auto [dst, bytes] = bytesOf(argAt(info, 0), "target");
    const std::size_t offset = info.Length() > 1 && !info[1].IsUndefined() ? argSize(info, 1, "offset") : 0;
    checkRange("read()", offset, bytes, bytes_);
    if (bytes > 0) std::memmove(dst, data + offset, bytes);
    return env.Undefined();
  });
}

bool PinnedBufferWrap::is(Napi::Env env, Napi::Value value) {
  return value.IsObject() && value.As<Napi::Object>().InstanceOf(InstanceData::of(env).pinnedBufferCtor.Value());
}

std::shared_ptr<cuda::PinnedBlock> PinnedBufferWrap::from(Napi::Env env, Napi::Value value, const char* name) {
  if (!is(env, value)) throwInvalidArg(std::string(name) + " must be a PinnedBuffer");
  auto* self = Unwrap(value.As<Napi::Object>());
  if (!self->block_) throw NativeError("ERR_DISPOSED", std::string(name) + " was released");
  return self->block_;
}

Napi::Value PinnedBufferWrap::byteLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
}

Napi::Value PinnedBufferWrap::capacity(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(capacity_));
}

Napi::Value PinnedBufferWrap::released(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !block_);
}

Napi::Value PinnedBufferWrap::release(const Napi::CallbackInfo& info) {
  if (!arrayBuffer_.IsEmpty()) {
    // Empty the holder first: the ArrayBuffer's finalizer, whenever it runs (it may run
    // during Detach), then deletes an empty holder.
    holder_->reset();
    holder_ = nullptr;
    Napi::ArrayBuffer ab = arrayBuffer_.Value();
    if (!ab.IsDetached()) ab.Detach();
    arrayBuffer_.Reset();
  }
  block_.reset();  // copies in flight hold their own reference
  return info.Env().Undefined();
}

}  // namespace trtn
