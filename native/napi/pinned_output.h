#pragma once
// Output bytes handed to JS without a copy: an ArrayBuffer over a pinned block, which goes back
// to its pool when the ArrayBuffer is collected. Measured on the H100 (scripts/bench-trt-overhead.ts),
// copying a 786 KB output into a new ArrayBuffer cost ~140 us per run on the JS thread (V8
// zero-fills it, the pages fault in, then the copy), five times the transfer itself.

#include <napi.h>

#include <cstring>
#include <memory>

#include "cuda/pinned_pool.h"

namespace trtn {

inline Napi::ArrayBuffer pinnedArrayBuffer(Napi::Env env, std::shared_ptr<cuda::PinnedBlock> block, std::size_t bytes) {
  void* data = block->data();
  auto* hold = new std::shared_ptr<cuda::PinnedBlock>(std::move(block));
  napi_value ab = nullptr;
  // No napi_adjust_external_memory: V8 already counts an ArrayBuffer's backing store, external
  // ones included, towards its GC heuristics; reporting it again doubled the full GCs (seen
  // with --trace-gc on the H100).
  const napi_status status = napi_create_external_arraybuffer(
      env, data, bytes, [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<cuda::PinnedBlock>*>(hint); }, hold,
      &ab);
  if (status == napi_ok) return Napi::ArrayBuffer(env, ab);
  // A runtime that refuses external buffers: copy.
  Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(copy.Data(), data, bytes);
  delete hold;
  return copy;
}

}  // namespace trtn
