// Stand-in libnvinfer_plugin.so.<major>: registers "TensorRT's standard plugins" (a flag the
// stand-in parser and runtime read) and counts the calls.

#include <NvInferPlugin.h>

#include <string>

#include "common/control.hpp"

extern "C" TENSORRTAPI bool initLibNvInferPlugins(void* logger, char const* libNamespace) {
  standin::Counter("trt.plugin.initLibNvInferPlugins").add();
  standin::Counter("trt.plugin.registered").set(1);
  if (logger != nullptr) {
    const std::string msg = std::string("Registered the stand-in's standard plugin creators in namespace \"") +
                            (libNamespace != nullptr ? libNamespace : "") + "\"";
    static_cast<nvinfer1::ILogger*>(logger)->log(nvinfer1::ILogger::Severity::kINFO, msg.c_str());
  }
  return true;
}
