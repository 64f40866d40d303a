// corolink_bench: corolink against Boost.Context and glibc ucontext, all in
// one binary so that one run gives ratios measured side by side.
//
// main() registers the benchmarks, adds default flags (repetitions, min
// time, random interleaving; the user's --benchmark_* flags override them),
// runs Google Benchmark with a reporter that also collects every result, and
// then prints a comparison table: per group, the median CPU time per
// operation of each implementation and its ratio to corolink, followed by
// whether the project's performance targets hold on this run.
#include "bench.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifndef COROLINK_BENCH_BUILD_TYPE
#define COROLINK_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

// Defaults chosen so that a full run of the ten benchmarks takes well under
// a minute on a 2-core VM. Random interleaving runs the repetitions of all
// benchmarks in a shuffled order, so that a burst of noise on the machine
// spreads over all implementations instead of skewing one of them; the
// median then discards the outliers.
const char *const kDefaultFlags[] = {
    "--benchmark_repetitions=15",
    "--benchmark_min_time=0.2",
    "--benchmark_enable_random_interleaving=true",
    "--benchmark_display_aggregates_only=true",
};

struct Group {
    const char *key;   // benchmark name prefix
    const char *title; // table heading
};

const Group kGroups[] = {
    {"switch", "switch: one resume + suspend round trip, a value passed each way"},
    {"call", "call: start a coroutine on a reused stack, run it to completion"},
    {"create_run_destroy",
     "create+run+destroy: default-size stack from a pool, run to completion"},
};

struct Entry {
    const char *name; // benchmark name: "<group>/<implementation>"
    const char *label;
    bool baseline;      // corolink's row: the ratios' denominator
    bool informational; // shown, but not a peer
    void (*fn)(benchmark::State &);
};

const Entry kEntries[] = {
    {"switch/corolink", "corolink (inline switch)", true, false,
     clbench::switch_corolink},
    {"switch/corolink_cpp", "corolink C++ API (corolink.hpp)", false, true,
     clbench::switch_corolink_cpp},
    {"switch/corolink_outofline", "corolink out-of-line (COROLINK_NO_INLINE)",
     false, true, clbench::switch_corolink_outofline},
    {"switch/corolink_timestamps", "corolink, suspend timestamps on", false,
     true, clbench::switch_corolink_timestamps},
    {"switch/boost_fcontext", "boost jump_fcontext", false, false,
     clbench::switch_boost_fcontext},
    {"switch/boost_fiber", "boost::context::fiber", false, false,
     clbench::switch_boost_fiber},
    {"switch/ucontext", "glibc swapcontext", false, false,
     clbench::switch_ucontext},

    {"call/corolink", "corolink create_on+resume+destroy", true, false,
     clbench::call_corolink},
    {"call/corolink_cpp", "corolink C++ API, on a user stack", false, true,
     clbench::call_corolink_cpp},
    {"call/boost_fcontext", "boost make_fcontext+jump_fcontext", false, false,
     clbench::call_boost_fcontext},
    {"call/ucontext", "glibc makecontext+swapcontext", false, false,
     clbench::call_ucontext},

    {"create_run_destroy/corolink", "corolink create(0)+resume+destroy", true,
     false, clbench::crd_corolink},
    {"create_run_destroy/corolink_cpp", "corolink C++ API, pooled stack", false,
     true, clbench::crd_corolink_cpp},
    {"create_run_destroy/boost_fiber_pooled",
     "boost fiber, pooled_fixedsize_stack", false, false,
     clbench::crd_boost_fiber},
};

// What the reporter collected for one benchmark.
struct Result {
    std::vector<double> cpu_ns;  // per repetition, ns per iteration
    double median_ns = -1;       // the library's "median" aggregate, if any
    std::string error;           // non-empty: the benchmark failed
    long long repetitions = 0;
};

