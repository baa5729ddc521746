#pragma once
// The stand-in's TensorRT objects. Each derives from TensorRT's public class (whose inline
// methods forward to mImpl) and from the generated defaults of its implementation interface
// (every method aborts with its name), and points mImpl at itself.

#include <NvInfer.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "defaults.h"  // generated into build/standin/gen/<version>/
#include "trt/common.h"
#include "trt/plan.h"

namespace standin::trt {

namespace nv = nvinfer1;
namespace apiv = nvinfer1::apiv;

class HostMemory final : public nv::IHostMemory, public apiv::VHostMemoryDefaults {
 public:
  explicit HostMemory(std::vector<uint8_t> bytes);
  ~HostMemory() noexcept override;
  void* data() const noexcept override { return const_cast<uint8_t*>(bytes_.data()); }
  std::size_t size() const noexcept override { return bytes_.size(); }
  DataType type() const noexcept override { return DataType::kUINT8; }

 private:
  std::vector<uint8_t> bytes_;
};

class Network;

class Tensor final : public nv::ITensor, public apiv::VTensorDefaults {
 public:
  Tensor(Network& network, TensorDesc desc);
  ~Tensor() noexcept override = default;
  const TensorDesc& desc() const noexcept { return desc_; }
  TensorDesc& desc() noexcept { return desc_; }

  void setName(char const* name) noexcept override;
  char const* getName() const noexcept override { return desc_.name.c_str(); }
  void setDimensions(Dims const& dimensions) noexcept override;
  Dims getDimensions() const noexcept override { return toDims(desc_.dims); }
  DataType getType() const noexcept override { return desc_.type; }
#if NV_TENSORRT_MAJOR < 11
  void setType(DataType type) noexcept override {
    desc_.type = type;
  }
#endif
  bool isNetworkInput() const noexcept override {
    return desc_.input;
  }
  bool isNetworkOutput() const noexcept override;
  nv::TensorLocation getLocation() const noexcept override;
  void setLocation(nv::TensorLocation location) noexcept override {
    location_ = location;
  }
  void setAllowedFormats(nv::TensorFormats formats) noexcept override {
    formats_ = formats;
  }
  nv::TensorFormats getAllowedFormats() const noexcept override {
    return formats_;
  }
  bool isShapeTensor() const noexcept override {
    return desc_.shapeTensor;
  }
  bool isExecutionTensor() const noexcept override {
    return !desc_.shapeTensor;
  }
  void setDimensionName(int32_t index, char const* name) noexcept override;
  char const* getDimensionName(int32_t index) const noexcept override;

 private:
  Network& network_;
  TensorDesc desc_;
  nv::TensorLocation location_ = nv::TensorLocation::kDEVICE;
  nv::TensorFormats formats_ = 1u << static_cast<uint32_t>(nv::TensorFormat::kLINEAR);
};

class Builder;

class Network final : public nv::INetworkDefinition, public apiv::VNetworkDefinitionDefaults {
 public:
  Network(Builder& builder, nv::NetworkDefinitionCreationFlags flags);
  ~Network() noexcept override;

  nv::ITensor* addInput(char const* name, DataType type, Dims const& dimensions) noexcept override;
  void markOutput(nv::ITensor& tensor) noexcept override;
  int32_t getNbInputs() const noexcept override { return static_cast<int32_t>(inputs_.size()); }
  nv::ITensor* getInput(int32_t index) const noexcept override;
  int32_t getNbOutputs() const noexcept override { return static_cast<int32_t>(outputs_.size()); }
  nv::ITensor* getOutput(int32_t index) const noexcept override;
  int32_t getNbLayers() const noexcept override { return 0; }
  void setName(char const* name) noexcept override { name_ = name != nullptr ? name : ""; }
  char const* getName() const noexcept override { return name_.c_str(); }
  void setErrorRecorder(nv::IErrorRecorder* recorder) noexcept override { reporter_.set(recorder); }
  nv::IErrorRecorder* getErrorRecorder() const noexcept override { return reporter_.get(); }
  nv::IBuilder& getBuilder() const noexcept override;
  nv::NetworkDefinitionCreationFlags getFlags() const noexcept override { return flags_; }
  bool getFlag(nv::NetworkDefinitionCreationFlag flag) const noexcept override {
    return (flags_ & (1u << static_cast<uint32_t>(flag))) != 0;
  }

  // The stand-in parser's side door (trt/extension.h).
  Tensor* addOutput(TensorDesc desc);
  Tensor* findInput(const std::string& name) const;
  Tensor* findOutput(const std::string& name) const;
  bool usesPlugins = false;

  const std::vector<std::unique_ptr<Tensor>>& inputs() const { return inputs_; }
  std::vector<Tensor*> outputs() const { return outputs_; }
  bool isOutput(const Tensor* t) const;
  const Reporter& reporter() const { return reporter_; }

