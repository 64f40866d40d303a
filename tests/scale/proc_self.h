/* What the scale tests read of their own process from /proc: the resident
 * set, the number of kernel mappings and the map-count limit. Plain C, for
 * the C program (scale_park.c) and the C++ suite (stacks_test.cpp). */
#ifndef COROLINK_TESTS_SCALE_PROC_SELF_H
#define COROLINK_TESTS_SCALE_PROC_SELF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* VmRSS of this process in KiB, or -1. */
static inline long proc_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* Lines of /proc/self/maps: the mappings vm.max_map_count counts, or -1. */
static inline long proc_count_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* vm.max_map_count, or the stock 65530 where it cannot be read. */
static inline long proc_max_map_count(void) {
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long v = 65530;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

#endif
