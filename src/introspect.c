/* In-process introspection: backtraces of suspended coroutines
 * (corolink_backtrace) and the dump of every live coroutine (corolink_dump).
 *
 * Backtraces. A suspended coroutine is unwound from the registers its
 * suspend saved: pc = co->pc - CL_SUSPENDED_PC_ADJUST (the switch-out,
 * which still runs under the body's own unwind rows), sp = co->sp, frame
 * pointer = co->fp (see unwind-info/README.md, "Suspended coroutines").
 * The walk stops before the root frame, corolink__trampoline: past it, the
 * link_* fields describe a resumer that has moved on since. Two unwinders:
 *
 *  - libunwind's DWARF stepper (unw_init_local2/unw_step), loaded with
 *    dlopen("libunwind.so.8", RTLD_LOCAL) at the first call. Never linked:
 *    libunwind.so exports its own _Unwind_* and backtrace(), which would
 *    take over the C++ exception machinery of every program linked with
 *    libcorolink. RTLD_LOCAL keeps its symbols out of the global scope.
 *  - a frame-pointer walk from co->fp, each record {saved fp, return
 *    address} checked to lie in the coroutine's stack above the previous
 *    one. Used when libunwind cannot be loaded or fails at its first step,
 *    when COROLINK_BACKTRACE=fp is set in the environment (read at every
 *    corolink_backtrace() call, once per corolink_dump()), and always in
 *    the freestanding build (no C library, no dlopen).
 *
 * The out-of-line suspend (COROLINK_NO_INLINE callers) is a frame of its
 * own: its frame is left out so that the list starts, as with the inline
 * switch, in the function that called corolink_suspend().
 *
 * The dump reads the registry through the exported debug-offsets table,
 * as a debugger does (registry.c keeps the registry itself static), so
 * that this file depends on the table's frozen layout only.
 */
#include "internal.h"
#include "debug_table.h"

#if !CL_FREESTANDING
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if CL_WINDOWS
#include <windows.h>
#else
#include <dlfcn.h>
#include <ucontext.h>
#endif
#endif

/* End of the trampoline's code (the .S file). */

/* Frames walked at most, whatever max is. */
#define CL_BT_MAX_STEPS 1024

static inline bool in_trampoline(uintptr_t pc) {
    return pc >= (uintptr_t)corolink__trampoline &&
           pc < (uintptr_t)corolink__trampoline_end;
}

/* Suspended in the out-of-line corolink_suspend() (its resume point is
 * corolink__suspend_resumed): its own frame is then the innermost. */
static bool suspended_out_of_line(const struct corolink *co) {
    return co->hot.pc == (void *)corolink__suspend_resumed;
}

/* Where a walk stores its frames: the first `skip` are dropped, then up to
 * `max` are kept. */
struct bt_sink {
    void **pcs;
    int max;
    int n;
    int skip;
};

/* Stores pc; false once the sink is full. */
static bool sink_put(struct bt_sink *s, uintptr_t pc) {
    if (s->skip > 0) {
        s->skip--;
        return true;
    }
    if (s->n >= s->max)
        return false;
    s->pcs[s->n++] = (void *)pc;
    return s->n < s->max;
}

/* A frame record: {saved fp, return address} at fp (x86-64, AArch64,
 * i686), unless the target's header says where its records are (RISC-V:
 * below s0, at s0 - 16; ARM32: gcc's ARM-state record, the return address
 * at fp and the saved fp at fp - 4, in r11, which a suspended coroutine
 * keeps in co->fp11). */
#ifndef CL_RECORD_FP
#define CL_RECORD_FP(co) ((uintptr_t)(co)->hot.fp)
#define CL_RECORD_NEXT(fp) (((const uintptr_t *)(fp))[0])
#define CL_RECORD_RA(fp) (((const uintptr_t *)(fp))[1])
#define CL_RECORD_LO 0     /* bytes of the record below fp */
#define CL_RECORD_HI (2 * sizeof(uintptr_t)) /* bytes from fp to its end */
#define CL_RECORD_ALIGN sizeof(uintptr_t)
#endif

