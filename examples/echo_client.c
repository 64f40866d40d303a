/* corolink echo client: a load generator for echo_server, one coroutine
 * per connection, driven by epoll.
 *
 *   echo_client [--host H] --port P --connections C --messages M [--size S]
 *
 * Opens C connections to H:P (default host 127.0.0.1) and holds every one
 * open until all C are established, so that the server has C connections
 * at once. Then each sends M messages of S bytes (default 100), one at a
 * time, reads each echo back and checks every byte: byte i of message m of
 * connection c is pattern(c, m, i). Last, each connection shuts down its
 * sending side and expects the server to close too.
 *
 * Prints a summary; exits 0 only if every connection finished and every
 * byte matched, 1 (with the first errors) otherwise: a connection refused
 * or reset, an echo that differs, a stream that ends early or carries more.
 *
 * At most 128 connects are in progress at once: the server's listen queue
 * (SOMAXCONN, 4096 on Linux) never overflows, whatever C is. */
#define _GNU_SOURCE
#include <corolink.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PENDING_CONNECTS 128

/* A connection's coroutine suspends with what it waits for ... */
enum wait_for {
    WAIT_READABLE = 1,
    WAIT_WRITABLE = 2,   /* may be combined with WAIT_READABLE */
    WAIT_ALL_CONNECTED = 4, /* established; waits for the others */
};

/* ... and is resumed with why it runs again. */
enum wake_reason { WAKE_READY = 1, WAKE_STOP = 2 };

struct options {
    struct sockaddr_in server;
    long connections, messages, size;
};

struct client {
    long index;                /* 0 .. connections - 1 */
    int fd;                    /* -1 until the coroutine made its socket */
    corolink *co;
    const struct options *opt;
    uint32_t epoll_events;     /* what fd is registered for */
    int connecting;            /* has not reached WAIT_ALL_CONNECTED yet */
    int waiting_for_others;    /* suspended in wait_all_connected() */
    int ok;                    /* finished, every byte checked */
    unsigned long long checked; /* bytes echoed and checked */
    char error[160];           /* why it failed ("" while ok) */
};

/* Out of line and unspecialised, as in echo_server.c: each one a frame of
 * its own name in debuggers and profilers. */
#if defined(__has_attribute)
#if __has_attribute(noclone)
#define FRAME __attribute__((noinline, noclone))
#endif
#endif
#ifndef FRAME
#define FRAME __attribute__((noinline))
#endif

/* Byte i of message m of connection c. */
static unsigned char pattern(long c, long m, long i) {
    uint32_t x = (uint32_t)c * 2654435761u ^ (uint32_t)m * 40503u ^
                 (uint32_t)i * 2246822519u;
    x ^= x >> 15;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    return (unsigned char)x;
}

