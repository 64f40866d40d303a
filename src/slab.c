/* Linux: where the stacks of corolink_create() come from, so that a
 * million of them fit a stock kernel's map count (vm.max_map_count,
 * 65530 by default).
 *
 * Three ways to get a stack, chosen per stack by the mode
 * (corolink_stack_mode(), or COROLINK_STACKS in the environment):
 *
 *   guarded   one mapping of its own with a PROT_NONE guard page below:
 *             two kernel mappings per stack (the mprotect splits it).
 *   slab      a slot carved from a slab, one large mapping shared by
 *             hundreds of stacks; each slot is [zone][stack]. Where the
 *             kernel has MADV_GUARD_INSTALL (Linux 6.13), the zone is one
 *             guard page installed in the page tables, which splits no
 *             mapping: an overflow faults, as with a guarded stack.
 *   watched   a slab slot whose zone is not protected (older kernels): 64
 *             KiB of the slab that nothing touches, so that its pages are
 *             never resident. corolink_destroy(), the trap handler and the
 *             tools ask the kernel (mincore) whether any of them was
 *             touched: if so the coroutine overflowed its stack, a fatal
 *             error that names it. The zone catches an overflow by frames
 *             of up to 64 KiB after the fact; a deeper one writes into the
 *             next slot below before anything notices.
 *
 *   slab:    | guard page | zone 0 | stack 0 | zone 1 | stack 1 | ... |
 *             (mprotect'd;  (guard page or 64 KiB watched)   ^ control block
 *              watched slabs only)                             at each top
 *
 * The auto mode (the default) gives guarded stacks while the process's
 * mappings leave a quarter of vm.max_map_count free for the rest of the
 * program (so that a program with a few thousand coroutines sees what it
 * always saw, and gcore, which gdb 13 cannot make read a mapping with
 * installed guard pages, dumps their stacks), then slab stacks: with
 * installed guard pages where the kernel has them, watched ones before. */
#include "internal.h"

#if COROLINK_DEFAULT_STACK && !CL_WINDOWS

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define WATCH_ZONE ((size_t)64 * 1024)
#define SLAB_BYTES ((size_t)128 << 20) /* a slab's slots, about */
#define SLAB_MIN_SLOTS 8u
#define MAX_CLASSES 16
/* Slots whose top pages a fresh carve populates ahead (see carve()). */
#define POPULATE_AHEAD 64u

struct cl_slab {
    struct cl_slab *next, *prev; /* in its class's list of slabs with room */
    struct cl_slab_class *cls;
    char *map;                   /* the mapping (guard page included) */
    size_t map_len;
    char *slots;                 /* slot 0 */
    uint32_t nslots, carved;     /* slots; slots carved at least once */
    uint32_t live, nfree;        /* slots in use; entries of free_idx */
    bool listed;                 /* in cls->avail */
    bool dirty;                  /* free slots used since the last trim */
    uint32_t free_idx[];         /* free slots (once carved), LIFO */
};

struct cl_slab_class {
    size_t size;                 /* the stacks' rounded size */
    size_t zone;                 /* bytes below each stack */
    size_t slot;                 /* zone + size */
    bool watched;
    uint32_t nslots;
    struct cl_slab *avail;       /* slabs with a free or uncarved slot */
};

static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cl_slab_class classes[MAX_CLASSES]; /* slab_lock */
static size_t nclasses;

/* ---- the mode, and what the kernel has ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int stack_mode;         /* COROLINK_STACKS_*; atomic */
static bool have_guard_install;
/* Populating pages ahead: process_madvise(2) takes MADV_POPULATE_WRITE
 * for the calling process (probed at init), and MADV_POPULATE_WRITE works
 * at all. */
static bool process_populate;
static bool populate_ok = true;
static long max_maps = 65530;  /* vm.max_map_count */
static size_t page = 4096;     /* the page size */

/* The map-count budget of guarded stacks (slab_lock): the process's
 * mappings as last counted in /proc/self/maps, the guarded stacks'
 * mappings then and now, and slab creates since a count found no room. */
static long maps_counted;
static long guarded_at_count;
static long guarded_maps;
static unsigned long misses_since_count;

static long read_long_file(const char *path, long fallback) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fallback;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return fallback;
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    return end == buf || v <= 0 ? fallback : v;
}

/* The process's mappings: the lines of /proc/self/maps (-1: unreadable). */
static long count_maps(void) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    static char buf[64 * 1024]; /* slab_lock or init_once */
    long lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p)));
             p++)
            lines++;
    close(fd);
    return n < 0 ? -1 : lines;
}

