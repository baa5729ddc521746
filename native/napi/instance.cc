#include "napi/instance.h"

#include "napi/completion_queue.h"

namespace trtn {

InstanceData::InstanceData() = default;
InstanceData::~InstanceData() = default;

CompletionQueue& InstanceData::completionQueue(Napi::Env env) {
  if (!completions) completions = std::make_unique<CompletionQueue>(env);
  return *completions;
}

}  // namespace trtn
