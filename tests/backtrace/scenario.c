/*
 * The scenarios of scenario.h. The frames the suites expect for each are
 * listed in expect.cpp; keep the two in step.
 *
 * No function here is static: a static function would be invisible to
 * dladdr and could be reported under the name of the exported function
 * before it.
 */
#include "scenario.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

bt_hook_fn bt_hook;
int bt_point_count;
int bt_order_observed;
int bt_stack_check;
const char *bt_gdb_tag = "";
volatile long bt_sink;

BT_KEEP void bt_die(const char *what, int code) {
    fprintf(stderr, "backtrace scenario: %s: %d (%s)\n", what, code,
            corolink_strerror(code));
    abort();
}

BT_KEEP void bt_point(void) {
    int index = bt_point_count++;
    if (bt_hook != NULL)
        bt_hook(index);
    bt_sink += index + 1;
}

/* ---- depth: n frames of bt_descend between the body and bt_point ---- */

BT_KEEP void bt_descend(int n) {
    if (n > 1)
        bt_descend(n - 1);
    else
        bt_point();
    bt_sink += n;
}

BT_KEEP void *bt_body_depth(corolink_yielder *y, void *input, void *arg) {
    (void)y;
    (void)arg;
    int depth = (int)(intptr_t)input;
    if (depth > 0)
        bt_descend(depth);
    else
        bt_point();
    bt_sink += 7;
    return (void *)(intptr_t)(depth + 1000);
}

BT_KEEP void bt_resumer_depth(int depth) {
    corolink *co;
    int rc = corolink_create(&co, bt_body_depth, NULL, 0);
    if (rc != 0)
        bt_die("create", rc);
    void *out = NULL;
    rc = corolink_resume(co, (void *)(intptr_t)depth, &out);
    if (rc != COROLINK_RETURN || out != (void *)(intptr_t)(depth + 1000))
        bt_die("resume (depth)", rc);
    corolink_destroy(co);
    bt_sink += 1;
}

BT_KEEP void bt_run_depth0(void) { bt_resumer_depth(0); bt_sink += 10; }
BT_KEEP void bt_run_depth1(void) { bt_resumer_depth(1); bt_sink += 11; }
BT_KEEP void bt_run_depth5(void) { bt_resumer_depth(5); bt_sink += 15; }
BT_KEEP void bt_run_depth20(void) { bt_resumer_depth(20); bt_sink += 30; }

/* ---- nested: resumer_a resumes A, whose body calls resumer_b, which
 * resumes B, whose body calls resumer_c, which resumes C, whose body
 * reaches bt_point ---- */

BT_KEEP void *bt_body_c(corolink_yielder *y, void *input, void *arg) {
    (void)y;
    (void)input;
    (void)arg;
    bt_point();
    bt_sink += 3;
    return (void *)0xc;
}

BT_KEEP void bt_resumer_c(void) {
    corolink *co;
    int rc = corolink_create(&co, bt_body_c, NULL, 0);
    if (rc != 0)
        bt_die("create C", rc);
    void *out = NULL;
    rc = corolink_resume(co, NULL, &out);
    if (rc != COROLINK_RETURN || out != (void *)0xc)
        bt_die("resume C", rc);
    corolink_destroy(co);
    bt_sink += 0x30;
}

BT_KEEP void *bt_body_b(corolink_yielder *y, void *input, void *arg) {
    (void)y;
    (void)input;
    (void)arg;
    bt_resumer_c();
    bt_sink += 2;
    return (void *)0xb;
}

BT_KEEP void bt_resumer_b(void) {
    corolink *co;
    int rc = corolink_create(&co, bt_body_b, NULL, 0);
    if (rc != 0)
        bt_die("create B", rc);
    void *out = NULL;
    rc = corolink_resume(co, NULL, &out);
    if (rc != COROLINK_RETURN || out != (void *)0xb)
        bt_die("resume B", rc);
    corolink_destroy(co);
    bt_sink += 0x20;
}

BT_KEEP void *bt_body_a(corolink_yielder *y, void *input, void *arg) {
    (void)y;
    (void)input;
    (void)arg;
    bt_resumer_b();
    bt_sink += 1;
    return (void *)0xa;
}

