// Chains of distinct functions that suspend a coroutine N calls deep, for
// the backtrace tests. Each function is exported (the test is linked with
// -rdynamic) so that dladdr names it, and kept out of interprocedural
// optimisation so that it stays one function under its own name (no
// inlining, cloning, identical-code folding or tail call).
#pragma once

#include <corolink.h>

#include <cstdint>

#if defined(__clang__)
#define CHAIN_NOIPA __attribute__((noinline))
#else
#define CHAIN_NOIPA __attribute__((noipa))
#endif

extern "C" {
extern volatile int introspect_sink;

// Bodies: arg = how many calls deep to suspend (chain_body: 1..20 through
// deep1..deepN; nofp_body: 1..5 through nofp_deep1..; ool_body: 1..3
// through ool_deep1.., with the out-of-line switch). Each suspends once,
// then returns what the resume passed in.
void *chain_body(corolink_yielder *y, void *input, void *arg);
void *nofp_body(corolink_yielder *y, void *input, void *arg);
void *ool_body(corolink_yielder *y, void *input, void *arg);
}

// P##k calls P##(k+1) until it is n deep, then suspends; the update of the
// sink after the call keeps the call from being a tail call, and k makes
// every function's code distinct.
#define CHAIN_FN(P, k, next)                                                   \
    extern "C" CHAIN_NOIPA void *P##k(corolink_yielder *y, int n) {            \
        void *r = n <= k ? corolink_suspend(y, (void *)(intptr_t)k)            \
                         : next(y, n);                                         \
        introspect_sink = introspect_sink + k;                                 \
        return r;                                                              \
    }

// P##_end: the last function of a chain, which suspends (reached only when
// n is larger than the chain is deep); `mark` keeps its code distinct.
#define CHAIN_END(P, mark)                                                     \
    extern "C" CHAIN_NOIPA void *P##_end(corolink_yielder *y, int) {           \
        void *r = corolink_suspend(y, nullptr);                                \
        introspect_sink = introspect_sink + mark;                              \
        return r;                                                              \
    }

// The body `name` that starts chain P at P##1 with n = arg.
#define CHAIN_BODY(name, P, mark)                                              \
    extern "C" CHAIN_NOIPA void *name(corolink_yielder *y, void *,             \
                                      void *arg) {                             \
        void *r = P##1(y, (int)(intptr_t)arg);                                 \
        introspect_sink = introspect_sink + mark;                              \
        return r;                                                              \
    }
