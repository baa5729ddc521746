#pragma once
// The one ILogger of the process. TensorRT keeps the first logger it is given for objects
// created later (and warns when handed another), so every builder and runtime gets this one;
// it fans messages out to the listeners registered at the time (a build's onLog callback).
// Errors that explain a failed call come from the per-object ErrorRecorder, not from here.
//
// TENSORRT_NODE_LOG=error|warning|info|verbose also prints messages up to that severity to
// stderr, for debugging a deserialization or an enqueue that fails without a listener.

#include <NvInferRuntime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace trtn::trt {

class Logger final : public nvinfer1::ILogger {
 public:
  using Listener = std::function<void(Severity severity, const char* message)>;

  // Never destroyed: TensorRT may log while the process exits.
  static Logger& instance();

  void log(Severity severity, const char* msg) noexcept override;

  // Receives messages of `maxSeverity` and more severe. Returns the id for removeListener.
  int64_t addListener(Severity maxSeverity, Listener listener);
  void removeListener(int64_t id);

  static const char* severityName(Severity severity) noexcept;
  // "error" | "warning" | "info" | "verbose" (and "internal-error"); kWARNING for anything else.
  static Severity parseSeverity(const std::string& name) noexcept;

 private:
  Logger();
  struct Entry {
    Severity maxSeverity;
    Listener listener;
  };
  std::mutex mu_;
  std::map<int64_t, Entry> listeners_;
  int64_t nextId_ = 1;
  int stderrLevel_ = -1;  // -1: off, else the most verbose Severity printed
};

}  // namespace trtn::trt
