#include "trt/logger.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace trtn::trt {

// api.h mirrors ILogger::Severity so values pass through unchanged.
static_assert(static_cast<int>(nvinfer1::ILogger::Severity::kINTERNAL_ERROR) == static_cast<int>(Severity::kInternalError));
static_assert(static_cast<int>(nvinfer1::ILogger::Severity::kERROR) == static_cast<int>(Severity::kError));
static_assert(static_cast<int>(nvinfer1::ILogger::Severity::kWARNING) == static_cast<int>(Severity::kWarning));
static_assert(static_cast<int>(nvinfer1::ILogger::Severity::kINFO) == static_cast<int>(Severity::kInfo));
static_assert(static_cast<int>(nvinfer1::ILogger::Severity::kVERBOSE) == static_cast<int>(Severity::kVerbose));

Logger& Logger::instance() {
  static Logger* logger = new Logger();
  return *logger;
}

Logger::Logger() {
  const char* env = std::getenv("TENSORRT_NODE_LOG");
  if (env != nullptr && env[0] != '\0') stderrLevel_ = static_cast<int>(parseSeverity(env));
}

void Logger::log(Severity severity, const char* msg) noexcept {
  if (msg == nullptr) return;
  const int level = static_cast<int>(severity);
  const auto ours = static_cast<trt::Severity>(level);
  if (level <= stderrLevel_) std::fprintf(stderr, "[tensorrt-node] TensorRT %s: %s\n", severityName(ours), msg);
  try {
    std::vector<LogListener> targets;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, entry] : listeners_) {
        if (level <= static_cast<int>(entry.maxSeverity)) targets.push_back(entry.listener);
      }
    }
    // Called outside the lock: a listener may take its time (it queues to JS).
    for (const auto& l : targets) l(ours, msg);
  } catch (...) {
    // A logger must not throw into TensorRT.
  }
}

int64_t Logger::addListener(trt::Severity maxSeverity, LogListener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t id = nextId_++;
  listeners_.emplace(id, Entry{maxSeverity, std::move(listener)});
  return id;
}

void Logger::removeListener(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.erase(id);
}

int64_t addLogListener(Severity maxSeverity, LogListener listener) {
  return Logger::instance().addListener(maxSeverity, std::move(listener));
}

void removeLogListener(int64_t id) {
  Logger::instance().removeListener(id);
}

const char* severityName(Severity severity) noexcept {
  switch (severity) {
    case Severity::kInternalError:
      return "internal-error";
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kInfo:
      return "info";
    case Severity::kVerbose:
      return "verbose";
  }
  return "unknown";
}

Severity parseSeverity(const std::string& name) noexcept {
  if (name == "internal-error") return Severity::kInternalError;
  if (name == "error") return Severity::kError;
  if (name == "info") return Severity::kInfo;
  if (name == "verbose") return Severity::kVerbose;
  return Severity::kWarning;
}

}  // namespace trtn::trt
