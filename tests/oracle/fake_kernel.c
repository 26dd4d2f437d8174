/*
 * A stand-in for liburing.so.2 (loaded through URING_LIB) that makes the real liburing look like an
 * older or restricted kernel, so tests can check the fallbacks and errors promised for kernels we do
 * not run on. FAKE_KERNEL selects what it refuses:
 *   "5.15"   io_uring_setup refuses COOP_TASKRUN, TASKRUN_FLAG, SINGLE_ISSUER and DEFER_TASKRUN (EINVAL),
 *            buffer rings cannot be registered, the opcode probe ends at IORING_OP_LINKAT, and the
 *            feature bits of later kernels are cleared;
 *   "6.0"    io_uring_setup refuses DEFER_TASKRUN (EINVAL);
 *   "enosys" io_uring_setup fails with ENOSYS (a kernel built without io_uring).
 * Everything else goes to the real library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_COOP_TASKRUN (1u << 8)
#define SETUP_TASKRUN_FLAG (1u << 9)
#define SETUP_SINGLE_ISSUER (1u << 12)
#define SETUP_DEFER_TASKRUN (1u << 13)
#define OP_LINKAT 39
#define FEATURES_OF_5_15 ((1u << 13) - 1) /* IORING_FEAT_* up to IORING_FEAT_RSRC_TAGS */
#define PARAMS_FLAGS 8                    /* struct io_uring_params */
#define PARAMS_FEATURES 20
#define RING_FEATURES 200                 /* struct io_uring (liburing 2.3) */
#define PROBE_OPS_LEN 1                   /* struct io_uring_probe */
#define PROBE_OPS 16
#define PROBE_OP_SIZE 8
#define PROBE_OP_FLAGS 2

static void *real(const char *name) {
  static void *lib;
  if (!lib) lib = dlopen("liburing.so.2", RTLD_NOW | RTLD_LOCAL);
  return lib ? dlsym(lib, name) : NULL;
}

static int kernel(const char *version) {
  const char *fake = getenv("FAKE_KERNEL");
  return fake && strcmp(fake, version) == 0;
}

int io_uring_queue_init_params(unsigned entries, void *ring, uint8_t *params) {
  uint32_t flags;
  memcpy(&flags, params + PARAMS_FLAGS, 4);
  if (kernel("enosys")) return -ENOSYS;
  if (kernel("5.15") && (flags & (SETUP_COOP_TASKRUN | SETUP_TASKRUN_FLAG | SETUP_SINGLE_ISSUER | SETUP_DEFER_TASKRUN)))
    return -EINVAL;
  if (kernel("6.0") && (flags & SETUP_DEFER_TASKRUN)) return -EINVAL;
  int (*init)(unsigned, void *, void *) = real("io_uring_queue_init_params");
  int ret = init(entries, ring, params);
  if (ret == 0 && kernel("5.15")) {
    uint32_t features;
    memcpy(&features, params + PARAMS_FEATURES, 4);
    features &= FEATURES_OF_5_15;
    memcpy(params + PARAMS_FEATURES, &features, 4);
    memcpy((uint8_t *)ring + RING_FEATURES, &features, 4);
  }
  return ret;
}

uint8_t *io_uring_get_probe_ring(void *ring) {
  uint8_t *(*get)(void *) = real("io_uring_get_probe_ring");
  uint8_t *probe = get(ring);
  if (probe && kernel("5.15")) {
    for (int i = 0; i < probe[PROBE_OPS_LEN]; i++) {
      uint8_t *op = probe + PROBE_OPS + i * PROBE_OP_SIZE;
      if (op[0] > OP_LINKAT) memset(op + PROBE_OP_FLAGS, 0, 2);
    }
  }
  return probe;
}

int io_uring_register_buf_ring(void *ring, void *reg, unsigned flags) {
  if (kernel("5.15")) return -EINVAL;
  int (*reg_ring)(void *, void *, unsigned) = real("io_uring_register_buf_ring");
  return reg_ring(ring, reg, flags);
}

#define FORWARD(ret, name, params, args)  \
  ret name params {                       \
    ret(*fn) params = real(#name);        \
    return fn args;                       \
  }

void io_uring_queue_exit(void *ring) {
  void (*fn)(void *) = real("io_uring_queue_exit");
  fn(ring);
}
void io_uring_free_probe(void *probe) {
  void (*fn)(void *) = real("io_uring_free_probe");
  fn(probe);
}
FORWARD(int, io_uring_submit, (void *ring), (ring))
FORWARD(int, io_uring_submit_and_wait, (void *ring, unsigned n), (ring, n))
FORWARD(int, io_uring_submit_and_wait_timeout, (void *ring, void **cqe, unsigned n, void *ts, void *sigmask),
        (ring, cqe, n, ts, sigmask))
FORWARD(int, io_uring_get_events, (void *ring), (ring))
FORWARD(int, io_uring_enter, (unsigned fd, unsigned submit, unsigned wait, unsigned flags, void *sigmask),
        (fd, submit, wait, flags, sigmask))
FORWARD(int, io_uring_register_ring_fd, (void *ring), (ring))
FORWARD(int, io_uring_register_eventfd, (void *ring, int fd), (ring, fd))
FORWARD(int, io_uring_unregister_buf_ring, (void *ring, int group), (ring, group))
