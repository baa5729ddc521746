#include "napi/js_error.h"

#include <string>

#include "napi/instance.h"

namespace trtn {

namespace {

Napi::Value makeError(Napi::Env env, const std::string& code, const std::string& message, const NativeError* native) {
  Napi::Object details = Napi::Object::New(env);
  if (native != nullptr && !native->cudaError().empty()) {
    details.Set("cudaError", native->cudaError());
    details.Set("sticky", native->sticky());
  }
  auto* data = env.GetInstanceData<InstanceData>();
  if (data != nullptr && !data->errorFactory.IsEmpty()) {
    return data->errorFactory.Call({Napi::String::New(env, code), Napi::String::New(env, message), details});
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", code);
  if (native != nullptr && !native->cudaError().empty()) error.Set("cudaError", native->cudaError());
  return error.Value();
}

}  // namespace

Napi::Value toJsError(Napi::Env env, const NativeError& error) {
  return makeError(env, error.code(), error.what(), &error);
}

Napi::Value toJsError(Napi::Env env, const std::exception& error) {
  if (dynamic_cast<const std::bad_alloc*>(&error) != nullptr) {
    return makeError(env, "ERR_INTERNAL", "out of host memory in the native addon", nullptr);
  }
  return makeError(env, "ERR_INTERNAL", std::string("native addon error: ") + error.what(), nullptr);
}

}  // namespace trtn
