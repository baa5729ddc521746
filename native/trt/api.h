#pragma once
// The seam between the N-API layer and TensorRT. The N-API layer and the CUDA layer are
// compiled once and linked into every variant of the addon; what is behind this header is
// compiled once per TensorRT header set (native/trt/*.cc, one variant per major:
// tensorrt_node-trt10.node, tensorrt_node-trt11.node), or replaced by without_tensorrt.cc in
// the plain tensorrt_node.node built where no headers were found. Nothing here includes a
// TensorRT header: the interfaces are plain structs and abstract classes, so the N-API code
// never sees a TensorRT type and `#if NV_TENSORRT_MAJOR` stays inside native/trt/*.cc.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/native_error.h"
#include "cuda/stream.h"

namespace trtn::cuda {
class PinnedBlock;
class DeviceMemory;
}  // namespace trtn::cuda

namespace trtn::trt {

// ---- What this variant was compiled with ------------------------------------------------

// False in the plain addon built without TensorRT headers (then nothing below works).
bool available() noexcept;
// "10.16.0": the headers' version; empty without TensorRT.
std::string headerVersion();
// libnvinfer.so.<major> and libnvonnxparser.so.<major>.
std::string inferLibraryName();
std::string parserLibraryName();

// ---- Finding and loading TensorRT's libraries ---------------------------------------------

struct Attempt {
  std::string path;
  std::string error;  // empty for the one that was used
};

// The loaded libraries. The function pointers are TensorRT's C entry points.
struct Library {
  void* infer = nullptr;
  void* parser = nullptr;
  std::string inferPath;
  std::string parserPath;
  int version = 0;        // getInferLibVersion(): major * 10000 + minor * 100 + patch
  int parserVersion = 0;  // getNvOnnxParserVersion(), 0 when the parser was not found
  std::string parserError;
  // libnvinfer_plugin, loaded where present; its plugins are registered when it loaded.
  std::string pluginPath;
  std::string pluginError;
  bool pluginsRegistered = false;
  // Siblings loaded by full path beside libnvinfer (builder resource, lean and dispatch
  // runtimes), so that libnvinfer's own bare-name loads find them.
  std::vector<std::string> preloaded;
  std::vector<std::string> preloadErrors;  // "path: dlerror" of siblings that did not load
  // libnvinfer_lean.so.<major> beside libnvinfer (empty when absent): what IRuntime::loadRuntime
  // takes for plans built with kEXCLUDE_LEAN_RUNTIME.
  std::string leanRuntimePath;

