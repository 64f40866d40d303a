/* A program that does not use corolink: the gdb plugin must say so. */
#include <stdio.h>

__attribute__((noinline)) void test_ready(void) { __asm__ volatile("" ::: "memory"); }

int main(void) {
    test_ready();
    puts("no coroutines here");
    return 0;
}
