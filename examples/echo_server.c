/* corolink echo server: one coroutine per connection, driven by epoll.
 *
 *   echo_server [--port P] [--exit-after N]
 *
 * Listens on 127.0.0.1:P (P = 0, the default, picks a free port) and prints
 * "listening on 127.0.0.1:PORT". Every connection gets a coroutine, named
 * after its peer ("conn 127.0.0.1:54321"), that reads and writes back what
 * it read until the peer closes. The code of a connection is written as if
 * sockets blocked: when a read or write would block (EAGAIN), the helper
 * that tried it suspends the coroutine and tells the loop in main what it
 * waits for (readable or writable); the loop waits on epoll and resumes the
 * coroutine whose socket is ready.
 *
 * Because each waiting connection is a suspended stack, a debugger shows
 * where each one waits: with thousands of connections parked,
 *
 *   gdb -p $(pidof echo_server) -ex 'source gdb/corolink-gdb.py' \
 *       -ex 'info coroutines -group'
 *
 * groups them by stack (wait_readable <- read_some <- echo_connection), and
 * so does build/perf/corolink-stacks --group PID (see README.md, "Debugging
 * with gdb").
 *
 * --exit-after N: exit after N connections have closed, with a one-line
 * summary (SIGINT and SIGTERM also stop it, with the same summary). On exit
 * every coroutine is finished and destroyed and every socket closed.
 *
 * echo_client.c is the load generator that goes with it. */
#define _GNU_SOURCE /* accept4, epoll_pwait */
#include <corolink.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* What a coroutine and the loop tell each other                             */
/* ------------------------------------------------------------------------ */

/* A connection's coroutine suspends with what it waits for ... */
enum wait_for { WAIT_READABLE = 1, WAIT_WRITABLE = 2 };

/* ... and is resumed with why it runs again: its socket is ready, or the
 * server is shutting down (every wait then fails and the coroutine
 * returns). */
enum wake_reason { WAKE_READY = 1, WAKE_STOP = 2 };

/* One client connection. */
struct connection {
    int fd;
    corolink *co;                /* runs echo_connection(conn) */
    uint32_t epoll_events;       /* what fd is registered for (0: not yet) */
    unsigned long long echoed;   /* bytes written back */
    struct connection *prev, *next; /* the list of open connections */
};

/* The server: the listening socket, epoll, the open connections. */
struct server {
    int listen_fd;
    int epoll_fd;
    int listening;               /* the listening socket is in epoll */
    struct connection *open;     /* list head */
    long open_count;
    long closed_count;
    unsigned long long echoed;   /* bytes, connections closed so far */
};

/* The functions a coroutine waits in are kept out of line (noinline), so
 * that every one of them is a frame in gdb `bt`, corolink-stacks and perf:
 * a parked connection shows wait_readable <- read_some <- echo_connection.
 * noclone (gcc): no specialised copies named read_some.constprop.0. */
#if defined(__has_attribute)
#if __has_attribute(noclone)
#define FRAME __attribute__((noinline, noclone))
#endif
#endif
#ifndef FRAME
#define FRAME __attribute__((noinline))
#endif

/* ------------------------------------------------------------------------ */
/* Inside a connection's coroutine                                          */
/* ------------------------------------------------------------------------ */

/* Suspends until the loop sees the socket readable. 0, or -1 when the
 * server is shutting down. The value given to corolink_suspend() comes out
 * of the loop's corolink_resume(); what the loop resumes with comes back. */
FRAME static int wait_readable(corolink_yielder *y) {
    void *why = corolink_suspend(y, (void *)(uintptr_t)WAIT_READABLE);
    return (uintptr_t)why == WAKE_READY ? 0 : -1;
}

FRAME static int wait_writable(corolink_yielder *y) {
    void *why = corolink_suspend(y, (void *)(uintptr_t)WAIT_WRITABLE);
    return (uintptr_t)why == WAKE_READY ? 0 : -1;
}

/* Reads what is there, up to size bytes, waiting until something is:
 * bytes read, 0 at end of stream, -1 on error or shutdown. */
