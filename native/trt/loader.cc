#include "trt/loader.h"

#include <NvInferVersion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>

#include <algorithm>
#include <mutex>

#include "trt/logger.h"

namespace trtn::trt {

namespace {

// The oldest library these headers can drive: TensorRT's interfaces grow by appending virtual
// methods in each minor release, and the headers call what they declare (e.g.
// getDeviceMemorySizeV2 exists from 10.1), so a library older than the headers' minor would
// jump through a vtable slot it lacks. Newer minors are fine.
constexpr int kMinVersion = NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100;

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

std::string folderOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

bool isFile(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string versionString(int v) {
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

// major * 10000 + minor * 100 + patch of the file a path resolves to when that file is named
// "<lib>.so.<major>.<minor>.<patch>" (how TensorRT's .deb and .tar installs name them behind
// their soname links); 0 when it is not.
int releaseOfFile(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return 0;
  const std::string name = resolved;
  const auto so = name.rfind(".so.");
  if (so == std::string::npos) return 0;
  int parts[3] = {0, 0, 0};
  int n = 0;
  std::size_t i = so + 4;
  while (n < 3 && i < name.size()) {
    std::size_t j = i;
    while (j < name.size() && name[j] >= '0' && name[j] <= '9') j++;
    if (j == i || j - i > 4) return 0;
    parts[n++] = std::stoi(name.substr(i, j - i));
    if (j == name.size()) break;
    if (name[j] != '.') return 0;
    i = j + 1;
  }
  if (n != 3 || i > name.size()) return 0;
  return parts[0] * 10000 + parts[1] * 100 + parts[2];
}

template <typename Fn>
Fn symbol(void* handle, const char* name) {
  return reinterpret_cast<Fn>(dlsym(handle, name));
}

using VersionFn = int32_t (*)();

struct Found {
  void* handle = nullptr;
  std::string dir;       // the folder as searched ("" for the loader path)
  std::string resolved;  // the file the loader opened
  int version = 0;
  Library::CreateBuilderFn createBuilder = nullptr;
  Library::CreateRuntimeFn createRuntime = nullptr;
};

// The first libnvinfer.so.<major> in `dirs` of this major and at least the headers' minor;
// every attempt goes into result.searched, and a failed search sets result.code/error.
bool search(const std::vector<std::string>& dirs, int flags, LoadResult& result, Found& found) {
  std::string versionProblem;
  for (const std::string& dir : dirs) {
    const std::string path = join(dir, inferLibraryName());
    void* handle = dlopen(path.c_str(), flags);
    if (handle == nullptr) {
      result.searched.push_back({dir.empty() ? path + " (dynamic loader path)" : path, lastDlError()});
      continue;
    }
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
    std::string problem;
    if (version / 10000 != NV_TENSORRT_MAJOR) {
      problem = "TensorRT " + versionString(version) + " found, but this addon was built for TensorRT " +
                std::to_string(NV_TENSORRT_MAJOR) + ".x";
    } else if (version < kMinVersion) {
      problem = "TensorRT " + versionString(version) + " found, but this addon was built with TensorRT " + headerVersion() +
                " headers and needs " + std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) +
                " or newer (an older library lacks interface methods the headers declare)";
    }
    if (!problem.empty()) {
      result.searched.push_back({resolved, problem});
      if (versionProblem.empty()) versionProblem = problem + " (" + resolved + ")";
      dlclose(handle);
      continue;
    }
    result.searched.push_back({resolved, ""});
    found.handle = handle;
    found.dir = dir;
    found.resolved = resolved;
    found.version = version;
    found.createBuilder = createBuilder;
    found.createRuntime = createRuntime;
    return true;
  }
  if (!versionProblem.empty()) {
    result.code = "ERR_TENSORRT_VERSION";
    result.error = versionProblem;
  } else {
    result.code = "ERR_TENSORRT_NOT_FOUND";
    result.error = inferLibraryName() + " was not found";
  }
  return false;
}

void loadParser(const Found& found, Library& lib) {
  // The parser of libnvinfer's own release sits beside it. Found through the loader path,
  // libnvinfer's folder is still tried first: a bare-name dlopen may find another install's
  // parser earlier on LD_LIBRARY_PATH (or in the ld.so cache), whose IParser was built against
  // other headers; the loader path is the fallback for split installs.
  std::string parserPath = join(found.dir, parserLibraryName());
  if (found.dir.empty()) {
    const std::string beside = join(folderOf(found.resolved), parserLibraryName());
    if (!folderOf(found.resolved).empty() && isFile(beside)) parserPath = beside;
  }
  void* parser = dlopen(parserPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (parser == nullptr) {
    lib.parserError = parserPath + ": " + lastDlError();
    return;
  }
  auto createParser = symbol<Library::CreateParserFn>(parser, "createNvOnnxParser_INTERNAL");
  auto parserVersion = symbol<VersionFn>(parser, "getNvOnnxParserVersion");
  if (createParser == nullptr) {
    lib.parserError = parserPath + ": createNvOnnxParser_INTERNAL missing";
    dlclose(parser);
    return;
  }
  // The parser has no TensorRT version of its own to ask (getNvOnnxParserVersion is
  // onnx-tensorrt's), but installs name the file behind the soname by its release
  // (libnvonnxparser.so.10.16.0): one older than the headers lacks IParser methods they
  // declare, as for libnvinfer. A file without a version in its name (pip's) is taken as is.
  const int fileVersion = releaseOfFile(realPath(parser, parserPath));
  if (fileVersion != 0 && fileVersion < kMinVersion) {
    lib.parserError = realPath(parser, parserPath) + " is TensorRT " + versionString(fileVersion) +
                      "'s parser, but this addon was built with TensorRT " + headerVersion() + " headers and needs " +
                      std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + " or newer";
    dlclose(parser);
    return;
  }
  lib.parser = parser;
  lib.parserPath = realPath(parser, parserPath);
  lib.createParser = createParser;
  lib.parserVersion = parserVersion ? parserVersion() : 0;
}

// libnvinfer opens some of its siblings by bare name when it needs them (the builder resource
// on the first build, the lean and dispatch runtimes for version-compatible plans). From a
// folder that is not on the loader path (pip's tensorrt_libs, a tarball, TENSORRT_LIB_DIR)
// those loads fail, so they are loaded here by full path first: a bare-name dlopen then finds
// the library already loaded under its soname (what the pip wheel's __init__ does).
// Builder resources carry libnvinfer's full version in their name (libnvinfer dlopens
// libnvinfer_builder_resource*.so.<major>.<minor>.<patch>): only those of the loaded version are
// taken, so the leftovers of another release in the same folder (a tarball unpacked over an
// older one) are neither mapped (they are large) nor found by libnvinfer in its place.
std::vector<std::string> siblingsOf(const std::string& folder, int version) {
  const std::string major = std::to_string(NV_TENSORRT_MAJOR);
  const std::string resourceSuffix = ".so." + versionString(version);
  std::vector<std::string> out;
  DIR* d = opendir(folder.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    const bool builderResource = name.rfind("libnvinfer_builder_resource", 0) == 0 && name.size() > resourceSuffix.size() &&
                                 name.compare(name.size() - resourceSuffix.size(), resourceSuffix.size(), resourceSuffix) == 0;
    const bool runtime = name == "libnvinfer_lean.so." + major || name == "libnvinfer_dispatch.so." + major;
    if (builderResource || runtime) out.push_back(join(folder, name));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

void preloadSiblings(const std::string& folder, int version, Library& lib) {
  if (folder.empty()) return;
  const std::string lean = join(folder, "libnvinfer_lean.so." + std::to_string(NV_TENSORRT_MAJOR));
  if (isFile(lean)) lib.leanRuntimePath = lean;
  for (const std::string& path : siblingsOf(folder, version)) {
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr) {
      lib.preloaded.push_back(path);
    } else {
      lib.preloadErrors.push_back(path + ": " + lastDlError());
    }
  }
}

// trtexec loads libnvinfer_plugin and calls initLibNvInferPlugins before it builds or loads
// anything; plans that use TensorRT's standard plugins deserialize only after that.
void registerPlugins(const Found& found, const std::string& folder, Library& lib) {
  const std::string name = "libnvinfer_plugin.so." + std::to_string(NV_TENSORRT_MAJOR);
  std::string path = folder.empty() ? name : join(folder, name);
  if (!folder.empty() && !isFile(path)) {
    if (!found.dir.empty()) {
      lib.pluginError = name + " is not beside " + found.resolved;
      return;
    }
    path = name;  // libnvinfer came from the loader path: so may its plugins
  }
  void* plugin = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (plugin == nullptr) {
    lib.pluginError = path + ": " + lastDlError();
    return;
  }
  using InitFn = bool (*)(void* logger, const char* libNamespace);
  auto init = symbol<InitFn>(plugin, "initLibNvInferPlugins");
  lib.pluginPath = realPath(plugin, path);
  if (init == nullptr) {
    lib.pluginError = lib.pluginPath + ": initLibNvInferPlugins missing";
    return;
  }
  nvinfer1::ILogger* logger = &Logger::instance();
  lib.pluginsRegistered = init(static_cast<void*>(logger), "");
  if (!lib.pluginsRegistered) lib.pluginError = lib.pluginPath + ": initLibNvInferPlugins returned false";
}

}  // namespace

bool available() noexcept {
  return true;
}

std::string headerVersion() {
  return std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." + std::to_string(NV_TENSORRT_PATCH);
}

std::string inferLibraryName() {
  return "libnvinfer.so." + std::to_string(NV_TENSORRT_MAJOR);
}
std::string parserLibraryName() {
  return "libnvonnxparser.so." + std::to_string(NV_TENSORRT_MAJOR);
}

const Library* loaded() {
  std::lock_guard<std::mutex> lock(gMutex);
  return gLoaded ? &gLibrary : nullptr;
}

const Library& requireLibrary(bool parser) {
  const Library* lib = loaded();
  if (lib == nullptr) {
    throw NativeError("ERR_TENSORRT_NOT_FOUND", "TensorRT is not loaded (trtLoad was not called or found no library)");
  }
  if (parser && lib->createParser == nullptr) {
    throw NativeError("ERR_TENSORRT_NOT_FOUND",
                      "TensorRT's ONNX parser (" + parserLibraryName() + ") was not loaded: " + lib->parserError);
  }
  return *lib;
}

LoadResult probe(const std::vector<std::string>& dirs) {
  LoadResult result;
  Found found;
  // Lazy binding: only the version is read, nothing of TensorRT runs.
  if (search(dirs, RTLD_LAZY | RTLD_LOCAL, result, found)) {
    result.version = found.version;
    result.path = found.resolved;
  }
  return result;
}

LoadResult load(const std::vector<std::string>& dirs) {
  std::lock_guard<std::mutex> lock(gMutex);
  if (gLoaded) return gResult;

  LoadResult result;
  Found found;
  if (!search(dirs, RTLD_NOW | RTLD_LOCAL, result, found)) return result;  // not kept: a later call may look elsewhere
  Library lib;
  lib.infer = found.handle;
  lib.inferPath = found.resolved;
  lib.version = found.version;
  lib.createBuilder = found.createBuilder;
  lib.createRuntime = found.createRuntime;
  loadParser(found, lib);
  const std::string folder = folderOf(found.resolved);
  preloadSiblings(folder, lib.version, lib);
  registerPlugins(found, folder, lib);
  gLibrary = std::move(lib);
  gLoaded = true;
  result.library = &gLibrary;
  result.version = gLibrary.version;
  result.path = gLibrary.inferPath;
  gResult = result;
  return result;
}

}  // namespace trtn::trt
