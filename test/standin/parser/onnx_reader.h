#pragma once
// Reads the parts of an ONNX model (protobuf wire format) that the stand-in parser needs: graph
// inputs and outputs with element types and dims, nodes (name, op type, inputs, outputs),
// initializer names and their external data, metadata. No onnx.proto: field numbers only.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace standin::onnx {

struct Dim {
  bool hasValue = false;
  int64_t value = -1;
  std::string param;  // dim_param, "" when none
};

struct ValueInfo {
  std::string name;
  bool isTensor = false;  // a tensor_type (not a sequence, map or optional)
  int32_t elemType = 0;   // TensorProto.DataType
  bool hasShape = false;
  std::vector<Dim> dims;
};

struct Node {
  std::string name;
  std::string opType;
  std::string domain;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
};

struct Initializer {
  std::string name;
  bool external = false;
  std::string location;  // external_data "location"
};

struct Model {
  int64_t irVersion = 0;
  std::vector<std::pair<std::string, int64_t>> opsets;
  bool hasGraph = false;
  std::string graphName;
  std::vector<Node> nodes;
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::vector<Initializer> initializers;
  std::vector<std::pair<std::string, std::string>> metadata;
};

// False with the reason when the bytes are not a well-formed ModelProto.
bool readModel(const void* data, std::size_t size, Model& model, std::string& error);

// ONNX element type names, e.g. 1 -> "FLOAT", 11 -> "DOUBLE".
const char* elemTypeName(int32_t type);

}  // namespace standin::onnx
