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

namespace {

// The innermost LoggedErrors scope of this thread, or null.
thread_local LoggedErrors* tlsLoggedErrors = nullptr;
// True on threads the addon calls TensorRT from (see Logger::markAddonThread).
thread_local bool tlsAddonThread = false;

}  // namespace

Logger& Logger::instance() {
  static Logger* logger = new Logger();
  return *logger;
}

Logger::Logger() {
  const char* env = std::getenv("TENSORRT_NODE_LOG");
  if (env != nullptr && env[0] != '\0') stderrLevel_ = static_cast<int>(parseSeverity(env));
}

void Logger::markAddonThread() noexcept {
  tlsAddonThread = true;
}

void Logger::log(Severity severity, const char* msg) noexcept {
  if (msg == nullptr) return;
  const int level = static_cast<int>(severity);
  const auto ours = static_cast<trt::Severity>(level);
  if (level <= stderrLevel_) std::fprintf(stderr, "[tensorrt-node] TensorRT %s: %s\n", severityName(ours), msg);
  if (tlsLoggedErrors != nullptr && level <= static_cast<int>(trt::Severity::kError)) tlsLoggedErrors->add(msg);
  try {
    const std::thread::id self = std::this_thread::get_id();
    // A thread that is not the addon's is TensorRT's own: its messages belong to no build in
    // particular, so every listener hears them.
    const bool anyThread = !tlsAddonThread;
    std::vector<LogListener> targets;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, entry] : listeners_) {
        if (level <= static_cast<int>(entry.maxSeverity) && (anyThread || entry.thread == self))
          targets.push_back(entry.listener);
      }
    }
    // Called outside the lock: a listener may take its time (it queues to JS).
    for (const auto& l : targets) l(ours, msg);
  } catch (...) {
    // A logger must not throw into TensorRT.
  }
}

int64_t Logger::addThreadListener(trt::Severity maxSeverity, LogListener listener) {
  markAddonThread();
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t id = nextId_++;
  listeners_.emplace(id, Entry{maxSeverity, std::this_thread::get_id(), std::move(listener)});
  return id;
}

void Logger::removeListener(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.erase(id);
}

int64_t addThreadLogListener(Severity maxSeverity, LogListener listener) {
  return Logger::instance().addThreadListener(maxSeverity, std::move(listener));
}

void removeLogListener(int64_t id) {
  Logger::instance().removeListener(id);
}

LoggedErrors::LoggedErrors() noexcept : outer_(tlsLoggedErrors) {
  Logger::markAddonThread();
  tlsLoggedErrors = this;
}

LoggedErrors::~LoggedErrors() {
  tlsLoggedErrors = outer_;
}

void LoggedErrors::add(const char* message) noexcept {
  try {
    if (messages_.size() < kCapacity) messages_.emplace_back(message);
  } catch (...) {
    // Out of host memory: the message is lost, the call still fails with what was kept.
  }
}

std::string LoggedErrors::summary() const {
  std::string out;
  for (const auto& m : messages_) {
    if (!out.empty()) out += "; ";
    out += m;
  }
  return out;
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
