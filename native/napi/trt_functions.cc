#include "napi/trt_functions.h"

#include "napi/instance.h"
#include "napi/js_error.h"
#include "napi/trt_context_wrap.h"
#include "napi/trt_engine_wrap.h"
#include "napi/trt_network_wrap.h"
#include "trt/api.h"

#ifdef TRTN_STAGING_PROBE
#include "napi/trt_staging_probe.h"
#endif

namespace trtn {

namespace {

Napi::Value stringOrNull(Napi::Env env, const std::string& s) {
  return s.empty() ? env.Null() : Napi::String::New(env, s);
}

Napi::Array strings(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (std::size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), v[i]);
  return a;
}

Napi::Object describeLoad(Napi::Env env, const trt::LoadResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("found", r.version != 0);
  Napi::Array searched = Napi::Array::New(env, r.searched.size());
  for (std::size_t i = 0; i < r.searched.size(); i++) {
    Napi::Object a = Napi::Object::New(env);
    a.Set("path", r.searched[i].path);
    a.Set("error", stringOrNull(env, r.searched[i].error));
    searched.Set(static_cast<uint32_t>(i), a);
  }
  o.Set("searched", searched);
  if (r.version != 0) {
    o.Set("version", r.version);
    o.Set("libraryPath", r.path);
  } else {
    o.Set("code", r.code);
    o.Set("error", r.error);
  }
  if (r.library != nullptr) {
    const auto& lib = *r.library;
    o.Set("parserPath", stringOrNull(env, lib.parserPath));
    o.Set("parserVersion", lib.parserVersion);
    o.Set("parserError", stringOrNull(env, lib.parserError));
    o.Set("pluginPath", stringOrNull(env, lib.pluginPath));
    o.Set("pluginError", stringOrNull(env, lib.pluginError));
    o.Set("pluginsRegistered", lib.pluginsRegistered);
    o.Set("preloaded", strings(env, lib.preloaded));
    o.Set("leanRuntimePath", stringOrNull(env, lib.leanRuntimePath));
    o.Set("preloadErrors", strings(env, lib.preloadErrors));
  }
  return o;
}

std::vector<std::string> dirsArg(const Napi::CallbackInfo& info) {
  std::vector<std::string> dirs;
  if (info.Length() < 1 || !info[0].IsArray()) throwInvalidArg("dirs must be an array of folder paths");
  Napi::Array arr = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) throwInvalidArg("dirs[" + std::to_string(i) + "] must be a string");
    dirs.push_back(v.As<Napi::String>());
  }
  return dirs;
}

// trtLoad(dirs: string[]) -> { found, version?, libraryPath?, parserPath?, pluginPath?, searched[], code?, error? }
Napi::Value trtLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] { return describeLoad(env, trt::load(dirsArg(info))).As<Napi::Value>(); });
}

// trtProbe(dirs: string[]) -> { found, version?, libraryPath?, searched[], code?, error? }: what
// trtLoad would find, keeping nothing (for the process that picks the addon variant).
Napi::Value trtProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] { return describeLoad(env, trt::probe(dirsArg(info))).As<Napi::Value>(); });
}

}  // namespace

void defineTrtFunctions(Napi::Env env, Napi::Object exports) {
#ifdef TRTN_STAGING_PROBE
  exports.Set("TrtStagingProbe", StagingProbeWrap::define(env));
#endif
  if (!trt::available()) return;
  auto& data = InstanceData::of(env);
  Napi::Function network = NetworkWrap::define(env);
  Napi::Function engine = EngineWrap::define(env);
  Napi::Function context = ContextWrap::define(env);
  data.trtNetworkCtor = Napi::Persistent(network);
  data.trtEngineCtor = Napi::Persistent(engine);
  data.trtContextCtor = Napi::Persistent(context);
  exports.Set("TrtNetwork", network);
  exports.Set("TrtEngine", engine);
  exports.Set("TrtContext", context);
  exports.Set("trtParseOnnx", Napi::Function::New<trtParseOnnx>(env, "trtParseOnnx"));
  exports.Set("trtDeserialize", Napi::Function::New<trtDeserialize>(env, "trtDeserialize"));
  exports.Set("trtLoad", Napi::Function::New<trtLoad>(env, "trtLoad"));
  exports.Set("trtProbe", Napi::Function::New<trtProbe>(env, "trtProbe"));
  Napi::Array names = Napi::Array::New(env, 2);
  names.Set(0u, trt::inferLibraryName());
  names.Set(1u, trt::parserLibraryName());
  exports.Set("trtLibraryNames", names);
}

Napi::Value trtBuildVersion(Napi::Env env) {
  if (!trt::available()) return env.Null();
  return Napi::String::New(env, trt::headerVersion());
}

}  // namespace trtn
