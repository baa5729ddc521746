// Counters and faults shared by every stand-in in the process. State lives in objects that are
// never destroyed: stream threads and TensorRT callbacks may still count while the process exits.

#include "control.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

// Every fault key a stand-in consults. A spec naming another key is refused, so a typo in a test
// cannot silently inject nothing.
struct KnownFault {
  const char* name;
  bool event;  // "N" / "N+" occurrences; otherwise a free value
};
constexpr KnownFault kKnownFaults[] = {
    {"cuda.init_error", false},
    {"cuda.oom_alloc", true},
    {"cuda.oom_above", false},
    {"cuda.oom_host_alloc", true},
    {"cuda.sticky_kernel", true},
    {"trt.builder_null", true},
    {"trt.runtime_null", true},
    {"trt.parser_null", true},
    {"trt.parse_node", false},
    {"trt.build_fail", true},
    {"trt.build_oom", true},
    {"trt.deserialize_fail", true},
    {"trt.context_oom", true},
    {"trt.enqueue_fail", true},
    // Reports on calls that succeed (TensorRT may record errors it recovers from).
    {"trt.enqueue_report", true},
    {"trt.context_report", true},
    // Settings a test changes while the process runs (the environment is read once).
    {"cuda.op_delay_us", false},
    {"trt.build_step_ms", false},
    {"trt.read_delay_ms", false},
};

struct Fault {
  std::string value;
  bool event = false;
  int64_t nth = 0;
  bool andLater = false;
  int64_t seen = 0;
};

struct State {
  std::mutex mu;
  std::deque<int64_t> slots;  // a deque never moves its elements
  std::unordered_map<std::string, int64_t*> counters;
  std::unordered_map<std::string, Fault*> faults;
  std::vector<Fault*> retired;  // earlier fault sets: their values stay readable
};

State& state() {
  static State* s = new State();
  return *s;
}

const KnownFault* known(const std::string& name) {
  for (const auto& k : kKnownFaults) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Parses `spec` into `out`; on failure returns the reason.
std::string parseSpec(const char* spec, std::unordered_map<std::string, Fault*>& out) {
  std::string text = spec != nullptr ? spec : "";
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) return "\"" + item + "\" is not name=value";
    const std::string name = trim(item.substr(0, eq));
    const std::string value = trim(item.substr(eq + 1));
    const KnownFault* k = known(name);
    if (k == nullptr) return "unknown fault \"" + name + "\" (see test/standin/README.md for the list)";
    if (value.empty()) return "fault \"" + name + "\" has no value";
    auto* f = new Fault();
    f->value = value;
    f->event = k->event;
    if (k->event) {
      char* end = nullptr;
      f->nth = std::strtoll(value.c_str(), &end, 10);
      f->andLater = end != nullptr && *end == '+';
      if (f->nth < 1 || end == value.c_str() || (*end != '\0' && !(end[0] == '+' && end[1] == '\0'))) {
        delete f;
        return "fault \"" + name + "\" needs an occurrence N or N+ (N >= 1), got \"" + value + "\"";
      }
    }
    auto old = out.find(name);
    if (old != out.end()) {
      delete old->second;
      out.erase(old);
    }
    out.emplace(name, f);
  }
  return "";
}

void escapeJson(std::string& out, const std::string& s) {
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
}

std::string countersJson() {
  State& s = state();
  std::map<std::string, int64_t> sorted;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    for (const auto& [name, slot] : s.counters) sorted.emplace(name, __atomic_load_n(slot, __ATOMIC_RELAXED));
  }
  std::string out = "{\"format\":\"trtn-standin-counters\",\"version\":1,\"pid\":" + std::to_string(getpid()) + ",\"counters\":{";
  bool first = true;
  for (const auto& [name, value] : sorted) {
    if (!first) out += ',';
    first = false;
    out += '"';
    escapeJson(out, name);
    out += "\":" + std::to_string(value);
  }
  out += "}}\n";
  return out;
}

std::string resolvePath(const char* path) {
  std::string p = path != nullptr ? path : "";
  const std::string pid = std::to_string(getpid());
  for (std::size_t at = p.find("%p"); at != std::string::npos; at = p.find("%p", at + pid.size())) p.replace(at, 2, pid);
  return p;
}

void writeAtExit() {
  (void)trtn_standin_counters_write(nullptr);
}

__attribute__((constructor)) void loadFromEnvironment() {
  const char* spec = std::getenv("TRTN_STANDIN_FAULTS");
  if (spec != nullptr && trtn_standin_set_faults(spec) != 0) {
    std::fprintf(stderr, "tensorrt-node stand-in: TRTN_STANDIN_FAULTS cannot be used; stopping\n");
    std::abort();
  }
  const char* counters = std::getenv("TRTN_STANDIN_COUNTERS");
  if (counters != nullptr && *counters != '\0') std::atexit(writeAtExit);
}

}  // namespace

extern "C" {

int64_t* trtn_standin_counter_slot(const char* name) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.counters.find(name);
  if (it != s.counters.end()) return it->second;
  s.slots.push_back(0);
  int64_t* slot = &s.slots.back();
  s.counters.emplace(name, slot);
  return slot;
}

int64_t trtn_standin_counter_get(const char* name) {
  return __atomic_load_n(trtn_standin_counter_slot(name), __ATOMIC_RELAXED);
}

char* trtn_standin_counters_json(void) {
  return strdup(countersJson().c_str());
}

int trtn_standin_counters_write(const char* path) {
  const std::string target = resolvePath(path != nullptr ? path : std::getenv("TRTN_STANDIN_COUNTERS"));
  if (target.empty()) return -1;
  const std::string tmp = target + ".tmp." + std::to_string(getpid());
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return -1;
  const std::string json = countersJson();
  const bool ok = std::fwrite(json.data(), 1, json.size(), f) == json.size();
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), target.c_str()) != 0) {
    std::remove(tmp.c_str());
    return -1;
  }
  return 0;
}

int trtn_standin_set_faults(const char* spec) {
  std::unordered_map<std::string, Fault*> parsed;
  const std::string error = parseSpec(spec, parsed);
  if (!error.empty()) {
    for (auto& [name, f] : parsed) delete f;
    std::fprintf(stderr, "tensorrt-node stand-in: bad fault spec \"%s\": %s\n", spec != nullptr ? spec : "", error.c_str());
    return -1;
  }
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  for (auto& [name, f] : s.faults) s.retired.push_back(f);
  s.faults = std::move(parsed);
  return 0;
}

int trtn_standin_fault_hit(const char* name) {
  State& s = state();
  std::unique_lock<std::mutex> lock(s.mu);
  auto it = s.faults.find(name);
  if (it == s.faults.end() || !it->second->event) return 0;
  Fault& f = *it->second;
  f.seen++;
  const bool fire = f.seen == f.nth || (f.andLater && f.seen > f.nth);
  lock.unlock();
  if (fire) {
    const std::string counter = std::string("fault.") + name;
    __atomic_fetch_add(trtn_standin_counter_slot(counter.c_str()), 1, __ATOMIC_RELAXED);
  }
  return fire ? 1 : 0;
}

const char* trtn_standin_fault_value(const char* name) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.faults.find(name);
  return it == s.faults.end() ? nullptr : it->second->value.c_str();
}

}  // extern "C"
