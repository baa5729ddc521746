#include "parser/onnx_reader.h"

namespace standin::onnx {

namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5 };

// One message's bytes; every read is bounds-checked.
class Reader {
 public:
  Reader(const uint8_t* p, const uint8_t* end, const uint8_t* origin) : p_(p), end_(end), origin_(origin) {}

  bool done() const { return p_ == end_; }
  std::size_t offset() const { return static_cast<std::size_t>(p_ - origin_); }

  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }

  bool tag(uint32_t& field, uint32_t& wire) {
    uint64_t t = 0;
    if (!varint(t)) return false;
    field = static_cast<uint32_t>(t >> 3);
    wire = static_cast<uint32_t>(t & 7);
    return field != 0;
  }

  bool sub(Reader& out) {
    uint64_t n = 0;
    if (!varint(n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    out = Reader(p_, p_ + n, origin_);
    p_ += n;
    return true;
  }

  bool string(std::string& s) {
    Reader r(nullptr, nullptr, nullptr);
    if (!sub(r)) return false;
    s.assign(reinterpret_cast<const char*>(r.p_), static_cast<std::size_t>(r.end_ - r.p_));
    return true;
  }

  bool skip(uint32_t wire) {
    uint64_t v = 0;
    switch (wire) {
      case kVarint:
        return varint(v);
      case kFixed64:
        if (end_ - p_ < 8) return false;
        p_ += 8;
        return true;
      case kFixed32:
        if (end_ - p_ < 4) return false;
        p_ += 4;
        return true;
      case kLength: {
        Reader r(nullptr, nullptr, nullptr);
        return sub(r);
      }
      default:
        return false;  // groups (3, 4) are not used by ONNX
    }
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* origin_;
};

// Each message parser: fields it knows, skips the rest; false on malformed bytes.
#define STANDIN_EXPECT(cond)   \
  do {                         \
    if (!(cond)) return false; \
  } while (0)

bool readStringPair(Reader r, std::string& key, std::string& value) {
  while (!r.done()) {
    uint32_t f = 0, w = 0;
    STANDIN_EXPECT(r.tag(f, w));
    if (f == 1 && w == kLength)
      STANDIN_EXPECT(r.string(key));
    else if (f == 2 && w == kLength)
      STANDIN_EXPECT(r.string(value));
    else
      STANDIN_EXPECT(r.skip(w));
  }
  return true;
}

bool readDim(Reader r, Dim& d) {
  while (!r.done()) {
    uint32_t f = 0, w = 0;
    STANDIN_EXPECT(r.tag(f, w));
    if (f == 1 && w == kVarint) {
      uint64_t v = 0;
      STANDIN_EXPECT(r.varint(v));
      d.hasValue = true;
      d.value = static_cast<int64_t>(v);
    } else if (f == 2 && w == kLength) {
      STANDIN_EXPECT(r.string(d.param));
    } else {
      STANDIN_EXPECT(r.skip(w));
    }
  }
  return true;
}

bool readTensorType(Reader r, ValueInfo& v) {
  v.isTensor = true;
  while (!r.done()) {
    uint32_t f = 0, w = 0;
    STANDIN_EXPECT(r.tag(f, w));
    if (f == 1 && w == kVarint) {
      uint64_t t = 0;
      STANDIN_EXPECT(r.varint(t));
      v.elemType = static_cast<int32_t>(t);
    } else if (f == 2 && w == kLength) {
      Reader shape(nullptr, nullptr, nullptr);
      STANDIN_EXPECT(r.sub(shape));
      v.hasShape = true;
      while (!shape.done()) {
        uint32_t sf = 0, sw = 0;
        STANDIN_EXPECT(shape.tag(sf, sw));
        if (sf == 1 && sw == kLength) {
          Reader dim(nullptr, nullptr, nullptr);
          STANDIN_EXPECT(shape.sub(dim));
          Dim d;
          STANDIN_EXPECT(readDim(dim, d));
          v.dims.push_back(std::move(d));
        } else {
          STANDIN_EXPECT(shape.skip(sw));
        }
      }
    } else {
      STANDIN_EXPECT(r.skip(w));
    }
  }
  return true;
}

bool readValueInfo(Reader r, ValueInfo& v) {
  while (!r.done()) {
    uint32_t f = 0, w = 0;
    STANDIN_EXPECT(r.tag(f, w));
    if (f == 1 && w == kLength) {
      STANDIN_EXPECT(r.string(v.name));
    } else if (f == 2 && w == kLength) {
      Reader type(nullptr, nullptr, nullptr);
      STANDIN_EXPECT(r.sub(type));
      while (!type.done()) {
        uint32_t tf = 0, tw = 0;
        STANDIN_EXPECT(type.tag(tf, tw));
        if (tf == 1 && tw == kLength) {
          Reader tensor(nullptr, nullptr, nullptr);
          STANDIN_EXPECT(type.sub(tensor));
          STANDIN_EXPECT(readTensorType(tensor, v));
        } else {
          STANDIN_EXPECT(type.skip(tw));
        }
      }
    } else {
      STANDIN_EXPECT(r.skip(w));
    }
  }
  return true;
}

bool readNode(Reader r, Node& n) {
  while (!r.done()) {
    uint32_t f = 0, w = 0;
    STANDIN_EXPECT(r.tag(f, w));
    std::string s;
    if (w == kLength && (f == 1 || f == 2 || f == 3 || f == 4 || f == 7)) {
      STANDIN_EXPECT(r.string(s));
      if (f == 1)
        n.inputs.push_back(std::move(s));
      else if (f == 2)
        n.outputs.push_back(std::move(s));
      else if (f == 3)
        n.name = std::move(s);
      else if (f == 4)
        n.opType = std::move(s);
      else
        n.domain = std::move(s);
    } else {
      STANDIN_EXPECT(r.skip(w));
    }
  }
  return true;
}

bool readInitializer(Reader r, Initializer& t) {
  while (!r.done()) {
    uint32_t f = 0, w = 0;
    STANDIN_EXPECT(r.tag(f, w));
    if (f == 8 && w == kLength) {
      STANDIN_EXPECT(r.string(t.name));
    } else if (f == 13 && w == kLength) {
      Reader entry(nullptr, nullptr, nullptr);
      STANDIN_EXPECT(r.sub(entry));
      std::string key, value;
      STANDIN_EXPECT(readStringPair(entry, key, value));
      if (key == "location") t.location = value;
    } else if (f == 14 && w == kVarint) {
      uint64_t v = 0;
      STANDIN_EXPECT(r.varint(v));
      t.external = v == 1;
    } else {
      STANDIN_EXPECT(r.skip(w));
    }
  }
  return true;
}

bool readGraph(Reader r, Model& m) {
  m.hasGraph = true;
  while (!r.done()) {
    uint32_t f = 0, w = 0;
    STANDIN_EXPECT(r.tag(f, w));
    if (w != kLength) {
      STANDIN_EXPECT(r.skip(w));
      continue;
    }
    Reader sub(nullptr, nullptr, nullptr);
    if (f == 2) {
      STANDIN_EXPECT(r.string(m.graphName));
      continue;
    }
    STANDIN_EXPECT(r.sub(sub));
    if (f == 1) {
      Node n;
      STANDIN_EXPECT(readNode(sub, n));
      m.nodes.push_back(std::move(n));
    } else if (f == 5) {
      Initializer t;
      STANDIN_EXPECT(readInitializer(sub, t));
      m.initializers.push_back(std::move(t));
    } else if (f == 15) {
      // SparseTensorProto: its values (field 1) carry the name.
      while (!sub.done()) {
        uint32_t sf = 0, sw = 0;
        STANDIN_EXPECT(sub.tag(sf, sw));
        if (sf == 1 && sw == kLength) {
          Reader values(nullptr, nullptr, nullptr);
          STANDIN_EXPECT(sub.sub(values));
          Initializer t;
          STANDIN_EXPECT(readInitializer(values, t));
          m.initializers.push_back(std::move(t));
        } else {
          STANDIN_EXPECT(sub.skip(sw));
        }
      }
    } else if (f == 11 || f == 12) {
      ValueInfo v;
      STANDIN_EXPECT(readValueInfo(sub, v));
      (f == 11 ? m.inputs : m.outputs).push_back(std::move(v));
    }
  }
  return true;
}

bool readModelProto(Reader r, Model& m) {
  while (!r.done()) {
    uint32_t f = 0, w = 0;
    STANDIN_EXPECT(r.tag(f, w));
    if (f == 1 && w == kVarint) {
      uint64_t v = 0;
      STANDIN_EXPECT(r.varint(v));
      m.irVersion = static_cast<int64_t>(v);
    } else if (f == 7 && w == kLength) {
      Reader g(nullptr, nullptr, nullptr);
      STANDIN_EXPECT(r.sub(g));
      STANDIN_EXPECT(readGraph(g, m));
    } else if (f == 8 && w == kLength) {
      Reader o(nullptr, nullptr, nullptr);
      STANDIN_EXPECT(r.sub(o));
      std::string domain;
      int64_t version = 0;
      while (!o.done()) {
        uint32_t of = 0, ow = 0;
        STANDIN_EXPECT(o.tag(of, ow));
        if (of == 1 && ow == kLength) {
          STANDIN_EXPECT(o.string(domain));
        } else if (of == 2 && ow == kVarint) {
          uint64_t v = 0;
          STANDIN_EXPECT(o.varint(v));
          version = static_cast<int64_t>(v);
        } else {
          STANDIN_EXPECT(o.skip(ow));
        }
      }
      m.opsets.emplace_back(domain, version);
    } else if (f == 14 && w == kLength) {
      Reader e(nullptr, nullptr, nullptr);
      STANDIN_EXPECT(r.sub(e));
      std::string key, value;
      STANDIN_EXPECT(readStringPair(e, key, value));
      m.metadata.emplace_back(key, value);
    } else {
      STANDIN_EXPECT(r.skip(w));
    }
  }
  return true;
}

#undef STANDIN_EXPECT

}  // namespace

bool readModel(const void* data, std::size_t size, Model& model, std::string& error) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (p == nullptr || size == 0) {
    error = "the model is empty";
    return false;
  }
  Reader r(p, p + size, p);
  if (!readModelProto(r, model)) {
    error = "the bytes are not a well-formed ONNX ModelProto (protobuf wire format)";
    return false;
  }
  if (!model.hasGraph) {
    error = "the model has no graph";
    return false;
  }
  return true;
}

const char* elemTypeName(int32_t type) {
  static const char* const names[] = {"UNDEFINED",      "FLOAT",      "UINT8",          "INT8",       "UINT16",   "INT16",
                                      "INT32",          "INT64",      "STRING",         "BOOL",       "FLOAT16",  "DOUBLE",
                                      "UINT32",         "UINT64",     "COMPLEX64",      "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN",
                                      "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4",      "INT4",     "FLOAT4E2M1"};
  if (type < 0 || type >= static_cast<int32_t>(sizeof names / sizeof names[0])) return "UNKNOWN";
  return names[type];
}

}  // namespace standin::onnx
