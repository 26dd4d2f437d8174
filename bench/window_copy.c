// What a buffer ring's window costs the kernel's receive copy: one TCP stream over 127.0.0.1 (a child on
// CPU 1 writes 64 KiB at a time), received on the calling CPU either by recv() into one 64 KiB buffer
// (what the built-ins do) or by io_uring receives that pick from a buffer ring of N 64 KiB buffers
// (each buffer given back to the ring's tail once received, so the kernel rotates through all N).
// Prints the receiver's CPU time (user + system) per MiB received.
//
//   gcc -O2 -o /tmp/window_copy bench/window_copy.c -luring
//   taskset -c 0 /tmp/window_copy 0      # recv() into one buffer
//   taskset -c 0 /tmp/window_copy 128    # a ring of 128 x 64 KiB (8 MiB: the old default window)
//   taskset -c 0 /tmp/window_copy 4      # a ring of 4 x 64 KiB (256 KiB: the default window now)
#define _GNU_SOURCE
#include <liburing.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define TOTAL (4L << 30)

static double cpu_seconds(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

static void sender(struct sockaddr_in *addr) {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(1, &cpus);
    if (sched_setaffinity(0, sizeof cpus, &cpus) < 0) perror("window_copy: sender on CPU 1");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)addr, sizeof *addr) < 0) _exit(1);
    char *b = aligned_alloc(4096, BUF_SIZE);
    memset(b, 7, BUF_SIZE);
    for (long sent = 0; sent < TOTAL;) {
        long n = write(s, b, BUF_SIZE);
        if (n <= 0) break;
        sent += n;
    }
    _exit(0);
}

// Receives TOTAL bytes through a buffer ring of `count` buffers; returns the bytes received.
static long receive_ring(int fd, unsigned count) {
    struct io_uring ring;
    if (io_uring_queue_init(8, &ring, 0) < 0) return -1;
    size_t ring_bytes = count * sizeof(struct io_uring_buf) < 4096 ? 4096 : count * sizeof(struct io_uring_buf);
    struct io_uring_buf_ring *br = aligned_alloc(4096, ring_bytes);
    memset(br, 0, ring_bytes);
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = count, .bgid = 0};
    if (io_uring_register_buf_ring(&ring, &reg, 0) < 0) return -1;
    char *mem = aligned_alloc(4096, (size_t)count * BUF_SIZE);
    memset(mem, 0, (size_t)count * BUF_SIZE); // every page present before the clock starts
    for (unsigned i = 0; i < count; i++) io_uring_buf_ring_add(br, mem + (size_t)i * BUF_SIZE, BUF_SIZE, i, count - 1, i);
    io_uring_buf_ring_advance(br, count);
    long got = 0;
    while (got < TOTAL) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv(sqe, fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 0;
        struct io_uring_cqe *cqe;
        if (io_uring_submit_and_wait(&ring, 1) < 0 || io_uring_peek_cqe(&ring, &cqe) < 0) return -1;
        int res = cqe->res;
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        io_uring_cqe_seen(&ring, cqe);
        if (res <= 0) break;
        got += res;
        io_uring_buf_ring_add(br, mem + (size_t)bid * BUF_SIZE, BUF_SIZE, bid, count - 1, 0);
        io_uring_buf_ring_advance(br, 1);
    }
    return got;
}

int main(int argc, char **argv) {
    unsigned count = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    if (count & (count - 1)) {
        fprintf(stderr, "window_copy: the ring's buffer count must be a power of 2 (or 0 for recv())\n");
        return 2;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(l, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&addr, &len) < 0) {
        perror("window_copy: listen");
        return 1;
    }
    if (fork() == 0) sender(&addr);
    int fd = accept(l, NULL, NULL);
    double t0 = cpu_seconds();
    long got = 0;
    if (count == 0) {
        char *b = aligned_alloc(4096, BUF_SIZE);
        memset(b, 0, BUF_SIZE);
        for (long n; got < TOTAL && (n = recv(fd, b, BUF_SIZE, 0)) > 0;) got += n;
    } else {
        got = receive_ring(fd, count);
    }
    double t1 = cpu_seconds();
    close(fd);
    wait(NULL);
    if (got < TOTAL) {
        fprintf(stderr, "window_copy: the stream ended after %ld of %ld bytes\n", got < 0 ? 0 : got, TOTAL);
        return 1;
    }
    double us_per_mib = (t1 - t0) / (got / 1048576.0) * 1e6;
    if (count) printf("ring of %u x 64 KiB: %.0f us of receiver CPU per MiB\n", count, us_per_mib);
    else printf("recv() into one buffer: %.0f us of receiver CPU per MiB\n", us_per_mib);
    return 0;
}
