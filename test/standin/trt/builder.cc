// Network definition, optimization profiles, timing cache, builder config and builder.

#include <algorithm>
#include <chrono>
#include <thread>

#include "trt/objects.h"

namespace standin::trt {

namespace {

constexpr char kCacheMagic[8] = {'T', 'R', 'T', 'N', 'T', 'C', 'A', 'C'};

uint64_t hash64(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

int64_t tensorBytes(const TensorDesc& t, const std::vector<int64_t>& dims) {
  const int64_t v = volume(dims);
  return v < 0 ? 0 : v * static_cast<int64_t>(elementSize(t.type));
}

// Calls the monitor and says whether the build goes on.
class Progress {
 public:
  Progress(nv::IProgressMonitor* monitor, int64_t stepMs) : monitor_(monitor), stepMs_(stepMs) {}
  ~Progress() { finishAll(); }
  void start(const char* phase, const char* parent, int32_t steps) {
    if (monitor_ != nullptr) monitor_->phaseStart(phase, parent, steps);
    open_.push_back(phase);
  }
  bool step(const char* phase, int32_t step) {
    if (stepMs_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(stepMs_));
    Counter("trt.build.progressSteps").add();
    return monitor_ == nullptr || monitor_->stepComplete(phase, step);
  }
  void finish() {
    if (open_.empty()) return;
    if (monitor_ != nullptr) monitor_->phaseFinish(open_.back());
    open_.pop_back();
  }
  void finishAll() {
    while (!open_.empty()) finish();
  }

 private:
  nv::IProgressMonitor* monitor_;
  int64_t stepMs_;
  std::vector<const char*> open_;
};

}  // namespace

HostMemory::HostMemory(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {
  mImpl = this;
  Counter("trt.live.hostMemory").add(1);
}

HostMemory::~HostMemory() noexcept {
  Counter("trt.live.hostMemory").add(-1);
}

// Tensor

Tensor::Tensor(Network& network, TensorDesc desc) : network_(network), desc_(std::move(desc)) {
  mImpl = this;
  desc_.dimNames.resize(desc_.dims.size());
}

void Tensor::setName(char const* name) noexcept {
  if (name != nullptr) desc_.name = name;
}

void Tensor::setDimensions(Dims const& dimensions) noexcept {
  desc_.dims = toVector(dimensions);
  desc_.dimNames.resize(desc_.dims.size());
}

bool Tensor::isNetworkOutput() const noexcept {
  return network_.isOutput(this);
}

nv::TensorLocation Tensor::getLocation() const noexcept {
  return desc_.shapeTensor ? nv::TensorLocation::kHOST : location_;
}

void Tensor::setDimensionName(int32_t index, char const* name) noexcept {
  if (index < 0 || static_cast<std::size_t>(index) >= desc_.dims.size()) {
    network_.reporter().error(ErrorCode::kINVALID_ARGUMENT, "ITensor::setDimensionName: index " + std::to_string(index) +
                                                                " is out of range for tensor " + desc_.name + " of rank " +
                                                                std::to_string(desc_.dims.size()));
    return;
  }
  desc_.dimNames[static_cast<std::size_t>(index)] = name != nullptr ? name : "";
}

char const* Tensor::getDimensionName(int32_t index) const noexcept {
  if (index < 0 || static_cast<std::size_t>(index) >= desc_.dimNames.size()) return nullptr;
  const std::string& n = desc_.dimNames[static_cast<std::size_t>(index)];
  return n.empty() ? nullptr : n.c_str();
}

// Network

Network::Network(Builder& builder, nv::NetworkDefinitionCreationFlags flags) : builder_(builder), flags_(flags) {
  mImpl = this;
  reporter_.set(builder.getErrorRecorder());
  Counter("trt.live.networks").add(1);
}

Network::~Network() noexcept {
  Counter("trt.live.networks").add(-1);
}

nv::ITensor* Network::addInput(char const* name, DataType type, Dims const& dimensions) noexcept {
  try {
    const std::string n = name != nullptr ? name : "";
    if (n.empty() || findInput(n) != nullptr) {
      reporter_.error(
          ErrorCode::kINVALID_ARGUMENT,
          "INetworkDefinition::addInput: Error Code 3: API Usage Error (the input name \"" + n + "\" is empty or already used)");
      return nullptr;
    }
    if (dimensions.nbDims < 0 || dimensions.nbDims > Dims::MAX_DIMS || elementSize(type) == 0) {
      reporter_.error(ErrorCode::kINVALID_ARGUMENT, "INetworkDefinition::addInput: Error Code 3: API Usage Error (input \"" + n +
                                                        "\" has an invalid shape or a type the stand-in cannot run)");
      return nullptr;
    }
    TensorDesc d;
    d.name = n;
    d.type = type;
    d.dims = toVector(dimensions);
    d.input = true;
    for (int64_t x : d.dims) {
      if (x < -1) {
        reporter_.error(ErrorCode::kINVALID_ARGUMENT, "INetworkDefinition::addInput: dimensions of \"" + n + "\" must be >= -1");
        return nullptr;
      }
    }
    inputs_.push_back(std::make_unique<Tensor>(*this, std::move(d)));
    return inputs_.back().get();
  } catch (...) {
    return nullptr;
  }
}

void Network::markOutput(nv::ITensor& tensor) noexcept {
  auto* t = static_cast<Tensor*>(&tensor);
  if (std::find(outputs_.begin(), outputs_.end(), t) == outputs_.end()) outputs_.push_back(t);
}

nv::ITensor* Network::getInput(int32_t index) const noexcept {
  if (index < 0 || static_cast<std::size_t>(index) >= inputs_.size()) return nullptr;
  return inputs_[static_cast<std::size_t>(index)].get();
}

nv::ITensor* Network::getOutput(int32_t index) const noexcept {
  if (index < 0 || static_cast<std::size_t>(index) >= outputs_.size()) return nullptr;
  return outputs_[static_cast<std::size_t>(index)];
}

nv::IBuilder& Network::getBuilder() const noexcept {
  return builder_;
}

Tensor* Network::addOutput(TensorDesc desc) {
  desc.input = false;
  owned_.push_back(std::make_unique<Tensor>(*this, std::move(desc)));
  return owned_.back().get();
}

Tensor* Network::findInput(const std::string& name) const {
  for (const auto& t : inputs_) {
    if (t->desc().name == name) return t.get();
  }
  return nullptr;
}

Tensor* Network::findOutput(const std::string& name) const {
  for (Tensor* t : outputs_) {
    if (t->desc().name == name) return t;
  }
  return nullptr;
}

bool Network::isOutput(const Tensor* t) const {
  return std::find(outputs_.begin(), outputs_.end(), t) != outputs_.end();
}

// OptimizationProfile

bool OptimizationProfile::setDimensions(char const* inputName, nv::OptProfileSelector select, Dims const& dims) noexcept {
  const std::string name = inputName != nullptr ? inputName : "";
  const std::vector<int64_t> v = toVector(dims);
  for (int64_t x : v) {
    if (x < 0) {
      reporter_.error(ErrorCode::kINVALID_ARGUMENT,
                      "IOptimizationProfile::setDimensions: Error Code 3: API Usage Error (input \"" + name +
                          "\": profile dimensions must be >= 0, got " + formatDims(v) + ")");
      return false;
    }
  }
  ProfileRange& r = ranges_[name];
  for (const auto* other : {&r.min, &r.opt, &r.max}) {
    if (!other->empty() && other->size() != v.size()) {
      reporter_.error(ErrorCode::kINVALID_ARGUMENT, "IOptimizationProfile::setDimensions: input \"" + name +
                                                        "\": the rank differs from the one set for another selector");
      return false;
    }
  }
  switch (select) {
    case nv::OptProfileSelector::kMIN:
      r.min = v;
      break;
    case nv::OptProfileSelector::kOPT:
      r.opt = v;
      break;
    case nv::OptProfileSelector::kMAX:
      r.max = v;
      break;
  }
  return true;
}

Dims OptimizationProfile::getDimensions(char const* inputName, nv::OptProfileSelector select) const noexcept {
  auto it = ranges_.find(inputName != nullptr ? inputName : "");
  if (it == ranges_.end()) return invalidDims();
  const ProfileRange& r = it->second;
  const auto& v = select == nv::OptProfileSelector::kMIN ? r.min : select == nv::OptProfileSelector::kOPT ? r.opt : r.max;
  return v.empty() ? invalidDims() : toDims(v);
}

bool OptimizationProfile::isValid() const noexcept {
  for (const auto& [name, r] : ranges_) {
    if (r.min.empty() || r.opt.empty() || r.max.empty()) {
      reporter_.error(ErrorCode::kINVALID_ARGUMENT, "IOptimizationProfile: input \"" + name + "\" lacks one of kMIN, kOPT, kMAX");
      return false;
    }
    for (std::size_t k = 0; k < r.min.size(); k++) {
      if (!(r.min[k] <= r.opt[k] && r.opt[k] <= r.max[k])) {
        reporter_.error(ErrorCode::kINVALID_ARGUMENT, "IOptimizationProfile: input \"" + name + "\" dimension " +
                                                          std::to_string(k) + " needs kMIN <= kOPT <= kMAX, got " +
                                                          formatDims(r.min) + " / " + formatDims(r.opt) + " / " +
                                                          formatDims(r.max));
        return false;
      }
    }
  }
  return true;
}

bool OptimizationProfile::setExtraMemoryTarget(float target) noexcept {
  if (target < 0) return false;
  extraMemoryTarget_ = target;
  return true;
}

int32_t OptimizationProfile::getNbShapeValues(char const* inputName) const noexcept {
  (void)inputName;
  return -1;
}

#if NV_TENSORRT_MAJOR < 11
bool OptimizationProfile::setShapeValues(char const* inputName, nv::OptProfileSelector, int32_t const*, int32_t) noexcept {
  reporter_.error(ErrorCode::kUNSUPPORTED_STATE, std::string("IOptimizationProfile::setShapeValues(") +
                                                     (inputName ? inputName : "") +
                                                     "): shape-tensor value ranges are not modelled by the stand-in");
  return false;
}
#endif

bool OptimizationProfile::setShapeValuesV2(char const* inputName, nv::OptProfileSelector, int64_t const*, int32_t) noexcept {
  reporter_.error(ErrorCode::kUNSUPPORTED_STATE, std::string("IOptimizationProfile::setShapeValuesV2(") +
                                                     (inputName ? inputName : "") +
                                                     "): shape-tensor value ranges are not modelled by the stand-in");
  return false;
}

// TimingCache

TimingCache* TimingCache::parse(const void* blob, std::size_t size, std::string& why) {
  std::vector<uint8_t> body;
  uint32_t major = 0;
  if (!unframe(kCacheMagic, blob, size, "timing cache", body, major, why)) return nullptr;
  ByteReader r(body.data(), body.size());
  uint32_t version = 0, n = 0;
  std::string key;
  if (!r.u32(version) || !r.str(key) || !r.u32(n)) {
    why = "the timing cache is corrupt";
    return nullptr;
  }
  if (static_cast<int32_t>(version) != reportedVersion()) {
    why = "the timing cache was written by TensorRT " + versionString(static_cast<int32_t>(version)) + "; this is TensorRT " +
          versionString(reportedVersion());
    return nullptr;
  }
  auto cache = std::make_unique<TimingCache>(key, static_cast<int32_t>(version));
  for (uint32_t i = 0; i < n; i++) {
    int64_t k = 0, v = 0;
    if (!r.i64(k) || !r.i64(v)) {
      why = "the timing cache is corrupt";
      return nullptr;
    }
    cache->entries_[static_cast<uint64_t>(k)] = static_cast<uint64_t>(v);
  }
  return cache.release();
}

nv::IHostMemory* TimingCache::serialize() const noexcept {
  try {
    ByteWriter w;
    std::lock_guard<std::mutex> lock(mu_);
    w.u32(static_cast<uint32_t>(trtVersion_));
    w.str(deviceKey_);
    w.u32(static_cast<uint32_t>(entries_.size()));
    for (const auto& [k, v] : entries_) {
      w.i64(static_cast<int64_t>(k));
      w.i64(static_cast<int64_t>(v));
    }
    return new HostMemory(frame(kCacheMagic, w.bytes()));
  } catch (...) {
    return nullptr;
  }
}

bool TimingCache::combine(nv::ITimingCache const& inputCache, bool ignoreMismatch) noexcept {
  const auto& other = static_cast<const TimingCache&>(inputCache);
  if (&other == this) return true;
  if (other.deviceKey_ != deviceKey_ && !ignoreMismatch) {
    log(Severity::kERROR, "ITimingCache::combine: the caches were made on different devices (" + other.deviceKey_ + " vs " +
                              deviceKey_ + "); pass ignoreMismatch to combine them");
    return false;
  }
  std::scoped_lock lock(mu_, other.mu_);
  for (const auto& [k, v] : other.entries_) entries_.emplace(k, v);
  return true;
}

bool TimingCache::reset() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
  return true;
}

bool TimingCache::lookupOrAdd(uint64_t key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.count(key) != 0) return true;
  entries_[key] = key * 2654435761u;
  return false;
}

std::size_t TimingCache::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

// BuilderConfig

BuilderConfig::BuilderConfig(Builder& builder) : builder_(builder) {
  mImpl = this;
  reset();
}

void BuilderConfig::reset() noexcept {
  flags_ = 1u << static_cast<uint32_t>(nv::BuilderFlag::kTF32);  // TensorRT enables TF32 by default
  workspace_ = 0;
  profiles_.clear();
  cache_ = nullptr;
  monitor_ = nullptr;
  optimizationLevel_ = 3;
  hardware_ = nv::HardwareCompatibilityLevel::kNONE;
  maxAuxStreams_ = -1;
}

void BuilderConfig::setMemoryPoolLimit(nv::MemoryPoolType pool, std::size_t poolSize) noexcept {
  if (pool == nv::MemoryPoolType::kWORKSPACE) workspace_ = poolSize;
}

std::size_t BuilderConfig::getMemoryPoolLimit(nv::MemoryPoolType pool) const noexcept {
  return pool == nv::MemoryPoolType::kWORKSPACE ? workspace_ : 0;
}

int32_t BuilderConfig::addOptimizationProfile(nv::IOptimizationProfile const* profile) noexcept {
  if (profile == nullptr) return -1;
  const auto* p = static_cast<const OptimizationProfile*>(profile);
  if (!p->isValid()) return -1;
  try {
    profiles_.push_back(p->ranges());
  } catch (...) {
    return -1;
  }
  return static_cast<int32_t>(profiles_.size()) - 1;
}

nv::ITimingCache* BuilderConfig::createTimingCache(void const* blob, std::size_t size) const noexcept {
  try {
    if (blob == nullptr || size == 0) return new TimingCache(builder_.deviceKey(), reportedVersion());
    std::string why;
    TimingCache* cache = TimingCache::parse(blob, size, why);
    if (cache == nullptr) builder_.reporter().error(ErrorCode::kINVALID_ARGUMENT, "IBuilderConfig::createTimingCache: " + why);
    return cache;
  } catch (...) {
    return nullptr;
  }
}

bool BuilderConfig::setTimingCache(nv::ITimingCache const& cache, bool ignoreMismatch) noexcept {
  const auto& c = static_cast<const TimingCache&>(cache);
  const std::string here = builder_.deviceKey();
  if (c.deviceKey() != here && !ignoreMismatch) {
    builder_.reporter().error(ErrorCode::kINVALID_ARGUMENT,
                              "IBuilderConfig::setTimingCache: the timing cache was created on another device (" + c.deviceKey() +
                                  "); this device is " + here + ". Pass ignoreMismatch=true to use it anyway");
    return false;
  }
  cache_ = &c;
  return true;
}

#if NV_TENSORRT_MAJOR >= 11
bool BuilderConfig::setMaxAuxStreams(int32_t nbStreams) noexcept {
  if (nbStreams < -1) return false;
  maxAuxStreams_ = nbStreams;
  return true;
}
#else
void BuilderConfig::setMaxAuxStreams(int32_t nbStreams) noexcept {
  maxAuxStreams_ = nbStreams;
}
#endif

void BuilderConfig::setPreviewFeature(nv::PreviewFeature feature, bool enable) noexcept {
  const uint32_t bit = 1u << static_cast<uint32_t>(feature);
  previewFeatures_ = enable ? previewFeatures_ | bit : previewFeatures_ & ~bit;
}

bool BuilderConfig::getPreviewFeature(nv::PreviewFeature feature) const noexcept {
  return (previewFeatures_ & (1u << static_cast<uint32_t>(feature))) != 0;
}

// Builder

Builder::Builder() {
  mImpl = this;
  Counter("trt.live.builders").add(1);
}

Builder::~Builder() noexcept {
  Counter("trt.live.builders").add(-1);
}

nv::IBuilderConfig* Builder::createBuilderConfig() noexcept {
  try {
    return new BuilderConfig(*this);
  } catch (...) {
    return nullptr;
  }
}

nv::INetworkDefinition* Builder::createNetworkV2(nv::NetworkDefinitionCreationFlags flags) noexcept {
  try {
    return new Network(*this, flags);
  } catch (...) {
    return nullptr;
  }
}

nv::IOptimizationProfile* Builder::createOptimizationProfile() noexcept {
  try {
    profiles_.push_back(std::make_unique<OptimizationProfile>(reporter_));
    return profiles_.back().get();
  } catch (...) {
    return nullptr;
  }
}

bool Builder::isNetworkSupported(nv::INetworkDefinition const&, nv::IBuilderConfig const&) const noexcept {
  return true;
}

bool Builder::setMaxThreads(int32_t maxThreads) noexcept {
  if (maxThreads < 1) return false;
  maxThreads_ = maxThreads;
  return true;
}

std::string Builder::deviceKey() const {
  DeviceInfo dev;
  std::string why;
  if (!currentDevice(dev, why)) return "unknown device";
  return dev.name + " (compute capability " + std::to_string(dev.ccMajor) + "." + std::to_string(dev.ccMinor) + ", " +
         std::to_string(dev.sms) + " SMs)";
}

nv::IHostMemory* Builder::buildSerializedNetwork(nv::INetworkDefinition& network, nv::IBuilderConfig& config) noexcept {
  try {
    Counter("trt.build.started").add();
    auto& net = static_cast<Network&>(network);
    auto& cfg = static_cast<BuilderConfig&>(config);
    const char* const where = "IBuilder::buildSerializedNetwork: ";
    auto fail = [&](ErrorCode code, const std::string& message) -> nv::IHostMemory* {
      reporter_.error(code, where + message);
      Counter("trt.build.failed").add();
      return nullptr;
    };
    if (faultHit("trt.build_fail"))
      return fail(ErrorCode::kINTERNAL_ERROR, "Error Code 2: Internal Error (stand-in fault trt.build_fail)");
    if (net.outputs().empty())
      return fail(ErrorCode::kINVALID_ARGUMENT, "Error Code 4: API Usage Error (Network must have at least one output)");
    DeviceInfo dev;
    std::string why;
    if (!currentDevice(dev, why)) return fail(ErrorCode::kFAILED_INITIALIZATION, why);

    Plan plan;
    plan.trtVersion = reportedVersion();
#if NV_TENSORRT_MAJOR < 11
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    plan.fp16 = cfg.getFlag(nv::BuilderFlag::kFP16);
    plan.stronglyTyped = net.getFlag(nv::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#pragma GCC diagnostic pop
    if (plan.fp16 && plan.stronglyTyped) {
      return fail(ErrorCode::kINVALID_CONFIG,
                  "Error Code 4: API Usage Error (BuilderFlag::kFP16 is not allowed for a strongly typed network)");
    }
#endif
    plan.versionCompatible = cfg.getFlag(nv::BuilderFlag::kVERSION_COMPATIBLE);
    plan.excludeLeanRuntime = cfg.getFlag(nv::BuilderFlag::kEXCLUDE_LEAN_RUNTIME);
    plan.refittable = cfg.getFlag(nv::BuilderFlag::kREFIT);
    if (plan.excludeLeanRuntime && !plan.versionCompatible) {
      return fail(ErrorCode::kINVALID_CONFIG,
                  "Error Code 4: API Usage Error (BuilderFlag::kEXCLUDE_LEAN_RUNTIME needs BuilderFlag::kVERSION_COMPATIBLE)");
    }
    plan.usesPlugins = net.usesPlugins;
    plan.hardwareCompatibility = static_cast<int32_t>(cfg.getHardwareCompatibilityLevel());
    plan.optimizationLevel = cfg.getBuilderOptimizationLevel();
    plan.deviceName = dev.name;
    plan.ccMajor = dev.ccMajor;
    plan.ccMinor = dev.ccMinor;

    std::vector<const TensorDesc*> inputs;
    bool dynamic = false;
    for (const auto& t : net.inputs()) {
      inputs.push_back(&t->desc());
      plan.tensors.push_back(t->desc());
      for (int64_t d : t->desc().dims) dynamic = dynamic || d < 0;
      dynamic = dynamic || t->desc().shapeTensor;
    }
    for (Tensor* t : net.outputs()) plan.tensors.push_back(t->desc());

    // Profiles: every input gets a range in every profile (fixed inputs: their shape).
    auto profiles = cfg.profiles();
    if (profiles.empty()) {
      if (dynamic) {
        return fail(
            ErrorCode::kINVALID_CONFIG,
            "Error Code 4: API Usage Error (Network has dynamic or shape inputs, but no optimization profile has been defined.)");
      }
      profiles.emplace_back();
    }
    for (std::size_t p = 0; p < profiles.size(); p++) {
      const std::string which = "optimization profile " + std::to_string(p);
      for (const auto& [name, range] : profiles[p]) {
        if (net.findInput(name) == nullptr) {
          return fail(ErrorCode::kINVALID_CONFIG, "Error Code 4: API Usage Error (" + which + " sets dimensions for \"" + name +
                                                      "\", which is not a network input)");
        }
      }
      std::vector<ProfileRange> ranges;
      for (const TensorDesc* in : inputs) {
        if (in->shapeTensor) {
          return fail(ErrorCode::kINVALID_CONFIG,
                      "Error Code 4: API Usage Error (" + which + " is missing values for shape input \"" + in->name + "\")");
        }
        auto it = profiles[p].find(in->name);
        ProfileRange r;
        if (it == profiles[p].end()) {
          if (volume(in->dims) < 0) {
            return fail(ErrorCode::kINVALID_CONFIG, "Error Code 4: API Usage Error (" + which +
                                                        " has no dimensions for dynamic input \"" + in->name + "\" " +
                                                        formatDims(in->dims) + ")");
          }
          r.min = r.opt = r.max = in->dims;
        } else {
          r = it->second;
          if (r.min.size() != in->dims.size()) {
            return fail(ErrorCode::kINVALID_CONFIG, "Error Code 4: API Usage Error (" + which + " gives input \"" + in->name +
                                                        "\" rank " + std::to_string(r.min.size()) + "; the input has rank " +
                                                        std::to_string(in->dims.size()) + ")");
          }
          for (std::size_t k = 0; k < in->dims.size(); k++) {
            if (in->dims[k] >= 0 && (r.min[k] != in->dims[k] || r.opt[k] != in->dims[k] || r.max[k] != in->dims[k])) {
              return fail(ErrorCode::kINVALID_CONFIG,
                          "Error Code 4: API Usage Error (" + which + ": input \"" + in->name + "\" dimension " +
                              std::to_string(k) + " is fixed to " + std::to_string(in->dims[k]) + " but the profile gives " +
                              formatDims(r.min) + " / " + formatDims(r.opt) + " / " + formatDims(r.max) + ")");
            }
          }
        }
        ranges.push_back(std::move(r));
      }
      // Activation memory: the profile's largest I/O, plus a fixed part.
      std::vector<std::vector<int64_t>> maxDims;
      int64_t bytes = 256 << 10;
      for (std::size_t i = 0; i < inputs.size(); i++) {
        maxDims.push_back(ranges[i].max);
        bytes += tensorBytes(*inputs[i], ranges[i].max);
      }
      for (Tensor* t : net.outputs()) bytes += tensorBytes(t->desc(), resolveOutputDims(t->desc(), inputs, maxDims));
      bytes = (bytes + 255) / 256 * 256;
      plan.deviceMemory.push_back(bytes);
      plan.deviceMemoryMax = std::max(plan.deviceMemoryMax, bytes);
      plan.profiles.push_back(std::move(ranges));
    }

    const std::string stepSet = faultValue("trt.build_step_ms");
    Progress progress(cfg.getProgressMonitor(),
                      stepSet.empty() ? envInt("TRTN_STANDIN_BUILD_STEP_MS", 2) : std::strtoll(stepSet.c_str(), nullptr, 10));
    {
      // Names what is built, so tests can tell whose build a log line belongs to.
      std::string names;
      for (Tensor* t : net.outputs()) names += (names.empty() ? "" : ", ") + t->desc().name;
      log(Severity::kINFO, "Building an engine for the network with outputs " + names + " (stand-in)");
    }
    auto cancelled = [&]() -> nv::IHostMemory* {
      progress.finishAll();
      Counter("trt.build.cancelled").add();
      reporter_.error(ErrorCode::kUNSPECIFIED_ERROR,
                      std::string(where) + "the build was cancelled (IProgressMonitor::stepComplete returned false)");
      return nullptr;
    };
    const char* top = "Building engine";
    progress.start(top, nullptr, 3);

    progress.start("Optimizing network", top, 4);
    for (int32_t s = 0; s < 4; s++) {
      if (!progress.step("Optimizing network", s)) return cancelled();
    }
    progress.finish();
    if (!progress.step(top, 0)) return cancelled();

    // Tactic selection measures on the device: it needs workspace memory.
    const Cuda& c = cuda();
    CUdeviceptr workspace = 0;
    const std::size_t wsBytes = std::min<std::size_t>(cfg.workspaceLimit() > 0 ? cfg.workspaceLimit() : (1u << 20), 1u << 20);
    const bool oomFault = faultHit("trt.build_oom");
    const CUresult ar = oomFault ? CUDA_ERROR_OUT_OF_MEMORY : c.memAlloc(&workspace, wsBytes);
    if (ar != CUDA_SUCCESS) {
      progress.finishAll();
      if (ar == CUDA_ERROR_OUT_OF_MEMORY) {
        return fail(ErrorCode::kFAILED_ALLOCATION, "Error Code 2: Internal Error (Requested amount of GPU memory (" +
                                                       std::to_string(wsBytes) +
                                                       " bytes) could not be allocated. There may not be enough free memory for "
                                                       "allocation to succeed: out of memory)");
      }
      return fail(ErrorCode::kFAILED_EXECUTION, "Error Code 1: Cuda Runtime (" + cudaErrorText(ar) + ")");
    }
    struct FreeWorkspace {
      const Cuda& c;
      CUdeviceptr p;
      ~FreeWorkspace() { (void)c.memFree(p); }
    } freeWorkspace{c, workspace};

    const bool useCache = cfg.timingCache() != nullptr && !cfg.getFlag(nv::BuilderFlag::kDISABLE_TIMING_CACHE);
    const std::string deviceKey = this->deviceKey();
    const int32_t tactics = static_cast<int32_t>(std::max<std::size_t>(1, net.outputs().size() * plan.profiles.size()));
    progress.start("Selecting tactics", top, tactics);
    int64_t hits = 0, misses = 0;
    for (int32_t s = 0; s < tactics; s++) {
      const std::size_t o = static_cast<std::size_t>(s) % std::max<std::size_t>(1, net.outputs().size());
      const std::size_t p = static_cast<std::size_t>(s) / std::max<std::size_t>(1, net.outputs().size());
      std::string key = deviceKey + "|" + net.outputs()[o]->desc().name;
      for (const auto& r : plan.profiles[p]) key += formatDims(r.min) + formatDims(r.opt) + formatDims(r.max);
      if (useCache) {
        if (cfg.timingCache()->lookupOrAdd(hash64(key))) {
          hits++;
        } else {
          misses++;
          if (cfg.getFlag(nv::BuilderFlag::kERROR_ON_TIMING_CACHE_MISS)) {
            progress.finishAll();
            return fail(ErrorCode::kINVALID_STATE, "Error Code 4: API Usage Error (timing cache miss for " +
                                                       net.outputs()[o]->desc().name + " with kERROR_ON_TIMING_CACHE_MISS set)");
          }
        }
      }
      if (!progress.step("Selecting tactics", s)) return cancelled();
    }
    progress.finish();
    Counter("trt.timingCache.hits").add(hits);
    Counter("trt.timingCache.misses").add(misses);
    if (useCache) {
      log(Severity::kINFO, "Timing cache: " + std::to_string(hits) + " hits, " + std::to_string(misses) + " misses (stand-in)");
    }
    if (!progress.step(top, 1)) return cancelled();

    progress.start("Serializing engine", top, 2);
    std::vector<uint8_t> bytes = serializePlan(plan);
    for (int32_t s = 0; s < 2; s++) {
      if (!progress.step("Serializing engine", s)) return cancelled();
    }
    progress.finish();
    if (!progress.step(top, 2)) return cancelled();
    progress.finish();

    log(Severity::kINFO, "Engine generation completed: stand-in plan of " + std::to_string(bytes.size()) + " bytes, " +
                             std::to_string(plan.profiles.size()) + " profile(s), " + std::to_string(plan.deviceMemoryMax) +
                             " bytes of device memory");
    Counter("trt.build.completed").add();
    return new HostMemory(std::move(bytes));
  } catch (const std::exception& e) {
    reporter_.error(ErrorCode::kINTERNAL_ERROR, std::string("IBuilder::buildSerializedNetwork: ") + e.what());
    return nullptr;
  }
}

}  // namespace standin::trt