 private:
  Builder& builder_;
  nv::NetworkDefinitionCreationFlags flags_;
  std::string name_ = "stand-in network";
  Reporter reporter_;
  std::vector<std::unique_ptr<Tensor>> inputs_;
  std::vector<std::unique_ptr<Tensor>> owned_;  // outputs added through the side door
  std::vector<Tensor*> outputs_;
};

class OptimizationProfile final : public nv::IOptimizationProfile, public apiv::VOptimizationProfileDefaults {
 public:
  explicit OptimizationProfile(const Reporter& reporter) : reporter_(reporter) { mImpl = this; }
  ~OptimizationProfile() noexcept = default;

  bool setDimensions(char const* inputName, nv::OptProfileSelector select, Dims const& dims) noexcept override;
  Dims getDimensions(char const* inputName, nv::OptProfileSelector select) const noexcept override;
  bool isValid() const noexcept override;
  bool setExtraMemoryTarget(float target) noexcept override;
  float getExtraMemoryTarget() const noexcept override { return extraMemoryTarget_; }
  int32_t getNbShapeValues(char const* inputName) const noexcept override;
#if NV_TENSORRT_MAJOR < 11
  bool setShapeValues(char const* inputName, nv::OptProfileSelector select, int32_t const* values,
                      int32_t nbValues) noexcept override;
#endif
  bool setShapeValuesV2(char const* inputName, nv::OptProfileSelector select, int64_t const* values,
                        int32_t nbValues) noexcept override;

  const std::map<std::string, ProfileRange>& ranges() const {
    return ranges_;
  }

 private:
  const Reporter& reporter_;
  std::map<std::string, ProfileRange> ranges_;
  float extraMemoryTarget_ = 1.0f;
};

// Entries keyed by what a build measured; the device key says which GPU measured them.
class TimingCache final : public nv::ITimingCache, public apiv::VTimingCacheDefaults {
 public:
  TimingCache(std::string deviceKey, int32_t trtVersion) : deviceKey_(std::move(deviceKey)), trtVersion_(trtVersion) {
    mImpl = this;
  }
  ~TimingCache() noexcept override = default;
  // Null with `why` when the bytes are not a timing cache of this TensorRT version.
  static TimingCache* parse(const void* blob, std::size_t size, std::string& why);

  nv::IHostMemory* serialize() const noexcept override;
  bool combine(nv::ITimingCache const& inputCache, bool ignoreMismatch) noexcept override;
  bool reset() noexcept override;

  const std::string& deviceKey() const { return deviceKey_; }
  // Returns true on a hit; records the entry on a miss.
  bool lookupOrAdd(uint64_t key);
  std::size_t entries() const;

 private:
  std::string deviceKey_;
  int32_t trtVersion_;
  mutable std::mutex mu_;
  std::map<uint64_t, uint64_t> entries_;
};

class BuilderConfig final : public nv::IBuilderConfig, public apiv::VBuilderConfigDefaults {
 public:
  explicit BuilderConfig(Builder& builder);
  ~BuilderConfig() noexcept override = default;

  void setFlags(nv::BuilderFlags flags) noexcept override { flags_ = flags; }
  nv::BuilderFlags getFlags() const noexcept override { return flags_; }
  void clearFlag(nv::BuilderFlag flag) noexcept override { flags_ &= ~(1u << static_cast<uint32_t>(flag)); }
  void setFlag(nv::BuilderFlag flag) noexcept override { flags_ |= 1u << static_cast<uint32_t>(flag); }
  bool getFlag(nv::BuilderFlag flag) const noexcept override { return (flags_ & (1u << static_cast<uint32_t>(flag))) != 0; }
  void setMemoryPoolLimit(nv::MemoryPoolType pool, std::size_t poolSize) noexcept override;
  std::size_t getMemoryPoolLimit(nv::MemoryPoolType pool) const noexcept override;
  int32_t addOptimizationProfile(nv::IOptimizationProfile const* profile) noexcept override;
  int32_t getNbOptimizationProfiles() const noexcept override { return static_cast<int32_t>(profiles_.size()); }
  nv::ITimingCache* createTimingCache(void const* blob, std::size_t size) const noexcept override;
  bool setTimingCache(nv::ITimingCache const& cache, bool ignoreMismatch) noexcept override;
  nv::ITimingCache const* getTimingCache() const noexcept override { return cache_; }
  void setProgressMonitor(nv::IProgressMonitor* monitor) noexcept override { monitor_ = monitor; }
  nv::IProgressMonitor* getProgressMonitor() const noexcept override { return monitor_; }
  void setBuilderOptimizationLevel(int32_t level) noexcept override { optimizationLevel_ = level; }
  int32_t getBuilderOptimizationLevel() const noexcept override { return optimizationLevel_; }
  void setHardwareCompatibilityLevel(nv::HardwareCompatibilityLevel level) noexcept override { hardware_ = level; }
  nv::HardwareCompatibilityLevel getHardwareCompatibilityLevel() const noexcept override { return hardware_; }
#if NV_TENSORRT_MAJOR >= 11
  bool setMaxAuxStreams(int32_t nbStreams) noexcept override;
#else
  void setMaxAuxStreams(int32_t nbStreams) noexcept override;
#endif
  int32_t getMaxAuxStreams() const noexcept override {
    return maxAuxStreams_;
  }
  void setProfilingVerbosity(nv::ProfilingVerbosity verbosity) noexcept override {
    verbosity_ = verbosity;
  }
  nv::ProfilingVerbosity getProfilingVerbosity() const noexcept override {
    return verbosity_;
  }
  void setProfileStream(const cudaStream_t stream) noexcept override {
    profileStream_ = stream;
  }
  cudaStream_t getProfileStream() const noexcept override {
    return profileStream_;
  }
  void setAvgTimingIterations(int32_t n) noexcept override {
    avgTiming_ = n;
  }
  int32_t getAvgTimingIterations() const noexcept override {
    return avgTiming_;
  }
  void setEngineCapability(nv::EngineCapability capability) noexcept override {
    capability_ = capability;
  }
  nv::EngineCapability getEngineCapability() const noexcept override {
    return capability_;
  }
  bool setTacticSources(nv::TacticSources sources) noexcept override {
    tactics_ = sources;
    return true;
  }
  nv::TacticSources getTacticSources() const noexcept override {
    return tactics_;
  }
  void setPreviewFeature(nv::PreviewFeature feature, bool enable) noexcept override;
  bool getPreviewFeature(nv::PreviewFeature feature) const noexcept override;
  void setRuntimePlatform(nv::RuntimePlatform platform) noexcept override {
    platform_ = platform;
  }
  nv::RuntimePlatform getRuntimePlatform() const noexcept override {
    return platform_;
  }
  void setMaxNbTactics(int32_t n) noexcept override {
    maxTactics_ = n;
  }
  int32_t getMaxNbTactics() const noexcept override {
    return maxTactics_;
  }
  void reset() noexcept override;