double median_of(std::vector<double> v) {
    if (v.empty())
        return -1;
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Wraps one of Google Benchmark's reporters (so that --benchmark_format
// keeps working) and records every run it reports.
template <typename Base>
class Collecting final : public Base {
  public:
    explicit Collecting(std::map<std::string, Result> *sink) : sink_(sink) {}
    template <typename Arg>
    Collecting(std::map<std::string, Result> *sink, Arg arg)
        : Base(arg), sink_(sink) {}

    void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run> &runs) override {
        for (const auto &run : runs) {
            Result &r = (*sink_)[run.run_name.function_name];
            r.repetitions = std::max<long long>(r.repetitions, run.repetitions);
            if (run.error_occurred) {
                r.error = run.error_message.empty() ? "error" : run.error_message;
                continue;
            }
            double ns = run.GetAdjustedCPUTime() * 1e9 /
                        benchmark::GetTimeUnitMultiplier(run.time_unit);
            if (run.run_type == benchmark::BenchmarkReporter::Run::RT_Iteration)
                r.cpu_ns.push_back(ns);
            else if (run.aggregate_name == "median")
                r.median_ns = ns;
        }
        Base::ReportRuns(runs);
    }

  private:
    std::map<std::string, Result> *sink_;
};

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, 10, "model name") == 0) {
            auto colon = line.find(':');
            if (colon != std::string::npos) {
                auto start = line.find_first_not_of(" \t", colon + 1);
                return start == std::string::npos ? "" : line.substr(start);
            }
        }
    }
    return "unknown";
}

// The last value given to --<flag>=VALUE on the command line, or "".
std::string flag_value(const std::vector<char *> &args, const char *flag) {
    std::string prefix = std::string("--") + flag + "=";
    std::string value;
    for (const char *a : args)
        if (std::strncmp(a, prefix.c_str(), prefix.size()) == 0)
            value = a + prefix.size();
    return value;
}

double ns_of(const std::map<std::string, Result> &results, const char *name,
             std::string *error) {
    auto it = results.find(name);
    if (it == results.end())
        return -1;
    if (error)
        *error = it->second.error;
    if (!it->second.error.empty())
        return -1;
    return it->second.median_ns >= 0 ? it->second.median_ns
                                     : median_of(it->second.cpu_ns);
}

void print_target(FILE *out, const std::map<std::string, Result> &results,
                  const char *what, const char *corolink_name,
                  const char *peer_name, const char *peer_label,
                  double max_fraction, const char *fraction_text) {
    double c = ns_of(results, corolink_name, nullptr);
    double p = ns_of(results, peer_name, nullptr);
    if (c <= 0 || p <= 0) {
        std::fprintf(out, "  %s: not measured in this run\n", what);
        return;
    }
    double fraction = c / p;
    std::fprintf(out,
                 "  %s: corolink %.2f ns vs %s %.2f ns = %.3fx of its time "
                 "(%.2fx faster); target <= %s (%.3fx): %s on this run\n",
                 what, c, peer_label, p, fraction, p / c, fraction_text,
                 max_fraction, fraction <= max_fraction ? "MET" : "NOT met");
}

void print_table(FILE *out, const std::map<std::string, Result> &results) {
    long long reps = 0;
    for (const auto &kv : results)
        reps = std::max(reps, kv.second.repetitions);

    std::size_t label_w = std::strlen("implementation");
    for (const Entry &e : kEntries)
        label_w = std::max(label_w, std::strlen(e.label));

    std::fprintf(out, "\n==== corolink_bench summary ====\n");
    std::fprintf(out, "cpu: %s; compiler: %s %s; build type: %s\n",
                 cpu_model().c_str(),
#if defined(__clang__)
                 "clang",
#else
                 "gcc",
#endif
                 __VERSION__, COROLINK_BENCH_BUILD_TYPE);
    std::fprintf(out,
                 "ns per operation = median CPU time over %lld repetition%s; "
                 "ratio = implementation's time / corolink's time\n\n",
                 reps, reps == 1 ? "" : "s");
    std::fprintf(out, "%-*s  %10s  %s\n", int(label_w), "implementation",
                 "ns/op", "ratio");

    for (const Group &g : kGroups) {
        std::fprintf(out, "-- %s\n", g.title);
        double base = -1;
        std::size_t klen = std::strlen(g.key);
        for (const Entry &e : kEntries)
            if (e.baseline && std::strncmp(e.name, g.key, klen) == 0 &&
                e.name[klen] == '/')
                base = ns_of(results, e.name, nullptr);
        for (const Entry &e : kEntries) {
            if (std::strncmp(e.name, g.key, klen) != 0 || e.name[klen] != '/')
                continue;
            std::string error;
            double ns = ns_of(results, e.name, &error);
            std::fprintf(out, "%-*s  ", int(label_w), e.label);
            if (!error.empty()) {
                std::fprintf(out, "%10s  ERROR: %s\n", "-", error.c_str());
                continue;
            }
            if (ns < 0) {
                std::fprintf(out, "%10s  (not run)\n", "-");
                continue;
            }
            std::fprintf(out, "%10.2f  ", ns);
            if (base > 0)
                std::fprintf(out, "%7.2fx corolink", ns / base);
            else
                std::fprintf(out, "%7s", "-");
            if (e.informational)
                std::fprintf(out, "  (informational)");
            std::fprintf(out, "\n");
        }
    }

    std::fprintf(out, "\nTargets (facts of this run, not assertions):\n");
    // Issue 13's targets (earlier: 1/3 and 1/4).
    print_target(out, results, "switch", "switch/corolink",
                 "switch/boost_fcontext", "boost jump_fcontext round trip",
                 0.27, "0.27");
    print_target(out, results, "create+run+destroy",
                 "create_run_destroy/corolink",
                 "create_run_destroy/boost_fiber_pooled",
                 "boost fiber on pooled_fixedsize_stack", 0.20, "0.20");
    std::fflush(out);
}

} // namespace

