#pragma once
// What the stand-in parser tells the stand-in network beyond TensorRT's public API (which has no
// way to declare an output without layers, or a model's shape tensors and aliases). Exported by
// the stand-in libnvinfer; the stand-in libnvonnxparser links it, as the real parser links
// libnvinfer.

#include <NvInfer.h>

#include <cstdint>

#define TRTN_STANDIN_EXPORT __attribute__((visibility("default")))

extern "C" {
// A new tensor of the network, to be marked as an output (INetworkDefinition::markOutput).
TRTN_STANDIN_EXPORT nvinfer1::ITensor* trtn_standin_network_add_output(nvinfer1::INetworkDefinition* network, const char* name,
                                                                       int32_t type, const int64_t* dims, int32_t rank,
                                                                       int32_t dataDependent);
TRTN_STANDIN_EXPORT int32_t trtn_standin_network_mark_shape_tensor(nvinfer1::INetworkDefinition* network, const char* input);
TRTN_STANDIN_EXPORT int32_t trtn_standin_network_set_alias(nvinfer1::INetworkDefinition* network, const char* output,
                                                           const char* input);
TRTN_STANDIN_EXPORT void trtn_standin_network_set_uses_plugins(nvinfer1::INetworkDefinition* network);
}
