#include "cuda/event.h"

#include "common/native_error.h"
#include "cuda/device.h"
#include "cuda/stream.h"

namespace trtn::cuda {

Event::Event(int device, bool timing) : device_(device), timing_(timing) {
  DeviceGuard guard(device);
  CHECK_CUDA(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
}

Event::~Event() {
  if (event_ != nullptr) (void)cudaEventDestroy(event_);
}

void Event::record(const Stream& stream) {
  if (stream.device() != device_) {
    throwInvalidArg("the event belongs to device " + std::to_string(device_) + " but the stream to device " +
                    std::to_string(stream.device()));
  }
  CHECK_CUDA(cudaEventRecord(event_, stream.get()));
  recorded_ = true;
}

bool Event::query() const {
  const cudaError_t err = cudaEventQuery(event_);
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  if (err != cudaSuccess) throwCuda(err, "cudaEventQuery");
  return true;
}

void Event::synchronize() const { CHECK_CUDA(cudaEventSynchronize(event_)); }

float Event::elapsedMs(const Event& start, const Event& end) {
  if (!start.timing_ || !end.timing_) throwInvalidArg("elapsed time needs two events created with timing enabled");
  if (!start.recorded_ || !end.recorded_) throwInvalidArg("elapsed time needs two events that have been recorded");
  float ms = 0.0f;
  CHECK_CUDA(cudaEventElapsedTime(&ms, start.event_, end.event_));
  return ms;
}

}  // namespace trtn::cuda
