#pragma once
// Argument readers for the native entry points. The TypeScript layer validates first; these
// still check what native code dereferences, so a direct call with bad values throws
// ERR_INVALID_ARG instead of crashing.

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "common/native_error.h"

namespace trtn {

inline Napi::Value argAt(const Napi::CallbackInfo& info, std::size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}

// An integer in [min, max] (both within 2^53).
inline int64_t argInt(const Napi::CallbackInfo& info, std::size_t i, const char* name, int64_t min, int64_t max) {
  Napi::Value v = argAt(info, i);
  if (!v.IsNumber()) throwInvalidArg(std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    throwInvalidArg(std::string(name) + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return static_cast<int64_t>(d);
}

constexpr int64_t kMaxSafeInteger = 9007199254740991LL;

inline std::size_t argSize(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  return static_cast<std::size_t>(argInt(info, i, name, 0, kMaxSafeInteger));
}

inline bool argBool(const Napi::CallbackInfo& info, std::size_t i, bool fallback) {
  Napi::Value v = argAt(info, i);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

// `offset + bytes <= size`, without overflow.
inline void checkRange(const char* what, std::size_t offset, std::size_t bytes, std::size_t size) {
  if (offset > size || bytes > size - offset) {
    throwInvalidArg(std::string(what) + ": offset " + std::to_string(offset) + " + " + std::to_string(bytes) +
                    " bytes is past its end (" + std::to_string(size) + " bytes)");
  }
}

}  // namespace trtn
