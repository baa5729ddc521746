#include "trt/logger.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace trtn::trt {

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
  if (level <= stderrLevel_) std::fprintf(stderr, "[tensorrt-node] TensorRT %s: %s\n", severityName(severity), msg);
  try {
    std::vector<Listener> targets;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, entry] : listeners_) {
        if (level <= static_cast<int>(entry.maxSeverity)) targets.push_back(entry.listener);
      }
    }
    // Called outside the lock: a listener may take its time (it queues to JS).
    for (const auto& l : targets) l(severity, msg);
  } catch (...) {
    // A logger must not throw into TensorRT.
  }
}

int64_t Logger::addListener(Severity maxSeverity, Listener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t id = nextId_++;
  listeners_.emplace(id, Entry{maxSeverity, std::move(listener)});
  return id;
}

void Logger::removeListener(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.erase(id);
}

const char* Logger::severityName(Severity severity) noexcept {
  switch (severity) {
    case Severity::kINTERNAL_ERROR: return "internal-error";
    case Severity::kERROR: return "error";
    case Severity::kWARNING: return "warning";
    case Severity::kINFO: return "info";
    case Severity::kVERBOSE: return "verbose";
  }
  return "unknown";
}

Logger::Severity Logger::parseSeverity(const std::string& name) noexcept {
  if (name == "internal-error") return Severity::kINTERNAL_ERROR;
  if (name == "error") return Severity::kERROR;
  if (name == "info") return Severity::kINFO;
  if (name == "verbose") return Severity::kVERBOSE;
  return Severity::kWARNING;
}

}  // namespace trtn::trt
