#include "trt/loader.h"

#include <NvInferVersion.h>
#include <dlfcn.h>
#include <link.h>

#include <mutex>

namespace trtn::trt {

namespace {

std::mutex gMutex;
Library gLibrary;
bool gLoaded = false;
LoadResult gResult;

std::string lastDlError() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

std::string realPath(void* handle, const std::string& fallback) {
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr && map->l_name[0] != '\0') {
    return map->l_name;
  }
  return fallback;
}

std::string join(const std::string& dir, const std::string& file) {
  if (dir.empty()) return file;
  return dir.back() == '/' ? dir + file : dir + "/" + file;
}

std::string versionString(int v) {
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

template <typename Fn>
Fn symbol(void* handle, const char* name) {
  return reinterpret_cast<Fn>(dlsym(handle, name));
}

}  // namespace

int compiledMajor() { return NV_TENSORRT_MAJOR; }

std::string compiledVersion() {
  return std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." + std::to_string(NV_TENSORRT_PATCH);
}

std::string inferLibraryName() { return "libnvinfer.so." + std::to_string(NV_TENSORRT_MAJOR); }
std::string parserLibraryName() { return "libnvonnxparser.so." + std::to_string(NV_TENSORRT_MAJOR); }

const Library* loaded() {
  std::lock_guard<std::mutex> lock(gMutex);
  return gLoaded ? &gLibrary : nullptr;
}

LoadResult load(const std::vector<std::string>& dirs) {
  std::lock_guard<std::mutex> lock(gMutex);
  if (gLoaded) return gResult;

  LoadResult result;
  std::string wrongVersion;
  for (const std::string& dir : dirs) {
    const std::string path = join(dir, inferLibraryName());
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      result.searched.push_back({dir.empty() ? path + " (dynamic loader path)" : path, lastDlError()});
      continue;
    }
    using VersionFn = int32_t (*)();
    auto getVersion = symbol<VersionFn>(handle, "getInferLibVersion");
    auto createBuilder = symbol<Library::CreateBuilderFn>(handle, "createInferBuilder_INTERNAL");
    auto createRuntime = symbol<Library::CreateRuntimeFn>(handle, "createInferRuntime_INTERNAL");
    const std::string resolved = realPath(handle, path);
    if (getVersion == nullptr || createBuilder == nullptr || createRuntime == nullptr) {
      result.searched.push_back({resolved, "not a TensorRT library: getInferLibVersion/createInferBuilder_INTERNAL missing"});
      dlclose(handle);
      continue;
    }
    const int version = getVersion();
    if (version / 10000 != NV_TENSORRT_MAJOR) {
      const std::string msg = "TensorRT " + versionString(version) + " found, but this addon was built for TensorRT " +
                              std::to_string(NV_TENSORRT_MAJOR) + ".x";
      result.searched.push_back({resolved, msg});
      if (wrongVersion.empty()) wrongVersion = msg + " (" + resolved + ")";
      dlclose(handle);
      continue;
    }
    Library lib;
    lib.infer = handle;
    lib.inferPath = resolved;
    lib.version = version;
    lib.createBuilder = createBuilder;
    lib.createRuntime = createRuntime;
    // The parser sits next to libnvinfer (or on the same loader path).
    const std::string parserPath = join(dir, parserLibraryName());
    void* parser = dlopen(parserPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (parser == nullptr) {
      lib.parserError = parserPath + ": " + lastDlError();
    } else {
      auto createParser = symbol<Library::CreateParserFn>(parser, "createNvOnnxParser_INTERNAL");
      auto parserVersion = symbol<VersionFn>(parser, "getNvOnnxParserVersion");
      if (createParser == nullptr) {
        lib.parserError = parserPath + ": createNvOnnxParser_INTERNAL missing";
        dlclose(parser);
      } else {
        lib.parser = parser;
        lib.parserPath = realPath(parser, parserPath);
        lib.createParser = createParser;
        lib.parserVersion = parserVersion ? parserVersion() : 0;
      }
    }
    result.searched.push_back({resolved, ""});
    gLibrary = lib;
    gLoaded = true;
    result.library = &gLibrary;
    gResult = result;
    return result;
  }
  if (!wrongVersion.empty()) {
    result.code = "ERR_TENSORRT_VERSION";
    result.error = wrongVersion;
  } else {
    result.code = "ERR_TENSORRT_NOT_FOUND";
    result.error = inferLibraryName() + " was not found";
  }
  return result;
}

}  // namespace trtn::trt
