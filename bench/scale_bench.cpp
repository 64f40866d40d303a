// corolink_scale_bench: many coroutines parked at once (issue 12), corolink
// against Boost.Context's fiber in one process, with Google Benchmark.
//
// Each benchmark creates N coroutines with a default-size (256 KiB) stack,
// resumes each once so that it parks three frames deep with a 200-byte local
// in each frame, then resumes each to its end and frees it. The measured
// (manual) time is the create+park phase; the counters say what it cost:
//
//   park_per_s   coroutines created and parked per second
//   rss_B        resident-set growth per parked coroutine, in bytes
//   maps         kernel mappings added while all N were parked
//   teardown_s   resuming all N to their end, freeing them (and, for
//                corolink, corolink_pool_trim())
//   created      how many could be created (N, unless stacks ran out)
//
// Implementations:
//   corolink        corolink_create(&co, fn, arg, 0): its default stacks
//                   (guarded while the map count allows, then slab slots;
//                   src/slab.c)
//   boost_protected boost::context::fiber on protected_fixedsize_stack, its
//                   stack with a guard page: two mappings each, so creation
//                   fails near vm.max_map_count / 2
//   boost_carved    boost::context::fiber on stacks carved from one
//                   MAP_NORESERVE mapping: no guard at all, the least a
//                   stack can cost (its best case, no protection)
//
// One iteration per run (1,000,000 parked coroutines take seconds and
// gigabytes); bench/README.md has the numbers of this machine. Run it alone:
// the resident-set counts are of the whole process.
#include <corolink.h>

#include <benchmark/benchmark.h>
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>

#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "../tests/scale/proc_self.h"

namespace ctx = boost::context;

namespace {

constexpr std::size_t kStack = COROLINK_STACK_DEFAULT_SIZE;

volatile int sink;

double now() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// What every run reports, from the process's resident set and mappings
// before, while parked and after the teardown.
struct Phases {
    long rss0 = proc_rss_kib(), maps0 = proc_count_maps();
    double t0 = now(), t1 = 0, t2 = 0;
    long rss1 = 0, maps1 = 0;

    void parked() {
        t1 = now();
        rss1 = proc_rss_kib();
        maps1 = proc_count_maps();
    }
    void report(benchmark::State &state, std::size_t created) {
        t2 = now();
        state.SetIterationTime(t1 - t0);
        double n = created ? static_cast<double>(created) : 1.0;
        state.counters["park_per_s"] = n / (t1 - t0);
        state.counters["rss_B"] = static_cast<double>(rss1 - rss0) * 1024.0 / n;
        state.counters["maps"] = static_cast<double>(maps1 - maps0);
        state.counters["teardown_s"] = t2 - t1;
        state.counters["created"] = static_cast<double>(created);
    }
};

// ---- corolink ----

// Three frames, a 200-byte local each; the innermost suspends.
template <int Depth> __attribute__((noinline)) void *cl_park(corolink_yielder *y, int k) {
    volatile char local[200];
    local[0] = static_cast<char>(k);
    local[199] = static_cast<char>(k);
    void *r;
    if constexpr (Depth == 1)
        r = corolink_suspend(y, nullptr);
    else
        r = cl_park<Depth - 1>(y, k + 1);
    sink += local[0] + local[199];
    return r;
}
void *cl_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    return cl_park<3>(y, static_cast<int>(reinterpret_cast<std::uintptr_t>(arg)));
}

void park_corolink(benchmark::State &state) {
    std::size_t n = static_cast<std::size_t>(state.range(0));
    std::vector<corolink *> cos(n);
    for (auto _ : state) {
        Phases ph;
        for (std::size_t i = 0; i < n; i++) {
            if (corolink_create(&cos[i], cl_body, reinterpret_cast<void *>(i), 0) != 0 ||
                corolink_resume(cos[i], nullptr, nullptr) != COROLINK_YIELD) {
                state.SkipWithError("corolink_create or the first resume failed");
                return;
            }
        }
        ph.parked();
        for (std::size_t i = 0; i < n; i++) {
            void *out = nullptr;
            if (corolink_resume(cos[i], reinterpret_cast<void *>(i + 1), &out) !=
                    COROLINK_RETURN ||
                out != reinterpret_cast<void *>(i + 1)) {
                state.SkipWithError("a parked coroutine did not return its value");
                return;
            }
            corolink_destroy(cos[i]);
        }
        corolink_pool_trim();
        ph.report(state, n);
    }
}

// ---- Boost.Context fiber ----