/* The frame-pointer walk. Every record must lie in [stack_limit, co) and
 * above the previous one; the walk ends at the record whose return address
 * is in the trampoline (the body's). */
static void bt_frame_pointers(const struct corolink *co, struct bt_sink *s) {
    uintptr_t lo = (uintptr_t)co->stack_limit, hi = (uintptr_t)co;
    uintptr_t fp = CL_RECORD_FP(co), below = (uintptr_t)co->hot.sp;
    if (!sink_put(s, (uintptr_t)co->hot.pc - CL_SUSPENDED_PC_ADJUST))
        return;
    for (int step = 0; step < CL_BT_MAX_STEPS; step++) {
        if (fp < below + CL_RECORD_LO || fp < lo + CL_RECORD_LO ||
            fp > hi - CL_RECORD_HI || (fp & (CL_RECORD_ALIGN - 1)) != 0)
            return;
        uintptr_t ra = cl_strip_ra(CL_RECORD_RA(fp));
        if (ra == 0 || in_trampoline(ra))
            return;
        if (!sink_put(s, ra))
            return;
        uintptr_t next = CL_RECORD_NEXT(fp);
        if (next <= fp)
            return;
        below = fp + CL_RECORD_HI;
        fp = next;
    }
}

/* The unwinder a backtrace uses. */
enum { BT_AUTO, BT_FP };

#if !CL_FREESTANDING

#if CL_WINDOWS
/* ---- Windows: the system's unwinder ---- */

/* RtlVirtualUnwind from the registers the suspend saved: pc inside the
 * switch-out (still the body's frame: rsp and rbp are the body's until the
 * switch loads the resumer's), rsp = co->sp, rbp = co->fp. The body
 * declared every other register clobbered across the switch, so the
 * values the unwind codes restore are irrelevant to the walk; only rsp,
 * rbp and rip matter. Returns false if the first step fails. */
static bool bt_seh(const struct corolink *co, struct bt_sink *s) {
    CONTEXT ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.Rip = (DWORD64)(uintptr_t)co->hot.pc - CL_SUSPENDED_PC_ADJUST;
    ctx.Rsp = (DWORD64)(uintptr_t)co->hot.sp;
    ctx.Rbp = (DWORD64)(uintptr_t)co->hot.fp;
    struct bt_sink saved = *s;
    uint64_t lo = (uint64_t)(uintptr_t)co->stack_limit;
    uint64_t hi = (uint64_t)(uintptr_t)co;
    for (int step = 0; step < CL_BT_MAX_STEPS; step++) {
        uintptr_t ip = (uintptr_t)ctx.Rip;
        if (ip == 0 || in_trampoline(ip) || ctx.Rsp < lo || ctx.Rsp > hi)
            break;
        if (!sink_put(s, ip))
            break;
        DWORD64 image;
        PRUNTIME_FUNCTION fn = RtlLookupFunctionEntry(ctx.Rip, &image, NULL);
        if (fn == NULL) {
            if (step == 0) {
                *s = saved;
                return false;
            }
            break;
        }
        void *handler_data;
        DWORD64 frame;
        RtlVirtualUnwind(UNW_FLAG_NHANDLER, image, ctx.Rip, fn, &ctx,
                         &handler_data, &frame, NULL);
    }
    return true;
}

#else
/* ---- libunwind, loaded on demand ---- */

/* unw_cursor_t is UNW_TDEP_CURSOR_LEN words (127 on x86-64, 250 on
 * AArch64); room to spare. unw_context_t is a ucontext_t. */
typedef struct {
    _Alignas(16) uint64_t opaque[512];
} cl_unw_cursor;
typedef int (*unw_init_local_fn)(cl_unw_cursor *, ucontext_t *);
typedef int (*unw_init_local2_fn)(cl_unw_cursor *, ucontext_t *, int);
typedef int (*unw_step_fn)(cl_unw_cursor *);
/* unw_word_t: a word of the target (uint64_t on 64-bit targets, uint32_t
 * on i686). */
typedef int (*unw_get_reg_fn)(cl_unw_cursor *, int, uintptr_t *);
#define CL_UNW_INIT_SIGNAL_FRAME 1 /* first pc is exact, not a return address */