/* Records why the connection failed; returns -1 for the caller. */
static int fail(struct client *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Inside a connection's coroutine                                          */
/* ------------------------------------------------------------------------ */

/* Suspends until the loop sees one of `events` (WAIT_*): 0, or -1 when the
 * client is shutting down. */
FRAME static int wait_for(corolink_yielder *y, struct client *c,
                          unsigned events) {
    void *why = corolink_suspend(y, (void *)(uintptr_t)events);
    if ((uintptr_t)why == WAKE_READY)
        return 0;
    return fail(c, "stopped");
}

/* A non-blocking connect: waits until it completes. */
FRAME static int connect_to_server(corolink_yielder *y, struct client *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return fail(c, "socket: %s", strerror(errno));
    const struct sockaddr *to = (const struct sockaddr *)&c->opt->server;
    if (connect(c->fd, to, sizeof c->opt->server) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return fail(c, "connect: %s", strerror(errno));
    if (wait_for(y, c, WAIT_WRITABLE) != 0)
        return -1;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    return err ? fail(c, "connect: %s", strerror(err)) : 0;
}

/* Sends message m and reads its echo back, checking every byte. Sending
 * and reading interleave, so that a message larger than the sockets'
 * buffers cannot deadlock with the server. */
FRAME static int exchange_message(corolink_yielder *y, struct client *c,
                                  long m) {
    const long size = c->opt->size;
    long sent = 0, received = 0;
    unsigned char buf[4096];
    while (received < size) {
        int progress = 0;
        if (sent < size) {
            long n = size - sent < (long)sizeof buf ? size - sent : (long)sizeof buf;
            for (long i = 0; i < n; i++)
                buf[i] = pattern(c->index, m, sent + i);
            ssize_t k = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
            if (k > 0) {
                sent += k;
                progress = 1;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return fail(c, "message %ld: send: %s", m, strerror(errno));
            }
        }
        /* Never more than what this message still owes: any byte beyond
         * it would be one the server made up. */
        long want = sent - received;
        if (want > (long)sizeof buf)
            want = sizeof buf;
        if (want > 0) {
            ssize_t k = recv(c->fd, buf, (size_t)want, 0);
            if (k == 0)
                return fail(c, "message %ld: the server closed after %ld of "
                            "%ld bytes", m, received, size);
            if (k > 0) {
                for (long i = 0; i < k; i++) {
                    unsigned char expected = pattern(c->index, m, received + i);
                    if (buf[i] != expected)
                        return fail(c, "message %ld, byte %ld: expected 0x%02x, "
                                    "got 0x%02x", m, received + i, expected,
                                    buf[i]);
                }
                received += k;
                c->checked += (unsigned long long)k;
                progress = 1;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return fail(c, "message %ld: recv: %s", m, strerror(errno));
            }
        }
        if (!progress &&
            wait_for(y, c, WAIT_READABLE | (sent < size ? WAIT_WRITABLE : 0)) != 0)
            return -1;
    }
    return 0;
}

/* After the last message: shut down the sending side, then the server must
 * close its side too, with nothing more sent. */
FRAME static int expect_close(corolink_yielder *y, struct client *c) {
    if (shutdown(c->fd, SHUT_WR) != 0)
        return fail(c, "shutdown: %s", strerror(errno));
    for (;;) {
        char byte;
        ssize_t k = recv(c->fd, &byte, 1, 0);
        if (k == 0)
            return 0;
        if (k > 0)
            return fail(c, "the server sent more than it was sent");
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return fail(c, "waiting for the server to close: %s",
                        strerror(errno));
        if (errno != EINTR && wait_for(y, c, WAIT_READABLE) != 0)
            return -1;
    }
}

/* The body of a connection's coroutine. */
FRAME static void *client_connection(corolink_yielder *y, void *input,
                                     void *arg) {
    (void)input;
    struct client *c = arg;
    if (connect_to_server(y, c) != 0)
        return NULL;
    /* Held open until every connection is established. */
    if (wait_for(y, c, WAIT_ALL_CONNECTED) != 0)
        return NULL;
    for (long m = 0; m < c->opt->messages; m++)
        if (exchange_message(y, c, m) != 0)
            return NULL;
    if (expect_close(y, c) != 0)
        return NULL;
    c->ok = 1;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */
/* ------------------------------------------------------------------------ */

struct loop {
    int epoll_fd;
    struct client *clients;
    long started, connecting, connected, finished, failed;
};

/* Makes c's epoll registration what its coroutine waits for: EPOLLIN
 * and/or EPOLLOUT, or nothing while it waits for the other connections
 * (a socket left registered would wake it early: epoll reports a
 * connected socket writable over and over). 0, or -1 (errno). */
static int watch(struct loop *l, struct client *c, uint32_t events) {
    if (events == c->epoll_events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    int op = !c->epoll_events ? EPOLL_CTL_ADD
             : !events        ? EPOLL_CTL_DEL
                              : EPOLL_CTL_MOD;
    if (epoll_ctl(l->epoll_fd, op, c->fd, &ev) != 0)
        return -1;
    c->epoll_events = events;
    return 0;
}

/* Resumes c; afterwards it waits (on its socket, or for the others) or has
 * finished (then its socket is closed and its coroutine destroyed). */
static void run_client(struct loop *l, struct client *c, enum wake_reason why) {
    void *waits_for;
    c->waiting_for_others = 0;
    int rc = corolink_resume(c->co, (void *)(uintptr_t)why, &waits_for);
    unsigned w = rc == COROLINK_YIELD ? (unsigned)(uintptr_t)waits_for : 0;
    if (c->connecting && (rc != COROLINK_YIELD || w == WAIT_ALL_CONNECTED)) {
        c->connecting = 0; /* the connect finished, one way or the other */
        l->connecting--;
        l->connected += rc == COROLINK_YIELD;
    }
    if (rc == COROLINK_YIELD) {
        uint32_t events = (w & WAIT_READABLE ? EPOLLIN : 0) |
                          (w & WAIT_WRITABLE ? EPOLLOUT : 0);
        if (watch(l, c, events) == 0) {
            c->waiting_for_others = w == WAIT_ALL_CONNECTED;
            return;
        }
        fail(c, "epoll_ctl: %s", strerror(errno));
        corolink_resume(c->co, (void *)(uintptr_t)WAKE_STOP, NULL);
    } else if (rc != COROLINK_RETURN) {
        fail(c, "resume: %s", corolink_strerror(rc));
    }
    if (c->fd >= 0)
        close(c->fd); /* also removes it from epoll */
    c->fd = -1;
    corolink_destroy(c->co);
    c->co = NULL;
    l->finished++;
    l->failed += !c->ok;
}

/* Starts connection c: its coroutine runs until its connect is under way. */
static int start_client(struct loop *l, struct client *c) {
    /* 64 KiB of stack: plenty for a 4 KiB buffer and a few frames. */
    int rc = corolink_create(&c->co, client_connection, c, 64 * 1024);
    if (rc != 0) {
        fprintf(stderr, "echo_client: corolink_create: %s\n",
                corolink_strerror(rc));
        return -1;
    }
    char name[COROLINK_NAME_MAX];
    snprintf(name, sizeof name, "client %ld", c->index);
    corolink_set_name(c->co, name);
    c->connecting = 1;
    l->connecting++;
    l->started++;
    run_client(l, c, WAKE_READY);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                    */
/* ------------------------------------------------------------------------ */

/* Raises the soft limit on open files to the hard limit; fails if that
 * cannot hold one socket per connection. */
static int raise_open_files_limit(long connections) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("echo_client: getrlimit(RLIMIT_NOFILE)");
        return -1;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit raised = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
    }
    /* stdin/out/err and epoll take 4 more. */
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)connections + 4) {
        fprintf(stderr,
                "echo_client: the hard limit on open files (RLIMIT_NOFILE) "
                "is %llu: too low for %ld connections. Raise it (as root: "
                "ulimit -Hn, LimitNOFILE= in systemd, nofile in "
                "/etc/security/limits.conf) or use fewer connections.\n",
                (unsigned long long)rl.rlim_max, connections);
        return -1;
    }
    return 0;
}

static long parse_number(const char *s, long min, long max) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    return v;
}

