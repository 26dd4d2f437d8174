/*
 * One TCP client that sends a 64-byte message every INTERVAL microseconds and waits for its echo,
 * for SECS seconds (after 200 warm-up round trips). It verifies every echoed byte and prints
 * msgs=.. rate=.. errors=.. p50_us=.. p99_us=.. . Pacing is a busy-wait on CLOCK_MONOTONIC, so the
 * server sees the interval itself (timers would round it up); the client's CPU is not measured.
 * Build: gcc -O2 -o paced-client bench/paced_client.c
 * Usage: paced-client PORT INTERVAL_US SECS
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One round trip; returns its time in us, or -1 on an error or a wrong byte. */
static double round_trip(int fd, unsigned seq) {
    unsigned char out[64], in[64];
    for (int i = 0; i < 64; i++) out[i] = (unsigned char)(seq * 31 + i);
    double t0 = now_us();
    if (send(fd, out, sizeof out, 0) != (ssize_t)sizeof out) return -1;
    size_t got = 0;
    while (got < sizeof in) {
        ssize_t n = recv(fd, in + got, sizeof in - got, 0);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return memcmp(in, out, sizeof in) == 0 ? now_us() - t0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT INTERVAL_US SECS\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    double interval = atof(argv[2]), secs = atof(argv[3]);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned seq = 0;
    long errors = 0;
    for (int i = 0; i < 200; i++) errors += round_trip(fd, seq++) < 0;
    size_t cap = (size_t)(secs * 1e6 / (interval > 1 ? interval : 1)) + 16, n = 0;
    double *rtt = malloc(cap * sizeof *rtt), start = now_us(), next = start;
    while (now_us() - start < secs * 1e6 && n < cap) {
        double t = round_trip(fd, seq++);
        if (t < 0) errors++;
        else rtt[n++] = t;
        next += interval;
        while (now_us() < next) {
        }
    }
    double elapsed = (now_us() - start) / 1e6;
    qsort(rtt, n, sizeof *rtt, cmp);
    printf("msgs=%zu rate=%.0f errors=%ld p50_us=%.1f p99_us=%.1f\n", n, n / elapsed, errors,
           n ? rtt[n / 2] : 0, n ? rtt[(size_t)(n * 0.99)] : 0);
    close(fd);
    return errors ? 1 : 0;
}
