#pragma once
// TensorRT's progress monitor over a BuildProgress (api.h). TensorRT calls it from its builder
// threads: phase starts and ends go to the sink as they come, steps at most every
// BuildProgress::kStepIntervalMs per phase (tactic timing can report thousands), and
// stepComplete returns false once the build was cancelled, which makes TensorRT stop the
// build (buildSerializedNetwork returns null).

#include <NvInfer.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "trt/api.h"

namespace trtn::trt {

class ProgressMonitor final : public nvinfer1::IProgressMonitor {
 public:
  explicit ProgressMonitor(BuildProgress& progress) : progress_(progress) {}

  bool cancelled() const noexcept { return progress_.cancelled(); }

  void phaseStart(char const* phaseName, char const* parentPhase, int32_t nbSteps) noexcept override;
  bool stepComplete(char const* phaseName, int32_t step) noexcept override;
  void phaseFinish(char const* phaseName) noexcept override;

 private:
  BuildProgress& progress_;
  std::mutex mu_;
  struct PhaseState {
    int32_t steps = 0;
    std::chrono::steady_clock::time_point lastStep{};
  };
  std::unordered_map<std::string, PhaseState> phases_;
};

}  // namespace trtn::trt