  using CreateBuilderFn = void* (*)(void* logger, int32_t version);
  using CreateRuntimeFn = void* (*)(void* logger, int32_t version);
  using CreateParserFn = void* (*)(void* network, void* logger, int version);
  CreateBuilderFn createBuilder = nullptr;
  CreateRuntimeFn createRuntime = nullptr;
  CreateParserFn createParser = nullptr;
};

struct LoadResult {
  const Library* library = nullptr;  // null when not found
  std::vector<Attempt> searched;
  std::string code;   // ERR_TENSORRT_NOT_FOUND or ERR_TENSORRT_VERSION when library is null
  std::string error;  // a summary when library is null
  int version = 0;    // probe(): the version of the library that would be used
  std::string path;   // probe(): its path
};

// Tries `dirs` in order; an empty string means the dynamic loader's own search (LD_LIBRARY_PATH,
// the ld.so cache, the default folders). A library is used when it is of this variant's major
// and at least the headers' minor. The first success is kept for the process (with its
// siblings and plugins) and returned by later calls regardless of `dirs`.
LoadResult load(const std::vector<std::string>& dirs);
// The same search without keeping anything, loading siblings or registering plugins: what
// load() would find. For a short-lived process deciding which variant to load; a library it
// accepted stays mapped.
LoadResult probe(const std::vector<std::string>& dirs);

// ---- TensorRT's log -----------------------------------------------------------------------

// ILogger::Severity, in its order.
enum class Severity { kInternalError = 0, kError = 1, kWarning = 2, kInfo = 3, kVerbose = 4 };
using LogListener = std::function<void(Severity severity, const char* message)>;
// Receives the TensorRT messages of `maxSeverity` and more severe that are logged on the
// calling thread (the thread that runs a build), plus those logged on threads the addon never
// called TensorRT from (TensorRT's own, which cannot be told apart by build): a build hears
// neither other builds nor deserializations running at the same time. Returns the id to remove it.
int64_t addThreadLogListener(Severity maxSeverity, LogListener listener);
void removeLogListener(int64_t id);
const char* severityName(Severity severity) noexcept;
// "error" | "warning" | "info" | "verbose" (and "internal-error"); kWarning for anything else.
Severity parseSeverity(const std::string& name) noexcept;

// ---- Networks and builds ------------------------------------------------------------------

struct NetworkTensor {
  std::string name;
  std::string dtype;                  // see dataTypeName() in data_type.h
  std::vector<int64_t> dims;          // -1 for a dynamic dim
  std::vector<std::string> dimNames;  // the ONNX dim_param of each dim, "" where it has none
  bool isShapeTensor = false;
};

struct ParserError {
  std::string code;      // nvonnxparser::ErrorCode name, e.g. "kUNSUPPORTED_NODE"
  std::string message;   // the parser's desc()
  int node = -1;         // index of the failing node in the graph, -1 when not tied to a node
  std::string nodeName;  // may be empty
  std::string opType;    // the node's operator, may be empty
  std::string file;      // parser source location, for bug reports
  int line = 0;
  std::string func;
  std::vector<std::string> localFunctionStack;  // ONNX local functions the node sits in
};

struct ParseOptions {
  int device = 0;
  // Always true on TensorRT 11 (there is no other kind); on 10.x false only for the weakly
  // typed kFP16 builder-flag build.
  bool stronglyTyped = true;
};

struct InputRange {
  std::string input;
  std::vector<int64_t> min;
  std::vector<int64_t> opt;
  std::vector<int64_t> max;
};

struct BuildConfig {
  // One entry per optimization profile; each names every input with a dynamic dim.
  std::vector<std::vector<InputRange>> profiles;
  std::optional<uint64_t> workspaceBytes;
  int optimizationLevel = 3;      // 0..5, TensorRT's default is 3
  int hardwareCompatibility = 0;  // HardwareCompatibilityLevel: 0 none, 1 Ampere+, 2 same CC
  bool versionCompatible = false;
  bool excludeLeanRuntime = false;
  bool refit = false;
  bool fp16BuilderFlag = false;  // TensorRT 10.x only (weakly typed network)
  bool tf32 = true;              // TensorRT enables TF32 by default
  int maxAuxStreams = -1;        // -1: TensorRT decides
  // A timing-cache file (empty: none), as trtexec's --timingCacheFile: read under a lock before
  // the build (missing: start empty), and after it merged with what the file holds then (other
  // builds may have added to it) and written back through a temporary file, under the same lock.
  std::string timingCachePath;
};

// Bytes TensorRT made (a serialized plan), freed with the object.
class HostBlob {
 public:
  virtual ~HostBlob() = default;
  virtual const void* data() const noexcept = 0;
  virtual std::size_t size() const noexcept = 0;
};

struct BuildResult {
  std::unique_ptr<HostBlob> plan;
  std::vector<std::string> warnings;  // things the build did differently from what was asked
};

struct ProgressEvent {
  enum class Kind { kPhaseStart, kStep, kPhaseFinish };
  Kind kind = Kind::kPhaseStart;
  std::string phase;
  std::string parent;  // empty for a top-level phase
  int32_t steps = 0;   // phase starts: the number of steps
  int32_t step = 0;    // steps: the step that completed (0-based)
};

// Build progress and cancellation, as the N-API layer sees them: TensorRT's progress monitor
// (progress_monitor.h) forwards phases and throttled steps to `sink` from its builder threads,
// and stops the build at its next step once cancel() was called.
class BuildProgress {
 public:
  using Sink = std::function<void(const ProgressEvent&)>;
  static constexpr int64_t kStepIntervalMs = 50;

  explicit BuildProgress(Sink sink) : sink_(std::move(sink)) {}
  void cancel() noexcept { cancelled_.store(true); }
  bool cancelled() const noexcept { return cancelled_.load(); }
  // Calls the sink; progress is best effort, so a throwing sink is ignored.
  void emit(const ProgressEvent& e) const noexcept {
    try {
      if (sink_) sink_(e);
    } catch (...) {
    }
  }

