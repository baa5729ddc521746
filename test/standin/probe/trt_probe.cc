// Drives the TensorRT stand-ins through TensorRT's own headers the way the addon does: the
// driver and the libraries loaded at run time, parse -> build -> serialize -> deserialize ->
// context -> setInputShape -> enqueueV3 on a stream -> event -> outputs, optionally through a
// captured CUDA graph. Prints one JSON object with what it saw (test/standin/*.test.ts).
//
//   standin-trt-probe-<major> [--lib DIR] [--model FILE | --plan-in FILE] [options]   (see usage())

#include <NvInfer.h>
#include <NvOnnxParser.h>
#include <dlfcn.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "common/control.hpp"
#include "probe/driver_table.h"
#include "probe/json.h"

namespace {

using standin::counterValue;
using standin::setFaults;

namespace nv = nvinfer1;

probe::Driver cu;

void usage() {
  std::fprintf(stderr,
               "usage: standin-trt-probe [--lib DIR] [--preload-builder-resource] [--plugins]\n"
               "  (--model FILE | --plan-in FILE) [--plan-out FILE] [--profile 'in:1x1/2x8/4x16;...']...\n"
               "  [--batch-max N] [--seq-max N] [--run 'BxS:len@seed,...']... [--graph N] [--warmup]\n"
               "  [--cancel-at N] [--cache-in FILE] [--cache-out FILE] [--ignore-mismatch] [--fp16] [--weak]\n"
               "  [--vc] [--exclude-lean] [--host-code] [--lean FILE] [--hw-compat N] [--strategy static|profile|user]\n"
               "  [--profile-index N] [--alias-bind same|separate] [--verbose] [--unimplemented]\n");
  std::exit(2);
}

struct Options {
  std::string lib;
  bool preloadBuilderResource = false;
  bool plugins = false;
  std::string model;
  std::string planIn;
  std::string planOut;
  std::vector<std::string> profiles;
  int64_t batchMax = 4;
  int64_t seqMax = 16;
  std::vector<std::string> runs;
  int graph = 0;
  bool warmup = false;
  int cancelAt = -1;
  std::string cacheIn;
  std::string cacheOut;
  bool ignoreMismatch = false;
  bool fp16 = false;
  bool weak = false;
  bool vc = false;
  bool excludeLean = false;
  bool hostCode = false;
  std::string lean;
  int hwCompat = 0;
  std::string strategy = "static";
  int profileIndex = 0;
  std::string aliasBind = "same";
  bool verbose = false;
  bool unimplemented = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--lib")
      o.lib = next();
    else if (a == "--preload-builder-resource")
      o.preloadBuilderResource = true;
    else if (a == "--plugins")
      o.plugins = true;
    else if (a == "--model")
      o.model = next();
    else if (a == "--plan-in")
      o.planIn = next();
    else if (a == "--plan-out")
      o.planOut = next();
    else if (a == "--profile")
      o.profiles.push_back(next());
    else if (a == "--batch-max")
      o.batchMax = std::stoll(next());
    else if (a == "--seq-max")
      o.seqMax = std::stoll(next());
    else if (a == "--run")
      o.runs.push_back(next());
    else if (a == "--graph")
      o.graph = std::stoi(next());
    else if (a == "--warmup")
      o.warmup = true;
    else if (a == "--cancel-at")
      o.cancelAt = std::stoi(next());
    else if (a == "--cache-in")
      o.cacheIn = next();
    else if (a == "--cache-out")
      o.cacheOut = next();
    else if (a == "--ignore-mismatch")
      o.ignoreMismatch = true;
    else if (a == "--fp16")
      o.fp16 = true;
    else if (a == "--weak")
      o.weak = true;
    else if (a == "--vc")
      o.vc = true;
    else if (a == "--exclude-lean")
      o.excludeLean = true;
    else if (a == "--host-code")
      o.hostCode = true;
    else if (a == "--lean")
      o.lean = next();
    else if (a == "--hw-compat")
      o.hwCompat = std::stoi(next());
    else if (a == "--strategy")
      o.strategy = next();
    else if (a == "--profile-index")
      o.profileIndex = std::stoi(next());
    else if (a == "--alias-bind")
      o.aliasBind = next();
    else if (a == "--verbose")
      o.verbose = true;
    else if (a == "--unimplemented")
      o.unimplemented = true;
    else
      usage();
  }
  if (o.model.empty() && o.planIn.empty()) usage();
  return o;
}

