#include "trt/error_recorder.h"

#include <algorithm>
#include <cctype>

namespace trtn::trt {

int32_t ErrorRecorder::getNbErrors() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int32_t>(entries_.size());
}

nvinfer1::ErrorCode ErrorRecorder::getErrorCode(int32_t errorIdx) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (errorIdx < 0 || static_cast<std::size_t>(errorIdx) >= entries_.size()) return nvinfer1::ErrorCode::kINVALID_ARGUMENT;
  return entries_[static_cast<std::size_t>(errorIdx)].code;
}

nvinfer1::IErrorRecorder::ErrorDesc ErrorRecorder::getErrorDesc(int32_t errorIdx) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (errorIdx < 0 || static_cast<std::size_t>(errorIdx) >= entries_.size()) return "";
  return entries_[static_cast<std::size_t>(errorIdx)].desc.c_str();
}

bool ErrorRecorder::hasOverflowed() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return overflowed_;
}

void ErrorRecorder::clear() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
  overflowed_ = false;
}

bool ErrorRecorder::reportError(nvinfer1::ErrorCode val, ErrorDesc desc) noexcept {
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.size() >= kCapacity) {
      overflowed_ = true;
    } else {
      entries_.push_back({val, desc != nullptr ? desc : ""});
    }
  } catch (...) {
    // Out of host memory while recording: the error is lost, TensorRT carries on.
  }
  // false: TensorRT goes on with its own handling (it never aborts on our account).
  return false;
}

std::vector<ErrorRecorder::Entry> ErrorRecorder::take() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Entry> out(entries_.begin(), entries_.end());
  entries_.clear();
  overflowed_ = false;
  return out;
}

std::string ErrorRecorder::takeSummary() {
  const auto entries = take();
  std::string out;
  for (const auto& e : entries) {
    if (!out.empty()) out += "; ";
    out += e.desc;
  }
  return out;
}

const char* ErrorRecorder::codeName(nvinfer1::ErrorCode code) noexcept {
  switch (code) {
    case nvinfer1::ErrorCode::kSUCCESS:
      return "kSUCCESS";
    case nvinfer1::ErrorCode::kUNSPECIFIED_ERROR:
      return "kUNSPECIFIED_ERROR";
    case nvinfer1::ErrorCode::kINTERNAL_ERROR:
      return "kINTERNAL_ERROR";
    case nvinfer1::ErrorCode::kINVALID_ARGUMENT:
      return "kINVALID_ARGUMENT";
    case nvinfer1::ErrorCode::kINVALID_CONFIG:
      return "kINVALID_CONFIG";
    case nvinfer1::ErrorCode::kFAILED_ALLOCATION:
      return "kFAILED_ALLOCATION";
    case nvinfer1::ErrorCode::kFAILED_INITIALIZATION:
      return "kFAILED_INITIALIZATION";
    case nvinfer1::ErrorCode::kFAILED_EXECUTION:
      return "kFAILED_EXECUTION";
    case nvinfer1::ErrorCode::kFAILED_COMPUTATION:
      return "kFAILED_COMPUTATION";
    case nvinfer1::ErrorCode::kINVALID_STATE:
      return "kINVALID_STATE";
    case nvinfer1::ErrorCode::kUNSUPPORTED_STATE:
      return "kUNSUPPORTED_STATE";
  }
  return "kUNKNOWN";
}

bool isOutOfMemory(const std::vector<ErrorRecorder::Entry>& entries) {
  for (const auto& e : entries) {
    if (e.code == nvinfer1::ErrorCode::kFAILED_ALLOCATION) return true;
    std::string lower(e.desc);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower.find("out of memory") != std::string::npos || lower.find("cudaerrormemoryallocation") != std::string::npos ||
        lower.find("outofmemory") != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace trtn::trt