 private:
  Sink sink_;
  std::atomic<bool> cancelled_{false};
};

// An ONNX model parsed into a TensorRT network definition, ready to be built. Parsing and
// building run on worker threads; the object is used by one thread at a time.
class Network {
 public:
  virtual ~Network() = default;
  virtual std::vector<NetworkTensor> inputs() const = 0;
  virtual std::vector<NetworkTensor> outputs() const = 0;
  // Throws NativeError: ERR_ABORTED when `progress` was cancelled, ERR_CUDA_OOM when TensorRT
  // ran out of device memory, ERR_INVALID_ARG for options this TensorRT refuses, ERR_TENSORRT
  // otherwise. Everything the build allocated is freed before it returns or throws.
  virtual BuildResult build(BuildConfig config, BuildProgress* progress) = 0;
};

// Parses `size` bytes of ONNX. `modelPath` (may be empty) locates external weights. On
// failure returns null and fills `errors`; throws NativeError when TensorRT itself fails
// (ERR_TENSORRT_NOT_FOUND when load() found no library or no parser).
std::unique_ptr<Network> parseOnnx(const void* data, std::size_t size, const std::string& modelPath, const ParseOptions& options,
                                   std::vector<ParserError>& errors);

// ---- Engines and execution contexts -------------------------------------------------------

struct ProfileShape {
  std::vector<int64_t> min;
  std::vector<int64_t> opt;
  std::vector<int64_t> max;
};

struct EngineTensor {
  std::string name;
  bool input = false;
  std::string dtype;                   // see dataTypeName()
  std::size_t elementSize = 0;         // 0 for types not exchanged with JS
  std::vector<int64_t> dims;           // -1 for dims that vary at run time
  bool isShapeTensor = false;          // an input whose values (not only its shape) shape the outputs
  bool onHost = false;                 // TensorLocation::kHOST
  bool linear = true;                  // TensorFormat::kLINEAR (row-major), the only layout JS exchanges
  std::vector<ProfileShape> profiles;  // inputs: the range of each optimization profile
  // Outputs: the input whose buffer this output is written into (getAliasedInputTensor, e.g.
  // a KV-cache update in place); empty when none.
  std::string aliasOf;
};

struct DeserializeOptions {
  int device = 0;
  // Version-compatible plans embed a lean runtime (host code) that TensorRT runs only when
  // allowed; allow it for plans you trust.
  bool allowHostCode = false;
  // Plans built version-compatible with kEXCLUDE_LEAN_RUNTIME carry no runtime: they are
  // deserialized by the lean runtime beside libnvinfer, loaded through IRuntime::loadRuntime.
  bool leanRuntime = false;
};

struct ContextOptions {
  int profile = 0;
  // Per engine input (in engine order): the staging and device bytes to allocate, which must
  // hold the profile's max shape (the TypeScript layer sizes them).
  std::vector<std::size_t> inputBytes;
  bool cudaGraphs = false;
  // > 0: the completion thread polls a run's event for up to this long before it blocks
  // (spin-wait, trtexec's --useSpinWait; CompletionQueue::afterStream).
  int spinWaitMicros = 0;
};

class Engine;

// One TensorRT execution context bound to one optimization profile, with its own stream,
// device buffers (fixed addresses, so CUDA graphs stay valid) and pinned staging buffers.
// Made on a worker thread; used from the JS thread by one run at a time: enqueue() stages the
// inputs and enqueues H2D -> inference -> D2H, the caller waits for the stream (through the
// completion queue) and reads the outputs (Output::block, or outputHost()) before the next
// enqueue().
class ExecutionContext {
 public:
  struct Input {
    const void* data = nullptr;
    std::size_t bytes = 0;
    std::vector<int64_t> dims;
    // Set when `data` lies in a live pinned block (cuda::findPinned): copied to the device
    // straight from there, without staging. The caller keeps the block until the run settles.
    std::shared_ptr<cuda::PinnedBlock> pinned;
    // Set for a feed in device memory (a DeviceTensor): copied device to device on the run's
    // stream; `data` is unused. The caller keeps it until the run settles.
    std::shared_ptr<cuda::DeviceMemory> device;
  };
  // Host memory the caller gave for one wanted output (RunOptions.outputs): it must have
  // exactly the dims this run produces, checked before anything is enqueued (ERR_SHAPE).
  struct Target {
    bool given = false;  // false: the output goes to a block or the staging buffer (Output)
    void* data = nullptr;
    std::size_t bytes = 0;
    std::vector<int64_t> dims;
    std::shared_ptr<cuda::PinnedBlock> pinned;   // set: the D2H goes straight into `data`
    std::shared_ptr<cuda::DeviceMemory> device;  // set: a device target, filled device to device
  };
  struct Output {
    int index = 0;  // among the engine's outputs
    std::vector<int64_t> dims;
    std::size_t bytes = 0;
    // The block the output was copied into, handed to JS as is; null when it went to the
    // context's staging buffer instead (outputHost), which the caller copies out.
    std::shared_ptr<cuda::PinnedBlock> block;
    // The output went to the caller's target: straight (pinned), or through the staging
    // buffer (`staged`), which the caller copies into the target once the stream is done.
    bool toTarget = false;
    bool staged = false;
  };

