// The function containing a code address, by dladdr() (ELF targets; the
// program is linked with -rdynamic so that its own functions are named).
#ifndef COROLINK_TEST_SYMBOLIZE_H
#define COROLINK_TEST_SYMBOLIZE_H

#include <dlfcn.h>
#include <link.h>

#include <cstdint>
#include <string>

// The function containing pc (dladdr's nearest exported symbol, accepted
// only if pc is within its size), or "??".
inline std::string symbolize(uintptr_t pc) {
    Dl_info info;
    void *entry = nullptr;
    if (dladdr1(reinterpret_cast<void *>(pc), &info, &entry,
                RTLD_DL_SYMENT) == 0 ||
        info.dli_sname == nullptr || entry == nullptr)
        return "??";
    auto *sym = static_cast<const ElfW(Sym) *>(entry);
    auto start = reinterpret_cast<uintptr_t>(info.dli_saddr);
    if (pc < start || (sym->st_size != 0 && pc >= start + sym->st_size))
        return "??";
    return info.dli_sname;
}

#endif
