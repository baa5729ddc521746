#pragma once
// A diagnostic for the TensorRT run path's own cost, compiled only with the cmake option
// TENSORRT_NODE_STAGING_PROBE=ON (never in user builds; it needs no TensorRT): TrtStagingProbe does what TrtContext.run does
// except setInputShape/enqueueV3 - inputs copied into pinned staging on the JS thread, H2D, D2H of fixed-size outputs, an event
// through the completion queue, outputs copied into new ArrayBuffers. The benchmark puts it
// behind TensorRTSession (scripts/bench-trt-overhead.ts); it is not part of the public API.
// bareRoundTrips(n) times the same copies in a C++ loop on a worker thread, the baseline.

#include <napi.h>

#include <memory>

namespace trtn {

struct StagingProbeState;

class StagingProbeWrap : public Napi::ObjectWrap<StagingProbeWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  // new TrtStagingProbe(device, inputBytes: number[], outputs: { bytes, dims }[])
  explicit StagingProbeWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value run(const Napi::CallbackInfo& info);
  Napi::Value bareRoundTrips(const Napi::CallbackInfo& info);
  Napi::Value profile(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);

  std::shared_ptr<StagingProbeState> state_;
};

}  // namespace trtn
