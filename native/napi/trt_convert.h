#pragma once
// Plain TensorRT-side structs (trt/api.h) to and from JS values, for the TensorRT wraps.

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/native_error.h"
#include "trt/api.h"

namespace trtn {

inline Napi::Array toJs(Napi::Env env, const std::vector<int64_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (std::size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(v[i])));
  return a;
}

inline Napi::Array toJs(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (std::size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, v[i]));
  return a;
}

inline Napi::Object toJs(Napi::Env env, const trt::NetworkTensor& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", t.name);
  o.Set("dtype", t.dtype);
  o.Set("dims", toJs(env, t.dims));
  o.Set("dimNames", toJs(env, t.dimNames));
  o.Set("isShapeTensor", t.isShapeTensor);
  return o;
}

inline Napi::Object toJs(Napi::Env env, const trt::ParserError& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("code", e.code);
  o.Set("message", e.message);
  o.Set("node", e.node);
  o.Set("nodeName", e.nodeName);
  o.Set("opType", e.opType);
  o.Set("file", e.file);
  o.Set("line", e.line);
  o.Set("func", e.func);
  o.Set("localFunctionStack", toJs(env, e.localFunctionStack));
  return o;
}

inline Napi::Object toJs(Napi::Env env, const trt::EngineTensor& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", t.name);
  o.Set("mode", t.input ? "input" : "output");
  o.Set("dtype", t.dtype);
  o.Set("dims", toJs(env, t.dims));
  o.Set("isShapeTensor", t.isShapeTensor);
  o.Set("onHost", t.onHost);
  o.Set("linear", t.linear);
  Napi::Array profiles = Napi::Array::New(env, t.profiles.size());
  for (std::size_t p = 0; p < t.profiles.size(); p++) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("min", toJs(env, t.profiles[p].min));
    r.Set("opt", toJs(env, t.profiles[p].opt));
    r.Set("max", toJs(env, t.profiles[p].max));
    profiles.Set(static_cast<uint32_t>(p), r);
  }
  o.Set("profiles", profiles);
  if (!t.input) o.Set("aliasOf", t.aliasOf);
  return o;
}

template <typename T>
Napi::Array toJsArray(Napi::Env env, const std::vector<T>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (std::size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), toJs(env, v[i]));
  return a;
}

// An array of integers (each within 2^53) named `what` for messages.
inline std::vector<int64_t> int64Array(Napi::Value v, const std::string& what) {
  if (!v.IsArray()) throwInvalidArg(what + " must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber()) throwInvalidArg(what + "[" + std::to_string(i) + "] must be an integer");
    const double d = x.As<Napi::Number>().DoubleValue();
    if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0) || static_cast<double>(static_cast<int64_t>(d)) != d) {
      throwInvalidArg(what + "[" + std::to_string(i) + "] must be an integer");
    }
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

inline Napi::Value property(Napi::Object o, const char* key) {
  return o.Has(key) ? o.Get(key) : o.Env().Undefined();
}

inline bool boolProperty(Napi::Object o, const char* key, bool fallback) {
  Napi::Value v = property(o, key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throwInvalidArg(std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline int64_t intProperty(Napi::Object o, const char* key, int64_t fallback, int64_t min, int64_t max) {
  Napi::Value v = property(o, key);
  if (v.IsUndefined()) return fallback;
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1e300;
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || static_cast<double>(static_cast<int64_t>(d)) != d) {
    throwInvalidArg(std::string(key) + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return static_cast<int64_t>(d);
}

// Bytes of a Uint8Array (or any ArrayBufferView) without copying; valid while the view is.
struct ByteView {
  const uint8_t* data = nullptr;
  std::size_t size = 0;
};

inline ByteView bytesOf(Napi::Value v, const char* what) {
  if (!v.IsTypedArray() && !v.IsDataView()) throwInvalidArg(std::string(what) + " must be a Uint8Array");
  ByteView out;
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    out.data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    out.size = ta.ByteLength();
  } else {
    Napi::DataView dv = v.As<Napi::DataView>();
    out.data = static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    out.size = dv.ByteLength();
  }
  return out;
}

}  // namespace trtn