static struct {
    bool ok;
    unw_init_local_fn init_local;
    unw_init_local2_fn init_local2; /* NULL before libunwind 1.3 */
    unw_step_fn step;
    unw_get_reg_fn get_reg;
} unw;
static pthread_once_t unw_once = PTHREAD_ONCE_INIT;

static void unw_load(void) {
    void *h = dlopen("libunwind.so.8", RTLD_LOCAL | RTLD_LAZY);
    if (h == NULL)
        return;
    /* The library's own symbol names: <libunwind.h> maps unw_* to these
     * (_UL = local-only unwinding). */
    unw.init_local = (unw_init_local_fn)dlsym(h, CL_UNW_SYM("init_local"));
    unw.init_local2 = (unw_init_local2_fn)dlsym(h, CL_UNW_SYM("init_local2"));
    unw.step = (unw_step_fn)dlsym(h, CL_UNW_SYM("step"));
    unw.get_reg = (unw_get_reg_fn)dlsym(h, CL_UNW_SYM("get_reg"));
    if (unw.init_local == NULL || unw.step == NULL || unw.get_reg == NULL) {
        dlclose(h);
        return;
    }
    unw.ok = true; /* published by pthread_once */
}

/* libunwind's DWARF stepper. Returns false if it failed before its first
 * step (the caller falls back to frame pointers), true otherwise. */
static bool bt_libunwind(const struct corolink *co, struct bt_sink *s) {
    ucontext_t uc;
    memset(&uc, 0, sizeof uc);
    cl_uc_set_frame(&uc, (uintptr_t)co->hot.pc - CL_SUSPENDED_PC_ADJUST,
                    (uintptr_t)co->hot.sp, (uintptr_t)co->hot.fp);
#ifdef CL_DWARF_FP2
    cl_uc_set_fp2(&uc, (uintptr_t)co->hot.fp11); /* ARM32: r11 too */
#endif
    cl_unw_cursor cursor;
    int rc = unw.init_local2
                 ? unw.init_local2(&cursor, &uc, CL_UNW_INIT_SIGNAL_FRAME)
                 : unw.init_local(&cursor, &uc);
    if (rc < 0)
        return false;
    struct bt_sink saved = *s;
    uint64_t lo = (uint64_t)(uintptr_t)co->stack_limit;
    uint64_t hi = (uint64_t)(uintptr_t)co;
    for (int step = 0; step < CL_BT_MAX_STEPS; step++) {
        uintptr_t ip, sp;
        if (unw.get_reg(&cursor, CL_UNW_REG_IP, &ip) < 0 ||
            unw.get_reg(&cursor, CL_UNW_REG_SP, &sp) < 0)
            break;
        /* The root frame, or off the coroutine's stack: done. */
        if (ip == 0 || in_trampoline((uintptr_t)ip) || sp < lo || sp > hi)
            break;
        if (!sink_put(s, (uintptr_t)ip))
            break;
        if (unw.step(&cursor) <= 0) {
            if (step == 0) {
                *s = saved;
                return false;
            }
            break;
        }
    }
    return true;
}

#endif /* CL_WINDOWS */

static int bt_mode_from_env(void) {
    const char *v = getenv("COROLINK_BACKTRACE");
    return v != NULL && strcmp(v, "fp") == 0 ? BT_FP : BT_AUTO;
}

#endif /* !CL_FREESTANDING */

/* The backtrace of a suspended coroutine. */
static int bt_suspended(const struct corolink *co, void **pcs, int max,
                        int mode) {
    struct bt_sink s = {pcs, max, 0, suspended_out_of_line(co) ? 1 : 0};
#if !CL_FREESTANDING
    if (mode != BT_FP) {
#if CL_WINDOWS
        if (bt_seh(co, &s))
            return s.n;
#else
        pthread_once(&unw_once, unw_load);
        if (unw.ok && bt_libunwind(co, &s))
            return s.n;
#endif
    }
#else
    (void)mode;
#endif
    bt_frame_pointers(co, &s);
    return s.n;
}

