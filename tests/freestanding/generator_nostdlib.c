/* examples/generator.c without a C library: linked with -nostdlib -static
 * against the freestanding core (COROLINK_DEFAULT_STACK=OFF,
 * COROLINK_UNWIND=OFF). Its own _start, raw system calls for output and
 * exit, coroutines on static arrays. Standard output must be exactly
 * examples/generator.expected; the other checks (corolink_on_parent_stack,
 * corolink_on_stack, ids, names) report on standard error and through the
 * exit status (0: all passed).
 *
 * With an argument ("fatal"), it instead destroys a suspended coroutine,
 * which the core cannot unwind: the library's own fatal-error path must
 * print its message with a raw write and kill the process with SIGABRT. */
#include <corolink.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the runtime: entry, system calls, output ---- */

/* cl_raw_syscall3() and the CL_SYS_* numbers per target. */
#include "arch/linux_syscall.h"

static __attribute__((noreturn)) void sys_exit(int code) {
    for (;;)
        cl_raw_syscall3(CL_SYS_EXIT_GROUP, code, 0, 0);
}

int start_main(long argc, char **argv);

#if defined(__x86_64__)
/* The kernel enters with rsp at argc (16-byte aligned, but nothing
 * guarantees it here): no return address, rbp undefined. Clear rbp (the
 * end of the frame chain), align the stack and call a C function with
 * argc and argv. */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined rip\n"
        "    xorl %ebp, %ebp\n"
        "    movq (%rsp), %rdi\n"   /* argc */
        "    leaq 8(%rsp), %rsi\n"  /* argv */
        "    andq $-16, %rsp\n"
        "    call start_main\n"
        "    movl %eax, %edi\n"
        "    movl $231, %eax\n"     /* exit_group */
        "    syscall\n"
        "    hlt\n"
        "    .cfi_endproc\n"
        ".size _start, .-_start\n");
#elif defined(__riscv)
/* The kernel enters with sp at argc (16-byte aligned); s0 and ra hold
 * nothing: clear both (the end of the frame-record chain, and no return
 * address for unwinders). gp first: the static link relaxes accesses near
 * __global_pointer$ into gp-relative ones (the C library's start-up sets
 * it; this is the start-up). Then a C function with argc and argv. */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start, %function\n"
        "_start:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined ra\n"
        "    .option push\n"
        "    .option norelax\n"
        "    lla gp, __global_pointer$\n"
        "    .option pop\n"
        "    li s0, 0\n"
        "    li ra, 0\n"
        "    ld a0, 0(sp)\n"       /* argc */
        "    addi a1, sp, 8\n"     /* argv */
        "    call start_main\n"
        "    li a7, 94\n"          /* exit_group(status in a0) */
        "    ecall\n"
        "    unimp\n"
        "    .cfi_endproc\n"
        ".size _start, .-_start\n");
#elif defined(__i386__)
/* The kernel enters with esp at argc; no return address, ebp undefined.
 * Clear ebp (the end of the frame chain), align the stack so that esp is
 * 16-byte aligned at the call (cdecl: argc and argv pushed) and call a C
 * function. */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined eip\n"
        "    xorl %ebp, %ebp\n"
        "    movl (%esp), %eax\n"  /* argc */
        "    leal 4(%esp), %ecx\n" /* argv */
        "    andl $-16, %esp\n"
        "    subl $8, %esp\n"
        "    pushl %ecx\n"
        "    pushl %eax\n"
        "    call start_main\n"
        "    movl %eax, %ebx\n"
        "    movl $252, %eax\n"    /* exit_group */
        "    int $0x80\n"
        "    hlt\n"
        "    .cfi_endproc\n"
        ".size _start, .-_start\n");
#elif defined(__arm__)
/* The kernel enters with sp at argc; r7, r11 and lr hold nothing: clear
 * them (the ends of the frame-pointer chains, and no return address for
 * unwinders) and call a C function with argc and argv. The same unified
 * syntax in ARM and Thumb state (a Thumb entry point is marked so). */
#if defined(__thumb__)
#define START_THUMB_FUNC "    .thumb_func\n"
#else
#define START_THUMB_FUNC
#endif
__asm__(".text\n"
        ".globl _start\n"
        START_THUMB_FUNC
        ".type _start, %function\n"
        "_start:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined lr\n"
        "    mov r7, #0\n"
        "    mov r11, #0\n"
        "    mov lr, #0\n"
        "    ldr r0, [sp]\n"        /* argc */
        "    add r1, sp, #4\n"      /* argv */
        "    bl start_main\n"
        "    mov r7, #248\n"        /* exit_group(status in r0) */
        "    svc #0\n"
        "    udf #0\n"
        "    .cfi_endproc\n"
        ".size _start, .-_start\n");
