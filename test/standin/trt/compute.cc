#include "trt/compute.h"

#include <cctype>
#include <cstring>
#include <string>

namespace standin::trt {

namespace {

constexpr uint32_t kOffset = 2166136261u;

uint32_t mix(uint32_t h, uint32_t w) noexcept {
  return (h ^ w) * 16777619u;
}

uint32_t finalize(uint32_t h) noexcept {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

uint32_t hashName(const std::string& s) noexcept {
  uint32_t h = kOffset;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint32_t mixValue(uint32_t h, DataType type, const uint8_t* p) noexcept {
  switch (type) {
    case DataType::kFLOAT:
    case DataType::kINT32:
      return mix(h, load<uint32_t>(p));
    case DataType::kHALF:
    case DataType::kBF16:
      return mix(h, load<uint16_t>(p));
    case DataType::kINT64: {
      const auto v = load<uint64_t>(p);
      return mix(mix(h, static_cast<uint32_t>(v)), static_cast<uint32_t>(v >> 32));
    }
    case DataType::kINT8:
      return mix(h, static_cast<uint32_t>(static_cast<int32_t>(load<int8_t>(p))));
    case DataType::kBOOL:
      return mix(h, *p != 0 ? 1u : 0u);
    default:
      return mix(h, *p);
  }
}

int64_t integerAt(DataType type, const uint8_t* base, int64_t index) noexcept {
  const std::size_t size = elementSize(type);
  const uint8_t* p = base + static_cast<std::size_t>(index) * size;
  switch (type) {
    case DataType::kINT64:
      return load<int64_t>(p);
    case DataType::kINT32:
      return load<int32_t>(p);
    case DataType::kINT8:
      return load<int8_t>(p);
    default:
      return *p;
  }
}

uint16_t halfBits(float f) noexcept {
  uint32_t x = 0;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xFF) - 127 + 15;
  uint32_t mant = x & 0x7FFFFFu;
  if ((x & 0x7FFFFFFFu) == 0) return static_cast<uint16_t>(sign);
  if (exp <= 0) {  // subnormal half
    mant |= 0x800000u;
    const int shift = 14 - exp;
    uint32_t h = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (h & 1u))) h++;
    return static_cast<uint16_t>(sign | h);
  }
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7C00u);
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return static_cast<uint16_t>(sign | h);
}

void store(DataType type, uint8_t* p, uint32_t f) noexcept {
  switch (type) {
    case DataType::kFLOAT: {
      const float v = static_cast<float>(static_cast<int32_t>(f >> 21) - 1024) / 2048.0f;
      std::memcpy(p, &v, 4);
      break;
    }
    case DataType::kHALF: {
      const uint16_t h = halfBits(static_cast<float>(static_cast<int32_t>(f >> 21) - 1024) / 2048.0f);
      std::memcpy(p, &h, 2);
      break;
    }
    case DataType::kBF16: {
      // Multiples of 1/256 below 0.5 fit bfloat16's 8 bits exactly: the float's top half.
      const float v = static_cast<float>(static_cast<int32_t>(f >> 24) - 128) / 256.0f;
      uint32_t bits = 0;
      std::memcpy(&bits, &v, 4);
      const auto h = static_cast<uint16_t>(bits >> 16);
      std::memcpy(p, &h, 2);
      break;
    }
    case DataType::kINT32: {
      const auto v = static_cast<int32_t>(f);
      std::memcpy(p, &v, 4);
      break;
    }
    case DataType::kINT64: {
      const auto v = static_cast<int64_t>(f);
      std::memcpy(p, &v, 8);
      break;
    }
    case DataType::kBOOL:
      *p = static_cast<uint8_t>(f & 1u);
      break;
    default:
      *p = static_cast<uint8_t>(f & 0xFFu);
      break;
  }
}

bool isMaskName(const std::string& name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.size() >= 4 && lower.compare(lower.size() - 4, 4, "mask") == 0;
}

bool isIntegerType(DataType t) {
  return t == DataType::kINT64 || t == DataType::kINT32 || t == DataType::kINT8 || t == DataType::kUINT8 || t == DataType::kBOOL;
}

const std::string& dimName(const TensorDesc& t, std::size_t axis) {
  static const std::string empty;
  return axis < t.dimNames.size() ? t.dimNames[axis] : empty;
}

// Row-major strides.
std::vector<int64_t> stridesOf(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (std::size_t k = dims.size(); k-- > 1;) s[k - 1] = s[k] * dims[k];
  return s;
}

}  // namespace