class Logger final : public nv::ILogger {
 public:
  explicit Logger(bool verbose) : verbose_(verbose) {}
  void log(Severity severity, const char* msg) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    if (severity <= Severity::kWARNING || verbose_) entries.emplace_back(static_cast<int>(severity), msg != nullptr ? msg : "");
    count++;
  }
  std::mutex mu_;
  std::vector<std::pair<int, std::string>> entries;
  int count = 0;

 private:
  bool verbose_;
};

class Recorder final : public nv::IErrorRecorder {
 public:
  int32_t getNbErrors() const noexcept override { return static_cast<int32_t>(entries.size()); }
  nv::ErrorCode getErrorCode(int32_t i) const noexcept override { return entries[static_cast<std::size_t>(i)].first; }
  ErrorDesc getErrorDesc(int32_t i) const noexcept override { return entries[static_cast<std::size_t>(i)].second.c_str(); }
  bool hasOverflowed() const noexcept override { return false; }
  void clear() noexcept override { entries.clear(); }
  bool reportError(nv::ErrorCode code, ErrorDesc desc) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    entries.emplace_back(code, desc != nullptr ? desc : "");
    return false;
  }
  RefCount incRefCount() noexcept override { return ++refs; }
  RefCount decRefCount() noexcept override { return --refs; }
  std::mutex mu_;
  std::vector<std::pair<nv::ErrorCode, std::string>> entries;
  RefCount refs = 0;
};

class Monitor final : public nv::IProgressMonitor {
 public:
  explicit Monitor(int cancelAt) : cancelAt_(cancelAt) {}
  void phaseStart(char const* phaseName, char const* parentPhase, int32_t nbSteps) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    phases.push_back({phaseName ? phaseName : "", parentPhase ? parentPhase : "", nbSteps});
  }
  bool stepComplete(char const*, int32_t) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    steps++;
    if (cancelAt_ >= 0 && steps >= cancelAt_) {
      cancelled = true;
      return false;
    }
    return true;
  }
  void phaseFinish(char const*) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    finished++;
  }
  struct Phase {
    std::string name, parent;
    int32_t steps;
  };
  std::mutex mu_;
  std::vector<Phase> phases;
  int steps = 0;
  int finished = 0;
  bool cancelled = false;

 private:
  int cancelAt_;
};

std::vector<uint8_t> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "probe: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void writeFile(const std::string& path, const void* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

std::vector<int64_t> parseDims(const std::string& s) {
  std::vector<int64_t> d;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, 'x')) d.push_back(std::stoll(part));
  return d;
}

std::vector<int64_t> toVector(const nv::Dims& d) {
  std::vector<int64_t> v;
  for (int32_t i = 0; i < d.nbDims; i++) v.push_back(d.d[i]);
  return v;
}

nv::Dims toDims(const std::vector<int64_t>& v) {
  nv::Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (std::size_t i = 0; i < v.size(); i++) d.d[i] = v[i];
  return d;
}

void dims(probe::Json& j, const std::vector<int64_t>& v) {
  j.array();
  for (int64_t x : v) j.integer(x);
  j.endArray();
}

std::size_t elementSize(nv::DataType t) {
  switch (t) {
    case nv::DataType::kFLOAT:
    case nv::DataType::kINT32:
      return 4;
    case nv::DataType::kHALF:
    case nv::DataType::kBF16:
      return 2;
    case nv::DataType::kINT64:
      return 8;
    default:
      return 1;
  }
}

const char* typeName(nv::DataType t) {
  switch (t) {
    case nv::DataType::kFLOAT:
      return "float32";
    case nv::DataType::kHALF:
      return "float16";
    case nv::DataType::kBF16:
      return "bfloat16";
    case nv::DataType::kINT8:
      return "int8";
    case nv::DataType::kUINT8:
      return "uint8";
    case nv::DataType::kINT32:
      return "int32";
    case nv::DataType::kINT64:
      return "int64";
    case nv::DataType::kBOOL:
      return "bool";
    default:
      return "other";
  }
}

uint16_t toHalf(float f) {
  uint32_t x = 0;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xFF) - 112;
  if ((x & 0x7FFFFFFFu) == 0) return static_cast<uint16_t>(sign);
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exp) << 10) | ((x & 0x7FFFFFu) >> 13));  // exact inputs only
}