/* The state as corolink_state() has it; 0 pcs for all but suspended. */
static int bt_checked(const corolink *co, void **pcs, int max, int mode) {
    if (co == NULL || max < 0 || (pcs == NULL && max > 0))
        return COROLINK_EINVAL;
    if (co->check != ((uintptr_t)co ^ CL_CHECK))
        return COROLINK_EINVAL;
    if (co->hot.finished)
        return 0;
    void *pc = co->hot.pc;
    if (pc == NULL)
        return COROLINK_ERUNNING;
    if (pc == (void *)corolink__trampoline || max == 0)
        return 0;
    return bt_suspended(co, pcs, max, mode);
}

int corolink_backtrace(const corolink *co, void **pcs, int max) {
#if !CL_FREESTANDING
    int mode = co != NULL ? bt_mode_from_env() : BT_AUTO;
#else
    int mode = BT_FP;
#endif
    return bt_checked(co, pcs, max, mode);
}

#if !CL_FREESTANDING

/* ---- the dump ---- */

#if CL_REGISTRY


/* Frames kept per coroutine in a dump (one more is asked for, to tell a
 * truncated stack). */
#define DUMP_FRAMES 100

struct dump_entry {
    const struct corolink *co;
    uint64_t id;
    int state;      /* COROLINK_STATE_* */
    uint32_t stack; /* suspended: index of its stack in dump_stacks */
};

/* A distinct stack: frames pcs[off .. off+len) of the arena. */
struct dump_stack {
    size_t off;
    uint32_t len;
    bool truncated;
    uint64_t hash;
    size_t count;     /* coroutines with it */
    uint64_t min_id;  /* for a stable order among equal counts */
    size_t first;     /* in the grouped order: first entry */
};

struct dump {
    struct dump_entry *e;
    size_t n, cap;
    struct dump_stack *st;
    size_t nst, capst;
    uintptr_t *arena;
    size_t narena, caparena;
    uint32_t *table; /* open addressing: stack index + 1, 0 = empty */
    size_t tcap;     /* power of two */
};