#else
/* The kernel enters with sp at argc (16-byte aligned); x29 and x30 hold
 * nothing: clear both (the end of the frame-record chain, and no return
 * address for unwinders) and call a C function with argc and argv. */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start, %function\n"
        "_start:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined x30\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    ldr x0, [sp]\n"        /* argc */
        "    add x1, sp, #8\n"      /* argv */
        "    bl start_main\n"
        "    mov x8, #94\n"         /* exit_group(status in x0) */
        "    svc #0\n"
        "    brk #0\n"
        "    .cfi_endproc\n"
        ".size _start, .-_start\n");
#endif

/* Output through a buffer per file descriptor, flushed at each newline so
 * that the interleaving of main and the coroutine is kept. */
struct out {
    int fd;
    size_t len;
    char buf[256];
};
static struct out out_stdout = {1, 0, {0}}, out_stderr = {2, 0, {0}};

static void flush(struct out *o) {
    size_t done = 0;
    while (done < o->len) {
        long r = cl_raw_syscall3(CL_SYS_WRITE, o->fd, (long)(o->buf + done),
                      (long)(o->len - done));
        if (r == -4) /* EINTR */
            continue;
        if (r <= 0)
            sys_exit(101);
        done += (size_t)r;
    }
    o->len = 0;
}

static void put_char(struct out *o, char c) {
    if (o->len == sizeof o->buf)
        flush(o);
    o->buf[o->len++] = c;
    if (c == '\n')
        flush(o);
}

static void put_str(struct out *o, const char *s) {
    while (*s)
        put_char(o, *s++);
}

