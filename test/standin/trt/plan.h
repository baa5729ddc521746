#pragma once
// The stand-in's plan: its own format (not TensorRT's), holding what the engine describes.
//   "TRTNPLAN" | u32 format (1) | u32 TensorRT major | u32 body bytes | u32 FNV-1a of the body | body
// The body (little-endian, strings and vectors length-prefixed) is written by serializePlan.

#include <cstdint>
#include <string>
#include <vector>

#include "trt/common.h"

namespace standin::trt {

struct Plan {
  int32_t trtVersion = 0;  // getInferLibVersion() of the library that built it
  bool versionCompatible = false;
  bool excludeLeanRuntime = false;
  bool usesPlugins = false;
  bool refittable = false;
  bool fp16 = false;
  bool stronglyTyped = true;
  int32_t hardwareCompatibility = 0;  // HardwareCompatibilityLevel
  int32_t optimizationLevel = 3;
  std::string deviceName;
  int32_t ccMajor = 0;
  int32_t ccMinor = 0;
  std::vector<TensorDesc> tensors;                  // inputs, then outputs, in network order
  std::vector<std::vector<ProfileRange>> profiles;  // [profile][input]
  std::vector<int64_t> deviceMemory;                // activation bytes per profile
  int64_t deviceMemoryMax = 0;
};

std::vector<uint8_t> serializePlan(const Plan& plan);
// False with the reason when `data` is not a plan of this major.
bool deserializePlan(const void* data, std::size_t size, Plan& plan, std::string& why);

// Byte helpers shared with the timing cache.
class ByteWriter {
 public:
  void u32(uint32_t v);
  void i64(int64_t v);
  void str(const std::string& s);
  void dims(const std::vector<int64_t>& d);
  std::vector<uint8_t>& bytes() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

class ByteReader {
 public:
  ByteReader(const uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  bool u32(uint32_t& v);
  bool i64(int64_t& v);
  bool str(std::string& s);
  bool dims(std::vector<int64_t>& d);
  bool done() const { return at_ == n_; }

 private:
  const uint8_t* p_;
  std::size_t n_;
  std::size_t at_ = 0;
};

uint32_t fnv1a(const uint8_t* p, std::size_t n) noexcept;
// Wraps `body` as magic | format | major | size | checksum | body.
std::vector<uint8_t> frame(const char magic[8], const std::vector<uint8_t>& body);
// The body of a frame with that magic; false with the reason.
bool unframe(const char magic[8], const void* data, std::size_t size, const char* what, std::vector<uint8_t>& body,
             uint32_t& major, std::string& why);

}  // namespace standin::trt
