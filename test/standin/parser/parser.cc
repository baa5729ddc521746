// The stand-in ONNX parser: reads a model's graph inputs and outputs into the network through
// TensorRT's API (and the stand-in's side door for outputs), and reports errors as the real
// parser does: a code, a description, and the failing node's index, name and operator.

#include <NvOnnxParser.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/control.hpp"
#include "defaults.h"
#include "parser/onnx_reader.h"
#include "trt/extension.h"

namespace standin::parser {

namespace {

using nvonnxparser::ErrorCode;
using Severity = nvinfer1::ILogger::Severity;

class ParserError final : public nvonnxparser::IParserErrorDefaults {
 public:
  ParserError(ErrorCode code, std::string desc, int node, std::string nodeName, std::string op, int line, const char* func)
      : code_(code),
        desc_(std::move(desc)),
        node_(node),
        nodeName_(std::move(nodeName)),
        op_(std::move(op)),
        line_(line),
        func_(func) {}
  ErrorCode code() const override { return code_; }
  char const* desc() const override { return desc_.c_str(); }
  char const* file() const override { return "test/standin/parser/parser.cc"; }
  int line() const override { return line_; }
  char const* func() const override { return func_; }
  int node() const override { return node_; }
  char const* nodeName() const override { return nodeName_.c_str(); }
  char const* nodeOperator() const override { return op_.c_str(); }
  char const* const* localFunctionStack() const override { return nullptr; }
  int32_t localFunctionStackSize() const override { return 0; }

