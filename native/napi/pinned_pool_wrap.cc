#include "napi/pinned_pool_wrap.h"

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
  return guarded(env, [&] {
    return PinnedBufferWrap::create(env, pool_->acquire(argSize(info, 0, "bytes"))).As<Napi::Value>();
  });
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
                         InstanceAccessor<&PinnedBufferWrap::byteLength>("byteLength"),
                         InstanceAccessor<&PinnedBufferWrap::capacity>("capacity"),
                         InstanceAccessor<&PinnedBufferWrap::released>("released"),
                         InstanceMethod<&PinnedBufferWrap::release>("release"),
                     });
}

namespace {
using BlockPtr = std::shared_ptr<cuda::PinnedBlock>;
}

Napi::Object PinnedBufferWrap::create(Napi::Env env, std::shared_ptr<cuda::PinnedBlock> block) {
  auto* holder = new BlockPtr(std::move(block));
  return InstanceData::of(env).pinnedBufferCtor.New({Napi::External<BlockPtr>::New(env, holder)});
}

PinnedBufferWrap::PinnedBufferWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PinnedBufferWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(env, "PinnedBuffer is created by PinnedPool.acquire()");
  }
  std::unique_ptr<BlockPtr> holder(info[0].As<Napi::External<BlockPtr>>().Data());
  block_ = *holder;
  bytes_ = block_->size();
  capacity_ = block_->capacity();
  // The ArrayBuffer owns its own reference to the block, released by its finalizer (on
  // garbage collection or when release() detaches it).
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, block_->data(), bytes_, [](Napi::Env, void*, BlockPtr* hint) { delete hint; }, holder.release());
  arrayBuffer_ = Napi::Persistent(ab);
  Value().DefineProperty(Napi::PropertyDescriptor::Value("array", Napi::Uint8Array::New(env, bytes_, ab, 0), napi_enumerable));
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

Napi::Value PinnedBufferWrap::released(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !block_); }

Napi::Value PinnedBufferWrap::release(const Napi::CallbackInfo& info) {
  if (block_) {
    block_.reset();
    Napi::ArrayBuffer ab = arrayBuffer_.Value();
    if (!ab.IsDetached()) ab.Detach();
    arrayBuffer_.Reset();
  }
  return info.Env().Undefined();
}

}  // namespace trtn