// Stacks carved from one mapping, 256 KiB apart, no guard page; the
// mapping is unmapped with the allocator.
class CarvedStacks {
  public:
    explicit CarvedStacks(std::size_t n) : len_(n * kStack) {
        void *m = mmap(nullptr, len_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        base_ = m == MAP_FAILED ? nullptr : static_cast<char *>(m);
    }
    ~CarvedStacks() {
        if (base_)
            munmap(base_, len_);
    }
    bool ok() const { return base_ != nullptr; }
    // The allocator boost::context::fiber takes (copied into the fiber).
    struct Alloc {
        CarvedStacks *owner;
        ctx::stack_context allocate() {
            ctx::stack_context sc;
            sc.size = kStack;
            sc.sp = owner->base_ + (++owner->used_) * kStack;
            return sc;
        }
        void deallocate(ctx::stack_context &) noexcept {}
    };
    Alloc alloc() { return Alloc{this}; }

  private:
    char *base_ = nullptr;
    std::size_t len_, used_ = 0;
};

// The same three frames on a fiber; the innermost switches back.
template <int Depth> __attribute__((noinline)) ctx::fiber bf_park(ctx::fiber &&caller, int k) {
    volatile char local[200];
    local[0] = static_cast<char>(k);
    local[199] = static_cast<char>(k);
    ctx::fiber r;
    if constexpr (Depth == 1)
        r = std::move(caller).resume();
    else
        r = bf_park<Depth - 1>(std::move(caller), k + 1);
    sink += local[0] + local[199];
    return r;
}

// Creates and parks up to n fibers with `make(i)`; stops at the first
// that cannot be created (the map count). Returns how many parked.
template <class Make>
std::size_t park_fibers(std::vector<ctx::fiber> &fs, std::size_t n, Make make) {
    std::size_t i = 0;
    for (; i < n; i++) {
        try {
            fs[i] = make(static_cast<int>(i));
        } catch (const std::exception &) {
            break; // std::bad_alloc: the stack could not be mapped
        }
        fs[i] = std::move(fs[i]).resume(); // parks in bf_park<1>
    }
    return i;
}

void teardown_fibers(std::vector<ctx::fiber> &fs, std::size_t n) {
    for (std::size_t i = 0; i < n; i++)
        fs[i] = std::move(fs[i]).resume(); // runs to its end: empty
}

void park_boost_protected(benchmark::State &state) {
    std::size_t n = static_cast<std::size_t>(state.range(0));
    std::vector<ctx::fiber> fs(n);
    for (auto _ : state) {
        Phases ph;
        std::size_t got = park_fibers(fs, n, [](int k) {
            return ctx::fiber(std::allocator_arg, ctx::protected_fixedsize_stack(kStack),
                              [k](ctx::fiber &&c) { return bf_park<3>(std::move(c), k); });
        });
        ph.parked();
        teardown_fibers(fs, got);
        ph.report(state, got);
        // At vm.max_map_count the guard's mprotect() fails, which Boost
        // only asserts (release builds go on): later stacks have no guard
        // page, and the mappings stop growing by two a stack.
        long missing = 2 * static_cast<long>(got) - (ph.maps1 - ph.maps0);
        if (got < n)
            state.SetLabel("stack allocation failed after " + std::to_string(got));
        else if (missing > 64)
            state.SetLabel("about " + std::to_string(missing) +
                           " stacks without a guard page (map count reached)");
    }
}

void park_boost_carved(benchmark::State &state) {
    std::size_t n = static_cast<std::size_t>(state.range(0));
    std::vector<ctx::fiber> fs(n);
    for (auto _ : state) {
        Phases ph;
        auto stacks = std::make_unique<CarvedStacks>(n);
        if (!stacks->ok()) {
            state.SkipWithError("mmap of the stacks failed");
            return;
        }
        std::size_t got = park_fibers(fs, n, [&stacks](int k) {
            return ctx::fiber(std::allocator_arg, stacks->alloc(),
                              [k](ctx::fiber &&c) { return bf_park<3>(std::move(c), k); });
        });
        ph.parked();
        teardown_fibers(fs, got);
        stacks.reset(); // the memory goes back: part of the teardown
        ph.report(state, got);
    }
}

void counts(benchmark::internal::Benchmark *b) {
    b->Arg(10000)->Arg(100000)->Arg(1000000);
    b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(park_corolink)->Apply(counts);
BENCHMARK(park_boost_protected)->Apply(counts);
BENCHMARK(park_boost_carved)->Apply(counts);

} // namespace

BENCHMARK_MAIN();
