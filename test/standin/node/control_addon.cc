// The stand-ins' control interface (common/control.h) as a Node.js addon, so a test process
// that drives the stand-ins through tensorrt-node can inject faults and read counters while it
// runs (the environment variables are read once, at load). Loaded with
// process.dlopen(module, "<build/standin>/trtn_standin_control.node"); it reaches the same
// libtrtn_standin.so as the stand-ins, the one beside it.
//
//   setFaults(spec: string): void        replaces the fault set (TRTN_STANDIN_FAULTS syntax)
//   counters(): string                   every counter, as trtn_standin_counters_json() writes it
//   counter(name: string): number

#include <node_api.h>

#include <string>

#include "common/control.hpp"

namespace {

napi_value throwError(napi_env env, const std::string& message) {
  napi_throw_error(env, "ERR_STANDIN_CONTROL", message.c_str());
  return nullptr;
}

bool stringArg(napi_env env, napi_callback_info info, std::string& out) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1) return false;
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[0], nullptr, 0, &length) != napi_ok) return false;
  out.resize(length + 1);
  if (napi_get_value_string_utf8(env, argv[0], out.data(), out.size(), &length) != napi_ok) return false;
  out.resize(length);
  return true;
}

napi_value setFaults(napi_env env, napi_callback_info info) {
  std::string spec;
  if (!stringArg(env, info, spec)) return throwError(env, "setFaults(spec) takes a string");
  if (!standin::control().loaded) return throwError(env, "libtrtn_standin.so is not beside the control addon");
  if (standin::setFaults(spec.c_str()) != 0) return throwError(env, "the stand-ins refused the fault spec \"" + spec + "\"");
  return nullptr;
}

napi_value counters(napi_env env, napi_callback_info) {
  const std::string json = standin::countersJson();
  napi_value out = nullptr;
  napi_create_string_utf8(env, json.data(), json.size(), &out);
  return out;
}

napi_value counter(napi_env env, napi_callback_info info) {
  std::string name;
  if (!stringArg(env, info, name)) return throwError(env, "counter(name) takes a string");
  napi_value out = nullptr;
  napi_create_int64(env, standin::counterValue(name.c_str()), &out);
  return out;
}

napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"setFaults", nullptr, setFaults, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"counters", nullptr, counters, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"counter", nullptr, counter, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