static bool grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (q == NULL)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static uint64_t hash_pcs(const uintptr_t *pcs, size_t n, bool truncated) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 2 + truncated);
    for (size_t i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

static bool table_rehash(struct dump *d, size_t cap) {
    uint32_t *t = calloc(cap, sizeof *t);
    if (t == NULL)
        return false;
    for (size_t i = 0; i < d->nst; i++) {
        size_t j = (size_t)d->st[i].hash & (cap - 1);
        while (t[j] != 0)
            j = (j + 1) & (cap - 1);
        t[j] = (uint32_t)(i + 1);
    }
    free(d->table);
    d->table = t;
    d->tcap = cap;
    return true;
}

/* The index of the stack pcs[0..n) in d->st, added if new; -1: no memory. */
static long intern_stack(struct dump *d, const uintptr_t *pcs, size_t n,
                         bool truncated) {
    if ((d->nst + 1) * 2 > d->tcap &&
        !table_rehash(d, d->tcap ? d->tcap * 2 : 1024))
        return -1;
    uint64_t h = hash_pcs(pcs, n, truncated);
    size_t j = (size_t)h & (d->tcap - 1);
    for (; d->table[j] != 0; j = (j + 1) & (d->tcap - 1)) {
        struct dump_stack *s = &d->st[d->table[j] - 1];
        if (s->hash == h && s->len == n && s->truncated == truncated &&
            memcmp(d->arena + s->off, pcs, n * sizeof *pcs) == 0)
            return (long)(d->table[j] - 1);
    }
    if (!grow((void **)&d->st, &d->capst, d->nst + 1, sizeof *d->st) ||
        !grow((void **)&d->arena, &d->caparena, d->narena + n,
              sizeof *d->arena))
        return -1;
    memcpy(d->arena + d->narena, pcs, n * sizeof *pcs);
    d->st[d->nst] = (struct dump_stack){
        .off = d->narena, .len = (uint32_t)n, .truncated = truncated,
        .hash = h, .min_id = UINT64_MAX};
    d->narena += n;
    d->table[j] = (uint32_t)(d->nst + 1);
    return (long)d->nst++;
}

static int cmp_entry_id(const void *a, const void *b) {
    uint64_t x = ((const struct dump_entry *)a)->id;
    uint64_t y = ((const struct dump_entry *)b)->id;
    return (x > y) - (x < y);
}

/* Stacks: most coroutines first, then lowest id. */
struct stack_key {
    size_t count;
    uint64_t min_id;
    uint32_t index;
};
static int cmp_stack(const void *a, const void *b) {
    const struct stack_key *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return (x->min_id > y->min_id) - (x->min_id < y->min_id);
}

#if !CL_WINDOWS
/* The C++ runtime's demangler, when it is loaded. */
extern char *__cxa_demangle(const char *, char *, size_t *, int *)
    __attribute__((weak));

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Prints "fn+0x1c (module)" for a code address; `ret`: pc is a return
 * address (looked up at pc - 1, which is inside the call). */
#endif

#if CL_WINDOWS
/* Windows: "module+0x1c" (PE images carry no dynamic symbol table to name
 * functions from; a debugger or addr2line does that offline). */
static void print_symbol(FILE *out, uintptr_t pc, bool ret) {
    HMODULE mod;
    char path[MAX_PATH];
    uintptr_t at = ret ? pc - 1 : pc;
    if (pc == 0 ||
        !GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCSTR)at, &mod) ||
        GetModuleFileNameA(mod, path, sizeof path) == 0) {
        fputs("??", out);
        return;
    }
    const char *name = strrchr(path, '\\');
    fprintf(out, "?? (%s+%#lx)", name ? name + 1 : path,
            (unsigned long)(pc - (uintptr_t)mod));
}
#else
static void print_symbol(FILE *out, uintptr_t pc, bool ret) {
    Dl_info info;
    if (pc == 0 || dladdr((void *)(ret ? pc - 1 : pc), &info) == 0) {
        fputs("??", out);
        return;
    }
    const char *module = info.dli_fname ? base_name(info.dli_fname) : "??";
    if (module[0] == '\0')
        module = "main program";
    if (info.dli_sname != NULL && info.dli_saddr != NULL) {
        char *demangled = NULL;
        if (__cxa_demangle && info.dli_sname[0] == '_' &&
            info.dli_sname[1] == 'Z') {
            int status = 0;
            demangled = __cxa_demangle(info.dli_sname, NULL, NULL, &status);
        }
        fprintf(out, "%s+%#lx (%s)", demangled ? demangled : info.dli_sname,
                (unsigned long)(pc - (uintptr_t)info.dli_saddr), module);
        free(demangled);
    } else {
        fprintf(out, "?? (%s+%#lx)", module,
                (unsigned long)(pc - (uintptr_t)info.dli_fbase));
    }
}
#endif

static const char *finished_how(uint32_t finished) {
    switch (finished) {
    case CL_FINISHED_RETURNED: return "returned";
    case CL_FINISHED_TRAPPED: return "trapped";
    case CL_FINISHED_THREW: return "threw";
    case CL_FINISHED_UNWOUND: return "unwound";
    case CL_FINISHED_RESET: return "reset";
    default: return "?";
    }
}

static const char *state_name(int state) {
    switch (state) {
    case COROLINK_STATE_CREATED: return "created, not started";
    case COROLINK_STATE_RUNNING: return "running";
    case COROLINK_STATE_SUSPENDED: return "suspended";
    default: return "finished";
    }
}

/* "ids 4-9 12 15-40 ... (N more)": ids ascending, runs collapsed, at most
 * a line's worth. */
static void print_ids(FILE *out, const struct dump_entry *e, size_t n) {
    enum { MAX_RUNS = 16 };
    fputs(n == 1 ? "id" : "ids", out);
    size_t i = 0;
    int runs = 0;
    while (i < n && runs < MAX_RUNS) {
        size_t j = i;
        while (j + 1 < n && e[j + 1].id == e[j].id + 1)
            j++;
        if (j == i)
            fprintf(out, " %llu", (unsigned long long)e[i].id);
        else
            fprintf(out, " %llu-%llu", (unsigned long long)e[i].id,
                    (unsigned long long)e[j].id);
        i = j + 1;
        runs++;
    }
    if (i < n)
        fprintf(out, " ... (%zu more)", n - i);
}

/* The distinct names (and creation sites) of a group, with counts: at most
 * a few, then how many others. */