FRAME static ssize_t read_some(corolink_yielder *y, struct connection *c,
                               char *buf, size_t size) {
    for (;;) {
        ssize_t n = recv(c->fd, buf, size, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;                     /* e.g. ECONNRESET */
        if (wait_readable(y) != 0)
            return -1;
    }
}

/* Writes all n bytes, waiting whenever the socket's buffer is full:
 * 0, or -1 on error or shutdown. MSG_NOSIGNAL: a peer that went away gives
 * EPIPE, not SIGPIPE. */
FRAME static int write_all(corolink_yielder *y, struct connection *c,
                           const char *buf, size_t n) {
    while (n > 0) {
        ssize_t k = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (k >= 0) {
            buf += k;
            n -= (size_t)k;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (wait_writable(y) != 0)
            return -1;
    }
    return 0;
}

/* The body of a connection's coroutine: echo until the peer closes (or an
 * error, or shutdown). Returning finishes the coroutine; the loop then
 * closes the socket and destroys the coroutine. */
FRAME static void *echo_connection(corolink_yielder *y, void *input,
                                   void *arg) {
    (void)input; /* WAKE_READY: the first resume */
    struct connection *c = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read_some(y, c, buf, sizeof buf);
        if (n <= 0)
            break;
        if (write_all(y, c, buf, (size_t)n) != 0)
            break;
        c->echoed += (unsigned long long)n;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The loop's side                                                          */
/* ------------------------------------------------------------------------ */

static void close_connection(struct server *s, struct connection *c);

/* Resumes c's coroutine; it runs until it waits again (then fd's epoll
 * registration follows what it waits for) or finishes (then the
 * connection is closed). */
static void run_connection(struct server *s, struct connection *c,
                           enum wake_reason why) {
    void *waits_for;
    int rc = corolink_resume(c->co, (void *)(uintptr_t)why, &waits_for);
    if (rc == COROLINK_YIELD) {
        uint32_t events =
            (uintptr_t)waits_for == WAIT_READABLE ? EPOLLIN : EPOLLOUT;
        if (events == c->epoll_events)
            return;
        struct epoll_event ev = {.events = events, .data.ptr = c};
        int op = c->epoll_events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(s->epoll_fd, op, c->fd, &ev) == 0) {
            c->epoll_events = events;
            return;
        }
        /* It cannot wait: stop it (its wait fails, its body returns). */
        perror("echo_server: epoll_ctl");
        corolink_resume(c->co, (void *)(uintptr_t)WAKE_STOP, NULL);
    } else if (rc != COROLINK_RETURN) {
        fprintf(stderr, "echo_server: resuming \"%s\": %s\n",
                corolink_name(c->co), corolink_strerror(rc));
    }
    close_connection(s, c);
}

/* The listening socket leaves epoll while no descriptor is free (EMFILE)
 * and comes back when a connection closes. */
static void watch_listener(struct server *s, int on) {
    if (on == s->listening)
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(s->epoll_fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
                  s->listen_fd, &ev) != 0) {
        perror("echo_server: epoll_ctl (listening socket)");
        return;
    }
    s->listening = on;
}

/* Closes the socket and destroys the coroutine, which has finished: the
 * loop stops a coroutine (resumes it with WAKE_STOP) rather than destroy it
 * suspended, which would need the unwinder (see README.md, "Exceptions and
 * forced unwinding"). */
static void close_connection(struct server *s, struct connection *c) {
    close(c->fd); /* also removes it from epoll */
    corolink_destroy(c->co);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->open = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->open_count--;
    s->closed_count++;
    s->echoed += c->echoed;
    free(c);
    watch_listener(s, 1);
}

/* Accepts pending connections (at most 64 per call, so that the open ones
 * are served in between) and starts a coroutine for each. */
static void accept_connections(struct server *s) {
    for (int i = 0; i < 64; i++) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&peer, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: stop accepting (the listening socket
                 * would be reported ready again and again) until a
                 * connection closes; say so the first time. */
                static int said_so;
                struct rlimit rl = {0, 0};
                getrlimit(RLIMIT_NOFILE, &rl);
                if (!said_so++)
                    fprintf(stderr,
                            "echo_server: out of file descriptors with %ld "
                            "connections open (RLIMIT_NOFILE %llu): not "
                            "accepting until one closes\n",
                            s->open_count, (unsigned long long)rl.rlim_cur);
                watch_listener(s, 0);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                perror("echo_server: accept4");
            }
            return;
        }
        /* 64 KiB of stack is plenty for echo_connection() (its 4 KiB
         * buffer and a few frames); pages are touched only as used, about
         * two per connection here. */
        struct connection *c = calloc(1, sizeof *c);
        int rc = c ? corolink_create(&c->co, echo_connection, c, 64 * 1024)
                   : COROLINK_ENOMEM;
        if (rc != 0) {
            fprintf(stderr, "echo_server: new connection: %s\n",
                    corolink_strerror(rc));
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        /* The name debuggers and corolink_dump() show. */
        char name[COROLINK_NAME_MAX], addr[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
        snprintf(name, sizeof name, "conn %s:%u", addr,
                 (unsigned)ntohs(peer.sin_port));
        corolink_set_name(c->co, name);
        c->next = s->open;
        if (s->open)
            s->open->prev = c;
        s->open = c;
        s->open_count++;
        run_connection(s, c, WAKE_READY); /* runs until it first waits */
    }
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                    */
/* ------------------------------------------------------------------------ */

/* Every connection is a descriptor: raise the soft limit on open files to
 * the hard limit (an unprivileged process may), and say so when even that
 * is less than --exit-after asks for. */
static void raise_open_files_limit(long wanted_connections) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("echo_server: getrlimit(RLIMIT_NOFILE)");
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit raised = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
        else
            perror("echo_server: setrlimit(RLIMIT_NOFILE)");
    }
    /* stdin/out/err, the listening socket and epoll take 5 more. */
    if (wanted_connections > 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)wanted_connections + 5)
        fprintf(stderr,
                "echo_server: warning: the hard limit on open files "
                "(RLIMIT_NOFILE) is %llu: fewer than %ld connections can be "
                "open at once. Raise it (as root: ulimit -Hn, LimitNOFILE= "
                "in systemd, nofile in /etc/security/limits.conf).\n",
                (unsigned long long)rl.rlim_cur, wanted_connections);
}

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo) {
    (void)signo;
    stop_requested = 1;
}