float fromHalf(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits = 0;
  if (exp == 0 && mant == 0) {
    bits = sign;
  } else if (exp == 0) {
    int e = -1;
    do {
      e++;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(113 - e - 1) << 23) | ((mant & 0x3FFu) << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f = 0;
  std::memcpy(&f, &bits, 4);
  return f;
}

bool endsWithMask(const std::string& name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.size() >= 4 && lower.compare(lower.size() - 4, 4, "mask") == 0;
}

struct Row {
  int64_t length = 0;
  int64_t seed = 0;
};

// The probe's inputs: a function of the row's seed and the position within the row, so a row
// has the same values alone and in a batch; positions past the row's length are padding.
void fillInput(nv::DataType type, const std::string& name, int index, const std::vector<int64_t>& d, bool seqDynamic,
               const std::vector<Row>& rows, uint8_t* data, std::vector<double>& values) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  int64_t perRow = 1;
  for (std::size_t k = 1; k < d.size(); k++) perRow *= d[k];
  int64_t perSeq = 1;
  for (std::size_t k = 2; k < d.size(); k++) perSeq *= d[k];
  const bool mask = endsWithMask(name);
  for (int64_t e = 0; e < n; e++) {
    const int64_t b = d.empty() ? 0 : e / std::max<int64_t>(perRow, 1);
    const int64_t within = d.empty() ? e : e % std::max<int64_t>(perRow, 1);
    const Row& row = rows[static_cast<std::size_t>(std::min<int64_t>(b, static_cast<int64_t>(rows.size()) - 1))];
    const bool padded = d.size() >= 2 && seqDynamic && within / std::max<int64_t>(perSeq, 1) >= row.length;
    double v = 0;
    if (mask)
      v = padded ? 0 : 1;
    else if (padded)
      v = 0;
    else if (type == nv::DataType::kFLOAT || type == nv::DataType::kHALF || type == nv::DataType::kBF16)
      v = static_cast<double>((row.seed * 7 + within * 3 + index) % 17) / 16.0 - 0.5;
    else if (type == nv::DataType::kBOOL)
      v = static_cast<double>((row.seed + within + index) % 2);
    else if (type == nv::DataType::kINT8 || type == nv::DataType::kUINT8)
      v = static_cast<double>((row.seed + within * 3 + index) % 100);
    else
      v = static_cast<double>(1 + (row.seed * 131 + within * 7 + index * 13) % 997);
    values.push_back(v);
    uint8_t* p = data + static_cast<std::size_t>(e) * elementSize(type);
    switch (type) {
      case nv::DataType::kFLOAT: {
        const float f = static_cast<float>(v);
        std::memcpy(p, &f, 4);
        break;
      }
      case nv::DataType::kHALF: {
        const uint16_t h = toHalf(static_cast<float>(v));
        std::memcpy(p, &h, 2);
        break;
      }
      case nv::DataType::kBF16: {
        const float f = static_cast<float>(v);
        uint32_t bits = 0;
        std::memcpy(&bits, &f, 4);
        const auto h = static_cast<uint16_t>(bits >> 16);
        std::memcpy(p, &h, 2);
        break;
      }
      case nv::DataType::kINT32: {
        const auto x = static_cast<int32_t>(v);
        std::memcpy(p, &x, 4);
        break;
      }
      case nv::DataType::kINT64: {
        const auto x = static_cast<int64_t>(v);
        std::memcpy(p, &x, 8);
        break;
      }
      default:
        *p = static_cast<uint8_t>(static_cast<int>(v));
        break;
    }
  }
}

double readValue(nv::DataType type, const uint8_t* p) {
  switch (type) {
    case nv::DataType::kFLOAT: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case nv::DataType::kHALF: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return fromHalf(h);
    }
    case nv::DataType::kBF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      const uint32_t bits = static_cast<uint32_t>(h) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case nv::DataType::kINT32: {
      int32_t x;
      std::memcpy(&x, p, 4);
      return x;
    }
    case nv::DataType::kINT64: {
      int64_t x;
      std::memcpy(&x, p, 8);
      return static_cast<double>(x);
    }
    case nv::DataType::kINT8:
      return static_cast<int8_t>(*p);
    default:
      return *p;
  }
}