static int mode_parse(const char *s) {
    if (s == NULL || *s == '\0' || strcmp(s, "auto") == 0)
        return COROLINK_STACKS_AUTO;
    if (strcmp(s, "guarded") == 0)
        return COROLINK_STACKS_GUARDED;
    if (strcmp(s, "slab") == 0)
        return COROLINK_STACKS_SLAB;
    if (strcmp(s, "watched") == 0)
        return COROLINK_STACKS_WATCHED;
    return -1;
}

/* MADV_GUARD_INSTALL works: installed on a page of a throwaway mapping,
 * the page is then unreadable, even to the kernel (a write(2) from it to
 * a pipe fails with EFAULT). Before Linux 6.13 the madvise fails with
 * EINVAL; qemu-user accepts and ignores it, and the page stays readable. */
static bool probe_guard_install(void) {
    bool ok = false;
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    int fds[2];
    if (madvise(p, page, MADV_GUARD_INSTALL) == 0 &&
        pipe2(fds, O_CLOEXEC) == 0) {
        ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, 2 * page);
    return ok;
}

/* process_madvise(MADV_POPULATE_WRITE) of this process; the pidfd is
 * opened for the call (no descriptor is kept: a program may close them
 * all, or fork). */
static long populate_self(struct iovec *iov, size_t n) {
    int fd = (int)syscall(SYS_pidfd_open, (long)getpid(), 0L);
    if (fd < 0)
        return -1;
    long r = syscall(SYS_process_madvise, fd, iov, n, MADV_POPULATE_WRITE, 0);
    close(fd);
    return r;
}

static void init(void) {
    const char *env = getenv("COROLINK_STACKS");
    int m = mode_parse(env);
    if (m < 0) {
        fprintf(stderr,
                "corolink: COROLINK_STACKS=%s is not auto, guarded, slab or "
                "watched; auto is used\n",
                env);
        m = COROLINK_STACKS_AUTO;
    }
    /* Runs before any corolink_stack_mode() can store (ensure_init). */
    __atomic_store_n(&stack_mode, m, __ATOMIC_RELAXED);
    max_maps = read_long_file("/proc/sys/vm/max_map_count", 65530);
    maps_counted = count_maps();
    long ps = sysconf(_SC_PAGESIZE);
    if (ps > 0 && WATCH_ZONE % (size_t)ps == 0)
        page = (size_t)ps;
    have_guard_install = probe_guard_install();
    /* process_madvise(2) with MADV_POPULATE_WRITE: tried on a page. */
    char *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        struct iovec v = {p, page};
        process_populate = populate_self(&v, 1) == (long)page;
        munmap(p, page);
    }
}

static void ensure_init(void) { pthread_once(&init_once, init); }

/* Faults in the top page of `count` slots, `stride` bytes apart from
 * `first`, for the coroutines about to be created on them. Each page is
 * touched by its create anyway (the control block lives there); asking
 * for them together costs one system call instead of a page fault each,
 * which on a virtual machine can be the larger part of a create (measured
 * here: about 1.2 us a page with process_madvise against 13 us a fault;
 * bench/README.md). process_madvise(2) of the calling process accepts
 * MADV_POPULATE_WRITE since Linux 6.13; before, one madvise(2) a page. */
static void populate_tops(char *first, size_t stride, uint32_t count) {
    if (!__atomic_load_n(&populate_ok, __ATOMIC_RELAXED))
        return;
    struct iovec iov[POPULATE_AHEAD];
    for (uint32_t k = 0; k < count; k++) {
        iov[k].iov_base = first + (size_t)k * stride;
        iov[k].iov_len = page;
    }
    if (process_populate && populate_self(iov, count) >= 0)
        return;
    for (uint32_t k = 0; k < count; k++) {
        if (madvise(iov[k].iov_base, page, MADV_POPULATE_WRITE) != 0) {
            if (errno == EINVAL) /* before Linux 5.14 */
                __atomic_store_n(&populate_ok, false, __ATOMIC_RELAXED);
            return;
        }
    }
}

int corolink_stack_mode(int mode) {
    if (mode < -1 || mode > COROLINK_STACKS_WATCHED)
        return COROLINK_EINVAL;
    ensure_init();
    if (mode == -1)
        return __atomic_load_n(&stack_mode, __ATOMIC_RELAXED);
    return __atomic_exchange_n(&stack_mode, mode, __ATOMIC_RELAXED);
}

bool cl_stack_guard_install(void) {
    ensure_init();
    return have_guard_install;
}

/* Guarded stacks may take two more mappings (slab_lock held)? The count
 * is re-read when the estimate has used half the room it left, and, once
 * no room is left, every 65536 misses (the program may have freed some). */
