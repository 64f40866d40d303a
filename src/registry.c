/* The registry of live coroutines, and the debug-offsets table through
 * which debuggers and profilers read it without DWARF type information
 * (from a live process or a core file; the library and the program may be
 * stripped). The table's layout is a stable interface, documented in
 * unwind-info/debug-table.md. */
#include "internal.h"
#include "debug_table.h"
#include "probes.h"

#include <stddef.h>

#if !CL_FREESTANDING
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#endif

/* ---- the registry ---- */

/* Slots come in chunks, linked from cl_registry.chunks; chunks are never
 * freed (a slot is 8 bytes; a process that once had a million coroutines
 * keeps 8 MB of slots). */
#define CHUNK_SLOTS 4096
struct cl_chunk {
    struct cl_chunk *next;
    uint64_t nslots;
    uintptr_t slots[];
};

struct cl_registry {
    struct cl_chunk *chunks; /* newest first */
    uint64_t nchunks;
};
static struct cl_registry cl_registry __attribute__((unused));

#if CL_REGISTRY

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *global_free; /* free slots of exited threads (reg_lock) */
static pthread_key_t reg_key;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void on_thread_exit(void *arg) {
    (void)arg;
    cl_reg_thread_exit();
}
static void make_key(void) { pthread_key_create(&reg_key, on_thread_exit); }

/* Takes up to `want` slots from the global free list (reg_lock held);
 * returns the list, NULL-terminated, or NULL. */
static uintptr_t *take_global(size_t want) {
    uintptr_t *head = global_free, *last = NULL, *p = head;
    for (size_t i = 0; p != NULL && i < want; i++) {
        last = p;
        p = (uintptr_t *)(*p & ~CL_SLOT_FREE);
    }
    if (last == NULL)
        return NULL;
    global_free = p;
    *last = CL_SLOT_FREE; /* end of the taken list */
    return head;
}

uintptr_t *cl_reg_refill(void) {
    pthread_once(&reg_once, make_key);
    /* The thread-exit hook hands the thread's free slots back. */
    pthread_setspecific(reg_key, (void *)1);
    pthread_mutex_lock(&reg_lock);
    uintptr_t *list = take_global(256);
    if (list == NULL) {
        struct cl_chunk *c =
            malloc(sizeof *c + CHUNK_SLOTS * sizeof(uintptr_t));
        if (c == NULL) {
            pthread_mutex_unlock(&reg_lock);
            return NULL;
        }
        c->nslots = CHUNK_SLOTS;
        for (size_t i = 0; i + 1 < CHUNK_SLOTS; i++)
            c->slots[i] = (uintptr_t)&c->slots[i + 1] | CL_SLOT_FREE;
        c->slots[CHUNK_SLOTS - 1] = CL_SLOT_FREE;
        c->next = cl_registry.chunks;
        /* Published whole: a debugger stopping the process at any point
         * sees either no chunk or an initialised one. */
        __atomic_store_n(&cl_registry.chunks, c, __ATOMIC_RELEASE);
        cl_registry.nchunks++;
        list = c->slots;
    }
    pthread_mutex_unlock(&reg_lock);
    /* The first slot is the caller's; the rest become the thread's list. */
    cl_thread.reg_free = (uintptr_t *)(*list & ~CL_SLOT_FREE);
    return list;
}

void cl_reg_thread_exit(void) {
    uintptr_t *head = cl_thread.reg_free;
    if (head == NULL)
        return;
    uintptr_t *last = head;
    while ((*last & ~CL_SLOT_FREE) != 0)
        last = (uintptr_t *)(*last & ~CL_SLOT_FREE);
    pthread_mutex_lock(&reg_lock);
    *last = (uintptr_t)global_free | CL_SLOT_FREE;
    global_free = head;
    pthread_mutex_unlock(&reg_lock);
    cl_thread.reg_free = NULL;
}

#endif /* CL_REGISTRY */

/* ---- suspend timestamps ---- */

unsigned corolink__debug_flags;

#if !CL_FREESTANDING
/* CLOCK_MONOTONIC_COARSE: the kernel's last tick (resolution typically
 * 4 ms), read from the vDSO without touching the clock source: about 10 ns
 * per suspend here against about 40 for CLOCK_MONOTONIC (bench/README.md).
 * Plenty for "how long has it been waiting". */