static void put_long(struct out *o, long v) {
    char d[20];
    int n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    if (v < 0)
        put_char(o, '-');
    do {
        d[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n > 0)
        put_char(o, d[--n]);
}

static int failures;

static void check(bool ok, const char *what) {
    if (!ok) {
        put_str(&out_stderr, "generator_nostdlib: check failed: ");
        put_str(&out_stderr, what);
        put_char(&out_stderr, '\n');
        failures++;
    }
}

/* ---- stacks: static arrays ---- */

#define STACK_SIZE (64 * 1024)
static _Alignas(64) unsigned char gen_stack[STACK_SIZE];
static _Alignas(64) unsigned char side_stack[STACK_SIZE];
static _Alignas(64) unsigned char other_stack[STACK_SIZE];

static bool in_array(const void *p, const unsigned char *a, size_t n) {
    uintptr_t u = (uintptr_t)p, lo = (uintptr_t)a;
    return u >= lo && u < lo + n;
}

/* ---- corolink_on_parent_stack() and corolink_on_stack() ---- */

struct where {
    long value;
    const void *local; /* address of a local of fn: which stack it ran on */
};

static __attribute__((noinline)) void *triple(void *arg) {
    struct where *w = arg;
    volatile long here = w->value;
    w->local = (const void *)&here;
    w->value = here * 3;
    return (void *)(intptr_t)(w->value + 1);
}

/* ---- the generator (examples/generator.c) ---- */

static void *body(corolink_yielder *yielder, void *input, void *arg) {
    (void)arg;
    struct out *o = &out_stdout;

    /* Extra check, silent on stdout: fn runs on the resumer's stack (the
     * process stack), not on this coroutine's. */
    struct where w = {14, NULL};
    void *r = corolink_on_parent_stack(yielder, triple, &w);
    check(r == (void *)(intptr_t)43 && w.value == 42,
          "corolink_on_parent_stack() result");
    check(w.local != NULL && !in_array(w.local, gen_stack, sizeof gen_stack),
          "corolink_on_parent_stack() ran fn on the resumer's stack");
    check(corolink_current() == NULL,
          "corolink_current() is NULL without the unwinder");

    put_str(o, "[coroutine] coroutine started with input ");
    put_long(o, (long)(intptr_t)input);
    put_char(o, '\n');
    for (intptr_t i = 0; i < 5; i++) {
        put_str(o, "[coroutine] yielding ");
        put_long(o, (long)i);
        put_char(o, '\n');
        input = corolink_suspend(yielder, (void *)i);
        put_str(o, "[coroutine] got ");
        put_long(o, (long)(intptr_t)input);
        put_str(o, " from parent\n");
    }
    put_str(o, "[coroutine] exiting coroutine\n");
    return NULL;
}

static int generator(void) {
    struct out *o = &out_stdout;
    put_str(o, "[main] creating coroutine\n");
    corolink *co;
    corolink_stack st = {gen_stack + sizeof gen_stack, gen_stack, 0};
    int rc = corolink_create_on(&co, &st, body, NULL);
    if (rc != 0) {
        put_str(&out_stderr, "corolink_create_on: ");
        put_str(&out_stderr, corolink_strerror(rc));
        put_char(&out_stderr, '\n');
        return 1;
    }
    for (intptr_t input = 100;; input++) {
        put_str(o, "[main] resuming coroutine with argument ");
        put_long(o, (long)input);
        put_char(o, '\n');
        void *out;
        rc = corolink_resume(co, (void *)input, &out);
        if (rc == COROLINK_RETURN)
            break;
        if (rc != COROLINK_YIELD) {
            put_str(&out_stderr, "corolink_resume: ");
            put_str(&out_stderr, corolink_strerror(rc));
            put_char(&out_stderr, '\n');
            return 1;
        }
        put_str(o, "[main] got ");
        put_long(o, (long)(intptr_t)out);
        put_str(o, " from coroutine\n");
    }
    check(corolink_done(co), "finished after COROLINK_RETURN");
    check(corolink_resume(co, NULL, NULL) == COROLINK_EDONE,
          "resume after the end: COROLINK_EDONE");
    corolink_destroy(co);
    put_str(o, "[main] exiting\n");
    return 0;
}

/* ---- more of the core, reported on stderr only ---- */

static void *count_up(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    intptr_t n = (intptr_t)input, add;
    while ((add = (intptr_t)corolink_suspend(y, (void *)n)) != 0)
        n += add;
    return (void *)n;
}

static void extra_checks(void) {
    /* corolink_on_stack(): fn on the given stack, its result stored. */
    struct where w = {5, NULL};
    corolink_stack side = {side_stack + sizeof side_stack, side_stack, 0};
    void *r = NULL;
    check(corolink_on_stack(&side, triple, &w, &r) == 0 &&
              r == (void *)(intptr_t)16 && w.value == 15,
          "corolink_on_stack() result");
    check(in_array(w.local, side_stack, sizeof side_stack),
          "corolink_on_stack() ran fn on the given stack");
    corolink_stack tiny = {side_stack + 64, side_stack, 0};
    check(corolink_on_stack(&tiny, triple, &w, &r) == COROLINK_ESTACK,
          "corolink_on_stack() refuses a tiny stack");

    /* What the freestanding build does not have. */
    corolink *co = NULL;
    check(corolink_create(&co, count_up, NULL, 0) == COROLINK_ENOTSUP,
          "corolink_create(): COROLINK_ENOTSUP");
    corolink_stack mapped;
    check(corolink_stack_alloc(&mapped, 0) == COROLINK_ENOTSUP,
          "corolink_stack_alloc(): COROLINK_ENOTSUP");
    check(corolink_trap_install() == COROLINK_ENOTSUP,
          "corolink_trap_install(): COROLINK_ENOTSUP");

    /* Ids: unique, increasing, nonzero; names: copied and truncated. */
    corolink_stack st = {other_stack + sizeof other_stack, other_stack, 0};
    corolink *a, *b;
    check(corolink_create_on(&a, &st, count_up, NULL) == 0, "create a");
    uint64_t ida = corolink_id(a);
    corolink_destroy(a); /* never started: nothing to unwind */
    check(corolink_create_on(&b, &st, count_up, NULL) == 0, "create b");
    check(ida != 0 && corolink_id(b) > ida, "ids increase");
    check(corolink_set_name(b, "a name longer than thirty-one bytes, cut") ==
              0,
          "corolink_set_name()");
    const char *want = "a name longer than thirty-one b";
    const char *got = corolink_name(b);
    size_t i = 0;
    while (want[i] && got[i] == want[i])
        i++;
    check(want[i] == '\0' && got[i] == '\0' && i == COROLINK_NAME_MAX - 1,
          "corolink_name() is the name cut to COROLINK_NAME_MAX - 1 bytes");
    void *out = NULL;
    check(corolink_resume(b, (void *)(intptr_t)1, &out) == COROLINK_YIELD &&
              out == (void *)(intptr_t)1 &&
              corolink_resume(b, (void *)(intptr_t)41, &out) ==
                  COROLINK_YIELD &&
              out == (void *)(intptr_t)42,
          "resume/suspend exchange values");
    /* Suspended: no unwinder, so reset it before destroying it. */
    check(corolink_force_unwind(b) == COROLINK_ENOTSUP,
          "corolink_force_unwind(): COROLINK_ENOTSUP");
    check(corolink_force_reset(b) == 0, "corolink_force_reset()");
    corolink_destroy(b);
}

/* Destroying a suspended coroutine in a build without the unwinder: the
 * library reports it and aborts (SIGABRT), with no C library to do it. */
static int fatal(void) {
    corolink_stack st = {other_stack + sizeof other_stack, other_stack, 0};
    corolink *co;
    if (corolink_create_on(&co, &st, count_up, NULL) != 0)
        return 1;
    corolink_set_name(co, "doomed");
    if (corolink_resume(co, NULL, NULL) != COROLINK_YIELD)
        return 1;
    corolink_destroy(co); /* must not return */
    put_str(&out_stderr, "generator_nostdlib: corolink_destroy() returned\n");
    return 1;
}

int start_main(long argc, char **argv) {
    (void)argv;
    if (argc > 1)
        return fatal();
    int rc = generator();
    extra_checks();
    flush(&out_stdout);
    flush(&out_stderr);
    if (rc == 0 && failures == 0)
        return 0;
    return rc ? rc : 2;
}
