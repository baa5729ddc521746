#include "cuda/event.h"

#include <string>

#include "common/native_error.h"
#include "cuda/device.h"
#include "cuda/driver.h"
#include "cuda/stream.h"

namespace trtn::cuda {

Event::Event(int device, bool timing) : device_(device), timing_(timing) {
  DeviceGuard guard(device);
  TRTN_CU(eventCreate, &event_, timing ? CU_EVENT_DEFAULT : CU_EVENT_DISABLE_TIMING);
}

Event::~Event() {
  if (event_ == nullptr) return;
  DeviceGuard guard(device_, std::nothrow);
  (void)driver().eventDestroy(event_);
}

void Event::record(const Stream& stream) {
  if (stream.device() != device_) {
    throwInvalidArg("the event belongs to device " + std::to_string(device_) + " but the stream to device " +
                    std::to_string(stream.device()));
  }
  DeviceGuard guard(device_);
  TRTN_CU(eventRecord, event_, stream.get());
  recorded_ = true;
}

bool Event::query() const {
  DeviceGuard guard(device_);
  const CUresult status = driver().eventQuery(event_);
  if (status == CUDA_ERROR_NOT_READY) return false;
  check(status, "eventQuery");
  return true;
}

void Event::synchronize() const {
  DeviceGuard guard(device_);
  TRTN_CU(eventSynchronize, event_);
}

float Event::elapsedMs(const Event& start, const Event& end) {
  if (!start.timing_ || !end.timing_) throwInvalidArg("elapsed time needs two events created with timing enabled");
  if (!start.recorded_ || !end.recorded_) throwInvalidArg("elapsed time needs two events that have been recorded");
  DeviceGuard guard(start.device_);
  float ms = 0.0f;
  TRTN_CU(eventElapsedTime, &ms, start.event_, end.event_);
  return ms;
}

}  // namespace trtn::cuda
