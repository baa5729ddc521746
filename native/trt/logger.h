#pragma once
// The one ILogger of the process. TensorRT keeps the first logger it is given for objects
// created later (and warns when handed another), so every builder and runtime gets this one;
// it fans messages out to the listeners registered at the time (a build's onLog callback,
// through addLogListener in api.h). Errors that explain a failed call come from the
// per-object ErrorRecorder, not from here.
//
// TENSORRT_NODE_LOG=error|warning|info|verbose also prints messages up to that severity to
// stderr, for debugging a deserialization or an enqueue that fails without a listener.

#include <NvInferRuntime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "trt/api.h"

namespace trtn::trt {

class Logger final : public nvinfer1::ILogger {
 public:
  // Never destroyed: TensorRT may log while the process exits.
  static Logger& instance();

  void log(Severity severity, const char* msg) noexcept override;

  int64_t addListener(trt::Severity maxSeverity, LogListener listener);
  void removeListener(int64_t id);

 private:
  Logger();
  struct Entry {
    trt::Severity maxSeverity;
    LogListener listener;
  };
  std::mutex mu_;
  std::map<int64_t, Entry> listeners_;
  int64_t nextId_ = 1;
  int stderrLevel_ = -1;  // -1: off, else the most verbose Severity printed
};

}  // namespace trtn::trt
