#include "trt/builder.h"

#include "common/files.h"
#include "common/native_error.h"
#include "cuda/device.h"
#include "trt/data_type.h"
#include "trt/logger.h"
#include "trt/trt_error.h"

namespace trtn::trt {

namespace {

// A plan as TensorRT allocated it, handed on without a copy.
class PlanBlob final : public HostBlob {
 public:
  explicit PlanBlob(nvinfer1::IHostMemory* memory) : memory_(memory) {}
  const void* data() const noexcept override { return memory_->data(); }
  std::size_t size() const noexcept override { return memory_->size(); }

 private:
  std::unique_ptr<nvinfer1::IHostMemory> memory_;
};

std::string describe(const InputRange& r, std::size_t profile) {
  return "profile " + std::to_string(profile) + " input \"" + r.input + "\"";
}

}  // namespace

void EngineBuilder::addProfiles(nvinfer1::IBuilderConfig& config) {
  ErrorRecorder* rec = &net_.recorder();
  for (std::size_t p = 0; p < config_.profiles.size(); p++) {
    nvinfer1::IOptimizationProfile* profile =
        notNull(net_.builder().createOptimizationProfile(), rec, "createOptimizationProfile");
    for (const InputRange& r : config_.profiles[p]) {
      const std::string what = describe(r, p);
      using nvinfer1::OptProfileSelector;
      if (!profile->setDimensions(r.input.c_str(), OptProfileSelector::kMIN, toDims(r.min, what.c_str())) ||
          !profile->setDimensions(r.input.c_str(), OptProfileSelector::kOPT, toDims(r.opt, what.c_str())) ||
          !profile->setDimensions(r.input.c_str(), OptProfileSelector::kMAX, toDims(r.max, what.c_str()))) {
        const std::string reasons = rec->takeSummary();
        throwInvalidArg(what + ": TensorRT refused the range" + (reasons.empty() ? "" : ": " + reasons));
      }
    }
    if (!profile->isValid()) {
      const std::string reasons = rec->takeSummary();
      throwInvalidArg("optimization profile " + std::to_string(p) + " is not valid" + (reasons.empty() ? "" : ": " + reasons));
    }
    if (config.addOptimizationProfile(profile) < 0) throwTrt(rec, "addOptimizationProfile(profile " + std::to_string(p) + ")");
  }
}

BuildResult EngineBuilder::build(ProgressMonitor* monitor) {
  cuda::DeviceGuard guard(net_.device());
  ErrorRecorder* rec = &net_.recorder();
  rec->clear();
  BuildResult result;
  // Declared before the config so it is destroyed after it: the config refers to the cache.
  std::unique_ptr<nvinfer1::ITimingCache> cache;
  std::unique_ptr<nvinfer1::IBuilderConfig> config(notNull(net_.builder().createBuilderConfig(), rec, "createBuilderConfig"));

  addProfiles(*config);
  if (config_.workspaceBytes) config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kWORKSPACE, *config_.workspaceBytes);
  config->setBuilderOptimizationLevel(config_.optimizationLevel);
  config->setHardwareCompatibilityLevel(static_cast<nvinfer1::HardwareCompatibilityLevel>(config_.hardwareCompatibility));
  if (config_.versionCompatible) {
    config->setFlag(nvinfer1::BuilderFlag::kVERSION_COMPATIBLE);
    if (config_.excludeLeanRuntime) config->setFlag(nvinfer1::BuilderFlag::kEXCLUDE_LEAN_RUNTIME);
  }
  if (config_.refit) config->setFlag(nvinfer1::BuilderFlag::kREFIT);
  if (!config_.tf32) config->clearFlag(nvinfer1::BuilderFlag::kTF32);
  if (config_.maxAuxStreams >= 0) {
#if NV_TENSORRT_MAJOR >= 11
    if (!config->setMaxAuxStreams(config_.maxAuxStreams)) {
      throwInvalidArg("maxAuxStreams " + std::to_string(config_.maxAuxStreams) + " was refused: " + rec->takeSummary());
    }
#else
    config->setMaxAuxStreams(config_.maxAuxStreams);  // returns void before 11.0
#endif
  }
  if (config_.fp16BuilderFlag) {
#if NV_TENSORRT_MAJOR >= 11
    throwInvalidArg(
        "fp16Mode 'builder-flag' needs TensorRT 10.x: TensorRT 11 removed BuilderFlag::kFP16 (use fp16Mode 'convert')");
#else
    if (net_.stronglyTyped()) {
      throwInvalidArg("the kFP16 builder flag needs a weakly typed network; parse with stronglyTyped false");
    }
    // kFP16 is deprecated in 10.x (removed in 11); this path exists for users of 10.x who
    // asked for it explicitly, so the deprecation warning is silenced here only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    config->setFlag(nvinfer1::BuilderFlag::kFP16);
#pragma GCC diagnostic pop
#endif
  }

