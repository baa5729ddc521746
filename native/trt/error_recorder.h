#pragma once
// Collects the errors TensorRT reports for one builder, runtime or execution context, so a
// failed call can be reported with TensorRT's own words instead of a bare "returned false".
// TensorRT may report from its own threads; every member is guarded by a mutex.

#include <NvInferRuntime.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace trtn::trt {

class ErrorRecorder final : public nvinfer1::IErrorRecorder {
 public:
  struct Entry {
    nvinfer1::ErrorCode code;
    std::string desc;
  };

  ErrorRecorder() = default;
  ~ErrorRecorder() noexcept override = default;

  int32_t getNbErrors() const noexcept override;
  nvinfer1::ErrorCode getErrorCode(int32_t errorIdx) const noexcept override;
  ErrorDesc getErrorDesc(int32_t errorIdx) const noexcept override;
  bool hasOverflowed() const noexcept override;
  void clear() noexcept override;
  bool reportError(nvinfer1::ErrorCode val, ErrorDesc desc) noexcept override;
  // The owner keeps the recorder alive for longer than every TensorRT object it is set on, so
  // the count is informational only.
  RefCount incRefCount() noexcept override { return ++refs_; }
  RefCount decRefCount() noexcept override { return --refs_; }

  // The errors so far, and clears them.
  std::vector<Entry> take();
  // "desc; desc; ..." of the errors so far (empty when none), and clears them.
  std::string takeSummary();

  static const char* codeName(nvinfer1::ErrorCode code) noexcept;

 private:
  // Kept small: the first errors explain a failure, later ones are usually consequences.
  static constexpr std::size_t kCapacity = 32;
  mutable std::mutex mu_;
  std::deque<Entry> entries_;  // a deque keeps getErrorDesc's pointers valid while it grows
  bool overflowed_ = false;
  std::atomic<RefCount> refs_{0};
};

// True when the errors say an allocation failed (TensorRT reports device OOM this way).
bool isOutOfMemory(const std::vector<ErrorRecorder::Entry>& entries);

}  // namespace trtn::trt
