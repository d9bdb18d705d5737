/* http-bench: requests through a web server, side by side, one kept-alive connection per
 * request kind. Rounds interleave the kinds (round r sends request 1, 2, ... k once
 * each), so a busy machine slows every kind alike and the ratios stay fair.
 *
 * usage: http-bench PORT ROUNDS REQUEST-FILE...
 *   each REQUEST-FILE holds the raw HTTP/1.1 request bytes (keep-alive);
 *   prints one line per file: "median_us best_us status body_bytes".
 * Response framing: Content-Length or chunked. Exits non-zero on any error or a
 * status other than the first one seen for that kind.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_KINDS 16
#define BUF 1048576

struct kind {
    char *req;
    size_t len;
    int fd, status;
    long body, *us;
};

static char buf[BUF];

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("http-bench: connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Reads until at least `need` bytes are in buf[0..*have]. */
static void fill(int fd, size_t *have, size_t need) {
    while (*have < need) {
        if (need > BUF) {
            fprintf(stderr, "http-bench: response larger than %d bytes\n", BUF);
            exit(1);
        }
        ssize_t n = read(fd, buf + *have, BUF - *have);
        if (n <= 0) {
            fprintf(stderr, "http-bench: connection closed mid-response\n");
            exit(1);
        }
        *have += n;
    }
}

/* One request/response; returns the body length, sets *status. */
static long exchange(struct kind *k, int *status) {
    if (write(k->fd, k->req, k->len) != (ssize_t)k->len) {
        perror("http-bench: write");
        exit(1);
    }
    size_t have = 0, head = 0;
    char *end;
    for (;;) {
        fill(k->fd, &have, have + 1);
        buf[have] = 0;
        if ((end = strstr(buf, "\r\n\r\n"))) break;
    }
    head = end - buf + 4;
    *status = atoi(buf + 9);
    long body = -1;
    int chunked = 0;
    for (char *l = strstr(buf, "\r\n") + 2; l < buf + head - 2; l = strstr(l, "\r\n") + 2) {
        if (!strncasecmp(l, "Content-Length:", 15)) body = atol(l + 15);
        if (!strncasecmp(l, "Transfer-Encoding:", 18) && strstr(l, "chunked") < strstr(l, "\r\n"))
            chunked = 1;
    }
    if (!chunked) {
        if (body < 0) {
            fprintf(stderr, "http-bench: no Content-Length and not chunked\n");
            exit(1);
        }
        fill(k->fd, &have, head + body);
        return body;
    }
    long total = 0;
    size_t at = head;
    for (;;) {
        char *nl;
        for (;;) {
            fill(k->fd, &have, at + 1);
            buf[have] = 0;
            if ((nl = strstr(buf + at, "\r\n"))) break;
            fill(k->fd, &have, have + 1);
        }
        long n = strtol(buf + at, NULL, 16);
        at = nl - buf + 2;
        fill(k->fd, &have, at + n + 2);
        at += n + 2;
        total += n;
        if (n == 0) return total; /* no trailers from a CGI */
    }
}

static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4 || argc - 3 > MAX_KINDS) {
        fprintf(stderr, "usage: http-bench PORT ROUNDS REQUEST-FILE...\n");
        return 2;
    }
    int port = atoi(argv[1]), rounds = atoi(argv[2]), kinds = argc - 3;
    struct kind k[MAX_KINDS];
    for (int i = 0; i < kinds; i++) {
        FILE *f = fopen(argv[3 + i], "rb");
        if (!f) {
            perror(argv[3 + i]);
            return 1;
        }
        k[i].req = malloc(65536);
        k[i].len = fread(k[i].req, 1, 65536, f);
        fclose(f);
        k[i].fd = connect_to(port);
        k[i].status = 0;
        k[i].us = calloc(rounds, sizeof(long));
    }
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < kinds; i++) {
            struct timespec t0, t1;
            int status;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            long body = exchange(&k[i], &status);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (k[i].status == 0) k[i].status = status;
            if (status != k[i].status) {
                fprintf(stderr, "http-bench: %s: status %d, then %d\n", argv[3 + i], k[i].status, status);
                return 1;
            }
            k[i].body = body;
            k[i].us[r] = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
        }
    }
    for (int i = 0; i < kinds; i++) {
        qsort(k[i].us, rounds, sizeof(long), cmp);
        printf("%ld %ld %d %ld\n", k[i].us[rounds / 2], k[i].us[0], k[i].status, k[i].body);
    }
    return 0;
}