  const std::vector<std::map<std::string, ProfileRange>>& profiles() const {
    return profiles_;
  }
  TimingCache* timingCache() const {
    return const_cast<TimingCache*>(cache_);
  }
  std::size_t workspaceLimit() const {
    return workspace_;
  }

 private:
  Builder& builder_;
  nv::BuilderFlags flags_;
  std::size_t workspace_ = 0;
  std::vector<std::map<std::string, ProfileRange>> profiles_;
  const TimingCache* cache_ = nullptr;
  nv::IProgressMonitor* monitor_ = nullptr;
  int32_t optimizationLevel_ = 3;
  nv::HardwareCompatibilityLevel hardware_ = nv::HardwareCompatibilityLevel::kNONE;
  int32_t maxAuxStreams_ = -1;
  nv::ProfilingVerbosity verbosity_ = nv::ProfilingVerbosity::kLAYER_NAMES_ONLY;
  cudaStream_t profileStream_ = nullptr;
  int32_t avgTiming_ = 1;
  nv::EngineCapability capability_ = nv::EngineCapability::kSTANDARD;
  nv::TacticSources tactics_ = 0;
  uint32_t previewFeatures_ = 0;
  nv::RuntimePlatform platform_ = nv::RuntimePlatform::kSAME_AS_BUILD;
  int32_t maxTactics_ = -1;
};

class Builder final : public nv::IBuilder, public apiv::VBuilderDefaults {
 public:
  Builder();
  ~Builder() noexcept override;

  nv::IBuilderConfig* createBuilderConfig() noexcept override;
  nv::INetworkDefinition* createNetworkV2(nv::NetworkDefinitionCreationFlags flags) noexcept override;
  nv::IOptimizationProfile* createOptimizationProfile() noexcept override;
  void setErrorRecorder(nv::IErrorRecorder* recorder) noexcept override { reporter_.set(recorder); }
  nv::IErrorRecorder* getErrorRecorder() const noexcept override { return reporter_.get(); }
  void reset() noexcept override {}
  nv::IHostMemory* buildSerializedNetwork(nv::INetworkDefinition& network, nv::IBuilderConfig& config) noexcept override;
  bool isNetworkSupported(nv::INetworkDefinition const& network, nv::IBuilderConfig const& config) const noexcept override;
  nv::ILogger* getLogger() const noexcept override { return processLogger(); }
  bool setMaxThreads(int32_t maxThreads) noexcept override;
  int32_t getMaxThreads() const noexcept override { return maxThreads_; }
  int32_t getNbDLACores() const noexcept override { return 0; }
  int32_t getMaxDLABatchSize() const noexcept override { return 1; }
  void setGpuAllocator(nv::IGpuAllocator* allocator) noexcept override { allocator_ = allocator; }
#if NV_TENSORRT_MAJOR < 11
  bool platformHasFastFp16() const noexcept override {
    return true;
  }
  bool platformHasFastInt8() const noexcept override {
    return true;
  }
  bool platformHasTf32() const noexcept override {
    return true;
  }
#endif

  const Reporter& reporter() const {
    return reporter_;
  }
  std::string deviceKey() const;

 private:
  Reporter reporter_;
  int32_t maxThreads_ = 1;
  nv::IGpuAllocator* allocator_ = nullptr;
  std::vector<std::unique_ptr<OptimizationProfile>> profiles_;  // owned by the builder, as in TensorRT
};

}  // namespace standin::trt
