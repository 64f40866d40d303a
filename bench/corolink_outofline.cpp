// corolink's out-of-line switch (informational row): this translation unit
// is compiled with -DCOROLINK_NO_INLINE, so corolink_resume() and
// corolink_suspend() are calls into the library.
#include "corolink_switch_impl.h"

#if !defined(COROLINK_NO_INLINE) || defined(COROLINK__INLINE)
#error "corolink_outofline.cpp must be built with -DCOROLINK_NO_INLINE"
#endif

namespace clbench {

void switch_corolink_outofline(benchmark::State &state) {
    run_switch_benchmark(state);
}

} // namespace clbench
