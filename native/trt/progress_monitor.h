#pragma once
// Build progress and cancellation. TensorRT calls the monitor from its builder threads: phase
// starts and ends go to the sink as they come, steps at most every kStepIntervalMs per phase
// (tactic timing can report thousands), and stepComplete returns false once cancel() was
// called, which makes TensorRT stop the build (buildSerializedNetwork returns null).

#include <NvInfer.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace trtn::trt {

struct ProgressEvent {
  enum class Kind { kPhaseStart, kStep, kPhaseFinish };
  Kind kind = Kind::kPhaseStart;
  std::string phase;
  std::string parent;  // empty for a top-level phase
  int32_t steps = 0;   // phase starts: the number of steps
  int32_t step = 0;    // steps: the step that completed (0-based)
};

class ProgressMonitor final : public nvinfer1::IProgressMonitor {
 public:
  using Sink = std::function<void(const ProgressEvent&)>;
  static constexpr int64_t kStepIntervalMs = 50;

  explicit ProgressMonitor(Sink sink) : sink_(std::move(sink)) {}

  void cancel() noexcept { cancelled_.store(true); }
  bool cancelled() const noexcept { return cancelled_.load(); }

  void phaseStart(char const* phaseName, char const* parentPhase, int32_t nbSteps) noexcept override;
  bool stepComplete(char const* phaseName, int32_t step) noexcept override;
  void phaseFinish(char const* phaseName) noexcept override;

 private:
  void emit(const ProgressEvent& e) noexcept;

  Sink sink_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  struct PhaseState {
    int32_t steps = 0;
    std::chrono::steady_clock::time_point lastStep{};
  };
  std::unordered_map<std::string, PhaseState> phases_;
};

}  // namespace trtn::trt