static bool budget_allows(void) {
    long reserve = max_maps / 4;
    if (maps_counted < 0)
        return guarded_maps + 2 + reserve <= max_maps; /* no /proc */
    long est = maps_counted + (guarded_maps - guarded_at_count);
    long room = max_maps - reserve - est;
    long used_since = guarded_maps - guarded_at_count;
    bool recount = room < 2 ? ++misses_since_count >= 65536
                            : used_since > 0 && used_since >= room;
    if (recount) {
        long n = count_maps();
        if (n >= 0) {
            maps_counted = n;
            guarded_at_count = guarded_maps;
            room = max_maps - reserve - n;
        }
        misses_since_count = 0;
    }
    return room >= 2;
}

/* ---- guarded stacks ---- */

int cl_map_guarded(size_t size, corolink_stack *out) {
    ensure_init(); /* the page size */
    if (size > SIZE_MAX - page)
        return COROLINK_ENOMEM;
    char *m = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED)
        return COROLINK_ENOMEM;
    if (mprotect(m, page, PROT_NONE) != 0) {
        munmap(m, size + page);
        return COROLINK_ENOMEM;
    }
    out->limit = m + page;
    out->base = m + page + size;
    out->guard = page;
    return 0;
}

/* ---- slabs ---- */

static struct cl_slab_class *find_class(size_t size, bool watched) {
    for (size_t i = 0; i < nclasses; i++)
        if (classes[i].size == size && classes[i].watched == watched)
            return &classes[i];
    if (nclasses == MAX_CLASSES)
        return NULL;
    struct cl_slab_class *c = &classes[nclasses++];
    c->size = size;
    c->watched = watched;
    c->zone = watched ? WATCH_ZONE : page;
    c->slot = c->zone + size;
    size_t n = SLAB_BYTES / c->slot;
    c->nslots = n < SLAB_MIN_SLOTS ? SLAB_MIN_SLOTS : (uint32_t)n;
    c->avail = NULL;
    return c;
}

static void list_add(struct cl_slab *s) {
    struct cl_slab_class *c = s->cls;
    s->prev = NULL;
    s->next = c->avail;
    if (c->avail)
        c->avail->prev = s;
    c->avail = s;
    s->listed = true;
}

static void list_remove(struct cl_slab *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        s->cls->avail = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->listed = false;
}

/* A new slab for class c (slab_lock held), or NULL. */
static struct cl_slab *new_slab(struct cl_slab_class *c) {
    size_t below = c->watched ? page : 0;
    if ((SIZE_MAX - below) / c->slot < c->nslots)
        return NULL;
    size_t len = below + (size_t)c->nslots * c->slot;
    struct cl_slab *s = malloc(sizeof *s + c->nslots * sizeof(uint32_t));
    if (s == NULL)
        return NULL;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED) {
        free(s);
        return NULL;
    }
    /* No transparent huge pages: a stack touches a page or two at its top,
     * and one huge page would make 2 MiB of slots resident (and the
     * watched zones look touched). */
    madvise(m, len, MADV_NOHUGEPAGE);
    /* Watched slabs: a PROT_NONE page below slot 0's zone, so that an
     * overflow of slot 0 faults before it leaves the slab. */
    if (below && mprotect(m, page, PROT_NONE) != 0) {
        munmap(m, len);
        free(s);
        return NULL;
    }
    /* Slab slots: each zone a guard page, installed now for every slot
     * (it stays through reuse and MADV_DONTNEED). */
    for (uint32_t i = 0; !below && i < c->nslots; i++) {
        if (madvise(m + (size_t)i * c->slot, c->zone, MADV_GUARD_INSTALL)) {
            munmap(m, len);
            free(s);
            return NULL;
        }
    }
    s->cls = c;
    s->map = m;
    s->map_len = len;
    s->slots = m + below;
    s->nslots = c->nslots;
    s->carved = s->live = s->nfree = 0;
    s->dirty = false;
    list_add(s);
    return s;
}

/* Carves a stack of `size` bytes from a slab of guarded or watched slots;
 * 0 or COROLINK_ENOMEM. */
static int carve(size_t size, bool watched, corolink_stack *out,
                 struct cl_slab **slab_out) {
    pthread_mutex_lock(&slab_lock);
    struct cl_slab_class *c = find_class(size, watched);
    struct cl_slab *s = c ? c->avail : NULL;
    if (s == NULL && c != NULL)
        s = new_slab(c);
    if (s == NULL) {
        pthread_mutex_unlock(&slab_lock);
        return COROLINK_ENOMEM;
    }
    uint32_t i = s->nfree ? s->free_idx[--s->nfree] : s->carved++;
    s->live++;
    if (s->nfree == 0 && s->carved == s->nslots)
        list_remove(s);
    size_t zone = c->zone;
    char *slot = s->slots + (size_t)i * c->slot;
    /* Every POPULATE_AHEAD fresh slots, their top pages at once. The slab
     * stays mapped while slot i is ours. */
    uint32_t ahead = 0;
    if (i % POPULATE_AHEAD == 0 && i + 1 == s->carved)
        ahead = s->nslots - i < POPULATE_AHEAD ? s->nslots - i
                                               : POPULATE_AHEAD;
    pthread_mutex_unlock(&slab_lock);
    if (ahead)
        populate_tops(slot + c->slot - page, c->slot, ahead);
    out->limit = slot + zone;
    out->base = slot + zone + size;
    out->guard = zone;
    *slab_out = s;
    return 0;
}