BT_KEEP void bt_resumer_a(void) {
    corolink *co;
    int rc = corolink_create(&co, bt_body_a, NULL, 0);
    if (rc != 0)
        bt_die("create A", rc);
    void *out = NULL;
    rc = corolink_resume(co, NULL, &out);
    if (rc != COROLINK_RETURN || out != (void *)0xa)
        bt_die("resume A", rc);
    corolink_destroy(co);
    bt_sink += 0x10;
}

/* ---- switch: started by bt_resumer_one, suspended, then resumed by
 * bt_resumer_two (with a different frame size, so that the resumer's
 * stack pointer differs too); each run of the body reaches bt_point ---- */

BT_KEEP void *bt_body_switch(corolink_yielder *y, void *input, void *arg) {
    (void)input;
    (void)arg;
    bt_point(); /* point 0: resumed by bt_resumer_one */
    void *in = corolink_suspend(y, (void *)0x51);
    bt_point(); /* point 1: resumed by bt_resumer_two */
    bt_sink += (intptr_t)in;
    return (void *)0x52;
}

BT_KEEP void bt_resumer_one(corolink *co) {
    void *out = NULL;
    int rc = corolink_resume(co, NULL, &out);
    if (rc != COROLINK_YIELD || out != (void *)0x51)
        bt_die("resume (one)", rc);
    bt_sink += 0x100;
}

BT_KEEP void bt_resumer_two(corolink *co) {
    volatile char pad[480];
    pad[0] = 1;
    pad[sizeof pad - 1] = 2;
    void *out = NULL;
    int rc = corolink_resume(co, (void *)0x3, &out);
    if (rc != COROLINK_RETURN || out != (void *)0x52)
        bt_die("resume (two)", rc);
    bt_sink += 0x200 + pad[0] + pad[sizeof pad - 1];
}

BT_KEEP void bt_run_switch(void) {
    corolink *co;
    int rc = corolink_create(&co, bt_body_switch, NULL, 0);
    if (rc != 0)
        bt_die("create (switch)", rc);
    bt_resumer_one(co);
    bt_resumer_two(co);
    corolink_destroy(co);
    bt_sink += 0x300;
}

/* ---- corolink_on_parent_stack: fn runs on the resumer's stack ---- */

struct bt_parent_probe {
    corolink *co;
    char *resumer_local;
};

BT_KEEP void *bt_parent_fn(void *arg) {
    struct bt_parent_probe *p = arg;
    volatile char here = 0;
    corolink_stack st;
    int rc = corolink_get_stack(p->co, &st);
    if (rc != 0)
        bt_die("get_stack", rc);
    char *at = (char *)&here;
    int on_coroutine = at >= (char *)st.limit && at < (char *)st.base;
    /* Below the resumer's (blocked) frame, on its stack. */
    bt_stack_check = !on_coroutine && at < p->resumer_local &&
                             p->resumer_local - at < (64 * 1024)
                         ? 1
                         : -1;
    bt_point();
    bt_sink += here + 11;
    return (void *)0x77;
}

BT_KEEP void *bt_body_parent(corolink_yielder *y, void *input, void *arg) {
    (void)input;
    void *r = corolink_on_parent_stack(y, bt_parent_fn, arg);
    if (r != (void *)0x77)
        bt_die("on_parent_stack result", -100);
    bt_sink += 5;
    return (void *)0x78;
}

BT_KEEP void bt_resumer_parent(void) {
    volatile char here = 0;
    struct bt_parent_probe probe;
    probe.resumer_local = (char *)&here;
    int rc = corolink_create(&probe.co, bt_body_parent, &probe, 0);
    if (rc != 0)
        bt_die("create (parent)", rc);
    void *out = NULL;
    rc = corolink_resume(probe.co, NULL, &out);
    if (rc != COROLINK_RETURN || out != (void *)0x78)
        bt_die("resume (parent)", rc);
    corolink_destroy(probe.co);
    bt_sink += here + 0x400;
}

/* ---- corolink_on_stack: fn runs on a separate stack, called from plain
 * code and from a coroutine body ---- */

BT_KEEP int bt_on_given_stack(const corolink_stack *st, const void *local) {
    const char *at = local;
    return at >= (const char *)st->limit && at < (const char *)st->base;
}

