// The exported entry points of the stand-in libnvinfer.

#include <dlfcn.h>

#include "trt/extension.h"
#include "trt/objects.h"
#include "trt/runtime.h"

namespace standin::trt {
namespace {

bool checkVersion(int32_t version, const char* factory) {
  if (version / 10000 == NV_TENSORRT_MAJOR) return true;
  log(Severity::kERROR, std::string(factory) + ": Error Code 6: API Usage Error (the application was built against TensorRT " +
                            versionString(version) + " and this library is TensorRT " + versionString(reportedVersion()) + ")");
  return false;
}

// TensorRT loads its builder resource library by bare name when a builder is made; from a
// folder that is not on the loader path it fails unless the application loaded it first.
bool loadBuilderResource() {
  static void* handle = nullptr;
  if (handle != nullptr) return true;
  const std::string name = "libnvinfer_builder_resource.so." + compiledVersionString();
  handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* e = dlerror();
    log(Severity::kERROR, "createInferBuilder: Error Code 6: API Usage Error (Unable to load library: " + name + ": " +
                              (e != nullptr ? e : "unknown error") + ")");
    return false;
  }
  return true;
}

}  // namespace
}  // namespace standin::trt

using namespace standin::trt;

extern "C" TENSORRTAPI int32_t getInferLibVersion() noexcept {
  return reportedVersion();
}
extern "C" TENSORRTAPI int32_t getInferLibMajorVersion() noexcept {
  return reportedVersion() / 10000;
}
extern "C" TENSORRTAPI int32_t getInferLibMinorVersion() noexcept {
  return (reportedVersion() / 100) % 100;
}
extern "C" TENSORRTAPI int32_t getInferLibPatchVersion() noexcept {
  return reportedVersion() % 100;
}
extern "C" TENSORRTAPI int32_t getInferLibBuildVersion() noexcept {
  return 0;
}
extern "C" TENSORRTAPI nvinfer1::ILogger* getLogger() noexcept {
  return processLogger();
}

extern "C" TENSORRTAPI void* createInferBuilder_INTERNAL(void* logger, int32_t version) noexcept {
  try {
    offerLogger(static_cast<nvinfer1::ILogger*>(logger), "createInferBuilder");
    standin::Counter("trt.createInferBuilder").add();
    if (standin::faultHit("trt.builder_null")) {
      // As TensorRT does: null, with the reason on the logger only.
      log(Severity::kERROR,
          "createInferBuilder: Error Code 2: Internal Error (stand-in fault trt.builder_null: the builder "
          "could not be created)");
      return nullptr;
    }
    if (!checkVersion(version, "createInferBuilder") || !loadBuilderResource()) return nullptr;
    std::string why;
    if (!ensureContext(why)) {
      log(Severity::kERROR, "createInferBuilder: Error Code 6: API Usage Error (" + why + ")");
      return nullptr;
    }
    return static_cast<nvinfer1::IBuilder*>(new Builder());
  } catch (...) {
    return nullptr;
  }
}

extern "C" TENSORRTAPI void* createInferRuntime_INTERNAL(void* logger, int32_t version) noexcept {
  try {
    offerLogger(static_cast<nvinfer1::ILogger*>(logger), "createInferRuntime");
    standin::Counter("trt.createInferRuntime").add();
    if (standin::faultHit("trt.runtime_null")) {
      log(Severity::kERROR,
          "createInferRuntime: Error Code 2: Internal Error (stand-in fault trt.runtime_null: the runtime "
          "could not be created)");
      return nullptr;
    }
    if (!checkVersion(version, "createInferRuntime")) return nullptr;
    std::string why;
    if (!ensureContext(why)) {
      log(Severity::kERROR, "createInferRuntime: Error Code 6: API Usage Error (" + why + ")");
      return nullptr;
    }
    return static_cast<nvinfer1::IRuntime*>(new Runtime(false));
  } catch (...) {
    return nullptr;
  }
}

extern "C" nvinfer1::ITensor* trtn_standin_network_add_output(nvinfer1::INetworkDefinition* network, const char* name,
                                                              int32_t type, const int64_t* dims, int32_t rank,
                                                              int32_t dataDependent) {
  try {
    TensorDesc d;
    d.name = name != nullptr ? name : "";
    d.type = static_cast<DataType>(type);
    d.dims.assign(dims, dims + rank);
    d.dataDependent = dataDependent != 0;
    return static_cast<Network*>(network)->addOutput(std::move(d));
  } catch (...) {
    return nullptr;
  }
}

extern "C" int32_t trtn_standin_network_mark_shape_tensor(nvinfer1::INetworkDefinition* network, const char* input) {
  Tensor* t = static_cast<Network*>(network)->findInput(input != nullptr ? input : "");
  if (t == nullptr) return 0;
  t->desc().shapeTensor = true;
  return 1;
}

extern "C" int32_t trtn_standin_network_set_alias(nvinfer1::INetworkDefinition* network, const char* output, const char* input) {
  auto* net = static_cast<Network*>(network);
  Tensor* out = net->findOutput(output != nullptr ? output : "");
  Tensor* in = net->findInput(input != nullptr ? input : "");
  if (out == nullptr || in == nullptr) return 0;
  out->desc().aliasOf = in->desc().name;
  return 1;
}

extern "C" void trtn_standin_network_set_uses_plugins(nvinfer1::INetworkDefinition* network) {
  static_cast<Network*>(network)->usesPlugins = true;
}