enum { MAX_DISTINCT = 8 };

static void print_names(FILE *out, const struct dump_entry *e, size_t n) {
    const char *names[MAX_DISTINCT];
    size_t counts[MAX_DISTINCT], nd = 0, others = 0, unnamed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *nm = e[i].co->name;
        if (nm[0] == '\0') {
            unnamed++;
            continue;
        }
        size_t k = 0;
        while (k < nd && strncmp(names[k], nm, COROLINK_NAME_MAX) != 0)
            k++;
        if (k < nd)
            counts[k]++;
        else if (nd < MAX_DISTINCT)
            names[nd] = nm, counts[nd++] = 1;
        else
            others++;
    }
    if (nd == 0)
        return;
    fputs("    names:", out);
    for (size_t k = 0; k < nd; k++) {
        fprintf(out, "%s \"%.*s\"", k ? "," : "", COROLINK_NAME_MAX,
                names[k]);
        if (counts[k] > 1)
            fprintf(out, " x%zu", counts[k]);
    }
    if (others)
        fprintf(out, ", %zu others", others);
    if (unnamed && n > 1)
        fprintf(out, ", unnamed x%zu", unnamed);
    fputc('\n', out);
}

static void print_sites(FILE *out, const struct dump_entry *e, size_t n) {
    uintptr_t sites[MAX_DISTINCT];
    size_t counts[MAX_DISTINCT], nd = 0, others = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t s = (uintptr_t)e[i].co->create_site;
        size_t k = 0;
        while (k < nd && sites[k] != s)
            k++;
        if (k < nd)
            counts[k]++;
        else if (nd < MAX_DISTINCT)
            sites[nd] = s, counts[nd++] = 1;
        else
            others++;
    }
    for (size_t k = 0; k < nd; k++) {
        fprintf(out, "    created at %#lx in ", (unsigned long)sites[k]);
        print_symbol(out, sites[k], true);
        if (nd > 1 || others)
            fprintf(out, " x%zu", counts[k]);
        fputc('\n', out);
    }
    if (others)
        fprintf(out, "    created at %zu other sites\n", others);
}

/* One coroutine that is not suspended: one line, then its creation site. */
static void print_single(FILE *out, const struct dump_entry *e) {
    const struct corolink *co = e->co;
    fprintf(out, "coroutine %llu", (unsigned long long)e->id);
    if (co->name[0])
        fprintf(out, " \"%.*s\"", COROLINK_NAME_MAX, co->name);
    if (e->state == COROLINK_STATE_FINISHED)
        fprintf(out, ": finished (%s)\n", finished_how(co->hot.finished));
    else
        fprintf(out, ": %s\n", state_name(e->state));
    print_sites(out, e, 1);
    fputc('\n', out);
}

static void print_group(FILE *out, const struct dump *d,
                        const struct dump_stack *s,
                        const struct dump_entry *e) {
    size_t n = s->count;
    if (n == 1) {
        fprintf(out, "coroutine %llu", (unsigned long long)e->id);
        if (e->co->name[0])
            fprintf(out, " \"%.*s\"", COROLINK_NAME_MAX, e->co->name);
        fputs(": suspended\n", out);
    } else {
        fprintf(out, "%zu coroutines with this stack: ", n);
        print_ids(out, e, n);
        fputs("\n    state: suspended\n", out);
        print_names(out, e, n);
    }
    print_sites(out, e, n);
    const uintptr_t *pcs = d->arena + s->off;
    if (s->len == 0)
        fputs("    (no frames)\n", out);
    for (uint32_t i = 0; i < s->len; i++) {
        fprintf(out, "    #%u %#018lx in ", i, (unsigned long)pcs[i]);
        print_symbol(out, pcs[i], i > 0);
        fputc('\n', out);
    }
    if (s->truncated)
        fputs("    ... (more frames)\n", out);
    fputc('\n', out);
}

static void dump_free(struct dump *d) {
    free(d->e);
    free(d->st);
    free(d->arena);
    free(d->table);
}