/* Parses a whole decimal number in [min, max], or returns -1. */
static long parse_number(const char *s, long min, long max) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    return v;
}

static int usage(void) {
    fprintf(stderr, "usage: echo_server [--port P] [--exit-after N]\n");
    return 2;
}

int main(int argc, char **argv) {
    long port = 0, exit_after = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = parse_number(argv[++i], 0, 65535);
        else if (strcmp(argv[i], "--exit-after") == 0 && i + 1 < argc)
            exit_after = parse_number(argv[++i], 1, LONG_MAX);
        else
            return usage();
        if (port < 0 || exit_after < 0)
            return usage();
    }
    raise_open_files_limit(exit_after);

    /* SIGINT/SIGTERM are blocked except while waiting in epoll_pwait(), so
     * a stop request always interrupts the wait (no race with the flag). */
    sigset_t stop_signals, wait_mask;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct server s = {.listen_fd = -1, .epoll_fd = -1};
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    int one = 1;
    s.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.listen_fd < 0 ||
        setsockopt(s.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(s.listen_fd, (struct sockaddr *)&addr, sizeof addr) ||
        listen(s.listen_fd, SOMAXCONN) ||
        getsockname(s.listen_fd, (struct sockaddr *)&addr, &len)) {
        perror("echo_server: listening on 127.0.0.1");
        return 1;
    }
    s.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s.epoll_fd < 0) {
        perror("echo_server: epoll_create1");
        return 1;
    }
    watch_listener(&s, 1);
    if (!s.listening)
        return 1;
    printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout); /* a script waiting for the port reads it now */

    /* The scheduler: wait for ready sockets, resume whoever waits on them. */
    struct epoll_event events[256];
    int status = 0;
    while (!stop_requested && (exit_after == 0 || s.closed_count < exit_after)) {
        int n = epoll_pwait(s.epoll_fd, events, 256, -1, &wait_mask);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("echo_server: epoll_pwait");
            status = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL)
                accept_connections(&s);
            else
                run_connection(&s, events[i].data.ptr, WAKE_READY);
        }
    }

    /* Shutdown: every connection still open is resumed with WAKE_STOP, its
     * wait fails, its body returns; then it is closed and destroyed. */
    while (s.open) {
        struct connection *c = s.open;
        corolink_resume(c->co, (void *)(uintptr_t)WAKE_STOP, NULL);
        close_connection(&s, c);
    }
    close(s.epoll_fd);
    close(s.listen_fd);
    printf("echo_server: %ld connections, %llu bytes echoed\n",
           s.closed_count, s.echoed);
    return status;
}