static int usage(void) {
    fprintf(stderr, "usage: echo_client [--host H] --port P --connections C "
                    "--messages M [--size S]\n");
    return 2;
}

int main(int argc, char **argv) {
    struct options opt = {.server = {.sin_family = AF_INET},
                          .connections = -1, .messages = -1, .size = 100};
    const char *host = "127.0.0.1";
    long port = -1;
    /* Options come in pairs: --name value. */
    if (argc % 2 == 0)
        return usage();
    for (int i = 1; i < argc; i += 2) {
        const char *name = argv[i], *value = argv[i + 1];
        long *number = NULL, min = 1, max = 1000000;
        if (strcmp(name, "--host") == 0)
            host = value;
        else if (strcmp(name, "--port") == 0)
            number = &port, max = 65535;
        else if (strcmp(name, "--connections") == 0)
            number = &opt.connections;
        else if (strcmp(name, "--messages") == 0)
            number = &opt.messages, min = 0, max = 1000000000;
        else if (strcmp(name, "--size") == 0)
            number = &opt.size, max = 1L << 30;
        else
            return usage();
        if (number && (*number = parse_number(value, min, max)) < 0)
            return usage();
    }
    if (port < 0 || opt.connections < 0 || opt.messages < 0)
        return usage();
    if (inet_pton(AF_INET, host, &opt.server.sin_addr) != 1) {
        fprintf(stderr, "echo_client: --host %s: not an IPv4 address\n", host);
        return 2;
    }
    opt.server.sin_port = htons((uint16_t)port);
    if (raise_open_files_limit(opt.connections) != 0)
        return 1;

    struct loop l = {.epoll_fd = epoll_create1(EPOLL_CLOEXEC)};
    l.clients = calloc((size_t)opt.connections, sizeof *l.clients);
    if (l.epoll_fd < 0 || !l.clients) {
        perror("echo_client: setup");
        return 1;
    }
    for (long i = 0; i < opt.connections; i++)
        l.clients[i] = (struct client){.index = i, .fd = -1, .opt = &opt};

    struct epoll_event events[256];
    int all_connected = 0, status = 0;
    while (l.finished < opt.connections) {
        /* Start connections while few connects are in progress. */
        while (l.started < opt.connections &&
               l.connecting < MAX_PENDING_CONNECTS)
            if (start_client(&l, &l.clients[l.started]) != 0)
                goto out;
        /* Every connect has finished: release the ones waiting. If any
         * failed, the others stop (and report nothing of their own). */
        if (!all_connected && l.started == opt.connections && l.connecting == 0) {
            all_connected = 1;
            enum wake_reason why =
                l.connected == opt.connections ? WAKE_READY : WAKE_STOP;
            if (why == WAKE_READY) {
                printf("echo_client: %ld connections open\n", l.connected);
                fflush(stdout);
            }
            for (long i = 0; i < opt.connections; i++)
                if (l.clients[i].waiting_for_others)
                    run_client(&l, &l.clients[i], why);
            continue;
        }
        int n = epoll_wait(l.epoll_fd, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("echo_client: epoll_wait");
            goto out;
        }
        for (int i = 0; i < n; i++)
            run_client(&l, events[i].data.ptr, WAKE_READY);
    }

out:
    /* Normally every coroutine has finished here; after an error the
     * others are stopped: each wait fails and each body returns. */
    for (long i = 0; i < l.started; i++) {
        struct client *c = &l.clients[i];
        if (c->co) {
            corolink_resume(c->co, (void *)(uintptr_t)WAKE_STOP, NULL);
            corolink_destroy(c->co);
            c->co = NULL;
            if (c->fd >= 0)
                close(c->fd);
            status = 1;
        }
    }
    unsigned long long checked = 0;
    long ok = 0, shown = 0;
    for (long i = 0; i < opt.connections; i++) {
        struct client *c = &l.clients[i];
        checked += c->checked;
        ok += c->ok;
        if (!c->ok && strcmp(c->error, "stopped") != 0 &&
            shown++ < 10)
            fprintf(stderr, "echo_client: connection %ld: %s\n", i, c->error);
    }
    if (ok != opt.connections)
        status = 1;
    printf("echo_client: %ld of %ld connections ok, %llu bytes echoed and "
           "checked (%ld messages of %ld bytes each)\n",
           ok, opt.connections, checked, opt.messages, opt.size);
    if (status)
        fprintf(stderr, "echo_client: FAILED: %ld connections failed\n",
                opt.connections - ok);
    free(l.clients);
    close(l.epoll_fd);
    return status;
}
