#include "trt/progress_monitor.h"

namespace trtn::trt {

void ProgressMonitor::phaseStart(char const* phaseName, char const* parentPhase, int32_t nbSteps) noexcept {
  ProgressEvent e;
  e.kind = ProgressEvent::Kind::kPhaseStart;
  try {
    e.phase = phaseName != nullptr ? phaseName : "";
    e.parent = parentPhase != nullptr ? parentPhase : "";
    e.steps = nbSteps;
    std::lock_guard<std::mutex> lock(mu_);
    phases_[e.phase] = PhaseState{nbSteps, {}};
  } catch (...) {
    return;
  }
  progress_.emit(e);
}

bool ProgressMonitor::stepComplete(char const* phaseName, int32_t step) noexcept {
  if (cancelled()) return false;
  try {
    ProgressEvent e;
    e.kind = ProgressEvent::Kind::kStep;
    e.phase = phaseName != nullptr ? phaseName : "";
    e.step = step;
    bool forward = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& state = phases_[e.phase];
      const auto now = std::chrono::steady_clock::now();
      const bool last = state.steps > 0 && step + 1 >= state.steps;
      const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(now - state.lastStep).count();
      forward = last || since >= BuildProgress::kStepIntervalMs;
      if (forward) state.lastStep = now;
      e.steps = state.steps;
    }
    if (forward) progress_.emit(e);
  } catch (...) {
  }
  return !cancelled();
}

void ProgressMonitor::phaseFinish(char const* phaseName) noexcept {
  ProgressEvent e;
  e.kind = ProgressEvent::Kind::kPhaseFinish;
  try {
    e.phase = phaseName != nullptr ? phaseName : "";
    std::lock_guard<std::mutex> lock(mu_);
    phases_.erase(e.phase);
  } catch (...) {
    return;
  }
  progress_.emit(e);
}

}  // namespace trtn::trt