 private:
  ErrorCode code_;
  std::string desc_;
  int node_;
  std::string nodeName_;
  std::string op_;
  int line_;
  const char* func_;
};

bool toTrtType(int32_t onnx, nvinfer1::DataType& out) {
  using nvinfer1::DataType;
  switch (onnx) {
    case 1:
      out = DataType::kFLOAT;
      return true;
    case 2:
      out = DataType::kUINT8;
      return true;
    case 3:
      out = DataType::kINT8;
      return true;
    case 6:
      out = DataType::kINT32;
      return true;
    case 7:
      out = DataType::kINT64;
      return true;
    case 9:
      out = DataType::kBOOL;
      return true;
    case 10:
      out = DataType::kHALF;
      return true;
    case 16:
      out = DataType::kBF16;
      return true;
    case 17:
      out = DataType::kFP8;
      return true;
    default:
      return false;
  }
}

// Inputs consumed at these slots are shape tensors: their values, not only their shape,
// decide the shapes downstream.
bool isShapeSlot(const std::string& op, std::size_t slot) {
  static const std::map<std::string, std::set<std::size_t>> slots = {
      {"Reshape", {1}},        {"Expand", {1}},   {"Tile", {1}}, {"ConstantOfShape", {0}}, {"Range", {0, 1, 2}},
      {"Slice", {1, 2, 3, 4}}, {"Resize", {3}},   {"TopK", {1}}, {"OneHot", {1}},          {"Pad", {1}},
      {"Squeeze", {1}},        {"Unsqueeze", {1}}};
  auto it = slots.find(op);
  return it != slots.end() && it->second.count(slot) != 0;
}

// "trt.read_delay_ms" (set through the control interface): a wait before the bytes are read,
// so tests can change the caller's buffer meanwhile.
void readDelay() {
  const std::string ms = faultValue("trt.read_delay_ms");
  if (!ms.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(std::strtoll(ms.c_str(), nullptr, 10)));
}

bool isDataDependentOp(const std::string& op) {
  return op == "NonZero" || op == "NonMaxSuppression" || op == "Unique" || op == "Compress";
}

bool isPluginOp(const std::string& op) {
  return op.size() > 4 && op.compare(op.size() - 4, 4, "_TRT") == 0;
}

bool pluginsRegistered() {
  return counterValue("trt.plugin.registered") > 0;
}

std::string directoryOf(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

class Parser final : public nvonnxparser::IParserDefaults {
 public:
  Parser(nvinfer1::INetworkDefinition* network, nvinfer1::ILogger* logger) : network_(network), logger_(logger) {
    Counter("trt.live.parsers").add(1);
  }
  ~Parser() noexcept override { Counter("trt.live.parsers").add(-1); }

  bool parse(void const* data, size_t size, const char* modelPath) noexcept override {
    try {
      Counter("trt.parse.calls").add();
      errors_.clear();
      readDelay();
      const bool ok = run(data, size, modelPath != nullptr ? modelPath : "");
      if (!ok) Counter("trt.parse.failed").add();
      return ok && errors_.empty();
    } catch (const std::exception& e) {
      add(ErrorCode::kINTERNAL_ERROR, e.what(), -1, "", "", __LINE__, "parse");
      return false;
    }
  }

  bool parseFromFile(const char* file, int verbosity) noexcept override {
    (void)verbosity;
    try {
      std::ifstream in(file != nullptr ? file : "", std::ios::binary);
      if (!in) {
        errors_.clear();
        add(ErrorCode::kMODEL_DESERIALIZE_FAILED, std::string("Failed to open file: ") + (file ? file : ""), -1, "", "", __LINE__,
            "parseFromFile");
        return false;
      }
      std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return parse(bytes.data(), bytes.size(), file);
    } catch (...) {
      return false;
    }
  }

  bool supportsOperator(const char* op) const noexcept override {
    return op != nullptr && (!isPluginOp(op) || pluginsRegistered());
  }
  int getNbErrors() const noexcept override { return static_cast<int>(errors_.size()); }
  nvonnxparser::IParserError const* getError(int index) const noexcept override {
    if (index < 0 || static_cast<std::size_t>(index) >= errors_.size()) return nullptr;
    return errors_[static_cast<std::size_t>(index)].get();
  }
  void clearErrors() noexcept override { errors_.clear(); }
  void setFlags(nvonnxparser::OnnxParserFlags flags) noexcept override { flags_ = flags; }
  nvonnxparser::OnnxParserFlags getFlags() const noexcept override { return flags_; }
  void clearFlag(nvonnxparser::OnnxParserFlag flag) noexcept override { flags_ &= ~(1u << static_cast<uint32_t>(flag)); }
  void setFlag(nvonnxparser::OnnxParserFlag flag) noexcept override { flags_ |= 1u << static_cast<uint32_t>(flag); }
  bool getFlag(nvonnxparser::OnnxParserFlag flag) const noexcept override {
    return (flags_ & (1u << static_cast<uint32_t>(flag))) != 0;
  }

 private:
  void add(ErrorCode code, const std::string& desc, int node, const std::string& name, const std::string& op, int line,
           const char* func) {
    errors_.push_back(std::make_unique<ParserError>(code, desc, node, name, op, line, func));
    if (logger_ != nullptr) {
      std::string msg = "ModelImporter (stand-in): ERROR: " + desc;
      if (node >= 0) msg += " (node " + std::to_string(node) + " [" + op + "] \"" + name + "\")";
      logger_->log(Severity::kERROR, msg.c_str());
    }
  }

  bool run(const void* data, std::size_t size, const std::string& modelPath) {
    onnx::Model m;
    std::string why;
    if (!onnx::readModel(data, size, m, why)) {
      add(ErrorCode::kMODEL_DESERIALIZE_FAILED, "Failed to parse the ONNX model: " + why, -1, "", "", __LINE__, "run");
      return false;
    }
    std::set<std::string> initializers;
    for (const auto& t : m.initializers) {
      initializers.insert(t.name);
      if (!t.external) continue;
      if (modelPath.empty()) {
        add(ErrorCode::kINVALID_VALUE,
            "initializer " + t.name + " has external data (" + t.location + ") but no model path was given to locate it", -1, "",
            "", __LINE__, "run");
        continue;
      }
      const std::string file = directoryOf(modelPath) + "/" + t.location;
      std::ifstream probe(file, std::ios::binary);
      if (!probe)
        add(ErrorCode::kINVALID_VALUE, "Failed to open file: " + file + " (external data of " + t.name + ")", -1, "", "",
            __LINE__, "run");
    }
    // Nodes: the injected fault, and TensorRT's standard plugins, which need their registry.
    const std::string faultNode = faultValue("trt.parse_node");
    bool plugins = false;
    for (std::size_t i = 0; i < m.nodes.size(); i++) {
      const onnx::Node& n = m.nodes[i];
      if (!faultNode.empty() && n.name == faultNode) {
        add(ErrorCode::kUNSUPPORTED_NODE, "stand-in fault trt.parse_node: the importer for " + n.opType + " failed on this node",
            static_cast<int>(i), n.name, n.opType, __LINE__, "importNode");
      }
      if (isPluginOp(n.opType)) {
        plugins = true;
        if (!pluginsRegistered()) {
          add(ErrorCode::kUNSUPPORTED_NODE,
              "No importer registered for op: " + n.opType +
                  ". Attempted to import it as a plugin: plugin creator not found (are TensorRT's "
                  "plugins registered? call initLibNvInferPlugins)",
              static_cast<int>(i), n.name, n.opType, __LINE__, "importNode");
        }
      }
    }
    if (!errors_.empty()) return false;

    std::set<std::string> inputNames;
    for (const onnx::ValueInfo& v : m.inputs) {
      if (initializers.count(v.name) != 0) continue;  // older IRs list initializers among the inputs
      nvinfer1::DataType type{};
      if (!v.isTensor || !toTrtType(v.elemType, type)) {
        add(ErrorCode::kUNSUPPORTED_GRAPH,
            "graph input " + v.name + ": unsupported ONNX data type " + onnx::elemTypeName(v.elemType) + " (" +
                std::to_string(v.elemType) + ")",
            -1, "", "", __LINE__, "importInputs");
        continue;
      }
      nvinfer1::Dims dims{};
      dims.nbDims = static_cast<int32_t>(v.dims.size());
      for (std::size_t k = 0; k < v.dims.size() && k < static_cast<std::size_t>(nvinfer1::Dims::MAX_DIMS); k++) {
        dims.d[k] = v.dims[k].hasValue ? v.dims[k].value : -1;
      }
      nvinfer1::ITensor* t = network_->addInput(v.name.c_str(), type, dims);
      if (t == nullptr) {
        add(ErrorCode::kINVALID_GRAPH, "graph input " + v.name + " was refused by the network", -1, "", "", __LINE__,
            "importInputs");
        continue;
      }
      for (std::size_t k = 0; k < v.dims.size(); k++) {
        if (!v.dims[k].param.empty()) t->setDimensionName(static_cast<int32_t>(k), v.dims[k].param.c_str());
      }
      inputNames.insert(v.name);
      const bool integer = v.elemType == 6 || v.elemType == 7;
      if (integer && v.dims.size() <= 1) {
        for (const onnx::Node& n : m.nodes) {
          for (std::size_t s = 0; s < n.inputs.size(); s++) {
            if (n.inputs[s] == v.name && isShapeSlot(n.opType, s))
              trtn_standin_network_mark_shape_tensor(network_, v.name.c_str());
          }
        }
      }
    }
    std::map<std::string, std::string> renamed;
    for (const onnx::ValueInfo& v : m.outputs) {
      nvinfer1::DataType type{};
      if (!v.isTensor || !toTrtType(v.elemType, type)) {
        add(ErrorCode::kUNSUPPORTED_GRAPH,
            "graph output " + v.name + ": unsupported ONNX data type " + onnx::elemTypeName(v.elemType) + " (" +
                std::to_string(v.elemType) + ")",
            -1, "", "", __LINE__, "importOutputs");
        continue;
      }
      bool dataDependent = false;
      for (const onnx::Node& n : m.nodes) {
        for (const std::string& o : n.outputs) dataDependent = dataDependent || (o == v.name && isDataDependentOp(n.opType));
      }
      // TensorRT renames an output that has the name of an input.
      const std::string name = inputNames.count(v.name) != 0 ? "__" + v.name : v.name;
      renamed[v.name] = name;
      std::vector<int64_t> dims;
      for (const onnx::Dim& d : v.dims) dims.push_back(d.hasValue ? d.value : -1);
      nvinfer1::ITensor* t = trtn_standin_network_add_output(network_, name.c_str(), static_cast<int32_t>(type), dims.data(),
                                                             static_cast<int32_t>(dims.size()), dataDependent ? 1 : 0);
      if (t == nullptr) {
        add(ErrorCode::kINTERNAL_ERROR, "graph output " + v.name + " could not be added", -1, "", "", __LINE__, "importOutputs");
        continue;
      }
      for (std::size_t k = 0; k < v.dims.size(); k++) {
        if (!v.dims[k].param.empty()) t->setDimensionName(static_cast<int32_t>(k), v.dims[k].param.c_str());
      }
      network_->markOutput(*t);
    }
    if (m.outputs.empty()) add(ErrorCode::kINVALID_GRAPH, "the graph has no outputs", -1, "", "", __LINE__, "importOutputs");
    // Stand-in marker: "standin.aliases" = "output=input,..." (KV-cache style updates in place).
    for (const auto& [key, value] : m.metadata) {
      if (key != "standin.aliases") continue;
      std::size_t start = 0;
      while (start < value.size()) {
        std::size_t comma = value.find(',', start);
        if (comma == std::string::npos) comma = value.size();
        const std::string pair = value.substr(start, comma - start);
        start = comma + 1;
        const auto eq = pair.find('=');
        const std::string out = eq == std::string::npos ? pair : pair.substr(0, eq);
        const std::string in = eq == std::string::npos ? "" : pair.substr(eq + 1);
        const std::string outName = renamed.count(out) ? renamed[out] : out;
        if (trtn_standin_network_set_alias(network_, outName.c_str(), in.c_str()) == 0) {
          add(ErrorCode::kINVALID_GRAPH, "standin.aliases: \"" + pair + "\" does not name an output and an input of the graph",
              -1, "", "", __LINE__, "importAliases");
        }
      }
    }
    if (plugins) trtn_standin_network_set_uses_plugins(network_);
    if (logger_ != nullptr) {
      const std::string msg = "ONNX stand-in parser: " + std::to_string(network_->getNbInputs()) + " input(s), " +
                              std::to_string(network_->getNbOutputs()) + " output(s), " + std::to_string(m.nodes.size()) +
                              " node(s), IR version " + std::to_string(m.irVersion);
      logger_->log(Severity::kINFO, msg.c_str());
    }
    return errors_.empty();
  }

  nvinfer1::INetworkDefinition* network_;
  nvinfer1::ILogger* logger_;
  nvonnxparser::OnnxParserFlags flags_ = 1u << static_cast<uint32_t>(nvonnxparser::OnnxParserFlag::kNATIVE_INSTANCENORM);
  std::vector<std::unique_ptr<ParserError>> errors_;
};

}  // namespace
}  // namespace standin::parser

extern "C" TENSORRTAPI void* createNvOnnxParser_INTERNAL(void* network, void* logger, int version) noexcept {
  (void)version;
  try {
    standin::Counter("trt.createParser").add();
    auto* log = static_cast<nvinfer1::ILogger*>(logger);
    if (standin::faultHit("trt.parser_null")) {
      if (log != nullptr) log->log(nvinfer1::ILogger::Severity::kERROR, "createParser: stand-in fault trt.parser_null");
      return nullptr;
    }
    if (network == nullptr) return nullptr;
    return static_cast<nvonnxparser::IParser*>(
        new standin::parser::Parser(static_cast<nvinfer1::INetworkDefinition*>(network), log));
  } catch (...) {
    return nullptr;
  }
}

extern "C" TENSORRTAPI int getNvOnnxParserVersion() noexcept {
  return NV_ONNX_PARSER_VERSION;
}
