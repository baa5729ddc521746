#pragma once
// Runtime, engine and execution context of the stand-in.

#include <NvInferRuntime.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "defaults.h"
#include "trt/common.h"
#include "trt/plan.h"

namespace standin::trt {

namespace nv = nvinfer1;
namespace apiv = nvinfer1::apiv;

class Runtime final : public nv::IRuntime, public apiv::VRuntimeDefaults {
 public:
  explicit Runtime(bool lean);
  ~Runtime() noexcept override;

  nv::IRuntime* getPImpl() noexcept override { return this; }
  nv::ICudaEngine* deserializeCudaEngine(void const* blob, std::size_t size) noexcept override;
  void setErrorRecorder(nv::IErrorRecorder* recorder) noexcept override { reporter_.set(recorder); }
  nv::IErrorRecorder* getErrorRecorder() const noexcept override { return reporter_.get(); }
  nv::ILogger* getLogger() const noexcept override { return processLogger(); }
  bool setMaxThreads(int32_t maxThreads) noexcept override;
  int32_t getMaxThreads() const noexcept override { return maxThreads_; }
  void setTemporaryDirectory(char const* path) noexcept override { tempDir_ = path != nullptr ? path : ""; }
  char const* getTemporaryDirectory() const noexcept override { return tempDir_.c_str(); }
  void setTempfileControlFlags(nv::TempfileControlFlags flags) noexcept override { tempFlags_ = flags; }
  nv::TempfileControlFlags getTempfileControlFlags() const noexcept override { return tempFlags_; }
  void setDLACore(int32_t) noexcept override {}
  int32_t getDLACore() const noexcept override { return -1; }
  int32_t getNbDLACores() const noexcept override { return 0; }
  void setGpuAllocator(nv::IGpuAllocator* allocator) noexcept override { allocator_ = allocator; }
  nv::IRuntime* loadRuntime(char const* path) noexcept override;
  void setEngineHostCodeAllowed(bool allowed) noexcept override { hostCodeAllowed_ = allowed; }
  bool getEngineHostCodeAllowed() const noexcept override { return hostCodeAllowed_; }

 private:
  bool lean_;
  Reporter reporter_;
  int32_t maxThreads_ = 1;
  std::string tempDir_;
  nv::TempfileControlFlags tempFlags_ = 3;
  nv::IGpuAllocator* allocator_ = nullptr;
  bool hostCodeAllowed_ = false;
};

class ExecutionContext;

class Engine final : public nv::ICudaEngine, public apiv::VCudaEngineDefaults {
 public:
  Engine(Plan plan, int device, nv::IErrorRecorder* recorder);
  ~Engine() noexcept override;

  const Plan& plan() const { return plan_; }
  int device() const { return device_; }
  const Reporter& reporter() const { return reporter_; }
  const TensorDesc* find(char const* name) const noexcept;
  std::vector<const TensorDesc*> inputs() const;
  std::vector<const TensorDesc*> outputs() const;
  int inputIndex(const std::string& name) const;

