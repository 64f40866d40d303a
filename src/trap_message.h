/* The stack-overflow line of src/trap.c and src/trap_windows.c:
 *   corolink: coroutine 7 "parser" overflowed its 262144-byte stack (fault
 *   at 0x...); its resume returns COROLINK_TRAP
 * formatted into a fixed buffer without the C library (a signal handler,
 * or a vectored handler on the last pages of a stack, in a thread that may
 * hold the C library's locks); each caller writes it out its own way. */
#ifndef COROLINK_TRAP_MESSAGE_H
#define COROLINK_TRAP_MESSAGE_H

#include "internal.h"

struct cl_line {
    char buf[256];
    size_t len;
};

static inline void cl_line_put(struct cl_line *l, const char *s) {
    while (*s && l->len < sizeof l->buf - 1)
        l->buf[l->len++] = *s++;
}

static inline void cl_line_num(struct cl_line *l, uint64_t v, unsigned base) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n && l->len < sizeof l->buf - 1)
        l->buf[l->len++] = tmp[--n];
}

/* The name, with anything that would break the line escaped as \xNN. */
static inline void cl_line_name(struct cl_line *l, const char *name) {
    for (size_t i = 0; i < COROLINK_NAME_MAX && name[i]; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            char esc[5] = {'\\', 'x', "0123456789abcdef"[c >> 4],
                           "0123456789abcdef"[c & 15], 0};
            cl_line_put(l, esc);
        } else {
            char one[2] = {(char)c, 0};
            cl_line_put(l, one);
        }
    }
}

/* The whole line, `size` being the stack's size as the message gives it;
 * always ends in a newline (cut short if need be). */
static inline void cl_overflow_line(struct cl_line *l, const struct corolink *co,
                             uint64_t size, void *addr) {
    l->len = 0;
    cl_line_put(l, "corolink: coroutine ");
    cl_line_num(l, co->hot.id, 10);
    cl_line_put(l, " \"");
    cl_line_name(l, co->name);
    cl_line_put(l, "\" overflowed its ");
    cl_line_num(l, size, 10);
    cl_line_put(l, "-byte stack (fault at 0x");
    cl_line_num(l, (uintptr_t)addr, 16);
    cl_line_put(l, "); its resume returns COROLINK_TRAP\n");
    if (l->buf[l->len - 1] != '\n')
        l->buf[l->len - 1] = '\n'; /* truncated: still one line */
}

#endif
