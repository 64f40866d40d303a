/*
 * Runs the scenarios (all, or those named by the arguments) for a debugger:
 * the gdb suite sets a breakpoint on bt_point and checks `bt` there.
 * main() calls the scenarios directly, so gdb's backtrace must reach it.
 */
#include <stdio.h>
#include <string.h>

#include "scenario.h"

int bt_helper_selected(int argc, char **argv, const char *name) {
    if (argc <= 1)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv) {
    int failed = 0;
    for (int i = 0; i < bt_scenario_count; i++) {
        const struct bt_scenario *s = &bt_scenarios[i];
        if (!bt_helper_selected(argc, argv, s->name))
            continue;
        int points = bt_run_scenario(s);
        if (points != s->points) {
            fprintf(stderr, "scenario %s: %d points, expected %d\n", s->name,
                    points, s->points);
            failed = 1;
        }
    }
    bt_sink += failed;
    return failed;
}
