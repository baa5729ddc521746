#pragma once
// The one ILogger of the process. TensorRT keeps the first logger it is given for objects
// created later (and warns when handed another), so every builder and runtime gets this one.
// It routes each message by the thread that logs it: to the listeners registered on that
// thread (a build's onLog, through addThreadLogListener in api.h), and, when the thread is
// none the addon calls TensorRT from (one of TensorRT's own), to every listener. Errors that
// explain a failed call come from the per-object ErrorRecorder, or, for factories that return
// null with the reason on the logger only, from a LoggedErrors scope.
//
// TENSORRT_NODE_LOG=error|warning|info|verbose also prints messages up to that severity to
// stderr, for debugging a deserialization or an enqueue that fails without a listener.

#include <NvInferRuntime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "trt/api.h"

namespace trtn::trt {

class Logger final : public nvinfer1::ILogger {
 public:
  // Never destroyed: TensorRT may log while the process exits.
  static Logger& instance();

  void log(Severity severity, const char* msg) noexcept override;

  int64_t addThreadListener(trt::Severity maxSeverity, LogListener listener);
  void removeListener(int64_t id);

  // Marks the calling thread as one the addon calls TensorRT from (a libuv pool thread or the
  // JS thread), so its messages reach only listeners of that thread. Cheap; call it before
  // each call into TensorRT.
  static void markAddonThread() noexcept;

 private:
  Logger();
  struct Entry {
    trt::Severity maxSeverity;
    std::thread::id thread;
    LogListener listener;
  };
  std::mutex mu_;
  std::map<int64_t, Entry> listeners_;
  int64_t nextId_ = 1;
  int stderrLevel_ = -1;  // -1: off, else the most verbose Severity printed
};

// While alive, collects the errors TensorRT logs on this thread: createInferBuilder,
// createInferRuntime and the parser's factory return null with the reason on the logger only.
// Scopes nest; the innermost collects.
class LoggedErrors {
 public:
  LoggedErrors() noexcept;
  ~LoggedErrors();
  LoggedErrors(const LoggedErrors&) = delete;
  LoggedErrors& operator=(const LoggedErrors&) = delete;

  // "message; message; ..." (empty when none were logged).
  std::string summary() const;
  void add(const char* message) noexcept;

 private:
  static constexpr std::size_t kCapacity = 16;
  LoggedErrors* outer_;
  std::vector<std::string> messages_;
};

}  // namespace trtn::trt