int main(int argc, char **argv) {
    // --clbench_iterations=N (ours, taken out before Google Benchmark sees
    // the flags): every benchmark runs exactly N iterations, once, with no
    // summary table. bench/count_instructions.py runs it under callgrind
    // twice, with two values of N, to count instructions per iteration.
    long long fixed = 0;
    std::vector<char *> given;
    for (int i = 1; i < argc; i++) {
        const char *flag = "--clbench_iterations=";
        if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) {
            char *end = nullptr;
            fixed = std::strtoll(argv[i] + std::strlen(flag), &end, 10);
            if (fixed <= 0 || *end) {
                std::fprintf(stderr, "corolink_bench: bad %s\n", argv[i]);
                return 1;
            }
        } else {
            given.push_back(argv[i]);
        }
    }
    // Defaults first, so that the user's flags (parsed later) win.
    std::vector<char *> args;
    args.push_back(argv[0]);
    if (!fixed)
        for (const char *f : kDefaultFlags)
            args.push_back(const_cast<char *>(f));
    for (char *a : given)
        args.push_back(a);
    std::string format = flag_value(args, "benchmark_format");
    std::string color = flag_value(args, "benchmark_color");
    args.push_back(nullptr);

    int n = int(args.size()) - 1;
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data()))
        return 1;

    for (const Entry &e : kEntries) {
        auto *b = benchmark::RegisterBenchmark(e.name, e.fn)->Unit(benchmark::kNanosecond);
        if (fixed)
            b->Iterations(fixed)->Repetitions(1);
    }

    std::map<std::string, Result> results;
    std::unique_ptr<benchmark::BenchmarkReporter> reporter;
    bool console = format.empty() || format == "console";
    if (format == "json") {
        reporter.reset(new Collecting<benchmark::JSONReporter>(&results));
    } else if (format == "csv") {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        reporter.reset(new Collecting<benchmark::CSVReporter>(&results));
#pragma GCC diagnostic pop
    } else {
        if (!console)
            std::fprintf(stderr, "corolink_bench: unknown --benchmark_format=%s, "
                                 "using console\n", format.c_str());
        console = true;
        bool use_color = color == "true" || color == "yes" || color == "1" ||
                         ((color.empty() || color == "auto") && isatty(1));
        reporter.reset(new Collecting<benchmark::ConsoleReporter>(
            &results, use_color ? benchmark::ConsoleReporter::OO_ColorTabular
                                : benchmark::ConsoleReporter::OO_Tabular));
    }

    benchmark::RunSpecifiedBenchmarks(reporter.get());

    bool failed = false;
    for (const auto &kv : results)
        failed |= !kv.second.error.empty();
    // The table goes to stdout next to the console output; with
    // --benchmark_format=json or csv stdout stays machine-readable and the
    // table goes to stderr.
    if (!results.empty() && !fixed)
        print_table(console ? stdout : stderr, results);
    benchmark::Shutdown();
    if (failed) {
        std::fprintf(stderr, "corolink_bench: at least one benchmark failed "
                             "its result check (see ERROR rows)\n");
        return 1;
    }
    return 0;
}