BT_KEEP void *bt_onstack_fn_plain(void *arg) {
    volatile char here = 0;
    bt_stack_check = bt_on_given_stack(arg, (const void *)&here) ? 1 : -1;
    bt_point();
    bt_sink += here + 13;
    return (void *)0x55;
}

BT_KEEP void bt_run_onstack_plain(void) {
    corolink_stack st;
    int rc = corolink_stack_alloc(&st, 64 * 1024);
    if (rc != 0)
        bt_die("stack_alloc (onstack)", rc);
    void *r = NULL;
    rc = corolink_on_stack(&st, bt_onstack_fn_plain, &st, &r);
    if (rc != 0 || r != (void *)0x55)
        bt_die("on_stack (plain)", rc);
    corolink_stack_free(&st);
    bt_sink += 0x500;
}

BT_KEEP void *bt_onstack_fn_co(void *arg) {
    volatile char here = 0;
    bt_stack_check = bt_on_given_stack(arg, (const void *)&here) ? 1 : -1;
    bt_point();
    bt_sink += here + 17;
    return (void *)0x56;
}

BT_KEEP void *bt_body_onstack(corolink_yielder *y, void *input, void *arg) {
    (void)y;
    (void)input;
    void *r = NULL;
    int rc = corolink_on_stack(arg, bt_onstack_fn_co, arg, &r);
    if (rc != 0 || r != (void *)0x56)
        bt_die("on_stack (coroutine)", rc);
    bt_sink += 19;
    return (void *)0x57;
}

BT_KEEP void bt_resumer_onstack(void) {
    corolink_stack st;
    int rc = corolink_stack_alloc(&st, 64 * 1024);
    if (rc != 0)
        bt_die("stack_alloc (onstack co)", rc);
    corolink *co;
    rc = corolink_create(&co, bt_body_onstack, &st, 0);
    if (rc != 0)
        bt_die("create (onstack)", rc);
    void *out = NULL;
    rc = corolink_resume(co, NULL, &out);
    if (rc != COROLINK_RETURN || out != (void *)0x57)
        bt_die("resume (onstack)", rc);
    corolink_destroy(co);
    corolink_stack_free(&st);
    bt_sink += 0x600;
}

/* ---- stack order: an outer coroutine resumes an inner one whose stack
 * lies above (order_up) or below (order_down) the outer one's. Unwinding
 * from the inner body into its resumer then goes to a lower address
 * (order_up: "inner" in gdb's terms) or to a higher one ---- */

char *volatile bt_order_resumer_local;

BT_KEEP void *bt_body_order_inner(corolink_yielder *y, void *input,
                                  void *arg) {
    (void)y;
    (void)input;
    (void)arg;
    volatile char here = 0;
    bt_order_observed = (char *)&here > bt_order_resumer_local ? 1 : -1;
    bt_point();
    bt_sink += here + 23;
    return (void *)0x61;
}

BT_KEEP void bt_resumer_order_inner(corolink *inner) {
    volatile char here = 0;
    bt_order_resumer_local = (char *)&here;
    void *out = NULL;
    int rc = corolink_resume(inner, NULL, &out);
    if (rc != COROLINK_RETURN || out != (void *)0x61)
        bt_die("resume (order inner)", rc);
    bt_sink += here + 0x700;
}

BT_KEEP void *bt_body_order_outer(corolink_yielder *y, void *input,
                                  void *arg) {
    (void)y;
    (void)input;
    bt_resumer_order_inner(arg);
    bt_sink += 29;
    return (void *)0x62;
}

BT_KEEP void bt_resumer_order_outer(corolink *outer) {
    void *out = NULL;
    int rc = corolink_resume(outer, NULL, &out);
    if (rc != COROLINK_RETURN || out != (void *)0x62)
        bt_die("resume (order outer)", rc);
    bt_sink += 0x800;
}

