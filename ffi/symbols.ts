/**
 * The native symbols we call, as data. Each loader turns a spec into its runtime's FFI types.
 * Return types are `i32` wherever C returns `int`, so negative errnos stay negative.
 */
export type NativeType = "i32" | "u32" | "usize" | "ptr" | "void";
export interface SymbolSpec {
  readonly args: readonly NativeType[];
  readonly ret: NativeType;
}

/**
 * The oldest liburing this module works with: io_uring_get_events and io_uring_enter first appear in
 * its LIBURING_2.3 symbol version, and src/ring.ts reads the struct io_uring layout of 2.3 (2.2 lacks
 * sq.ring_mask / sq.ring_entries), which later releases keep.
 */
export const LIBURING_MIN_VERSION = "2.3";

/** Exported by liburing.so.2; the inline helpers of liburing.h are in `src/prep.ts`. */
export const uringSymbols = {
  /** int io_uring_queue_init_params(unsigned entries, struct io_uring *ring, struct io_uring_params *p) */
  io_uring_queue_init_params: { args: ["u32", "ptr", "ptr"], ret: "i32" },
  /** void io_uring_queue_exit(struct io_uring *ring) */
  io_uring_queue_exit: { args: ["ptr"], ret: "void" },
  /** int io_uring_submit(struct io_uring *ring) */
  io_uring_submit: { args: ["ptr"], ret: "i32" },
  /** int io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr) */
  io_uring_submit_and_wait: { args: ["ptr", "u32"], ret: "i32" },
  /** int io_uring_submit_and_wait_timeout(struct io_uring *ring, struct io_uring_cqe **cqe_ptr,
   *  unsigned wait_nr, struct __kernel_timespec *ts, sigset_t *sigmask) */
  io_uring_submit_and_wait_timeout: { args: ["ptr", "ptr", "u32", "ptr", "ptr"], ret: "i32" },
  /** int io_uring_get_events(struct io_uring *ring): flush overflow and deferred task work; since 2.3 */
  io_uring_get_events: { args: ["ptr"], ret: "i32" },
  /** int io_uring_enter(unsigned fd, unsigned to_submit, unsigned min_complete, unsigned flags, sigset_t *sig)
   *  Since 2.3. */
  io_uring_enter: { args: ["u32", "u32", "u32", "u32", "ptr"], ret: "i32" },
  /** struct io_uring_probe *io_uring_get_probe_ring(struct io_uring *ring) */
  io_uring_get_probe_ring: { args: ["ptr"], ret: "ptr" },
  /** void io_uring_free_probe(struct io_uring_probe *probe) */
  io_uring_free_probe: { args: ["ptr"], ret: "void" },
  /** int io_uring_register_buf_ring(struct io_uring *ring, struct io_uring_buf_reg *reg, unsigned flags) */
  io_uring_register_buf_ring: { args: ["ptr", "ptr", "u32"], ret: "i32" },
  /** int io_uring_register_ring_fd(struct io_uring *ring): later io_uring_enter calls of this thread
   *  pass a registered index instead of the fd (IORING_REGISTER_RING_FDS, 5.18); since 2.2 */
  io_uring_register_ring_fd: { args: ["ptr"], ret: "i32" },
  /** int io_uring_register_eventfd(struct io_uring *ring, int fd): the kernel signals `fd` as it posts
   *  completions (unless IORING_CQ_EVENTFD_DISABLED is set in the CQ ring's flags) */
  io_uring_register_eventfd: { args: ["ptr", "i32"], ret: "i32" },
  /** int io_uring_unregister_buf_ring(struct io_uring *ring, int bgid) */
  io_uring_unregister_buf_ring: { args: ["ptr", "i32"], ret: "i32" },
} as const satisfies Record<string, SymbolSpec>;

/** From libc.so.6. Those returning `int` report failure as -1 plus errno. */
export const libcSymbols = {
  /** void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset) */
  mmap: { args: ["ptr", "usize", "i32", "i32", "i32", "usize"], ret: "ptr" },
  /** int munmap(void *addr, size_t length) */
  munmap: { args: ["ptr", "usize"], ret: "i32" },
  /** int madvise(void *addr, size_t length, int advice) */
  madvise: { args: ["ptr", "usize", "i32"], ret: "i32" },
  /** int *__errno_location(void) */
  __errno_location: { args: [], ret: "ptr" },
  /** int socket(int domain, int type, int protocol) */
  socket: { args: ["i32", "i32", "i32"], ret: "i32" },
  /** int getsockopt(int fd, int level, int name, void *value, socklen_t *len) */
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], ret: "i32" },
  /** int setsockopt(int fd, int level, int name, const void *value, socklen_t len) */
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], ret: "i32" },
  /** int bind(int fd, const struct sockaddr *addr, socklen_t len) */
  bind: { args: ["i32", "ptr", "u32"], ret: "i32" },
  /** int listen(int fd, int backlog) */
  listen: { args: ["i32", "i32"], ret: "i32" },
  /** int shutdown(int fd, int how) */
  shutdown: { args: ["i32", "i32"], ret: "i32" },
  /** int connect(int fd, const struct sockaddr *addr, socklen_t len) */
  connect: { args: ["i32", "ptr", "u32"], ret: "i32" },
  /** int getsockname(int fd, struct sockaddr *addr, socklen_t *len) */
  getsockname: { args: ["i32", "ptr", "ptr"], ret: "i32" },
  /** int getpeername(int fd, struct sockaddr *addr, socklen_t *len) */
  getpeername: { args: ["i32", "ptr", "ptr"], ret: "i32" },
  /** int close(int fd) */
  close: { args: ["i32"], ret: "i32" },
  /** int open(const char *path, int flags, mode_t mode) */
  open: { args: ["ptr", "i32", "u32"], ret: "i32" },
  /** int pipe2(int fds[2], int flags) */
  pipe2: { args: ["ptr", "i32"], ret: "i32" },
  /** int eventfd(unsigned initval, int flags) */
  eventfd: { args: ["u32", "i32"], ret: "i32" },
  /** int getpid(void) */
  getpid: { args: [], ret: "i32" },
} as const satisfies Record<string, SymbolSpec>;
