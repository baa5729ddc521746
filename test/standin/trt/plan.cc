#include "trt/plan.h"

#include <cstring>

namespace standin::trt {

namespace {
constexpr char kPlanMagic[8] = {'T', 'R', 'T', 'N', 'P', 'L', 'A', 'N'};
constexpr uint32_t kFormat = 1;
constexpr std::size_t kHeader = 8 + 4 * 4;
constexpr uint32_t kMaxCount = 1u << 20;  // refuses absurd counts in corrupt bytes before allocating
}  // namespace

uint32_t fnv1a(const uint8_t* p, std::size_t n) noexcept {
  uint32_t h = 2166136261u;
  for (std::size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

void ByteWriter::u32(uint32_t v) {
  for (int i = 0; i < 4; i++) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void ByteWriter::i64(int64_t v) {
  const auto u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; i++) out_.push_back(static_cast<uint8_t>(u >> (8 * i)));
}
void ByteWriter::str(const std::string& s) {
  u32(static_cast<uint32_t>(s.size()));
  out_.insert(out_.end(), s.begin(), s.end());
}
void ByteWriter::dims(const std::vector<int64_t>& d) {
  u32(static_cast<uint32_t>(d.size()));
  for (int64_t x : d) i64(x);
}

bool ByteReader::u32(uint32_t& v) {
  if (n_ - at_ < 4) return false;
  v = 0;
  for (int i = 0; i < 4; i++) v |= static_cast<uint32_t>(p_[at_ + i]) << (8 * i);
  at_ += 4;
  return true;
}
bool ByteReader::i64(int64_t& v) {
  if (n_ - at_ < 8) return false;
  uint64_t u = 0;
  for (int i = 0; i < 8; i++) u |= static_cast<uint64_t>(p_[at_ + i]) << (8 * i);
  at_ += 8;
  v = static_cast<int64_t>(u);
  return true;
}
bool ByteReader::str(std::string& s) {
  uint32_t n = 0;
  if (!u32(n) || n_ - at_ < n) return false;
  s.assign(reinterpret_cast<const char*>(p_ + at_), n);
  at_ += n;
  return true;
}
bool ByteReader::dims(std::vector<int64_t>& d) {
  uint32_t n = 0;
  if (!u32(n) || n > static_cast<uint32_t>(Dims::MAX_DIMS)) return false;
  d.resize(n);
  for (auto& x : d) {
    if (!i64(x)) return false;
  }
  return true;
}

std::vector<uint8_t> frame(const char magic[8], const std::vector<uint8_t>& body) {
  ByteWriter w;
  std::vector<uint8_t>& out = w.bytes();
  out.insert(out.end(), magic, magic + 8);
  w.u32(kFormat);
  w.u32(NV_TENSORRT_MAJOR);
  w.u32(static_cast<uint32_t>(body.size()));
  w.u32(fnv1a(body.data(), body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

bool unframe(const char magic[8], const void* data, std::size_t size, const char* what, std::vector<uint8_t>& body,
             uint32_t& major, std::string& why) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (p == nullptr || size < kHeader || std::memcmp(p, magic, 8) != 0) {
    why = std::string("the bytes are not a ") + what + " (magic tag does not match)";
    return false;
  }
  ByteReader r(p + 8, kHeader - 8);
  uint32_t format = 0, length = 0, checksum = 0;
  (void)r.u32(format);
  (void)r.u32(major);
  (void)r.u32(length);
  (void)r.u32(checksum);
  if (format != kFormat) {
    why = std::string("unknown ") + what + " format " + std::to_string(format);
    return false;
  }
  if (length != size - kHeader || fnv1a(p + kHeader, length) != checksum) {
    why = std::string("the ") + what + " is truncated or corrupt (size or checksum does not match)";
    return false;
  }
  body.assign(p + kHeader, p + size);
  return true;
}

std::vector<uint8_t> serializePlan(const Plan& plan) {
  ByteWriter w;
  w.u32(static_cast<uint32_t>(plan.trtVersion));
  const uint32_t flags = (plan.versionCompatible ? 1u : 0u) | (plan.excludeLeanRuntime ? 2u : 0u) | (plan.usesPlugins ? 4u : 0u) |
                         (plan.refittable ? 8u : 0u) | (plan.fp16 ? 16u : 0u) | (plan.stronglyTyped ? 32u : 0u);
  w.u32(flags);
  w.u32(static_cast<uint32_t>(plan.hardwareCompatibility));
  w.u32(static_cast<uint32_t>(plan.optimizationLevel));
  w.str(plan.deviceName);
  w.u32(static_cast<uint32_t>(plan.ccMajor));
  w.u32(static_cast<uint32_t>(plan.ccMinor));
  w.u32(static_cast<uint32_t>(plan.tensors.size()));
  for (const TensorDesc& t : plan.tensors) {
    w.str(t.name);
    w.u32(static_cast<uint32_t>(t.type));
    w.dims(t.dims);
    w.u32(static_cast<uint32_t>(t.dimNames.size()));
    for (const auto& n : t.dimNames) w.str(n);
    w.u32((t.input ? 1u : 0u) | (t.shapeTensor ? 2u : 0u) | (t.dataDependent ? 4u : 0u));
    w.str(t.aliasOf);
  }
  w.u32(static_cast<uint32_t>(plan.profiles.size()));
  for (const auto& profile : plan.profiles) {
    w.u32(static_cast<uint32_t>(profile.size()));
    for (const ProfileRange& r : profile) {
      w.dims(r.min);
      w.dims(r.opt);
      w.dims(r.max);
    }
  }
  w.u32(static_cast<uint32_t>(plan.deviceMemory.size()));
  for (int64_t b : plan.deviceMemory) w.i64(b);
  w.i64(plan.deviceMemoryMax);
  return frame(kPlanMagic, w.bytes());
}

bool deserializePlan(const void* data, std::size_t size, Plan& plan, std::string& why) {
  std::vector<uint8_t> body;
  uint32_t major = 0;
  if (!unframe(kPlanMagic, data, size, "TensorRT plan", body, major, why)) return false;
  if (major != NV_TENSORRT_MAJOR) {
    why = "the plan was built by TensorRT " + std::to_string(major) + ".x; this is TensorRT " + compiledVersionString();
    return false;
  }
  ByteReader r(body.data(), body.size());
  uint32_t version = 0, flags = 0, hw = 0, level = 0, ccMajor = 0, ccMinor = 0, nTensors = 0;
  bool ok = r.u32(version) && r.u32(flags) && r.u32(hw) && r.u32(level) && r.str(plan.deviceName) && r.u32(ccMajor) &&
            r.u32(ccMinor) && r.u32(nTensors) && nTensors < kMaxCount;
  plan.trtVersion = static_cast<int32_t>(version);
  plan.versionCompatible = (flags & 1u) != 0;
  plan.excludeLeanRuntime = (flags & 2u) != 0;
  plan.usesPlugins = (flags & 4u) != 0;
  plan.refittable = (flags & 8u) != 0;
  plan.fp16 = (flags & 16u) != 0;
  plan.stronglyTyped = (flags & 32u) != 0;
  plan.hardwareCompatibility = static_cast<int32_t>(hw);
  plan.optimizationLevel = static_cast<int32_t>(level);
  plan.ccMajor = static_cast<int32_t>(ccMajor);
  plan.ccMinor = static_cast<int32_t>(ccMinor);
  for (uint32_t i = 0; ok && i < nTensors; i++) {
    TensorDesc t;
    uint32_t type = 0, nNames = 0, tflags = 0;
    ok = r.str(t.name) && r.u32(type) && r.dims(t.dims) && r.u32(nNames) && nNames <= static_cast<uint32_t>(Dims::MAX_DIMS);
    for (uint32_t k = 0; ok && k < nNames; k++) {
      std::string n;
      ok = r.str(n);
      t.dimNames.push_back(n);
    }
    ok = ok && r.u32(tflags) && r.str(t.aliasOf);
    t.type = static_cast<DataType>(type);
    t.input = (tflags & 1u) != 0;
    t.shapeTensor = (tflags & 2u) != 0;
    t.dataDependent = (tflags & 4u) != 0;
    plan.tensors.push_back(std::move(t));
  }
  uint32_t nProfiles = 0;
  ok = ok && r.u32(nProfiles) && nProfiles < kMaxCount;
  for (uint32_t p = 0; ok && p < nProfiles; p++) {
    uint32_t n = 0;
    ok = r.u32(n) && n < kMaxCount;
    std::vector<ProfileRange> profile;
    for (uint32_t i = 0; ok && i < n; i++) {
      ProfileRange range;
      ok = r.dims(range.min) && r.dims(range.opt) && r.dims(range.max);
      profile.push_back(std::move(range));
    }
    plan.profiles.push_back(std::move(profile));
  }
  uint32_t nMem = 0;
  ok = ok && r.u32(nMem) && nMem < kMaxCount;
  for (uint32_t i = 0; ok && i < nMem; i++) {
    int64_t b = 0;
    ok = r.i64(b);
    plan.deviceMemory.push_back(b);
  }
  ok = ok && r.i64(plan.deviceMemoryMax) && r.done();
  if (!ok) why = "the plan is corrupt (its body does not parse)";
  return ok;
}

}  // namespace standin::trt
