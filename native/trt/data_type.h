#pragma once
// TensorRT element types under the names the TypeScript layer uses (src/tensor.ts).

#include <NvInferRuntime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace trtn::trt {

// "float32", "float16", "bfloat16", "int8", "uint8", "int32", "int64", "bool"; for types the
// library does not exchange with JS (fp8, int4, fp4, e8m0) "unsupported:<TensorRT name>".
std::string dataTypeName(nvinfer1::DataType type);
// Bytes per element; 0 for sub-byte and unsupported types.
std::size_t dataTypeSize(nvinfer1::DataType type) noexcept;

std::vector<int64_t> toVector(const nvinfer1::Dims& dims);
// Throws ERR_INVALID_ARG for ranks above Dims::MAX_DIMS.
nvinfer1::Dims toDims(const std::vector<int64_t>& dims, const char* what);
// Product of the dims; -1 when a dim is negative (unknown), or the product overflows.
int64_t volume(const nvinfer1::Dims& dims) noexcept;
std::string formatDims(const nvinfer1::Dims& dims);

}  // namespace trtn::trt