/* Collects the registry's live coroutines in d->e (in slot order). */
static int collect(struct dump *d, const struct corolink_debug_offsets *t) {
    const char *chunk = __atomic_load_n(
        (const char *const *)(uintptr_t)t->registry, __ATOMIC_ACQUIRE);
    for (; chunk != NULL;
         chunk = *(const char *const *)(chunk + t->chunk_off_next)) {
        uint64_t nslots = *(const uint64_t *)(chunk + t->chunk_off_nslots);
        const uintptr_t *slots =
            (const uintptr_t *)(chunk + t->chunk_off_slots);
        for (uint64_t i = 0; i < nslots; i++) {
            uintptr_t v = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
            if (v == 0 || (v & t->slot_tag_mask) != 0)
                continue;
            const struct corolink *co = (const struct corolink *)v;
            if (co->check != (v ^ t->check_xor))
                continue;
            if (!grow((void **)&d->e, &d->cap, d->n + 1, sizeof *d->e))
                return COROLINK_ENOMEM;
            int state = corolink_state(co);
            d->e[d->n++] = (struct dump_entry){co, co->hot.id, state, 0};
        }
    }
    return 0;
}

/* A suspended coroutine's stack in d->st (its index; -1: no memory).
 *
 * The DWARF unwinder (libunwind) costs tens of microseconds a coroutine,
 * most of it in system calls it makes to check memory and to block
 * signals; a million parked coroutines would take most of a minute. So
 * its result is shared, through `memo`, by coroutines that look alike to
 * the frame-pointer walk, which costs about a microsecond: the same
 * suspend pc and entry function, the same stack and frame pointers
 * relative to their stack tops, and the same frame-pointer chain of
 * return addresses. Such coroutines were suspended at the same point
 * through the same calls, with the same frame layout; the DWARF unwind
 * of the first of them stands for all. */
struct dump_memo {
    struct dump keys; /* its "stacks" are the keys */
    long *stack;      /* stack[k]: the d->st index of key k's unwind */
    size_t cap;
};

static void memo_free(struct dump_memo *m) {
    dump_free(&m->keys);
    free(m->stack);
}

static long dump_stack_of(struct dump *d, struct dump_memo *m,
                          const struct corolink *co, void **frames, int mode) {
    uintptr_t key[4 + DUMP_FRAMES + 1];
    long k = -1;
    if (mode != BT_FP) {
        uintptr_t top = (uintptr_t)co;
        key[0] = (uintptr_t)co->hot.pc;
        key[1] = (uintptr_t)co->hot.fn;
        key[2] = top - (uintptr_t)co->hot.sp;
        key[3] = top - (uintptr_t)co->hot.fp;
        int nfp = bt_checked(co, (void **)&key[4], DUMP_FRAMES + 1, BT_FP);
        if (nfp < 0)
            nfp = 0;
        k = intern_stack(&m->keys, key, 4 + (size_t)nfp, false);
        if (k < 0)
            return -1;
        if (m->keys.st[k].count++ != 0)
            return m->stack[k];
    }
    int n = bt_checked(co, frames, DUMP_FRAMES + 1, mode);
    if (n < 0)
        n = 0;
    bool truncated = n > DUMP_FRAMES;
    if (truncated)
        n = DUMP_FRAMES;
    long s = intern_stack(d, (const uintptr_t *)frames, (size_t)n, truncated);
    if (s >= 0 && k >= 0) {
        if (!grow((void **)&m->stack, &m->cap, (size_t)k + 1,
                  sizeof *m->stack))
            return -1;
        m->stack[k] = s;
    }
    return s;
}