void computeOutputs(const std::vector<HostInput>& inputs, const std::vector<HostOutput>& outputs) {
  // The attention mask: positions where it is 0 (right padding) take no part in any output.
  int mask = -1;
  for (std::size_t i = 0; i < inputs.size(); i++) {
    if (isMaskName(inputs[i].desc->name) && inputs[i].dims.size() == 2 && isIntegerType(inputs[i].desc->type)) {
      mask = static_cast<int>(i);
      break;
    }
  }
  std::vector<int> maskAxis(inputs.size(), -1);
  if (mask >= 0) {
    const HostInput& m = inputs[static_cast<std::size_t>(mask)];
    const std::string& seq = dimName(*m.desc, 1);
    for (std::size_t i = 0; i < inputs.size(); i++) {
      const HostInput& in = inputs[i];
      if (in.dims.size() < 2 || in.dims[0] != m.dims[0]) continue;
      for (std::size_t j = 1; j < in.dims.size(); j++) {
        const bool same = seq.empty() ? j == 1 : dimName(*in.desc, j) == seq;
        if (same && in.dims[j] == m.dims[1]) {
          maskAxis[i] = static_cast<int>(j);
          break;
        }
      }
    }
  }
  std::vector<std::vector<int64_t>> inStrides;
  for (const HostInput& in : inputs) inStrides.push_back(stridesOf(in.dims));

  for (const HostOutput& out : outputs) {
    const std::size_t rank = out.dims.size();
    const int64_t count = volume(out.dims);
    if (count <= 0) continue;
    // links[i][k]: the axis of input i that output axis k is tied to, or -1.
    std::vector<std::vector<int>> links(inputs.size(), std::vector<int>(rank, -1));
    std::vector<bool> free(rank, true);
    for (std::size_t i = 0; i < inputs.size(); i++) {
      const HostInput& in = inputs[i];
      std::vector<bool> used(in.dims.size(), false);
      for (std::size_t k = 0; k < rank; k++) {
        if (k == 0) {
          if (!in.dims.empty() && in.dims[0] == out.dims[0]) {
            links[i][0] = 0;
            used[0] = true;
          }
          continue;
        }
        const std::string& name = dimName(*out.desc, k);
        if (name.empty()) continue;
        for (std::size_t j = 1; j < in.dims.size(); j++) {
          if (!used[j] && dimName(*in.desc, j) == name && in.dims[j] == out.dims[k]) {
            links[i][k] = static_cast<int>(j);
            used[j] = true;
            break;
          }
        }
      }
      for (std::size_t k = 0; k < rank; k++) {
        if (links[i][k] >= 0) free[k] = false;
      }
    }
    const uint32_t base = mix(kOffset, hashName(out.desc->name));
    const std::size_t outSize = elementSize(out.desc->type);
    std::vector<int64_t> idx(rank, 0);
    std::vector<int64_t> lastKey;
    uint32_t inputsHash = 0;
    for (int64_t flat = 0; flat < count; flat++) {
      std::vector<int64_t> key;
      for (std::size_t k = 0; k < rank; k++) {
        if (!free[k]) key.push_back(idx[k]);
      }
      if (flat == 0 || key != lastKey) {
        uint32_t h = base;
        for (std::size_t i = 0; i < inputs.size(); i++) {
          const HostInput& in = inputs[i];
          h = mix(h, 0x9E3779B9u ^ static_cast<uint32_t>(i));
          const std::size_t r = in.dims.size();
          std::vector<int64_t> fixed(r, -1);
          for (std::size_t k = 0; k < rank; k++) {
            if (links[i][k] >= 0) fixed[static_cast<std::size_t>(links[i][k])] = idx[k];
          }
          const int64_t n = volume(in.dims);
          if (n <= 0) continue;
          std::vector<int64_t> x(r, 0);
          for (std::size_t j = 0; j < r; j++) {
            if (fixed[j] >= 0) x[j] = fixed[j];
          }
          const std::size_t size = elementSize(in.desc->type);
          std::vector<std::size_t> axes;  // the input's axes not tied to the output element
          for (std::size_t j = 0; j < r; j++) {
            if (fixed[j] < 0) axes.push_back(j);
          }
          for (bool done = false; !done;) {
            bool masked = false;
            if (maskAxis[i] >= 0) {
              const HostInput& m = inputs[static_cast<std::size_t>(mask)];
              const int64_t at = x[0] * m.dims[1] + x[static_cast<std::size_t>(maskAxis[i])];
              masked = integerAt(m.desc->type, m.data, at) == 0;
            }
            if (!masked) {
              int64_t offset = 0;
              for (std::size_t j = 0; j < r; j++) offset += x[j] * inStrides[i][j];
              h = mixValue(h, in.desc->type, in.data + static_cast<std::size_t>(offset) * size);
            }
            // Row-major over the untied axes, the last fastest.
            std::size_t a = axes.size();
            for (;;) {
              if (a == 0) {
                done = true;
                break;
              }
              const std::size_t j = axes[--a];
              if (++x[j] < in.dims[j]) break;
              x[j] = 0;
            }
          }
        }
        inputsHash = h;
        lastKey = std::move(key);
      }
      uint32_t h = inputsHash;
      for (std::size_t k = 0; k < rank; k++) {
        if (free[k]) h = mix(h, static_cast<uint32_t>(idx[k]));
      }
      store(out.desc->type, out.data + static_cast<std::size_t>(flat) * outSize, finalize(h));
      for (std::size_t k = rank; k-- > 0;) {
        if (++idx[k] < out.dims[k]) break;
        idx[k] = 0;
      }
    }
  }
}

}  // namespace standin::trt
