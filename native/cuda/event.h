#pragma once
// A CUDA event, with or without timing.

#include <cuda.h>

namespace trtn::cuda {

class Stream;

class Event {
 public:
  Event(int device, bool timing);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  CUevent get() const noexcept { return event_; }
  int device() const noexcept { return device_; }
  bool timing() const noexcept { return timing_; }
  bool recorded() const noexcept { return recorded_; }

  void record(const Stream& stream);
  bool query() const;
  void synchronize() const;
  // Milliseconds between two recorded, completed timing events.
  static float elapsedMs(const Event& start, const Event& end);

 private:
  int device_;
  bool timing_;
  bool recorded_ = false;
  CUevent event_ = nullptr;
};

}  // namespace trtn::cuda
