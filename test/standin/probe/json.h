#pragma once
// A minimal JSON writer for the probes' single line of output.

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace probe {

class Json {
 public:
  Json& begin() { return open('{'); }
  Json& end() { return close('}'); }
  Json& array() { return open('['); }
  Json& endArray() { return close(']'); }
  Json& key(const std::string& k) {
    comma();
    quote(k);
    out_ += ':';
    fresh_ = true;
    return *this;
  }
  Json& str(const std::string& s) {
    comma();
    quote(s);
    return *this;
  }
  Json& num(double v) {
    comma();
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out_ += buf;
    return *this;
  }
  Json& integer(int64_t v) {
    comma();
    out_ += std::to_string(v);
    return *this;
  }
  Json& boolean(bool v) {
    comma();
    out_ += v ? "true" : "false";
    return *this;
  }
  Json& null() {
    comma();
    out_ += "null";
    return *this;
  }
  // A value written elsewhere (already JSON).
  Json& raw(const std::string& json) {
    comma();
    out_ += json;
    return *this;
  }
  template <typename T>
  Json& field(const std::string& k, const T& v);
  const std::string& text() const { return out_; }

 private:
  Json& open(char c) {
    comma();
    out_ += c;
    fresh_ = true;
    return *this;
  }
  Json& close(char c) {
    out_ += c;
    fresh_ = false;
    return *this;
  }
  void comma() {
    if (!fresh_) out_ += ',';
    fresh_ = false;
  }
  void quote(const std::string& s) {
    out_ += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  }
  std::string out_;
  bool fresh_ = true;
};

template <>
inline Json& Json::field(const std::string& k, const std::string& v) {
  return key(k).str(v);
}
template <>
inline Json& Json::field(const std::string& k, const bool& v) {
  return key(k).boolean(v);
}
template <>
inline Json& Json::field(const std::string& k, const int& v) {
  return key(k).integer(v);
}
template <>
inline Json& Json::field(const std::string& k, const int64_t& v) {
  return key(k).integer(v);
}
template <>
inline Json& Json::field(const std::string& k, const double& v) {
  return key(k).num(v);
}

}  // namespace probe
