#pragma once
// What the TensorRT stand-in's objects share: tensor descriptions, error reporting the way
// TensorRT does it, the process logger, the reported version, and the CUDA driver (loaded at
// run time by bare name, as TensorRT's CUDA runtime does, so these libraries also run on a
// real driver).

#include <NvInfer.h>
#include <cuda.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/control.hpp"
#include "cuda/driver_api.h"
#include "driver/extra_api.h"

namespace standin::trt {

using nvinfer1::DataType;
using nvinfer1::Dims;
using nvinfer1::ErrorCode;
using nvinfer1::ILogger;
using Severity = nvinfer1::ILogger::Severity;

struct TensorDesc {
  std::string name;
  DataType type = DataType::kFLOAT;
  std::vector<int64_t> dims;          // -1 for a dimension known only at run time
  std::vector<std::string> dimNames;  // the ONNX dim_param of each dimension, "" where none
  bool input = false;
  bool shapeTensor = false;    // inputs whose values shape the outputs
  bool dataDependent = false;  // outputs whose unnamed dynamic dimensions depend on the data
  std::string aliasOf;         // outputs that must share the memory of this input
};

struct ProfileRange {
  std::vector<int64_t> min;
  std::vector<int64_t> opt;
  std::vector<int64_t> max;
};

std::size_t elementSize(DataType type) noexcept;
const char* typeName(DataType type) noexcept;
int64_t volume(const std::vector<int64_t>& dims) noexcept;  // -1 when a dim is negative
std::vector<int64_t> toVector(const Dims& d);
Dims toDims(const std::vector<int64_t>& v);
Dims invalidDims();
std::string formatDims(const std::vector<int64_t>& v);

// Output dims for the given input dims (an empty vector: shape not set yet, giving -1):
// fixed dims as built; aliased outputs take their input's shape; a named dim takes the size of
// the first input dim of that name; other dynamic dims take the same axis of the first input
// with a dynamic dim there (axis 0 of the first input for axis 0), else 1. Data-dependent
// outputs keep -1 on their unnamed dynamic dims.
std::vector<int64_t> resolveOutputDims(const TensorDesc& out, const std::vector<const TensorDesc*>& inputs,
                                       const std::vector<std::vector<int64_t>>& inputDims);

// The process logger: TensorRT keeps the first one it is given.
void offerLogger(ILogger* logger, const char* factory) noexcept;
ILogger* processLogger() noexcept;
void log(Severity severity, const std::string& message) noexcept;
// Waits "trt.read_delay_ms" (set through the control interface) before a parse or a
// deserialization reads its bytes, so tests can change the caller's buffer meanwhile.
void readDelay() noexcept;

// Errors go to the object's error recorder when one is set, else to the logger (kERROR), as
// TensorRT reports them. A recorder is reference counted while set.
class Reporter {
 public:
  Reporter() = default;
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;
  ~Reporter() { set(nullptr); }
  void set(nvinfer1::IErrorRecorder* recorder) noexcept;
  nvinfer1::IErrorRecorder* get() const noexcept { return recorder_; }
  void error(ErrorCode code, const std::string& message) const noexcept;

 private:
  nvinfer1::IErrorRecorder* recorder_ = nullptr;
};

// getInferLibVersion(): TRTN_STANDIN_TRT_VERSION ("10.15.1" or 101501) or the headers' version.
int32_t reportedVersion() noexcept;
std::string versionString(int32_t v);
std::string compiledVersionString();

// The CUDA driver entry points the stand-ins call, resolved from libcuda.so.1.
struct Cuda {
#define TRTN_STANDIN_CUDA_MEMBER(member, symbol, params) CUresult(*member) params = nullptr;
  TRTN_CUDA_DRIVER_FUNCTIONS(TRTN_STANDIN_CUDA_MEMBER)
  TRTN_STANDIN_EXTRA_DRIVER_FUNCTIONS(TRTN_STANDIN_CUDA_MEMBER)
#undef TRTN_STANDIN_CUDA_MEMBER
  std::string error;  // why the driver could not be used; empty when it can
};
const Cuda& cuda() noexcept;
std::string cudaErrorText(CUresult r);
// A current context for this thread: the current one, else device 0's primary context (retained
// for the life of the process), as TensorRT's CUDA runtime does. Returns false with `why`.
bool ensureContext(std::string& why, int* device = nullptr) noexcept;

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int ccMajor = 0;
  int ccMinor = 0;
  int sms = 0;
};
bool currentDevice(DeviceInfo& out, std::string& why) noexcept;

}  // namespace standin::trt