  nv::ICudaEngine* getPImpl() noexcept override { return this; }
  int32_t getNbLayers() const noexcept override { return static_cast<int32_t>(plan_.tensors.size()); }
  nv::IHostMemory* serialize() const noexcept override;
  nv::IExecutionContext* createExecutionContext(nv::ExecutionContextAllocationStrategy strategy) noexcept override;
  bool isRefittable() const noexcept override { return plan_.refittable; }
  char const* getName() const noexcept override { return "stand-in engine"; }
  int32_t getNbOptimizationProfiles() const noexcept override { return static_cast<int32_t>(plan_.profiles.size()); }
  nv::EngineCapability getEngineCapability() const noexcept override { return nv::EngineCapability::kSTANDARD; }
  void setErrorRecorder(nv::IErrorRecorder* recorder) noexcept override { reporter_.set(recorder); }
  nv::IErrorRecorder* getErrorRecorder() const noexcept override { return reporter_.get(); }
  nv::TacticSources getTacticSources() const noexcept override { return 0; }
  nv::ProfilingVerbosity getProfilingVerbosity() const noexcept override { return nv::ProfilingVerbosity::kLAYER_NAMES_ONLY; }
  Dims getTensorShape(char const* tensorName) const noexcept override;
  DataType getTensorDataType(char const* tensorName) const noexcept override;
  nv::TensorLocation getTensorLocation(char const* tensorName) const noexcept override;
  bool isShapeInferenceIO(char const* tensorName) const noexcept override;
  nv::TensorIOMode getTensorIOMode(char const* tensorName) const noexcept override;
  int32_t getTensorBytesPerComponent(char const* tensorName) const noexcept override;
  int32_t getTensorComponentsPerElement(char const* tensorName) const noexcept override;
  nv::TensorFormat getTensorFormat(char const* tensorName) const noexcept override;
  char const* getTensorFormatDesc(char const* tensorName) const noexcept override;
  int32_t getTensorVectorizedDim(char const* tensorName) const noexcept override;
  int32_t getTensorBytesPerComponentV2(char const* tensorName, int32_t) const noexcept override {
    return getTensorBytesPerComponent(tensorName);
  }
  int32_t getTensorComponentsPerElementV2(char const* tensorName, int32_t) const noexcept override {
    return getTensorComponentsPerElement(tensorName);
  }
  nv::TensorFormat getTensorFormatV2(char const* tensorName, int32_t) const noexcept override {
    return getTensorFormat(tensorName);
  }
  char const* getTensorFormatDescV2(char const* tensorName, int32_t) const noexcept override {
    return getTensorFormatDesc(tensorName);
  }
  int32_t getTensorVectorizedDimV2(char const* tensorName, int32_t) const noexcept override {
    return getTensorVectorizedDim(tensorName);
  }
  Dims getProfileShape(char const* tensorName, int32_t profileIndex, nv::OptProfileSelector select) const noexcept override;
  int32_t getNbIOTensors() const noexcept override { return static_cast<int32_t>(plan_.tensors.size()); }
  char const* getIOTensorName(int32_t index) const noexcept override;
  nv::HardwareCompatibilityLevel getHardwareCompatibilityLevel() const noexcept override {
    return static_cast<nv::HardwareCompatibilityLevel>(plan_.hardwareCompatibility);
  }
  int32_t getNbAuxStreams() const noexcept override { return 0; }
  int64_t getStreamableWeightsSize() const noexcept override { return 0; }
  bool isDebugTensor(char const*) const noexcept override { return false; }
  int64_t getDeviceMemorySizeV2() const noexcept override { return plan_.deviceMemoryMax; }
  int64_t getDeviceMemorySizeForProfileV2(int32_t profileIndex) const noexcept override;
  int64_t getWeightStreamingBudgetV2() const noexcept override { return -1; }
  int64_t getWeightStreamingAutomaticBudget() const noexcept override { return 0; }
  int64_t getWeightStreamingScratchMemorySize() const noexcept override { return 0; }
  int64_t const* getProfileTensorValuesV2(char const*, int32_t, nv::OptProfileSelector) const noexcept override {
    return nullptr;
  }
  char const* getAliasedInputTensor(char const* tensorName) const noexcept override;
#if NV_TENSORRT_MAJOR < 11
  nv::IExecutionContext* createExecutionContextWithoutDeviceMemory() noexcept override {
    return createExecutionContext(nv::ExecutionContextAllocationStrategy::kUSER_MANAGED);
  }
  size_t getDeviceMemorySize() const noexcept override {
    return static_cast<size_t>(plan_.deviceMemoryMax);
  }
  size_t getDeviceMemorySizeForProfile(int32_t profileIndex) const noexcept override {
    return static_cast<size_t>(getDeviceMemorySizeForProfileV2(profileIndex));
  }
  bool hasImplicitBatchDimension() const noexcept override {
    return false;
  }
  int32_t const* getProfileTensorValues(char const*, int32_t, nv::OptProfileSelector) const noexcept override {
    return nullptr;
  }
#endif

 private:
  Plan plan_;
  int device_;
  Reporter reporter_;
};

// One enqueue's description, immutable once made: the host function that computes the outputs
// reads it on the stream's thread, and a captured graph replays it.
struct Job;

class ExecutionContext final : public nv::IExecutionContext, public apiv::VExecutionContextDefaults {
 public:
  ExecutionContext(Engine& engine, nv::ExecutionContextAllocationStrategy strategy);
  ~ExecutionContext() noexcept override;
  // Allocates what the strategy asks for; false with the error reported.
  bool init();