/* Gives co's slot back to its slab; unmaps a slab left empty. */
static void slab_put(struct corolink *co) {
    struct cl_slab *s = co->slab;
    struct cl_slab_class *c = s->cls;
    char *slot = (char *)co->stack_limit - c->zone;
    uint32_t i = (uint32_t)((size_t)(slot - s->slots) / c->slot);
    pthread_mutex_lock(&slab_lock);
    s->live--;
    if (s->live == 0) {
        if (s->listed)
            list_remove(s);
        pthread_mutex_unlock(&slab_lock);
        munmap(s->map, s->map_len);
        free(s);
        return;
    }
    s->free_idx[s->nfree++] = i;
    s->dirty = true;
    if (!s->listed)
        list_add(s);
    pthread_mutex_unlock(&slab_lock);
}

/* ---- what stack.c calls ---- */

bool cl_slab_watched(const struct cl_slab *s) { return s->cls->watched; }

const void *cl_slab_floor_at(const struct cl_slab *s) { return &s->map; }

int cl_stack_map(size_t size, corolink_stack *out, struct cl_slab **slab) {
    ensure_init();
    *slab = NULL;
    int mode = __atomic_load_n(&stack_mode, __ATOMIC_RELAXED);
    switch (mode) {
    case COROLINK_STACKS_GUARDED:
        break;
    case COROLINK_STACKS_SLAB:
        return carve(size, !have_guard_install, out, slab);
    case COROLINK_STACKS_WATCHED:
        return carve(size, true, out, slab);
    default: {
        pthread_mutex_lock(&slab_lock);
        bool ok = budget_allows();
        if (ok)
            guarded_maps += 2; /* taken before the mmap, given back on failure */
        pthread_mutex_unlock(&slab_lock);
        if (ok) {
            if (cl_map_guarded(size, out) == 0)
                return 0;
            /* The kernel refused (the map count, most likely): a slot. */
            pthread_mutex_lock(&slab_lock);
            guarded_maps -= 2;
            pthread_mutex_unlock(&slab_lock);
        }
        return carve(size, !have_guard_install, out, slab);
    }
    }
    int rc = cl_map_guarded(size, out);
    if (rc == 0) {
        pthread_mutex_lock(&slab_lock);
        guarded_maps += 2;
        pthread_mutex_unlock(&slab_lock);
    }
    return rc;
}

void cl_stack_unmap(struct corolink *co) {
    if (co->slab) {
        slab_put(co);
        return;
    }
    char *lo = (char *)co->stack_limit - co->guard;
    munmap(lo, (size_t)((char *)co->stack_top - lo));
    pthread_mutex_lock(&slab_lock);
    guarded_maps -= 2;
    pthread_mutex_unlock(&slab_lock);
}

/* The memory of free slots goes back to the system (the slots stay
 * carved: their guard pages stay installed). */
void cl_slab_trim(void) {
    pthread_mutex_lock(&slab_lock);
    for (size_t k = 0; k < nclasses; k++) {
        struct cl_slab_class *c = &classes[k];
        for (struct cl_slab *s = c->avail; s; s = s->next) {
            if (!s->dirty)
                continue;
            for (uint32_t j = 0; j < s->nfree; j++) {
                char *stack = s->slots + (size_t)s->free_idx[j] * c->slot +
                              c->zone;
                madvise(stack, c->size, MADV_DONTNEED);
            }
            s->dirty = false;
        }
    }
    pthread_mutex_unlock(&slab_lock);
}

/* Was the watched zone below co's stack written? Its pages were never
 * touched unless something reached into them: an overflow, or a reader (a
 * debugger, corolink_stack_used()), which maps the zero page. So: which
 * pages are resident (one mincore(2)), and does any of those hold a
 * non-zero word. Async-signal-safe. */
bool cl_watch_overflowed(const struct corolink *co) {
    if (!(co->hot.flags & CL_FLAG_WATCHED))
        return false;
    unsigned char vec[WATCH_ZONE / 4096];
    size_t n = WATCH_ZONE / page;
    const char *zone = (const char *)co->stack_limit - WATCH_ZONE;
    if (mincore((void *)zone, WATCH_ZONE, vec) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!(vec[i] & 1))
            continue;
        const uint64_t *w = (const uint64_t *)(const void *)(zone + i * page);
        for (size_t k = 0; k < page / 8; k++)
            if (w[k] != 0)
                return true;
    }
    return false;
}

#endif
