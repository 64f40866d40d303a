#include "common.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace btest {

const char kTrampoline[] = "corolink__trampoline";
const char kCallOn[] = "corolink__call_on";
const char kOntop[] = "corolink__ontop";
const char kGdbSignal[] = "<signal handler called>";

ChildMain child_main_hook = nullptr;

namespace {

Names repeat(const std::string &name, int n) { return Names(n, name); }

Names cat(std::initializer_list<Names> parts) {
    Names out;
    for (const Names &p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

Names depth_frames(int depth, const char *run) {
    return cat({{"bt_point"},
                repeat("bt_descend", depth),
                {"bt_body_depth", kTrampoline, "bt_resumer_depth", run}});
}

Names order_frames(const char *run) {
    return {"bt_point",          "bt_body_order_inner",
            kTrampoline,         "bt_resumer_order_inner",
            "bt_body_order_outer", kTrampoline,
            "bt_resumer_order_outer", "bt_run_order",
            run};
}

std::vector<Expected> make_expectations() {
    std::vector<Expected> v;
    auto add = [&](std::string name, std::vector<Names> points,
                   std::vector<Names> absent = {}, int order = 0,
                   bool stack_check = false) {
        Expected e;
        e.scenario = std::move(name);
        e.points = std::move(points);
        e.absent = std::move(absent);
        e.absent.resize(e.points.size());
        e.order = order;
        e.stack_check = stack_check;
        v.push_back(std::move(e));
    };
    add("depth0", {depth_frames(0, "bt_run_depth0")});
    add("depth1", {depth_frames(1, "bt_run_depth1")});
    add("depth5", {depth_frames(5, "bt_run_depth5")});
    add("depth20", {depth_frames(20, "bt_run_depth20")});
    add("nested", {{"bt_point", "bt_body_c", kTrampoline, "bt_resumer_c",
                    "bt_body_b", kTrampoline, "bt_resumer_b", "bt_body_a",
                    kTrampoline, "bt_resumer_a"}});
    add("switch",
        {{"bt_point", "bt_body_switch", kTrampoline, "bt_resumer_one",
          "bt_run_switch"},
         {"bt_point", "bt_body_switch", kTrampoline, "bt_resumer_two",
          "bt_run_switch"}},
        {{"bt_resumer_two"}, {"bt_resumer_one"}});
    add("parent_stack",
        {{"bt_point", "bt_parent_fn", kCallOn, "bt_body_parent", kTrampoline,
          "bt_resumer_parent"}},
        {}, 0, true);
    add("onstack_plain",
        {{"bt_point", "bt_onstack_fn_plain", kCallOn, "bt_run_onstack_plain"}},
        {}, 0, true);
    add("onstack_co",
        {{"bt_point", "bt_onstack_fn_co", kCallOn, "bt_body_onstack",
          kTrampoline, "bt_resumer_onstack"}},
        {}, 0, true);
    // fn of corolink_resume_with(): called by corolink__ontop from the
    // root frame (not started), then from the body's pending suspend.
    add("resume_with",
        {{"bt_point", "bt_with_fn", kOntop, kTrampoline,
          "bt_resumer_with_fresh", "bt_run_with"},
         {"bt_point", "bt_with_fn", kOntop, "bt_with_wait", "bt_body_with",
          kTrampoline, "bt_resumer_with_suspended", "bt_run_with"}},
        {{"bt_resumer_with_suspended"}, {"bt_resumer_with_fresh"}});
    add("order_up", {order_frames("bt_run_order_up")}, {}, +1);
    add("order_down", {order_frames("bt_run_order_down")}, {}, -1);
    return v;
}

bool counted(const std::string &name, bool gdb) {
    if (gdb)
        return name.rfind("bt_", 0) == 0 || name == kGdbSignal ||
               name == kOntop;
    return name.rfind("bt_", 0) == 0 || name == kTrampoline ||
           name == kCallOn || name == kOntop;
}

} // namespace

const std::vector<Expected> &expectations() {
    static const std::vector<Expected> v = make_expectations();
    return v;
}

const Expected &expectation(const std::string &scenario) {
    for (const Expected &e : expectations())
        if (e.scenario == scenario)
            return e;
    throw std::runtime_error("no expectation for scenario " + scenario);
}

const bt_scenario *find_scenario(const std::string &name) {
    for (int i = 0; i < bt_scenario_count; i++)
        if (name == bt_scenarios[i].name)
            return &bt_scenarios[i];
    return nullptr;
}

std::vector<std::string> scenario_names() {
    std::vector<std::string> names;
    for (int i = 0; i < bt_scenario_count; i++)
        names.emplace_back(bt_scenarios[i].name);
    return names;
}

std::string param_name(const ::testing::TestParamInfo<std::string> &info) {
    return info.param;
}

std::string symbolize(std::uintptr_t pc) {
    Dl_info info;
    void *entry = nullptr;
    int found = dladdr1(reinterpret_cast<void *>(pc), &info, &entry,
                        RTLD_DL_SYMENT);
    const auto *sym = static_cast<const ElfW(Sym) *>(entry);
    if (found == 0 ||
        info.dli_sname == nullptr || sym == nullptr)
        return "??";
    std::uintptr_t start = reinterpret_cast<std::uintptr_t>(info.dli_saddr);
    if (pc < start || (sym->st_size != 0 && pc >= start + sym->st_size))
        return "??";
    return info.dli_sname;
}

Names symbolize_return_addresses(const std::vector<std::uintptr_t> &pcs) {
    Names names;
    for (std::uintptr_t pc : pcs)
        names.push_back(pc == 0 ? "??" : symbolize(pc - 1));
    return names;
}

std::string join(const Names &names) {
    std::ostringstream s;
    for (size_t i = 0; i < names.size(); i++)
        s << "\n    #" << i << " " << names[i];
    return s.str();
}

::testing::AssertionResult frames_match(const Names &frames,
                                        const Names &expected_in,
                                        const Names &absent, bool gdb) {
    Names expected;
    for (const std::string &n : expected_in)
        expected.push_back(gdb && (n == kTrampoline || n == kCallOn)
                               ? std::string(kGdbSignal)
                               : n);
    auto fail = [&](const std::string &why) {
        return ::testing::AssertionFailure()
               << why << "\n  expected (frames named bt_* and the library's "
               << "assembly frames, then main):" << join(expected)
               << "\n  backtrace:" << join(frames);
    };
    auto first = std::find(frames.begin(), frames.end(), "bt_point");
    if (first == frames.end())
        return fail("bt_point is not in the backtrace");
    Names seen;
    auto it = first;
    for (; it != frames.end() && seen.size() < expected.size(); ++it)
        if (counted(*it, gdb))
            seen.push_back(*it);
    if (seen != expected)
        return fail("the frames from bt_point outwards differ");
    // Every frame up to the scenario's outermost one has a name: the
    // library's own frames between them are exported functions.
    for (auto f = first; f != it; ++f)
        if (*f == "??")
            return fail("an unnamed frame lies among the scenario's frames");
    if (std::find(it, frames.end(), "main") == frames.end())
        return fail("main does not follow the scenario's frames");
    for (const std::string &a : absent)
        if (std::find(frames.begin(), frames.end(), a) != frames.end())
            return fail(a + " must not be in the backtrace");
    if (std::getenv("BT_SHOW_FRAMES") != nullptr)
        std::printf("backtrace:%s\n", join(frames).c_str());
    return ::testing::AssertionSuccess();
}

namespace {
CaptureFn g_capture;
std::vector<std::vector<std::uintptr_t>> *g_captures;

extern "C" void capture_hook(int index) {
    if (index >= static_cast<int>(g_captures->size()))
        g_captures->resize(index + 1);
    (*g_captures)[index].reserve(512);
    g_capture((*g_captures)[index]);
}
} // namespace

std::vector<std::vector<std::uintptr_t>> run_with_capture(
    const std::string &scenario, CaptureFn capture) {
    const bt_scenario *s = find_scenario(scenario);
    const Expected &e = expectation(scenario);
    std::vector<std::vector<std::uintptr_t>> captures;
    EXPECT_NE(s, nullptr) << scenario;
    if (s == nullptr)
        return captures;
    g_capture = capture;
    g_captures = &captures;
    bt_hook = capture_hook;
    int points = bt_run_scenario(s);
    bt_hook = nullptr;
    EXPECT_EQ(points, s->points);
    EXPECT_EQ(captures.size(), e.points.size());
    check_observations(e, bt_order_observed, bt_stack_check);
    return captures;
}

void check_observations(const Expected &e, int order, int stack_check) {
    if (e.order != 0) {
        EXPECT_EQ(order, e.order)
            << "the inner coroutine's stack was not on the intended side "
               "of its resumer's stack (+1: above, -1: below)";
    }
    if (e.stack_check) {
        EXPECT_EQ(stack_check, 1)
            << "fn did not run on the stack it should have";
    }
}

void check_in_process(const std::string &scenario, CaptureFn capture) {
    const Expected &e = expectation(scenario);
    auto captures = run_with_capture(scenario, capture);
    for (size_t i = 0; i < captures.size() && i < e.points.size(); i++) {
        Names names = symbolize_return_addresses(captures[i]);
        EXPECT_TRUE(frames_match(names, e.points[i], e.absent[i]))
            << "scenario " << scenario << ", point " << i;
    }
}

} // namespace btest