  // Outputs go into fresh pinned blocks (handed to JS without a copy) while the engine's
  // output blocks held by JS and runs stay under this; beyond it they are staged and copied.
  static constexpr std::size_t kZeroCopyBytes = 256u << 20;
  // Smaller outputs (logits) are copied: a small ArrayBuffer costs less than an external one.
  static constexpr std::size_t kZeroCopyMinBytes = 64u << 10;

  virtual ~ExecutionContext() = default;

  // JS thread. `inputs` in engine input order; `wanted` indexes engine outputs to copy back.
  // `targets` is empty or parallel to `wanted`. `timed`: CUDA events are recorded around the
  // H2D copies, the inference and the D2H copies (stageTimes() reads them once the stream is done).
  virtual std::vector<Output> enqueue(const std::vector<Input>& inputs, const std::vector<int>& wanted,
                                      const std::vector<Target>& targets, bool timed) = 0;
  // Milliseconds of the last timed run's H2D, compute and D2H stages, once its stream is done.
  struct StageTimes {
    double h2dMs = 0;
    double computeMs = 0;
    double d2hMs = 0;
  };
  virtual StageTimes stageTimes() const = 0;
  // The staged bytes of output `index` once the stream has completed.
  virtual const void* outputHost(int index) const = 0;

  virtual const std::shared_ptr<cuda::Stream>& stream() const noexcept = 0;
  virtual const std::shared_ptr<Engine>& engine() const noexcept = 0;
  virtual int profile() const noexcept = 0;
  virtual std::size_t inputs() const noexcept = 0;
  virtual std::size_t inputRank(std::size_t index) const = 0;
  virtual std::size_t outputs() const noexcept = 0;
  virtual std::size_t outputCapacity(int index) const = 0;
  virtual std::size_t graphs() const noexcept = 0;
  virtual std::size_t graphFailures() const noexcept = 0;
  virtual int spinWaitMicros() const noexcept { return 0; }

  // One run at a time: begin() throws ERR_BUSY while a run is in flight.
  void begin() {
    if (busy_.exchange(true)) throw NativeError("ERR_BUSY", "the execution context is running another request");
  }
  void end() noexcept { busy_.store(false); }

 private:
  // Set on the JS thread; cleared there or, at environment teardown, on the completion thread.
  std::atomic<bool> busy_{false};
};

// A deserialized engine and its I/O metadata. Execution contexts hold the engine (shared), so
// it outlives them as TensorRT requires.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual int device() const noexcept = 0;
  virtual int profiles() const noexcept = 0;
  virtual const std::vector<EngineTensor>& tensors() const noexcept = 0;
  virtual int64_t deviceMemoryBytes() const noexcept = 0;
  // Pinned host memory for the caller's own tensors (session.allocPinned): runs copy feeds
  // from it and outputs into it without staging. Any thread.
  virtual std::shared_ptr<cuda::PinnedBlock> allocPinned(std::size_t bytes) = 0;

  // A sticky CUDA error was seen: nothing runs on this engine any more.
  bool lost() const noexcept { return lost_.load(); }
  void markLost() noexcept { lost_.store(true); }

 private:
  std::atomic<bool> lost_{false};
};

// Runs on a worker thread. Throws ERR_TENSORRT with TensorRT's reasons (wrong version, corrupt
// plan, other GPU), ERR_CUDA_OOM, or ERR_TENSORRT_NOT_FOUND when load() found no library (or,
// with leanRuntime, no lean runtime beside it).
std::shared_ptr<Engine> deserialize(const void* data, std::size_t size, const DeserializeOptions& options);
// Worker thread. Throws ERR_INVALID_ARG for unsupported engines (shape-tensor inputs, host or
// vectorized I/O, data-dependent output shapes, an output aliasing an input of another shape
// or type), ERR_CUDA_OOM, ERR_TENSORRT.
std::shared_ptr<ExecutionContext> createContext(const std::shared_ptr<Engine>& engine, const ContextOptions& options);

}  // namespace trtn::trt
