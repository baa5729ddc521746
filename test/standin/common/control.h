#pragma once
// The stand-ins' control interface (libtrtn_standin.so): counters every stand-in updates and
// fault injection every stand-in consults. A C API so that tests in any language (and the
// stand-ins, which are separate shared objects) reach the same state. See README.md.

#include <stddef.h>
#include <stdint.h>

#define TRTN_STANDIN_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

// The counter called `name` (created at zero on first use). The slot's address is stable for
// the life of the process; update it with atomic builtins (see Counter in control.hpp).
TRTN_STANDIN_API int64_t* trtn_standin_counter_slot(const char* name);
TRTN_STANDIN_API int64_t trtn_standin_counter_get(const char* name);
// Every counter as {"format":"trtn-standin-counters","version":1,"pid":N,"counters":{...}};
// the caller frees the string with free().
TRTN_STANDIN_API char* trtn_standin_counters_json(void);
// Writes that JSON to `path` (NULL: $TRTN_STANDIN_COUNTERS) through a temporary file and a
// rename, so a reader never sees half a file. Returns 0, or -1 when there is nowhere to write.
TRTN_STANDIN_API int trtn_standin_counters_write(const char* path);

// Replaces the fault set with `spec` (the syntax of $TRTN_STANDIN_FAULTS, "" clears it);
// occurrence counts restart at zero. Returns 0, or -1 for a spec it cannot read (nothing
// changes; the reason goes to stderr).
TRTN_STANDIN_API int trtn_standin_set_faults(const char* spec);
// One occurrence of the event `name` (e.g. "cuda.oom_alloc"); returns 1 when a fault set for
// it fires on this occurrence ("name=N": the Nth only, "name=N+": the Nth and later).
TRTN_STANDIN_API int trtn_standin_fault_hit(const char* name);
// The value set for `name`, or NULL. Stays valid for the life of the process.
TRTN_STANDIN_API const char* trtn_standin_fault_value(const char* name);

#ifdef __cplusplus
}
#endif
