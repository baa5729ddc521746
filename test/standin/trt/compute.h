#pragma once
// The stand-in engine's "inference": every output element is a hash of the output's name, of
// its own indices on the axes no input shares, and of the input elements it is linked to, so
// outputs follow from each batch row's inputs alone. test/standin/reference.ts computes the
// same function (README.md, "The deterministic output function").

#include <cstdint>
#include <vector>

#include "trt/common.h"

namespace standin::trt {

struct HostInput {
  const TensorDesc* desc = nullptr;
  std::vector<int64_t> dims;
  const uint8_t* data = nullptr;
};

struct HostOutput {
  const TensorDesc* desc = nullptr;
  std::vector<int64_t> dims;
  uint8_t* data = nullptr;
};

void computeOutputs(const std::vector<HostInput>& inputs, const std::vector<HostOutput>& outputs);

}  // namespace standin::trt
