#include "trt/data_type.h"

#include <limits>

#include "common/native_error.h"

namespace trtn::trt {

std::string dataTypeName(nvinfer1::DataType type) {
  using nvinfer1::DataType;
  switch (type) {
    case DataType::kFLOAT:
      return "float32";
    case DataType::kHALF:
      return "float16";
    case DataType::kBF16:
      return "bfloat16";
    case DataType::kINT8:
      return "int8";
    case DataType::kUINT8:
      return "uint8";
    case DataType::kINT32:
      return "int32";
    case DataType::kINT64:
      return "int64";
    case DataType::kBOOL:
      return "bool";
    case DataType::kFP8:
      return "unsupported:kFP8";
    case DataType::kINT4:
      return "unsupported:kINT4";
    case DataType::kFP4:
      return "unsupported:kFP4";
    case DataType::kE8M0:
      return "unsupported:kE8M0";
  }
  return "unsupported:" + std::to_string(static_cast<int32_t>(type));
}

std::size_t dataTypeSize(nvinfer1::DataType type) noexcept {
  using nvinfer1::DataType;
  switch (type) {
    case DataType::kFLOAT:
    case DataType::kINT32:
      return 4;
    case DataType::kHALF:
    case DataType::kBF16:
      return 2;
    case DataType::kINT8:
    case DataType::kUINT8:
    case DataType::kBOOL:
      return 1;
    case DataType::kINT64:
      return 8;
    default:
      return 0;
  }
}

std::vector<int64_t> toVector(const nvinfer1::Dims& dims) {
  std::vector<int64_t> out;
  for (int32_t i = 0; i < dims.nbDims && i < nvinfer1::Dims::MAX_DIMS; i++) out.push_back(dims.d[i]);
  return out;
}

nvinfer1::Dims toDims(const std::vector<int64_t>& dims, const char* what) {
  if (dims.size() > static_cast<std::size_t>(nvinfer1::Dims::MAX_DIMS)) {
    throwInvalidArg(std::string(what) + " has rank " + std::to_string(dims.size()) + "; TensorRT allows at most " +
                    std::to_string(nvinfer1::Dims::MAX_DIMS));
  }
  nvinfer1::Dims out{};
  out.nbDims = static_cast<int32_t>(dims.size());
  for (std::size_t i = 0; i < dims.size(); i++) out.d[i] = dims[i];
  return out;
}

int64_t volume(const nvinfer1::Dims& dims) noexcept {
  if (dims.nbDims < 0) return -1;
  int64_t v = 1;
  for (int32_t i = 0; i < dims.nbDims; i++) {
    if (dims.d[i] < 0) return -1;
    if (dims.d[i] != 0 && v > std::numeric_limits<int64_t>::max() / dims.d[i]) return -1;
    v *= dims.d[i];
  }
  return v;
}

std::string formatDims(const nvinfer1::Dims& dims) {
  std::string out = "[";
  for (int32_t i = 0; i < dims.nbDims; i++) {
    if (i > 0) out += ", ";
    out += std::to_string(dims.d[i]);
  }
  return out + "]";
}

}  // namespace trtn::trt
