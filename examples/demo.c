/* corolink demo: a small pipeline of named coroutines driven by a
 * round-robin loop in main, with a nested generator, a linked backtrace
 * taken deep inside it, and what the library knows about each coroutine. */
#define _GNU_SOURCE
#include <corolink.h>

#include <ctype.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Functions are not static so that backtrace() can name them (the
 * program is linked with -rdynamic). */

static const char *text =
    "a coroutine can suspend from any depth, while debuggers, unwinders "
    "and profilers follow its stack into whoever resumed it: "
    "observability without compromises";

/* The innermost coroutine: yields one word at a time from `text`. */
void *words(corolink_yielder *y, void *input, void *arg) {
    (void)input, (void)arg;
    char word[64];
    for (const char *p = text; *p;) {
        while (*p && !isalpha((unsigned char)*p))
            p++;
        size_t n = 0;
        while (isalpha((unsigned char)*p) && n < sizeof word - 1)
            word[n++] = *p++;
        word[n] = '\0';
        if (n)
            corolink_suspend(y, word);
    }
    return NULL;
}

static int show_backtrace_once = 1;

void print_linked_backtrace(void) {
    void *pcs[32];
    int n = backtrace(pcs, 32);
    printf("    linked backtrace from inside 'longest':\n");
    for (int i = 0; i < n; i++) {
        Dl_info info;
        void *at = i == 0 ? pcs[i] : (char *)pcs[i] - 1;
        const char *name =
            dladdr(at, &info) && info.dli_sname ? info.dli_sname : "??";
        printf("      #%d %s\n", i, name);
        if (strcmp(name, "main") == 0)
            break;
    }
}

/* A coroutine that runs its own nested coroutine (words) and yields the
 * longest word seen so far each time it changes. */
__attribute__((noinline)) size_t track(const char *w, char *best) {
    size_t len = strlen(w);
    if (len > strlen(best)) {
        strcpy(best, w);
        if (show_backtrace_once-- > 0)
            print_linked_backtrace();
        return len;
    }
    return 0;
}

void *longest(corolink_yielder *y, void *input, void *arg) {
    (void)input, (void)arg;
    corolink *src;
    if (corolink_create(&src, words, NULL, 0) != 0)
        return (void *)-1;
    corolink_set_name(src, "words");
    char best[64] = "";
    void *w;
    while (corolink_resume(src, NULL, &w) == COROLINK_YIELD)
        if (track(w, best))
            corolink_suspend(y, best);
    corolink_destroy(src);
    return NULL;
}

/* Work per word for `demo N`, so that a profile has something to show:
 * rounds of a checksum over the word (0 in the normal demo). */
static volatile unsigned checksum_rounds;
static volatile unsigned checksum_sink;

__attribute__((noinline)) unsigned checksum(const char *w) {
    unsigned h = 2166136261u;
    for (unsigned r = 0; r < checksum_rounds; r++)
        for (const char *p = w; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

/* Counts letters of every string it is sent and yields the running
 * total; a NULL input ends it. */
void *counter(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    uintptr_t total = 0;
    while (input != NULL) {
        total += strlen((const char *)input);
        checksum_sink = checksum((const char *)input);
        input = corolink_suspend(y, (void *)total);
    }
    return (void *)total;
}

/* `demo N`: the same pipeline N times without output, then one line: a
 * workload to profile (perf/README.md); 'counter' also checksums each word
 * 5000 times. Adds the letters counted to *letters. */
static int repeat(long n, uintptr_t *letters) {
    show_backtrace_once = 0;
    checksum_rounds = 5000;
    for (long i = 0; i < n; i++) {
        corolink *lng, *cnt;
        if (corolink_create(&lng, longest, NULL, 0) != 0 ||
            corolink_create(&cnt, counter, NULL, 64 * 1024) != 0)
            return 1;
        corolink_set_name(lng, "longest");
        corolink_set_name(cnt, "counter");
        void *word, *total = NULL;
        while (corolink_resume(lng, NULL, &word) == COROLINK_YIELD)
            if (corolink_resume(cnt, word, &total) != COROLINK_YIELD)
                return 1;
        if (corolink_resume(cnt, NULL, &total) != COROLINK_RETURN)
            return 1;
        *letters += (uintptr_t)total;
        corolink_destroy(lng);
        corolink_destroy(cnt);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        /* Not `return repeat(...)`: as a tail call it would take main's
         * frame, and profiles would show repeat called by libc. */
        long n = atol(argv[1]);
        uintptr_t letters = 0;
        if (repeat(n, &letters) != 0)
            return 1;
        printf("%ld pipelines, %lu letters counted\n", n,
               (unsigned long)letters);
        return 0;
    }
    corolink *lng, *cnt;
    if (corolink_create(&lng, longest, NULL, 0) != 0 ||
        corolink_create(&cnt, counter, NULL, 64 * 1024) != 0) {
        fprintf(stderr, "corolink_create failed\n");
        return 1;
    }
    corolink_set_name(lng, "longest");
    corolink_set_name(cnt, "counter");
    printf("corolink demo: coroutine %llu \"%s\" finds ever longer words,\n"
           "coroutine %llu \"%s\" counts their letters.\n\n",
           (unsigned long long)corolink_id(lng), corolink_name(lng),
           (unsigned long long)corolink_id(cnt), corolink_name(cnt));

    void *word, *total = NULL;
    int rc;
    while ((rc = corolink_resume(lng, NULL, &word)) == COROLINK_YIELD) {
        if (corolink_resume(cnt, word, &total) != COROLINK_YIELD)
            return 1;
        printf("  longest so far: %-12s letters counted: %lu\n",
               (const char *)word, (unsigned long)(uintptr_t)total);
    }
    printf("\n'longest' %s; 'counter' is still suspended: started=%d done=%d\n",
           rc == COROLINK_RETURN ? "returned" : corolink_strerror(rc),
           corolink_started(cnt), corolink_done(cnt));
    printf("stack high-water marks: longest %zu bytes, counter %zu bytes\n",
           corolink_stack_used(lng), corolink_stack_used(cnt));
    /* A NULL input ends 'counter'. (Destroying it while suspended would
     * also do: corolink_destroy() unwinds a suspended coroutine's stack.) */
    rc = corolink_resume(cnt, NULL, &total);
    printf("'counter' %s: %lu letters in all\n",
           rc == COROLINK_RETURN ? "returned" : corolink_strerror(rc),
           (unsigned long)(uintptr_t)total);
    corolink_destroy(lng);
    corolink_destroy(cnt);
    printf("done.\n");
    return 0;
}
