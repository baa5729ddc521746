#pragma once
// The two places native errors become JS errors: `guarded` for synchronous calls (throws) and
// `toJsError` for promises rejected from the completion path. Both build the error through
// the factory the JS layer registered (errorFromCode in src/errors.ts), so native failures
// arrive as the same classes the TypeScript layer throws.

#include <napi.h>

#include <exception>
#include <new>

#include "common/native_error.h"

namespace trtn {

Napi::Value toJsError(Napi::Env env, const NativeError& error);
// Any other C++ exception: an internal error with its message (never a crash).
Napi::Value toJsError(Napi::Env env, const std::exception& error);

template <typename F>
auto guarded(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const NativeError& e) {
    throw Napi::Error(env, toJsError(env, e));
  } catch (const std::exception& e) {
    throw Napi::Error(env, toJsError(env, e));
  }
}

}  // namespace trtn
