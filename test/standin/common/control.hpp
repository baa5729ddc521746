#pragma once
// C++ access to the control interface (control.h) from the stand-ins and probes. None of them
// links libtrtn_standin.so: each loads it by full path from its own folder (or the one above),
// so the stand-ins carry no RUNPATH and the loader searches for them exactly as it searches for
// the real libraries. Without the control library, counters and faults are inert.

#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "control.h"

namespace standin {

struct ControlApi {
  int64_t* (*slot)(const char*) = nullptr;
  int64_t (*get)(const char*) = nullptr;
  char* (*json)() = nullptr;
  int (*write)(const char*) = nullptr;
  int (*setFaults)(const char*) = nullptr;
  int (*hit)(const char*) = nullptr;
  const char* (*value)(const char*) = nullptr;
  bool loaded = false;
};

namespace detail {
// An address inside the object that includes this header, to find that object's folder.
[[maybe_unused]] static void anchor() {}

inline int64_t* inertSlot(const char*) {
  static int64_t sink = 0;
  return &sink;
}
}  // namespace detail

inline const ControlApi& control() {
  static const ControlApi api = [] {
    ControlApi a;
    Dl_info info{};
    void* lib = nullptr;
    std::string self;
    if (dladdr(reinterpret_cast<void*>(&detail::anchor), &info) != 0 && info.dli_fname != nullptr) self = info.dli_fname;
    if (self.find('/') == std::string::npos) {
      // The main program has no name in the link map: ask the kernel.
      char buf[4096];
      const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
      if (n > 0) self.assign(buf, static_cast<std::size_t>(n));
    }
    if (!self.empty()) {
      const std::string dir = self.find('/') == std::string::npos ? "." : self.substr(0, self.rfind('/'));
      for (const std::string& candidate : {dir + "/libtrtn_standin.so", dir + "/../libtrtn_standin.so"}) {
        lib = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (lib != nullptr) break;
      }
    }
    if (lib == nullptr) {
      if (std::getenv("TRTN_STANDIN_FAULTS") != nullptr || std::getenv("TRTN_STANDIN_COUNTERS") != nullptr) {
        std::fprintf(stderr, "tensorrt-node stand-in: libtrtn_standin.so is not beside %s: counters and faults are off\n",
                     self.empty() ? "this library" : self.c_str());
      }
      a.slot = detail::inertSlot;
      return a;
    }
    a.slot = reinterpret_cast<int64_t* (*)(const char*)>(dlsym(lib, "trtn_standin_counter_slot"));
    a.get = reinterpret_cast<int64_t (*)(const char*)>(dlsym(lib, "trtn_standin_counter_get"));
    a.json = reinterpret_cast<char* (*)()>(dlsym(lib, "trtn_standin_counters_json"));
    a.write = reinterpret_cast<int (*)(const char*)>(dlsym(lib, "trtn_standin_counters_write"));
    a.setFaults = reinterpret_cast<int (*)(const char*)>(dlsym(lib, "trtn_standin_set_faults"));
    a.hit = reinterpret_cast<int (*)(const char*)>(dlsym(lib, "trtn_standin_fault_hit"));
    a.value = reinterpret_cast<const char* (*)(const char*)>(dlsym(lib, "trtn_standin_fault_value"));
    a.loaded = a.slot && a.get && a.json && a.write && a.setFaults && a.hit && a.value;
    if (!a.loaded) a = ControlApi{detail::inertSlot};
    return a;
  }();
  return api;
}

// A named counter; the slot lookup happens once.
class Counter {
 public:
  explicit Counter(const char* name) : slot_(control().slot(name)) {}
  void add(int64_t delta = 1) const noexcept { __atomic_fetch_add(slot_, delta, __ATOMIC_RELAXED); }
  void set(int64_t value) const noexcept { __atomic_store_n(slot_, value, __ATOMIC_RELAXED); }
  int64_t get() const noexcept { return __atomic_load_n(slot_, __ATOMIC_RELAXED); }

 private:
  int64_t* slot_;
};

inline int64_t counterValue(const char* name) {
  return control().get != nullptr ? control().get(name) : 0;
}

inline bool faultHit(const char* name) noexcept {
  return control().hit != nullptr && control().hit(name) != 0;
}

inline std::string faultValue(const char* name) {
  const char* v = control().value != nullptr ? control().value(name) : nullptr;
  return v != nullptr ? v : "";
}

// Every counter as JSON ("{}" without the control library).
inline std::string countersJson() {
  if (control().json == nullptr) return "{}";
  char* s = control().json();
  std::string out(s);
  std::free(s);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

inline int setFaults(const char* spec) {
  return control().setFaults != nullptr ? control().setFaults(spec) : -1;
}

// The body of every generated default method: the stand-in does not implement it.
[[noreturn]] inline void unimplemented(const char* what) {
  std::fprintf(stderr,
               "tensorrt-node stand-in: %s is not implemented by the stand-in; implement it in test/standin "
               "(the generated default aborts so that no call goes unnoticed)\n",
               what);
  std::abort();
}

// An environment variable as an integer, `fallback` when unset or empty.
inline int64_t envInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoll(v, nullptr, 0);
}

}  // namespace standin
