#pragma once

#include <napi.h>

#include <memory>

#include "cuda/pinned_pool.h"

namespace trtn {

// JS: new PinnedPool(maxCachedBytes). acquire(bytes) -> PinnedBuffer; stats(); trim().
class PinnedPoolWrap : public Napi::ObjectWrap<PinnedPoolWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit PinnedPoolWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value acquire(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value trim(const Napi::CallbackInfo& info);

  std::shared_ptr<cuda::PinnedPool> pool_;
};

// A block of pinned memory. JS reaches the bytes through write()/read() (a memcpy from or to
// a typed array) or through `array`, a Uint8Array over the block made on first access.
// `array` is lazy because V8 counts an external ArrayBuffer as allocated memory: making one
// per acquire of a large block triggers a full garbage collection almost every time.
// release() detaches `array` and returns the block to its pool at once; a buffer that is only
// dropped returns it when collected. Copies in flight hold the block themselves, so releasing
// early never hands memory still being copied to someone else.
class PinnedBufferWrap : public Napi::ObjectWrap<PinnedBufferWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit PinnedBufferWrap(const Napi::CallbackInfo& info);
  static Napi::Object create(Napi::Env env, std::shared_ptr<cuda::PinnedBlock> block);
  static bool is(Napi::Env env, Napi::Value value);
  static std::shared_ptr<cuda::PinnedBlock> from(Napi::Env env, Napi::Value value, const char* name);

 private:
  Napi::Value array(const Napi::CallbackInfo& info);
  Napi::Value byteLength(const Napi::CallbackInfo& info);
  Napi::Value capacity(const Napi::CallbackInfo& info);
  Napi::Value released(const Napi::CallbackInfo& info);
  Napi::Value write(const Napi::CallbackInfo& info);
  Napi::Value read(const Napi::CallbackInfo& info);
  Napi::Value release(const Napi::CallbackInfo& info);
  char* live(const char* what) const;

  std::shared_ptr<cuda::PinnedBlock> block_;
  std::shared_ptr<cuda::PinnedBlock>* holder_ = nullptr;  // owned by the ArrayBuffer's finalizer
  Napi::Reference<Napi::ArrayBuffer> arrayBuffer_;
  Napi::Reference<Napi::Uint8Array> array_;
  std::size_t bytes_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace trtn
