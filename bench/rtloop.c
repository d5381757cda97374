/* The C runtime client's cost per invocation, against the bare exchange.
 *
 *   rtloop N BOOTSTRAP   serve N invocations to BOOTSTRAP (a function built with tdrt) over a
 *                        socket pair it inherits as fd 3, the way tenantd serves custom runtimes
 *   rtloop N --floor     the same exchange with a client that only moves the bytes: the same
 *                        poll, recv and sendmsg per invocation, no HTTP parsing, no handler
 *
 * Each answer carries the 202 of the previous response and the next event in one write, as
 * tenantd's coalescing does. Both ends are pinned to the CPU rtloop starts on, so that a
 * measurement does not depend on where the scheduler puts them. Prints one JSON line:
 * {"invocations":N,"wall_us":..,"user_us":..,"sys_us":..,"switches":..}, the client's CPU time
 * from wait4(). bench/run.mjs compares the two. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, sched_getcpu */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NEXT_HEAD  "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
#define REQUEST_ID "8f9c1c52-6a7e-4a43-9f9e-3f4c1f1f2a3b"
#define PAYLOAD                                                                                    \
    "{\"data\":"                                                                                   \
    "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"         \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}"
#define ACCEPTED                                                                                   \
    "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n"        \
    "{\"status\":\"OK\"}\n"

static char event[2048];    /* GET /next's answer, as tenantd writes it */
static char response[2048]; /* the response tdrt posts for it (the echo) */
static const char next_request[] = NEXT_HEAD "Host: 127.0.0.1:9\r\n"
                                             "User-Agent: tdrt/0.2 (tenantd C runtime)\r\n\r\n";
static size_t event_len, response_len;

static void die(const char *what)
{
    fprintf(stderr, "rtloop: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void build_messages(void)
{
    int n =
        snprintf(event, sizeof(event),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Lambda-Runtime-Aws-Request-Id: " REQUEST_ID "\r\n"
                 "Lambda-Runtime-Deadline-Ms: 4102444800000\r\n"
                 "Lambda-Runtime-Invoked-Function-Arn: "
                 "arn:aws:lambda:us-east-1:000000000000:function:echo\r\n"
                 "Lambda-Runtime-Trace-Id: "
                 "Root=1-5f84c7a5-6c0a1e7e0e3d4b0b8a3b2c1d;Parent=53995c3f42cd8ad8;Sampled=0\r\n"
                 "Lambda-Runtime-Aws-Tenant-Id: tenant-1\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 strlen(PAYLOAD), PAYLOAD);
    event_len = (size_t)n;
    n = snprintf(response, sizeof(response),
                 "POST /2018-06-01/runtime/invocation/" REQUEST_ID "/response HTTP/1.1\r\n"
                 "Host: 127.0.0.1:9\r\nUser-Agent: tdrt/0.2 (tenantd C runtime)\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(PAYLOAD), PAYLOAD);
    response_len = (size_t)n;
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("send");
        p += n;
        len -= (size_t)n;
    }
}

/* The floor: wait, read one answer (202 + event, or the first event alone), send the response
 * and the next GET in one sendmsg, as tdrt does, until the server closes. */
__attribute__((noreturn)) static void floor_client(int fd, size_t first_len)
{
    static char buf[8192];
    size_t want = first_len;
    if (send(fd, next_request, sizeof(next_request) - 1, MSG_NOSIGNAL) < 0)
        _exit(1);
    for (;;) {
        size_t have = 0;
        while (have < want) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                _exit(1);
            ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0)
                _exit(0);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                _exit(1);
            if (n > 0)
                have += (size_t)n;
        }
        struct iovec iov[2] = {
            {.iov_base = response, .iov_len = response_len},
            {.iov_base = (void *)next_request, .iov_len = sizeof(next_request) - 1}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
        if (sendmsg(fd, &m, MSG_NOSIGNAL) != (ssize_t)(response_len + sizeof(next_request) - 1))
            _exit(1);
        want = sizeof(ACCEPTED) - 1 + event_len;
    }
}

static pid_t start_client(int fd, int server_fd, char **argv, bool use_floor)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid > 0)
        return pid;
    close(server_fd); /* the floor never execs: only the server's end of the pair stays open */
    if (use_floor)
        floor_client(fd, event_len);
    /* the runtime: the socket as fd 3 (not close-on-exec), stderr quiet (at the end tdrt
     * reports the closed socket and a refused fallback connection) */
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    bool at_3 = fd == 3 ? fcntl(fd, F_SETFD, 0) == 0 : dup2(fd, 3) == 3;
    if (!at_3 || null < 0 || dup2(null, STDERR_FILENO) < 0)
        _exit(127);
    setenv("TENANTD_RUNTIME_API_FD", "3", 1);
    setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9", 1);
    execv(argv[0], argv);
    _exit(127);
}

/* Read until the client's next GET /next head is complete: true when it came, behind the
 * previous event's response when expect_response (not an error report). The client gets 10 s. */
static bool read_next_request(int fd, bool expect_response)
{
    static char buf[16384];
    size_t have = 0;
    for (;;) {
        const char *get = memmem(buf, have, NEXT_HEAD, sizeof(NEXT_HEAD) - 1);
        if (get && memmem(get, have - (size_t)(get - buf), "\r\n\r\n", 4)) {
            static const char posted[] = "/runtime/invocation/" REQUEST_ID "/response ";
            if (!expect_response || memmem(buf, have, posted, sizeof(posted) - 1))
                return true;
            fprintf(stderr, "rtloop: the client did not post a response: %.200s\n", buf);
            return false;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, 10000);
        if (ready < 0 && errno == EINTR)
            continue;
        if (have == sizeof(buf) || ready <= 0)
            return false;
        ssize_t n = read(fd, buf + have, sizeof(buf) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        have += (size_t)n;
    }
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rtloop N BOOTSTRAP [ARGS...] | rtloop N --floor\n");
        return 2;
    }
    long count = strtol(argv[1], NULL, 10);
    bool use_floor = strcmp(argv[2], "--floor") == 0;
    if (count < 1) {
        fprintf(stderr, "rtloop: N must be a positive number\n");
        return 2;
    }
    build_messages();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    if (sched_setaffinity(0, sizeof(one), &one) < 0)
        die("sched_setaffinity");

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair");
    pid_t pid = start_client(sv[1], sv[0], argv + 2, use_floor);
    close(sv[1]);

    static char out[sizeof(ACCEPTED) + sizeof(event)];
    double start = now_us();
    long served = 0;
    for (; served <= count; served++) {
        if (!read_next_request(sv[0], served > 0))
            break;
        size_t len = 0;
        if (served > 0) { /* the previous response's 202 rides with the next event */
            memcpy(out, ACCEPTED, sizeof(ACCEPTED) - 1);
            len = sizeof(ACCEPTED) - 1;
        }
        if (served == count) {
            write_all(sv[0], out, len);
            break;
        }
        memcpy(out + len, event, event_len);
        write_all(sv[0], out, len + event_len);
    }
    double wall = now_us() - start;
    shutdown(sv[0], SHUT_RDWR);
    close(sv[0]);

    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        die("wait4");
    if (served < count) {
        fprintf(stderr, "rtloop: the client stopped after %ld of %ld invocations\n", served, count);
        return 1;
    }
    printf("{\"invocations\":%ld,\"wall_us\":%.0f,\"user_us\":%.0f,\"sys_us\":%.0f,"
           "\"switches\":%ld}\n",
           count, wall, (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec,
           (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec,
           ru.ru_nvcsw + ru.ru_nivcsw);
    return 0;
}