int corolink_dump(FILE *out) {
    if (out == NULL)
        return COROLINK_EINVAL;
    const struct corolink_debug_offsets *t = &corolink_debug_offsets;
    if (memcmp(t->magic, "CLNKDBG", 8) != 0 || t->version < 1 ||
        t->size < sizeof *t || t->registry == 0)
        return COROLINK_ENOTSUP;

    struct dump d = {0};
    int rc = collect(&d, t);
    if (rc != 0) {
        dump_free(&d);
        return rc;
    }
    if (d.n > 1) /* (d.e is NULL when the registry is empty) */
        qsort(d.e, d.n, sizeof *d.e, cmp_entry_id);

    /* The stacks of the suspended ones, interned. */
    int mode = bt_mode_from_env();
    void *frames[DUMP_FRAMES + 1];
    struct dump_memo memo = {{0}, NULL, 0};
    size_t counts[4] = {0};
    for (size_t i = 0; i < d.n; i++) {
        struct dump_entry *e = &d.e[i];
        counts[e->state & 3]++;
        if (e->state != COROLINK_STATE_SUSPENDED)
            continue;
        long s = dump_stack_of(&d, &memo, e->co, frames, mode);
        if (s < 0) {
            dump_free(&d);
            memo_free(&memo);
            return COROLINK_ENOMEM;
        }
        e->stack = (uint32_t)s;
        if (d.st[s].count++ == 0)
            d.st[s].min_id = e->id;
    }

    /* Stacks by count; the suspended entries grouped by stack (ids stay
     * ascending within each group: a stable counting sort). */
    memo_free(&memo);
    size_t nsusp = counts[COROLINK_STATE_SUSPENDED];
    struct stack_key *order = malloc((d.nst ? d.nst : 1) * sizeof *order);
    struct dump_entry *grouped = malloc((nsusp ? nsusp : 1) * sizeof *grouped);
    if (order == NULL || grouped == NULL) {
        free(order);
        free(grouped);
        dump_free(&d);
        return COROLINK_ENOMEM;
    }
    for (size_t i = 0; i < d.nst; i++)
        order[i] = (struct stack_key){d.st[i].count, d.st[i].min_id,
                                      (uint32_t)i};
    qsort(order, d.nst, sizeof *order, cmp_stack);
    size_t at = 0;
    for (size_t i = 0; i < d.nst; i++) {
        d.st[order[i].index].first = at;
        at += d.st[order[i].index].count;
    }
    size_t *fill = calloc(d.nst ? d.nst : 1, sizeof *fill);
    if (fill == NULL) {
        free(order);
        free(grouped);
        dump_free(&d);
        return COROLINK_ENOMEM;
    }
    for (size_t i = 0; i < d.n; i++) {
        if (d.e[i].state != COROLINK_STATE_SUSPENDED)
            continue;
        uint32_t s = d.e[i].stack;
        grouped[d.st[s].first + fill[s]++] = d.e[i];
    }
    free(fill);

    fprintf(out,
            "corolink: %zu live coroutine%s (%zu running, %zu suspended, "
            "%zu created, %zu finished)\n\n",
            d.n, d.n == 1 ? "" : "s", counts[COROLINK_STATE_RUNNING],
            counts[COROLINK_STATE_SUSPENDED], counts[COROLINK_STATE_CREATED],
            counts[COROLINK_STATE_FINISHED]);
    for (size_t i = 0; i < d.n; i++)
        if (d.e[i].state == COROLINK_STATE_RUNNING)
            print_single(out, &d.e[i]);
    for (size_t i = 0; i < d.nst; i++) {
        const struct dump_stack *s = &d.st[order[i].index];
        print_group(out, &d, s, &grouped[s->first]);
    }
    for (size_t i = 0; i < d.n; i++)
        if (d.e[i].state == COROLINK_STATE_CREATED)
            print_single(out, &d.e[i]);
    for (size_t i = 0; i < d.n; i++)
        if (d.e[i].state == COROLINK_STATE_FINISHED)
            print_single(out, &d.e[i]);
    fflush(out);

    size_t live = d.n;
    free(order);
    free(grouped);
    dump_free(&d);
    return live > (size_t)INT32_MAX ? INT32_MAX : (int)live;
}

#else /* !CL_REGISTRY */

int corolink_dump(FILE *out) {
    return out == NULL ? COROLINK_EINVAL : COROLINK_ENOTSUP;
}

#endif /* CL_REGISTRY */
#else  /* CL_FREESTANDING */
/* The header declares corolink_dump(FILE *) to hosted programs, which may
 * link this library too: answer them. (No FILE here: the argument is only
 * passed through.) */
COROLINK_API int corolink_dump(void *out);
COROLINK_API int corolink_dump(void *out) {
    return out ? COROLINK_ENOTSUP : COROLINK_EINVAL;
}
#endif /* !CL_FREESTANDING */