BT_KEEP void bt_run_order(int inner_above) {
    corolink_stack a, b;
    int rc = corolink_stack_alloc(&a, 128 * 1024);
    if (rc == 0)
        rc = corolink_stack_alloc(&b, 128 * 1024);
    if (rc != 0)
        bt_die("stack_alloc (order)", rc);
    corolink_stack *lo = (char *)a.base < (char *)b.base ? &a : &b;
    corolink_stack *hi = lo == &a ? &b : &a;
    corolink *inner, *outer;
    rc = corolink_create_on(&inner, inner_above ? hi : lo, bt_body_order_inner,
                            NULL);
    if (rc != 0)
        bt_die("create_on (inner)", rc);
    rc = corolink_create_on(&outer, inner_above ? lo : hi, bt_body_order_outer,
                            inner);
    if (rc != 0)
        bt_die("create_on (outer)", rc);
    bt_resumer_order_outer(outer);
    corolink_destroy(outer);
    corolink_destroy(inner);
    corolink_stack_free(&a);
    corolink_stack_free(&b);
    bt_sink += 0x900;
}

BT_KEEP void bt_run_order_up(void) { bt_run_order(1); bt_sink += 0xa00; }
BT_KEEP void bt_run_order_down(void) { bt_run_order(0); bt_sink += 0xb00; }

/* ---- resume_with: fn of corolink_resume_with() runs on the coroutine's
 * stack, first on a coroutine that has not started (called from its root
 * frame), then on top of the body's pending suspend (called from the
 * suspend: the body's frames follow fn's) ---- */

BT_KEEP void *bt_with_fn(void *input, void *arg) {
    (void)arg;
    bt_point();
    bt_sink += 31;
    return (void *)((intptr_t)input + 1);
}

BT_KEEP intptr_t bt_with_wait(corolink_yielder *y) {
    intptr_t v = (intptr_t)corolink_suspend(y, (void *)0x70);
    bt_sink += v;
    return v;
}

BT_KEEP void *bt_body_with(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    if (input != (void *)0x42) /* fn's result: the body's input */
        bt_die("input (with)", (int)(intptr_t)input);
    intptr_t v = bt_with_wait(y);
    if (v != 0x45) /* fn's result: what the suspend returns */
        bt_die("suspend (with)", (int)v);
    bt_sink += 37;
    return (void *)0x71;
}

BT_KEEP void bt_resumer_with_fresh(corolink *co) {
    void *out = NULL;
    int rc = corolink_resume_with(co, bt_with_fn, NULL, (void *)0x41, &out);
    if (rc != COROLINK_YIELD || out != (void *)0x70)
        bt_die("resume_with (fresh)", rc);
    bt_sink += 0xc00;
}

BT_KEEP void bt_resumer_with_suspended(corolink *co) {
    void *out = NULL;
    int rc = corolink_resume_with(co, bt_with_fn, NULL, (void *)0x44, &out);
    if (rc != COROLINK_RETURN || out != (void *)0x71)
        bt_die("resume_with (suspended)", rc);
    bt_sink += 0xd00;
}

BT_KEEP void bt_run_with(void) {
    corolink *co;
    int rc = corolink_create(&co, bt_body_with, NULL, 0);
    if (rc != 0)
        bt_die("create (with)", rc);
    bt_resumer_with_fresh(co);
    bt_resumer_with_suspended(co);
    corolink_destroy(co);
    bt_sink += 0xe00;
}

/* ---- the table ---- */

const struct bt_scenario bt_scenarios[] = {
    {"depth0", bt_run_depth0, 1},
    {"depth1", bt_run_depth1, 1},
    {"depth5", bt_run_depth5, 1},
    {"depth20", bt_run_depth20, 1},
    {"nested", bt_resumer_a, 1},
    {"switch", bt_run_switch, 2},
    {"parent_stack", bt_resumer_parent, 1},
    {"onstack_plain", bt_run_onstack_plain, 1},
    {"onstack_co", bt_resumer_onstack, 1},
    {"order_up", bt_run_order_up, 1},
    {"order_down", bt_run_order_down, 1},
#if defined(__x86_64__) || defined(__aarch64__) /* the targets with corolink__ontop */
    {"resume_with", bt_run_with, 2},
#endif
};
const int bt_scenario_count = sizeof bt_scenarios / sizeof bt_scenarios[0];

BT_KEEP int bt_run_scenario(const struct bt_scenario *s) {
    bt_point_count = 0;
    bt_order_observed = 0;
    bt_stack_check = 0;
    bt_gdb_tag = s->name;
    s->run();
    bt_sink += 1;
    return bt_point_count;
}
