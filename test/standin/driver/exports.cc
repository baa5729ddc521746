// Every entry point of the tables, referenced once: a table line the stand-in does not define
// is an undefined symbol, and the library is linked with --no-undefined.

#include "api.h"

namespace standin::cuda {

#define TRTN_STANDIN_ENTRY_ADDRESS(member, symbol, params) reinterpret_cast<const void*>(&api::member),
extern "C" __attribute__((used)) const void* const trtn_standin_driver_entry_points[] = {
    TRTN_CUDA_DRIVER_FUNCTIONS(TRTN_STANDIN_ENTRY_ADDRESS) TRTN_STANDIN_EXTRA_DRIVER_FUNCTIONS(TRTN_STANDIN_ENTRY_ADDRESS)};
#undef TRTN_STANDIN_ENTRY_ADDRESS

}  // namespace standin::cuda
