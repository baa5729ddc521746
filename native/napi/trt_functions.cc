#include "napi/trt_functions.h"

#include "napi/js_error.h"
#include "napi/trt_staging_probe.h"

#ifdef TRTN_WITH_TENSORRT
#include "napi/instance.h"
#include "napi/trt_context_wrap.h"
#include "napi/trt_engine_wrap.h"
#include "napi/trt_network_wrap.h"
#include "trt/loader.h"
#endif

namespace trtn {

#ifdef TRTN_WITH_TENSORRT

namespace {

Napi::Object describeLoad(Napi::Env env, const trt::LoadResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("found", r.library != nullptr);
  Napi::Array searched = Napi::Array::New(env, r.searched.size());
  for (std::size_t i = 0; i < r.searched.size(); i++) {
    Napi::Object a = Napi::Object::New(env);
    a.Set("path", r.searched[i].path);
    if (r.searched[i].error.empty()) {
      a.Set("error", env.Null());
    } else {
      a.Set("error", r.searched[i].error);
    }
    searched.Set(static_cast<uint32_t>(i), a);
  }
  o.Set("searched", searched);
  if (r.library != nullptr) {
    const auto& lib = *r.library;
    o.Set("version", lib.version);
    o.Set("libraryPath", lib.inferPath);
    o.Set("parserPath", lib.parserPath.empty() ? env.Null() : Napi::String::New(env, lib.parserPath));
    o.Set("parserVersion", lib.parserVersion);
    o.Set("parserError", lib.parserError.empty() ? env.Null() : Napi::String::New(env, lib.parserError));
  } else {
    o.Set("code", r.code);
    o.Set("error", r.error);
  }
  return o;
}

// trtLoad(dirs: string[]) -> { found, version?, libraryPath?, parserPath?, searched[], code?, error? }
Napi::Value trtLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    std::vector<std::string> dirs;
    if (info.Length() < 1 || !info[0].IsArray()) throwInvalidArg("dirs must be an array of folder paths");
    Napi::Array arr = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsString()) throwInvalidArg("dirs[" + std::to_string(i) + "] must be a string");
      dirs.push_back(v.As<Napi::String>());
    }
    return describeLoad(env, trt::load(dirs)).As<Napi::Value>();
  });
}

}  // namespace

void defineTrtFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("TrtStagingProbe", StagingProbeWrap::define(env));
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
  exports.Set("trtLibraryNames", [&] {
    Napi::Array names = Napi::Array::New(env, 2);
    names.Set(0u, trt::inferLibraryName());
    names.Set(1u, trt::parserLibraryName());
    return names;
  }());
}

Napi::Value trtBuildVersion(Napi::Env env) { return Napi::String::New(env, trt::compiledVersion()); }

#else

void defineTrtFunctions(Napi::Env env, Napi::Object exports) { exports.Set("TrtStagingProbe", StagingProbeWrap::define(env)); }
Napi::Value trtBuildVersion(Napi::Env env) { return env.Null(); }

#endif

}  // namespace trtn
