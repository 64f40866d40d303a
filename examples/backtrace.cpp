// The model crate's backtrace example with the C++ API: a backtrace taken
// inside a coroutine runs through the coroutine's frames, crosses its root
// frame (corolink__trampoline) into the function that resumed it last
// (sub_function) and on to main. Uses glibc's backtrace() and dladdr();
// built with -rdynamic so that the program's functions have names (the
// lambda and the library's entry function instantiated for it have no
// linkage, hence no dynamic symbol: they print as "??").
#include <corolink.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>

#include <cstdio>
#include <cstdlib>

__attribute__((noinline)) void print_backtrace() {
    void *pcs[64];
    int n = backtrace(pcs, 64);
    for (int i = 0; i < n; i++) {
        Dl_info info;
        // A return address points after its call: look up the call.
        void *at = i == 0 ? pcs[i] : static_cast<char *>(pcs[i]) - 1;
        const char *name = "??";
        char *demangled = nullptr;
        if (dladdr(at, &info) && info.dli_sname) {
            int status = 0;
            demangled = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
            name = demangled ? demangled : info.dli_sname;
        }
        std::printf("  %2d: %p in %s\n", i, pcs[i], name);
        std::free(demangled);
    }
}

__attribute__((noinline)) void sub_function(corolink_cpp::coroutine<> &coroutine) {
    coroutine.resume();
    __asm__ volatile(""); // keep this frame: no tail call
}

int main() {
    corolink_cpp::coroutine<> coroutine([](corolink_cpp::yielder<void, void> &) {
        print_backtrace();
    });

    sub_function(coroutine);
    return coroutine.done() ? 0 : 1;
}
