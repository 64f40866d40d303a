/* corolink against the system's fibers (ConvertThreadToFiber,
 * CreateFiber, SwitchToFiber) in one Windows process: round trips (resume +
 * suspend, one word each way) through the inline switch, the out-of-line
 * one (corolink_outofline_roundtrips(), in windows_fibers_ool.c), and a
 * fiber ping-pong. Google Benchmark and Boost.Context are not built for
 * mingw-w64 in Debian, so this is a plain program: interleaved rounds,
 * the median of each, and the ratios. Under wine the fiber switch is
 * wine's implementation, not Windows': the figures say how the two
 * compare on this CPU under wine, no more (bench/README.md).
 *
 *   windows_fibers.exe [round trips per round, default 5000000] */
#include <corolink.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>

double corolink_outofline_roundtrips(long n); /* ns per round trip */

static double now_ns(void) {
    static LARGE_INTEGER freq;
    LARGE_INTEGER t;
    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    return (double)t.QuadPart * 1e9 / (double)freq.QuadPart;
}

static void *echo_body(corolink_yielder *y, void *in, void *arg) {
    (void)arg;
    for (;;)
        in = corolink_suspend(y, in);
    return NULL; /* not reached (the destroy unwinds the body) */
}

static double corolink_roundtrips(long n) {
    corolink *co;
    if (corolink_create(&co, echo_body, NULL, 0) != 0)
        abort();
    uintptr_t sum = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *out;
        corolink_resume(co, (void *)(uintptr_t)i, &out);
        sum += (uintptr_t)out;
    }
    double t = (now_ns() - t0) / (double)n;
    if (sum != (uintptr_t)n * (uintptr_t)(n - 1) / 2)
        abort(); /* every value came back */
    corolink_force_unwind(co);
    corolink_destroy(co);
    return t;
}

/* The fiber ping-pong: main fiber and one worker pass a word through a
 * shared slot, one SwitchToFiber each way. */
static void *main_fiber, *worker_fiber;
static volatile uintptr_t slot;
static void CALLBACK worker(void *arg) {
    (void)arg;
    for (;;)
        SwitchToFiber(main_fiber); /* slot is echoed as it is */
}

static double fiber_roundtrips(long n) {
    uintptr_t sum = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        slot = (uintptr_t)i;
        SwitchToFiber(worker_fiber);
        sum += slot;
    }
    double t = (now_ns() - t0) / (double)n;
    if (sum != (uintptr_t)n * (uintptr_t)(n - 1) / 2)
        abort();
    return t;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 5000000;
    enum { ROUNDS = 7 };
    main_fiber = ConvertThreadToFiber(NULL);
    worker_fiber = CreateFiber(0, worker, NULL);
    if (main_fiber == NULL || worker_fiber == NULL || n <= 0)
        return 1;
    double in[ROUNDS], ool[ROUNDS], fib[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) { /* interleaved */
        in[r] = corolink_roundtrips(n);
        ool[r] = corolink_outofline_roundtrips(n);
        fib[r] = fiber_roundtrips(n);
    }
    qsort(in, ROUNDS, sizeof in[0], cmp);
    qsort(ool, ROUNDS, sizeof ool[0], cmp);
    qsort(fib, ROUNDS, sizeof fib[0], cmp);
    double a = in[ROUNDS / 2], b = ool[ROUNDS / 2], c = fib[ROUNDS / 2];
    printf("round trip, median of %d rounds of %ld:\n", ROUNDS, n);
    printf("  corolink inline       %7.2f ns  %.3fx SwitchToFiber\n", a, a / c);
    printf("  corolink out-of-line  %7.2f ns  %.3fx SwitchToFiber\n", b, b / c);
    printf("  SwitchToFiber         %7.2f ns\n", c);
    DeleteFiber(worker_fiber);
    return 0;
}
