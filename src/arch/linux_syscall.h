/* Raw Linux system calls with up to three arguments, for code with no C
 * library: the freestanding core's fatal path (src/corolink.c) and the
 * -nostdlib test program (tests/freestanding/). Self-contained: includes
 * nothing and needs nothing from the rest of src/. */
#ifndef COROLINK_ARCH_LINUX_SYSCALL_H
#define COROLINK_ARCH_LINUX_SYSCALL_H

#if defined(__x86_64__)
/* syscall: number in rax, arguments in rdi, rsi, rdx, result in rax; the
 * instruction itself clobbers rcx (return rip) and r11 (rflags). */
static inline long cl_raw_syscall3(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
}
enum { CL_SYS_WRITE = 1, CL_SYS_GETPID = 39, CL_SYS_GETTID = 186,
       CL_SYS_TGKILL = 234, CL_SYS_EXIT_GROUP = 231 };
#elif defined(__aarch64__)
/* svc #0: number in x8, arguments in x0-x2, result in x0 (the generic
 * syscall table). */
static inline long cl_raw_syscall3(long nr, long a, long b, long c) {
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
enum { CL_SYS_WRITE = 64, CL_SYS_GETPID = 172, CL_SYS_GETTID = 178,
       CL_SYS_TGKILL = 131, CL_SYS_EXIT_GROUP = 94 };
#elif defined(__riscv) && __riscv_xlen == 64
/* ecall: number in a7, arguments in a0-a2, result in a0 (the generic
 * syscall table, as AArch64). */
static inline long cl_raw_syscall3(long nr, long a, long b, long c) {
    register long a7 __asm__("a7") = nr;
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
    return a0;
}
enum { CL_SYS_WRITE = 64, CL_SYS_GETPID = 172, CL_SYS_GETTID = 178,
       CL_SYS_TGKILL = 131, CL_SYS_EXIT_GROUP = 94 };
#elif defined(__i386__)
/* int $0x80: number in eax, arguments in ebx, ecx, edx, result in eax.
 * (ebx, the GOT pointer of PIC code, is an ordinary register to gcc 5 and
 * later, which reloads it.) */
static inline long cl_raw_syscall3(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80"
                     : "=a"(r)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "memory");
    return r;
}
enum { CL_SYS_WRITE = 4, CL_SYS_GETPID = 20, CL_SYS_GETTID = 224,
       CL_SYS_TGKILL = 270, CL_SYS_EXIT_GROUP = 252 };
#elif defined(__arm__)
/* svc #0 (EABI): number in r7, arguments in r0-r2, result in r0. r7 may be
 * Thumb code's frame pointer, which asm cannot name as an operand: swapped
 * in and out around the call. */
static inline long cl_raw_syscall3(long nr, long a, long b, long c) {
    register long r0 __asm__("r0") = a;
    register long r1 __asm__("r1") = b;
    register long r2 __asm__("r2") = c;
    register long r6 __asm__("r6") = nr;
    __asm__ volatile("mov ip, r7\n\t"
                     "mov r7, r6\n\t"
                     "svc #0\n\t"
                     "mov r7, ip"
                     : "+r"(r0)
                     : "r"(r6), "r"(r1), "r"(r2)
                     : "ip", "memory");
    return r0;
}
enum { CL_SYS_WRITE = 4, CL_SYS_GETPID = 20, CL_SYS_GETTID = 224,
       CL_SYS_TGKILL = 268, CL_SYS_EXIT_GROUP = 248 };
#else
#error "corolink: no raw system calls for this target (src/arch/linux_syscall.h)"
#endif

#endif
