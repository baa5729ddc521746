#pragma once
// Per-environment state: each main thread or worker_thread that loads the addon gets its own,
// so the addon is context-aware and a terminated worker takes only its own state down.

#include <napi.h>

#include <memory>

namespace trtn {

class CompletionQueue;

struct InstanceData {
  Napi::FunctionReference errorFactory;
  Napi::FunctionReference streamCtor;
  Napi::FunctionReference eventCtor;
  Napi::FunctionReference deviceBufferCtor;
  Napi::FunctionReference pinnedPoolCtor;
  Napi::FunctionReference pinnedBufferCtor;
  // TensorRT wraps (set only in builds with TensorRT headers).
  Napi::FunctionReference trtNetworkCtor;
  Napi::FunctionReference trtEngineCtor;
  Napi::FunctionReference trtContextCtor;
  std::unique_ptr<CompletionQueue> completions;

  InstanceData();
  ~InstanceData();

  static InstanceData& of(Napi::Env env) { return *env.GetInstanceData<InstanceData>(); }
  // The completion queue, started on first use (so loading the addon starts no thread).
  CompletionQueue& completionQueue(Napi::Env env);
};

}  // namespace trtn