void corolink__stamp(corolink *co) {
    struct timespec ts;
#if defined(CLOCK_MONOTONIC_COARSE)
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else /* Windows (winpthreads): the performance counter */
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    co->suspend_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void corolink_debug_timestamps(bool enable) {
    unsigned want = enable ? COROLINK__DEBUG_TIMESTAMPS : 0u;
    unsigned was = __atomic_exchange_n(&corolink__debug_flags, want,
                                       __ATOMIC_RELAXED);
    if (was != want)
        cl_probes_hold(enable); /* resumes through the traced resume */
}

/* COROLINK_TIMESTAMPS=1 in the environment turns them on from the start. */
__attribute__((constructor)) static void timestamps_from_env(void) {
    const char *v = getenv("COROLINK_TIMESTAMPS");
    if (v != NULL && v[0] == '1')
        corolink_debug_timestamps(true);
}
#else
void corolink__stamp(corolink *co) { co->suspend_ns = 0; }
void corolink_debug_timestamps(bool enable) { (void)enable; }
#endif

/* ---- the debug-offsets table ---- */

#define OFF(field) ((uint32_t)offsetof(struct corolink, field))


/* Exported (default visibility: it stays in .dynsym of a stripped
 * libcorolink.so) and in a section of its own (tools that lack symbols find
 * it by section name, or by its magic). */
#if CL_WINDOWS
/* PE: a section name of at most 8 bytes is kept in the image's own section
 * table (longer ones only in the COFF string table of some linkers). */
#define CL_DEBUG_SECTION ".clnkdbg"
#else
#define CL_DEBUG_SECTION ".corolink_debug"
#endif
CL_EXPORTED __attribute__((used, section(CL_DEBUG_SECTION)))
const struct corolink_debug_offsets corolink_debug_offsets = {
    .magic = "CLNKDBG",
    .version = 3,
    .size = sizeof(struct corolink_debug_offsets),
    .abi_version = COROLINK_ABI_VERSION,
    .pointer_size = sizeof(void *),
    .control_size = sizeof(struct corolink),
    .off_pc = OFF(hot.pc),
    .off_sp = OFF(hot.sp),
    .off_fp = OFF(hot.fp),
    .off_finished = OFF(hot.finished),
    .off_fn = OFF(hot.fn),
    .off_arg = OFF(hot.arg),
    .off_id = OFF(hot.id),
    .off_name = OFF(name),
    .name_size = COROLINK_NAME_MAX,
    .off_stack_limit = OFF(stack_limit),
    .off_stack_top = OFF(stack_top),
    .off_guard = OFF(guard),
    .off_link_fp = OFF(hot.link_fp),
    .off_link_ra = OFF(hot.link_ra),
    .off_link_sp = OFF(hot.link_sp),
    .off_check = OFF(check),
    .off_create_site = OFF(create_site),
    .off_suspend_ns = OFF(suspend_ns),
    .off_trap_signo = OFF(trap_signo),
    .off_trap_addr = OFF(trap_addr),
    .finished_size = sizeof(((struct corolink *)0)->hot.finished),
    .check_xor = CL_CHECK,
    CL_DT_ADDR_INIT(trampoline, corolink__trampoline),
    CL_DT_ADDR_INIT(trampoline_ret, corolink__trampoline_ret),
    CL_DT_ADDR_INIT(trampoline_end, corolink__trampoline_end),
    .suspended_pc_adjust = -CL_SUSPENDED_PC_ADJUST,
#if CL_REGISTRY
    CL_DT_ADDR_INIT(registry, &cl_registry.chunks),
#else
    .registry = 0,
#endif
    .chunk_off_next = offsetof(struct cl_chunk, next),
    .chunk_off_nslots = offsetof(struct cl_chunk, nslots),
    .chunk_off_slots = offsetof(struct cl_chunk, slots),
    .slot_size = sizeof(uintptr_t),
    .slot_tag_mask = CL_SLOT_FREE | CL_SLOT_POOLED,
    CL_DT_ADDR_INIT(debug_flags, &corolink__debug_flags),
    .clock_id = 6, /* CLOCK_MONOTONIC_COARSE (no <time.h> when freestanding) */
    .target = CL_TARGET_NAME,
    .elf_machine = CL_ELF_MACHINE,
    .dwarf_pc = CL_DWARF_PC,
    .dwarf_sp = CL_DWARF_SP,
    .dwarf_fp = CL_DWARF_FP,
    .dwarf_ra = CL_DWARF_RA,
#ifdef CL_DWARF_FP2
    /* A second frame pointer (ARM32: r11 beside Thumb's r7). */
    .nsaved = 3,
    .saved = {{CL_DWARF_SP, OFF(hot.sp)}, {CL_DWARF_FP, OFF(hot.fp)},
              {CL_DWARF_FP2, OFF(hot.fp11)}},
#else
    .nsaved = 2,
    .saved = {{CL_DWARF_SP, OFF(hot.sp)}, {CL_DWARF_FP, OFF(hot.fp)}},
#endif
#if CL_HIDDEN_RANGE
    CL_DT_ADDR_INIT(hidden_lo, __start_corolink_hidden),
    CL_DT_ADDR_INIT(hidden_hi, __stop_corolink_hidden),
#endif
};
