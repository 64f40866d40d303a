// MappedStack: stacks for the peers, mapped like corolink's own (one
// PROT_NONE guard page below the usable region).
#include "bench.h"

#include <sys/mman.h>
#include <unistd.h>

namespace clbench {

MappedStack::MappedStack(std::size_t usable) {
    long page = sysconf(_SC_PAGESIZE);
    std::size_t p = page > 0 ? static_cast<std::size_t>(page) : 4096;
    usable = (usable + p - 1) & ~(p - 1);
    void *m = mmap(nullptr, usable + p, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m == MAP_FAILED)
        return;
    if (mprotect(m, p, PROT_NONE) != 0) {
        munmap(m, usable + p);
        return;
    }
    base_ = m;
    guard_ = p;
    usable_ = usable;
}

MappedStack::~MappedStack() {
    if (base_ != nullptr)
        munmap(base_, guard_ + usable_);
}

} // namespace clbench