  nv::IExecutionContext* getPImpl() noexcept override { return this; }
  nv::ICudaEngine const& getEngine() const noexcept override { return engine_; }
  void setName(char const* name) noexcept override { name_ = name != nullptr ? name : ""; }
  char const* getName() const noexcept override { return name_.c_str(); }
  void setDebugSync(bool sync) noexcept override { debugSync_ = sync; }
  bool getDebugSync() const noexcept override { return debugSync_; }
  void setErrorRecorder(nv::IErrorRecorder* recorder) noexcept override { reporter_.set(recorder); }
  nv::IErrorRecorder* getErrorRecorder() const noexcept override { return reporter_.get(); }
  int32_t getOptimizationProfile() const noexcept override { return profile_; }
  bool setOptimizationProfileAsync(int32_t profileIndex, cudaStream_t stream) noexcept override;
  bool allInputDimensionsSpecified() const noexcept override;
#if NV_TENSORRT_MAJOR < 11
  bool allInputShapesSpecified() const noexcept override {
    return allInputDimensionsSpecified();
  }
#endif
  bool setInputShape(char const* tensorName, Dims const& dims) noexcept override;
  Dims getTensorShape(char const* tensorName) const noexcept override;
  Dims getTensorStrides(char const* tensorName) const noexcept override;
  bool setTensorAddress(char const* tensorName, void* data) noexcept override;
  void const* getTensorAddress(char const* tensorName) const noexcept override;
  bool setInputTensorAddress(char const* tensorName, void const* data) noexcept override {
    return setTensorAddress(tensorName, const_cast<void*>(data));
  }
  bool setOutputTensorAddress(char const* tensorName, void* data) noexcept override {
    return setTensorAddress(tensorName, data);
  }
  void* getOutputTensorAddress(char const* tensorName) const noexcept override;
  int32_t inferShapes(int32_t nbMaxNames, char const** tensorNames) noexcept override;
  bool setInputConsumedEvent(cudaEvent_t event) noexcept override {
    consumed_ = event;
    return true;
  }
  cudaEvent_t getInputConsumedEvent() const noexcept override {
    return consumed_;
  }
  bool enqueueV3(cudaStream_t stream) noexcept override;
  void setPersistentCacheLimit(size_t size) noexcept override {
    persistentCache_ = size;
  }
  size_t getPersistentCacheLimit() const noexcept override {
    return persistentCache_;
  }
  bool setNvtxVerbosity(nv::ProfilingVerbosity verbosity) noexcept override {
    nvtx_ = verbosity;
    return true;
  }
  nv::ProfilingVerbosity getNvtxVerbosity() const noexcept override {
    return nvtx_;
  }
  void setAuxStreams(cudaStream_t*, int32_t) noexcept override {}
  size_t updateDeviceMemorySizeForShapes() noexcept override;
  void setDeviceMemory(void* memory) noexcept override;
  void setDeviceMemoryV2(void* memory, int64_t size) noexcept override;
  void setEnqueueEmitsProfile(bool enqueueEmitsProfile) noexcept override {
    emitsProfile_ = enqueueEmitsProfile;
  }
  bool getEnqueueEmitsProfile() const noexcept override {
    return emitsProfile_;
  }

 private:
  std::vector<int64_t> currentDims(const TensorDesc& t) const;
  bool checkBinding(const TensorDesc& t, const std::vector<int64_t>& dims, void* address);
  bool allocateActivations(int32_t profile);

  Engine& engine_;
  nv::ExecutionContextAllocationStrategy strategy_;
  Reporter reporter_;
  std::string name_;
  bool debugSync_ = false;
  bool emitsProfile_ = true;
  int32_t profile_ = 0;
  std::map<std::string, std::vector<int64_t>> shapes_;  // inputs whose shape was set
  std::map<std::string, void*> addresses_;
  cudaEvent_t consumed_ = nullptr;
  size_t persistentCache_ = 0;
  nv::ProfilingVerbosity nvtx_ = nv::ProfilingVerbosity::kLAYER_NAMES_ONLY;
  CUdeviceptr activations_ = 0;  // device memory the context owns (kSTATIC, kON_PROFILE_CHANGE)
  void* userMemory_ = nullptr;   // kUSER_MANAGED
  int64_t userMemoryBytes_ = 0;
  CUdeviceptr lazyModule_ = 0;  // allocated on the first enqueue, as lazily loaded kernels are
  uint8_t* staging_ = nullptr;  // pinned: inputs copied in, outputs computed, then copied out
  std::size_t stagingBytes_ = 0;
  std::map<std::string, std::unique_ptr<Job>> jobs_;
};

}  // namespace standin::trt