  const std::string& cachePath = config_.timingCachePath;
  bool mergeCache = false;
  if (!cachePath.empty()) {
    std::vector<uint8_t> bytes;
    {
      FileLock lock(cachePath, false);
      bytes = readFileBytes(cachePath);
    }
    cache.reset(config->createTimingCache(bytes.data(), bytes.size()));
    mergeCache = true;
    if (!cache && !bytes.empty()) {
      // Another TensorRT version's cache, or a corrupt one: the build starts empty, and the
      // file (which may be someone's) is left as it is.
      result.warnings.push_back("the timing cache " + cachePath + " could not be read by this TensorRT (" + rec->takeSummary() +
                                "); the build used an empty cache and the file was left unchanged");
      mergeCache = false;
      cache.reset(config->createTimingCache(nullptr, 0));
    }
    notNull(cache.get(), rec, "createTimingCache");
    if (!config->setTimingCache(*cache, false)) {
      // Made on another GPU: used anyway, as trtexec does (ignoreMismatch), and said so.
      result.warnings.push_back(
          "the timing cache " + cachePath +
          " was made on another device; it was used anyway (its timings may not fit this GPU): " + rec->takeSummary());
      CHECK_TRT(config->setTimingCache(*cache, true), rec);
    }
  }
  if (monitor != nullptr) config->setProgressMonitor(monitor);

  std::unique_ptr<nvinfer1::IHostMemory> plan(net_.builder().buildSerializedNetwork(net_.network(), *config));
  if (monitor != nullptr) config->setProgressMonitor(nullptr);
  if (!plan || plan->size() == 0) {
    plan.reset();
    if (monitor != nullptr && monitor->cancelled()) {
      rec->clear();
      throw NativeError("ERR_ABORTED", "the engine build was cancelled");
    }
    throwTrt(rec, "buildSerializedNetwork");
  }
  result.plan = std::make_unique<PlanBlob>(plan.release());
  if (mergeCache) saveTimingCache(*config, *cache, result.warnings);
  return result;
}

void EngineBuilder::saveTimingCache(nvinfer1::IBuilderConfig& config, const nvinfer1::ITimingCache& cache,
                                    std::vector<std::string>& warnings) {
  // What other builds wrote since this one read the file stays: merge under the lock, then
  // replace the file (trtexec's updateTimingCacheFile, with the read and the write under one lock).
  const std::string& path = config_.timingCachePath;
  ErrorRecorder* rec = &net_.recorder();
  try {
    FileLock lock(path, true);
    if (!lock.held()) {
      // Written anyway (the rename keeps readers whole), but a concurrent build may drop
      // this one's timings or the other way round: said, not hidden.
      warnings.push_back("the timing cache " + path + " was merged and written without its lock (" + lock.error() +
                         "); builds sharing it at the same time may lose each other's timings");
    }
    const std::vector<uint8_t> current = readFileBytes(path);
    std::unique_ptr<nvinfer1::ITimingCache> merged;
    const nvinfer1::ITimingCache* out = &cache;
    if (!current.empty()) {
      merged.reset(config.createTimingCache(current.data(), current.size()));
      if (!merged) {
        warnings.push_back("the timing cache " + path + " changed during the build and cannot be read by this TensorRT (" +
                           rec->takeSummary() + "); it was left unchanged");
        return;
      }
      if (!merged->combine(cache, true)) {
        warnings.push_back("the timing cache " + path + " could not be merged with this build's timings (" + rec->takeSummary() +
                           "); it was left unchanged");
        return;
      }
      out = merged.get();
    }
    std::unique_ptr<nvinfer1::IHostMemory> blob(out->serialize());
    if (!blob || blob->size() == 0) {
      warnings.push_back("the timing cache could not be serialized: " + rec->takeSummary());
      return;
    }
    writeFileAtomic(path, blob->data(), blob->size());
  } catch (const std::exception& e) {
    // The engine is built; a cache that cannot be saved (an I/O error, or no host memory for
    // the merge) is worth a warning, not the build.
    warnings.push_back(std::string("the timing cache was not saved: ") + e.what());
  } catch (...) {
    warnings.push_back("the timing cache was not saved: an unknown error");
  }
}

BuildResult ParsedNetwork::build(BuildConfig config, BuildProgress* progress) {
  Logger::markAddonThread();
  EngineBuilder builder(*this, std::move(config));
  if (progress == nullptr) return builder.build(nullptr);
  ProgressMonitor monitor(*progress);
  return builder.build(&monitor);
}

}  // namespace trtn::trt