void* openLibrary(const Options& o, const std::string& file, probe::Json& out, const char* key) {
  const std::string path = o.lib.empty() ? file : o.lib + "/" + file;
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    out.field(key, std::string(e != nullptr ? e : "dlopen failed"));
  }
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  probe::Json out;
  out.begin();
  cu.load();
  if (cu.init(0) != CUDA_SUCCESS) {
    std::fprintf(stderr, "probe: cuInit failed\n");
    return 3;
  }
  CUcontext ctx = nullptr;
  if (cu.primaryCtxRetain(&ctx, 0) != CUDA_SUCCESS || cu.ctxSetCurrent(ctx) != CUDA_SUCCESS) return 3;

  const std::string major = std::to_string(NV_TENSORRT_MAJOR);
  const std::string version =
      std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." + std::to_string(NV_TENSORRT_PATCH);
  Logger logger(o.verbose);
  Recorder recorder;
  Monitor monitor(o.cancelAt);
  std::map<std::string, bool> stages;
  auto finish = [&](int code) {
    out.key("stages").begin();
    for (const auto& [k, v] : stages) out.field(k, v);
    out.end();
    out.key("recorder").array();
    for (const auto& [code2, desc] : recorder.entries)
      out.begin().field("code", static_cast<int>(code2)).field("desc", desc).end();
    out.endArray();
    out.key("log").array();
    for (const auto& [sev, msg] : logger.entries) out.begin().field("severity", sev).field("msg", msg).end();
    out.endArray();
    out.field("logMessages", logger.count);
    out.key("counters").raw(standin::countersJson());
    out.end();
    std::printf("%s\n", out.text().c_str());
    return code;
  };

  if (o.preloadBuilderResource) {
    // What the addon does for a TensorRT found in a folder: load the siblings by full path.
    if (openLibrary(o, "libnvinfer_builder_resource.so." + version, out, "builderResourceError") == nullptr) return finish(0);
  }
  void* infer = openLibrary(o, "libnvinfer.so." + major, out, "inferError");
  if (infer == nullptr) return finish(0);
  using VersionFn = int32_t (*)();
  using CreateFn = void* (*)(void*, int32_t);
  auto getVersion = reinterpret_cast<VersionFn>(dlsym(infer, "getInferLibVersion"));
  auto createBuilder = reinterpret_cast<CreateFn>(dlsym(infer, "createInferBuilder_INTERNAL"));
  auto createRuntime = reinterpret_cast<CreateFn>(dlsym(infer, "createInferRuntime_INTERNAL"));
  out.field("version", static_cast<int>(getVersion()));
  if (o.plugins) {
    void* plugin = openLibrary(o, "libnvinfer_plugin.so." + major, out, "pluginError");
    if (plugin == nullptr) return finish(0);
    using InitFn = bool (*)(void*, const char*);
    auto initPlugins = reinterpret_cast<InitFn>(dlsym(plugin, "initLibNvInferPlugins"));
    out.field("pluginsInitialized", initPlugins(&logger, ""));
  }

  std::vector<uint8_t> plan;
  if (!o.model.empty()) {
    void* parserLib = openLibrary(o, "libnvonnxparser.so." + major, out, "parserLibError");
    if (parserLib == nullptr) return finish(0);
    using CreateParserFn = void* (*)(void*, void*, int);
    auto createParser = reinterpret_cast<CreateParserFn>(dlsym(parserLib, "createNvOnnxParser_INTERNAL"));
    auto parserVersion = reinterpret_cast<int (*)()>(dlsym(parserLib, "getNvOnnxParserVersion"));
    out.field("parserVersion", parserVersion());

    std::unique_ptr<nv::IBuilder> builder(static_cast<nv::IBuilder*>(createBuilder(&logger, NV_TENSORRT_VERSION)));
    stages["builder"] = builder != nullptr;
    if (!builder) return finish(0);
    builder->setErrorRecorder(&recorder);
    nv::NetworkDefinitionCreationFlags flags = 0;
#if NV_TENSORRT_MAJOR < 11
    if (!o.weak) flags |= 1U << static_cast<uint32_t>(nv::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#endif
    std::unique_ptr<nv::INetworkDefinition> network(builder->createNetworkV2(flags));
    stages["network"] = network != nullptr;
    if (!network) return finish(0);
    std::unique_ptr<nvonnxparser::IParser> parser(
        static_cast<nvonnxparser::IParser*>(createParser(network.get(), &logger, NV_ONNX_PARSER_VERSION)));
    stages["parser"] = parser != nullptr;
    if (!parser) return finish(0);
    const std::vector<uint8_t> model = readFile(o.model);
    const bool parsed = parser->parse(model.data(), model.size(), o.model.c_str());
    stages["parse"] = parsed;
    out.key("parseErrors").array();
    for (int i = 0; i < parser->getNbErrors(); i++) {
      const nvonnxparser::IParserError* e = parser->getError(i);
      out.begin().field("code", static_cast<int>(e->code())).field("desc", std::string(e->desc())).field("node", e->node());
      out.field("nodeName", std::string(e->nodeName()))
          .field("op", std::string(e->nodeOperator()))
          .field("func", std::string(e->func()));
      out.end();
    }
    out.endArray();
    if (!parsed) return finish(0);
    auto describe = [&](nv::ITensor* t) {
      out.begin().field("name", std::string(t->getName())).field("type", std::string(typeName(t->getType())));
      out.key("dims");
      dims(out, toVector(t->getDimensions()));
      out.key("dimNames").array();
      for (int32_t k = 0; k < t->getDimensions().nbDims; k++) {
        const char* n = t->getDimensionName(k);
        out.str(n != nullptr ? n : "");
      }
      out.endArray().field("shapeTensor", t->isShapeTensor()).end();
    };
    out.key("network").begin().key("inputs").array();
    for (int32_t i = 0; i < network->getNbInputs(); i++) describe(network->getInput(i));
    out.endArray().key("outputs").array();
    for (int32_t i = 0; i < network->getNbOutputs(); i++) describe(network->getOutput(i));
    out.endArray().end();

    std::unique_ptr<nv::IBuilderConfig> config(builder->createBuilderConfig());
    // Profiles: as given, else every dynamic input from 1 to --batch-max / --seq-max.
    std::vector<std::string> specs = o.profiles;
    if (specs.empty()) {
      std::string spec;
      for (int32_t i = 0; i < network->getNbInputs(); i++) {
        nv::ITensor* t = network->getInput(i);
        const std::vector<int64_t> d = toVector(t->getDimensions());
        bool dynamic = false;
        std::vector<int64_t> mn = d, opt = d, mx = d;
        for (std::size_t k = 0; k < d.size(); k++) {
          if (d[k] >= 0) continue;
          dynamic = true;
          const int64_t top = k == 0 ? o.batchMax : o.seqMax;
          mn[k] = 1;
          opt[k] = std::max<int64_t>(1, top / 2);
          mx[k] = top;
        }
        if (!dynamic) continue;
        auto fmt = [](const std::vector<int64_t>& v) {
          std::string s;
          for (std::size_t k = 0; k < v.size(); k++) s += (k ? "x" : "") + std::to_string(v[k]);
          return s;
        };
        spec += (spec.empty() ? "" : ";") + std::string(t->getName()) + ":" + fmt(mn) + "/" + fmt(opt) + "/" + fmt(mx);
      }
      if (!spec.empty()) specs.push_back(spec);
    }
    bool profilesOk = true;
    for (const std::string& spec : specs) {
      nv::IOptimizationProfile* profile = builder->createOptimizationProfile();
      std::stringstream ss(spec);
      std::string item;
      while (std::getline(ss, item, ';')) {
        const auto colon = item.rfind(':');
        const std::string name = item.substr(0, colon);
        std::stringstream rs(item.substr(colon + 1));
        std::string mn, opt, mx;
        std::getline(rs, mn, '/');
        std::getline(rs, opt, '/');
        std::getline(rs, mx, '/');
        profilesOk = profile->setDimensions(name.c_str(), nv::OptProfileSelector::kMIN, toDims(parseDims(mn))) && profilesOk;
        profilesOk = profile->setDimensions(name.c_str(), nv::OptProfileSelector::kOPT, toDims(parseDims(opt))) && profilesOk;
        profilesOk = profile->setDimensions(name.c_str(), nv::OptProfileSelector::kMAX, toDims(parseDims(mx))) && profilesOk;
      }
      profilesOk = config->addOptimizationProfile(profile) >= 0 && profilesOk;
    }
    stages["profiles"] = profilesOk;
#if NV_TENSORRT_MAJOR < 11
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (o.fp16) config->setFlag(nv::BuilderFlag::kFP16);
#pragma GCC diagnostic pop
#endif
    if (o.vc) config->setFlag(nv::BuilderFlag::kVERSION_COMPATIBLE);
    if (o.excludeLean) config->setFlag(nv::BuilderFlag::kEXCLUDE_LEAN_RUNTIME);
    config->setHardwareCompatibilityLevel(static_cast<nv::HardwareCompatibilityLevel>(o.hwCompat));
    std::unique_ptr<nv::ITimingCache> cache;
    if (!o.cacheIn.empty() || !o.cacheOut.empty()) {
      std::vector<uint8_t> bytes;
      if (!o.cacheIn.empty()) bytes = readFile(o.cacheIn);
      cache.reset(config->createTimingCache(bytes.data(), bytes.size()));
      stages["timingCacheRead"] = cache != nullptr;
      if (cache) stages["timingCacheSet"] = config->setTimingCache(*cache, o.ignoreMismatch);
    }
    config->setProgressMonitor(&monitor);
    std::unique_ptr<nv::IHostMemory> serialized(builder->buildSerializedNetwork(*network, *config));
    stages["build"] = serialized != nullptr;
    out.key("progress")
        .begin()
        .field("steps", monitor.steps)
        .field("finished", monitor.finished)
        .field("cancelled", monitor.cancelled);
    out.key("phases").array();
    for (const auto& p : monitor.phases)
      out.begin().field("name", p.name).field("parent", p.parent).field("steps", static_cast<int>(p.steps)).end();
    out.endArray().end();
    if (!serialized) return finish(0);
    const auto* bytes = static_cast<const uint8_t*>(serialized->data());
    plan.assign(bytes, bytes + serialized->size());
    out.field("planBytes", static_cast<int64_t>(plan.size()));
    if (cache && !o.cacheOut.empty()) {
      std::unique_ptr<nv::IHostMemory> blob(cache->serialize());
      writeFile(o.cacheOut, blob->data(), blob->size());
    }
    if (!o.planOut.empty()) writeFile(o.planOut, plan.data(), plan.size());
    // The parser, network and builder go before the runtime, as in the addon.
  } else {
    plan = readFile(o.planIn);
  }

  std::unique_ptr<nv::IRuntime> runtime(static_cast<nv::IRuntime*>(createRuntime(&logger, NV_TENSORRT_VERSION)));
  stages["runtime"] = runtime != nullptr;
  if (!runtime) return finish(0);
  runtime->setErrorRecorder(&recorder);
  if (o.hostCode) runtime->setEngineHostCodeAllowed(true);
  std::unique_ptr<nv::IRuntime> leanRuntime;
  nv::IRuntime* rt = runtime.get();
  if (!o.lean.empty()) {
    leanRuntime.reset(runtime->loadRuntime(o.lean.c_str()));
    stages["loadRuntime"] = leanRuntime != nullptr;
    if (!leanRuntime) return finish(0);
    rt = leanRuntime.get();
  }
  std::unique_ptr<nv::ICudaEngine> engine(rt->deserializeCudaEngine(plan.data(), plan.size()));
  stages["engine"] = engine != nullptr;
  if (!engine) return finish(0);
  if (o.unimplemented) {
    std::fflush(stdout);
    delete engine->createEngineInspector();  // not implemented by the stand-in: aborts with its name
  }

  struct Io {
    std::string name;
    bool input;
    nv::DataType type;
    std::vector<int64_t> dims;
    std::string alias;
  };
  std::vector<Io> io;
  out.key("engine")
      .begin()
      .field("profiles", engine->getNbOptimizationProfiles())
      .field("deviceMemory", engine->getDeviceMemorySizeV2());
  out.key("tensors").array();
  for (int32_t i = 0; i < engine->getNbIOTensors(); i++) {
    const char* name = engine->getIOTensorName(i);
    Io t{name, engine->getTensorIOMode(name) == nv::TensorIOMode::kINPUT, engine->getTensorDataType(name),
         toVector(engine->getTensorShape(name)), ""};
    const char* alias = engine->getAliasedInputTensor(name);
    if (alias != nullptr) t.alias = alias;
    out.begin().field("name", t.name).field("input", t.input).field("type", std::string(typeName(t.type)));
    out.key("dims");
    dims(out, t.dims);
    out.field("shapeInference", engine->isShapeInferenceIO(name));
    out.field("host", engine->getTensorLocation(name) == nv::TensorLocation::kHOST);
    out.field("linear", engine->getTensorFormat(name) == nv::TensorFormat::kLINEAR);
    out.field("alias", t.alias);
    if (t.input) {
      out.key("profiles").array();
      for (int32_t p = 0; p < engine->getNbOptimizationProfiles(); p++) {
        out.begin().key("min");
        dims(out, toVector(engine->getProfileShape(name, p, nv::OptProfileSelector::kMIN)));
        out.key("opt");
        dims(out, toVector(engine->getProfileShape(name, p, nv::OptProfileSelector::kOPT)));
        out.key("max");
        dims(out, toVector(engine->getProfileShape(name, p, nv::OptProfileSelector::kMAX)));
        out.end();
      }
      out.endArray();
    }
    out.end();
    io.push_back(t);
  }
  out.endArray().end();

  const auto strategy = o.strategy == "user"      ? nv::ExecutionContextAllocationStrategy::kUSER_MANAGED
                        : o.strategy == "profile" ? nv::ExecutionContextAllocationStrategy::kON_PROFILE_CHANGE
                                                  : nv::ExecutionContextAllocationStrategy::kSTATIC;
  std::unique_ptr<nv::IExecutionContext> context(engine->createExecutionContext(strategy));
  stages["context"] = context != nullptr;
  if (!context) return finish(0);
  CUstream stream = nullptr;
  cu.streamCreate(&stream, CU_STREAM_NON_BLOCKING);
  CUevent done = nullptr;
  cu.eventCreate(&done, CU_EVENT_DISABLE_TIMING);
  stages["profile"] = context->setOptimizationProfileAsync(o.profileIndex, reinterpret_cast<cudaStream_t>(stream));
  CUdeviceptr userMemory = 0;
  if (strategy == nv::ExecutionContextAllocationStrategy::kUSER_MANAGED) {
    cu.memAlloc(&userMemory, static_cast<size_t>(engine->getDeviceMemorySizeV2()));
    context->setDeviceMemoryV2(reinterpret_cast<void*>(userMemory), engine->getDeviceMemorySizeV2());
  }

  struct Buffer {
    std::size_t bytes = 0;
    void* pinned = nullptr;
    CUdeviceptr device = 0;
  };
  std::vector<Buffer> keep(io.size());
  out.key("runs").array();
  for (const std::string& spec : o.runs) {
    // "BxS:len@seed,len@seed,..."
    const auto colon = spec.find(':');
    const std::vector<int64_t> bs = parseDims(spec.substr(0, colon));
    std::vector<Row> rows;
    std::stringstream rs(spec.substr(colon + 1));
    std::string r;
    while (std::getline(rs, r, ',')) {
      const auto at = r.find('@');
      rows.push_back({std::stoll(r.substr(0, at)), std::stoll(r.substr(at + 1))});
    }
    out.begin();
    std::vector<std::vector<uint8_t>> hostIn(io.size());
    bool shapesOk = true;
    out.key("inputs").begin();
    int inputIndex = 0;
    for (std::size_t i = 0; i < io.size(); i++) {
      if (!io[i].input) continue;
      std::vector<int64_t> d = io[i].dims;
      for (std::size_t k = 0; k < d.size(); k++) {
        if (d[k] < 0) d[k] = k == 0 ? bs[0] : bs.size() > 1 ? bs[1] : 1;
      }
      shapesOk = context->setInputShape(io[i].name.c_str(), toDims(d)) && shapesOk;
      int64_t n = 1;
      for (int64_t x : d) n *= x;
      hostIn[i].resize(static_cast<std::size_t>(n) * elementSize(io[i].type));
      std::vector<double> values;
      fillInput(io[i].type, io[i].name, inputIndex++, d, io[i].dims.size() >= 2 && io[i].dims[1] < 0, rows, hostIn[i].data(),
                values);
      out.key(io[i].name).begin().key("dims");
      dims(out, d);
      out.key("values").array();
      for (double v : values) out.num(v);
      out.endArray().end();
    }
    out.end();
    out.field("shapes", shapesOk);
    if (!shapesOk) {
      out.end();
      continue;
    }
    // Device buffers (stream-ordered) and pinned staging, kept across runs and grown when a run
    // needs more, as the addon's contexts keep theirs; inputs are copied from the staging.
    std::vector<std::vector<int64_t>> outDims(io.size());
    std::string setup = "CUDA_SUCCESS";
    for (std::size_t i = 0; i < io.size(); i++) {
      std::vector<int64_t> d = toVector(context->getTensorShape(io[i].name.c_str()));
      outDims[i] = d;
      int64_t n = 1;
      for (int64_t x : d) n *= std::max<int64_t>(x, 0);
      const std::size_t bytes = std::max<std::size_t>(static_cast<std::size_t>(n) * elementSize(io[i].type), 1);
      Buffer& b = keep[i];
      if (bytes > b.bytes) {
        if (b.pinned != nullptr) cu.memFreeHost(b.pinned);
        if (b.device != 0) cu.memFreeAsync(b.device, stream);
        b = Buffer{};
        CUresult r = cu.memHostAlloc(&b.pinned, bytes, 0);
        if (r == CUDA_SUCCESS) r = cu.memAllocAsync(&b.device, bytes, stream);
        if (r != CUDA_SUCCESS) {
          setup = cu.name(r);
          b = Buffer{};
          continue;
        }
        b.bytes = bytes;
      }
      if (io[i].input && !hostIn[i].empty()) {
        std::memcpy(b.pinned, hostIn[i].data(), hostIn[i].size());
        const CUresult r = cu.memcpyAsync(b.device, reinterpret_cast<CUdeviceptr>(b.pinned), hostIn[i].size(), stream);
        if (r != CUDA_SUCCESS) setup = cu.name(r);
      }
    }
    out.field("setup", setup);
    std::vector<CUdeviceptr> buffers(io.size(), 0);
    for (std::size_t i = 0; i < io.size(); i++) buffers[i] = keep[i].device;
    for (std::size_t i = 0; i < io.size(); i++) {
      if (!io[i].input && !io[i].alias.empty() && o.aliasBind == "same") {
        for (std::size_t j = 0; j < io.size(); j++) {
          if (io[j].name == io[i].alias) buffers[i] = buffers[j];
        }
      }
      context->setTensorAddress(io[i].name.c_str(), reinterpret_cast<void*>(buffers[i]));
    }
    bool enqueued = true;
    if (o.graph > 0) {
      // The addon's capture path: optionally one plain run first, then capture and replay.
      if (o.warmup) enqueued = context->enqueueV3(reinterpret_cast<cudaStream_t>(stream));
      cu.streamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
      const bool captured = context->enqueueV3(reinterpret_cast<cudaStream_t>(stream));
      CUgraph graph = nullptr;
      const CUresult end = cu.streamEndCapture(stream, &graph);
      out.key("capture").begin().field("enqueue", captured).field("end", cu.name(end));
      if (end == CUDA_SUCCESS && captured) {
        CUgraphExec exec = nullptr;
        cu.graphInstantiate(&exec, graph, 0);
        for (int g = 0; g < o.graph; g++) cu.graphLaunch(exec, stream);
        cu.streamSynchronize(stream);
        cu.graphExecDestroy(exec);
        out.field("replayed", o.graph);
      } else {
        // Not capturable: run it plainly, as the addon falls back.
        enqueued = context->enqueueV3(reinterpret_cast<cudaStream_t>(stream)) && enqueued;
        out.field("replayed", 0);
      }
      if (graph != nullptr) cu.graphDestroy(graph);
      out.end();
    } else {
      enqueued = context->enqueueV3(reinterpret_cast<cudaStream_t>(stream));
    }
    out.field("enqueue", enqueued);
    for (std::size_t i = 0; i < io.size(); i++) {
      if (io[i].input) continue;
      int64_t n = 1;
      for (int64_t x : outDims[i]) n *= std::max<int64_t>(x, 0);
      if (n > 0 && keep[i].pinned != nullptr) {
        cu.memcpyAsync(reinterpret_cast<CUdeviceptr>(keep[i].pinned), buffers[i],
                       static_cast<size_t>(n) * elementSize(io[i].type), stream);
      }
    }
    cu.eventRecord(done, stream);
    const CUresult sync = cu.eventSynchronize(done);
    out.field("sync", cu.name(sync));
    out.key("outputs").begin();
    for (std::size_t i = 0; i < io.size(); i++) {
      if (io[i].input) continue;
      out.key(io[i].name).begin().key("dims");
      dims(out, outDims[i]);
      out.key("values").array();
      int64_t n = 1;
      for (int64_t x : outDims[i]) n *= std::max<int64_t>(x, 0);
      for (int64_t e = 0; e < n && sync == CUDA_SUCCESS && keep[i].pinned != nullptr; e++) {
        out.num(readValue(io[i].type,
                          static_cast<const uint8_t*>(keep[i].pinned) + static_cast<std::size_t>(e) * elementSize(io[i].type)));
      }
      out.endArray().end();
    }
    out.end();
    out.end();
  }
  out.endArray();
  for (Buffer& b : keep) {
    if (b.device != 0) cu.memFreeAsync(b.device, stream);
  }
  cu.streamSynchronize(stream);
  for (Buffer& b : keep) {
    if (b.pinned != nullptr) cu.memFreeHost(b.pinned);
  }
  context.reset();
  if (userMemory != 0) cu.memFree(userMemory);
  engine.reset();
  leanRuntime.reset();
  runtime.reset();
  cu.eventDestroy(done);
  cu.streamDestroy(stream);
  out.field("liveAtEnd",
            counterValue("cuda.live.deviceAllocations") + counterValue("trt.live.engines") + counterValue("trt.live.contexts"));
  return finish(0);
}
