/**
 * Kernel and liburing ABI: every opcode, flag, struct offset and size we use, named after the header
 * field it mirrors (`include/uapi/linux/io_uring.h` of Linux, `liburing.h` 2.3). x86-64 / aarch64 LP64.
 */

// ---- enum io_uring_op (grouped by the kernel that added them) ----
/** Opcode: do nothing; completes with res 0. */
export const IORING_OP_NOP = 0;
/** Opcode: readv(2) / preadv2(2). */
export const IORING_OP_READV = 1;
/** Opcode: writev(2) / pwritev2(2). */
export const IORING_OP_WRITEV = 2;
/** Opcode: wait for poll(2) events on one fd, the events in res (Linux 5.1); multishot with IORING_POLL_ADD_MULTI. */
export const IORING_OP_POLL_ADD = 6;
/** POLL_ADD flag (sqe->len): a completion per wake-up, IORING_CQE_F_MORE while armed (Linux 5.13). */
export const IORING_POLL_ADD_MULTI = 1 << 0;
/** Opcode: sendmsg(2) (Linux 5.3). */
export const IORING_OP_SENDMSG = 9;
/** Opcode: recvmsg(2) (Linux 5.3); with IORING_RECV_MULTISHOT, multishot (6.0). */
export const IORING_OP_RECVMSG = 10;
/** Opcode: a timeout, or a wait for a number of completions (Linux 5.4). */
export const IORING_OP_TIMEOUT = 11;
/** Opcode: remove (or update) a timeout (Linux 5.5). */
export const IORING_OP_TIMEOUT_REMOVE = 12;
/** Opcode: accept4(2) (Linux 5.5); multishot with IORING_ACCEPT_MULTISHOT (5.19). */
export const IORING_OP_ACCEPT = 13;
/** Opcode: cancel requests by user_data (or fd, with IORING_ASYNC_CANCEL_FD) (Linux 5.5). */
export const IORING_OP_ASYNC_CANCEL = 14;
/** Opcode: a timeout for the request linked before it (Linux 5.5). */
export const IORING_OP_LINK_TIMEOUT = 15;
/** Opcode: connect(2) (Linux 5.5). */
export const IORING_OP_CONNECT = 16;
/** Opcode: close(2) (Linux 5.6). */
export const IORING_OP_CLOSE = 19;
/** Opcode: read(2) / pread(2) (Linux 5.6); may select a provided buffer. */
export const IORING_OP_READ = 22;
/** Opcode: write(2) / pwrite(2) (Linux 5.6). */
export const IORING_OP_WRITE = 23;
/** Opcode: send(2) (Linux 5.6). */
export const IORING_OP_SEND = 26;
/** Opcode: recv(2) (Linux 5.6); may select a provided buffer, multishot with IORING_RECV_MULTISHOT (6.0). */
export const IORING_OP_RECV = 27;
/** Opcode: hand buffers to a provided-buffer group (Linux 5.7). */
export const IORING_OP_PROVIDE_BUFFERS = 31;
/** Opcode: take unused buffers back from a provided-buffer group (Linux 5.7). */
export const IORING_OP_REMOVE_BUFFERS = 32;
/** Opcode: shutdown(2) (Linux 5.11). */
export const IORING_OP_SHUTDOWN = 34;
/** Opcode: post a CQE to another ring, named by its fd (Linux 5.18). */
export const IORING_OP_MSG_RING = 40;
/** Opcode: socket(2) (Linux 5.19). */
export const IORING_OP_SOCKET = 45;
/** Opcode: zero-copy send; a notification (IORING_CQE_F_NOTIF) follows once the memory is free (Linux 6.0). */
export const IORING_OP_SEND_ZC = 47;
/** Opcode: zero-copy sendmsg (Linux 6.1). */
export const IORING_OP_SENDMSG_ZC = 48;
/** Opcode: multishot read with buffer selection (Linux 6.7). */
export const IORING_OP_READ_MULTISHOT = 49;
/** Size of the opcode table that probeFeatures() names opcodes from (see OPCODE_NAMES). */
export const IORING_OP_LAST_KNOWN = 64;

/** Opcode names for the probe, index = opcode (enum io_uring_op order). */
export const OPCODE_NAMES = [
  "NOP",
  "READV",
  "WRITEV",
  "FSYNC",
  "READ_FIXED",
  "WRITE_FIXED",
  "POLL_ADD",
  "POLL_REMOVE",
  "SYNC_FILE_RANGE",
  "SENDMSG",
  "RECVMSG",
  "TIMEOUT",
  "TIMEOUT_REMOVE",
  "ACCEPT",
  "ASYNC_CANCEL",
  "LINK_TIMEOUT",
  "CONNECT",
  "FALLOCATE",
  "OPENAT",
  "CLOSE",
  "FILES_UPDATE",
  "STATX",
  "READ",
  "WRITE",
  "FADVISE",
  "MADVISE",
  "SEND",
  "RECV",
  "OPENAT2",
  "EPOLL_CTL",
  "SPLICE",
  "PROVIDE_BUFFERS",
  "REMOVE_BUFFERS",
  "TEE",
  "SHUTDOWN",
  "RENAMEAT",
  "UNLINKAT",
  "MKDIRAT",
  "SYMLINKAT",
  "LINKAT",
  "MSG_RING",
  "FSETXATTR",
  "SETXATTR",
  "FGETXATTR",
  "GETXATTR",
  "SOCKET",
  "URING_CMD",
  "SEND_ZC",
  "SENDMSG_ZC",
  "READ_MULTISHOT",
  "WAITID",
  "FUTEX_WAIT",
  "FUTEX_WAKE",
  "FUTEX_WAITV",
  "FIXED_FD_INSTALL",
  "FTRUNCATE",
  "BIND",
  "LISTEN",
  "RECV_ZC",
  "EPOLL_WAIT",
  "READV_FIXED",
  "WRITEV_FIXED",
  "PIPE",
] as const;

// ---- sqe->flags (IOSQE_*) ----
/** sqe->flags: `fd` is an index into the registered files. */
export const IOSQE_FIXED_FILE = 1 << 0;
/** sqe->flags: start only once every earlier request has completed. */
export const IOSQE_IO_DRAIN = 1 << 1;
/** sqe->flags: the next SQE starts only after this one succeeds. */
export const IOSQE_IO_LINK = 1 << 2;
/** sqe->flags: like IOSQE_IO_LINK, but the link holds even if this one fails. */
export const IOSQE_IO_HARDLINK = 1 << 3;
/** sqe->flags: always run from a kernel worker thread. */
export const IOSQE_ASYNC = 1 << 4;
/** sqe->flags: pick a buffer from provided-buffer group `buf_group` when data arrives (setBufferSelect). */
export const IOSQE_BUFFER_SELECT = 1 << 5;
/** sqe->flags: post no completion if the request succeeds. */
export const IOSQE_CQE_SKIP_SUCCESS = 1 << 6;

// ---- io_uring_params.flags (IORING_SETUP_*) ----
/** Setup flag: busy-poll for I/O completions (O_DIRECT block devices). */
export const IORING_SETUP_IOPOLL = 1 << 0;
/** Setup flag: a kernel thread polls the SQ, so submitting needs no system call. */
export const IORING_SETUP_SQPOLL = 1 << 1;
/** Setup flag: pin the SQPOLL thread to `sq_thread_cpu`. */
export const IORING_SETUP_SQ_AFF = 1 << 2;
/** Setup flag: `cq_entries` sets the CQ size (Ring always sets it). */
export const IORING_SETUP_CQSIZE = 1 << 3;
/** Setup flag: clamp entries to the kernel's maximum instead of failing. */
export const IORING_SETUP_CLAMP = 1 << 4;
/** Setup flag: keep submitting a batch after one SQE fails to prepare. */
export const IORING_SETUP_SUBMIT_ALL = 1 << 7;
/** Setup flag: completions do not interrupt a running task; it runs their work at its next kernel entry (5.19). */
export const IORING_SETUP_COOP_TASKRUN = 1 << 8;
/** Setup flag: IORING_SQ_TASKRUN tells when task work waits (with COOP_TASKRUN; Linux 5.19). */
export const IORING_SETUP_TASKRUN_FLAG = 1 << 9;
/** Setup flag: only one task submits (Linux 6.0). */
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
/** Setup flag: task work runs only when the task waits for completions (with SINGLE_ISSUER; Linux 6.1). */
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13;

// ---- io_uring_params.features (IORING_FEAT_*) ----
/** Feature bit: the SQ and CQ rings share one mapping. */
export const IORING_FEAT_SINGLE_MMAP = 1 << 0;
/** Feature bit: completions are not dropped when the CQ overflows. */
export const IORING_FEAT_NODROP = 1 << 1;
/** Feature bit: sockets that are not ready are polled internally, not handed to a worker thread. */
export const IORING_FEAT_FAST_POLL = 1 << 5;
/** Feature bit: io_uring_enter takes a timeout (submit-and-wait with a timeout). */
export const IORING_FEAT_EXT_ARG = 1 << 8;
/** Feature bit: IOSQE_CQE_SKIP_SUCCESS is supported. */
export const IORING_FEAT_CQE_SKIP = 1 << 11;
/** Feature bit: bundles (IORING_RECVSEND_BUNDLE) are supported (Linux 6.10). */
export const IORING_FEAT_RECVSEND_BUNDLE = 1 << 14;

// ---- sq ring flags (*sq->kflags) ----
/** SQ ring flag: the SQPOLL thread sleeps; io_uring_enter wakes it. */
export const IORING_SQ_NEED_WAKEUP = 1 << 0;
/** SQ ring flag: completions overflowed the CQ; io_uring_enter (GETEVENTS) flushes them. */
export const IORING_SQ_CQ_OVERFLOW = 1 << 1;
/** SQ ring flag: task work waits; entering the kernel runs it (with TASKRUN_FLAG). */
export const IORING_SQ_TASKRUN = 1 << 2;

// ---- io_uring_enter flags ----
/** io_uring_enter flag: wait for `min_complete` completions. */
export const IORING_ENTER_GETEVENTS = 1 << 0;
/** *cq.kflags (io_uring_cqring_flags): the kernel does not signal a registered eventfd. */
export const IORING_CQ_EVENTFD_DISABLED = 1 << 0;
/** eventfd(2) flag: reads do not block. */
export const EFD_NONBLOCK = 0o4000;
/** eventfd(2) flag: closed across exec. */
export const EFD_CLOEXEC = 0o2000000;

// ---- sqe->timeout_flags ----
/** sqe->timeout_flags: the timespec is an absolute time. */
export const IORING_TIMEOUT_ABS = 1 << 0;
/** sqe->timeout_flags: an expiry (-ETIME) counts as success, so links go on. */
export const IORING_TIMEOUT_ETIME_SUCCESS = 1 << 5;
/** sqe->timeout_flags: the timeout repeats (Linux 6.4). */
export const IORING_TIMEOUT_MULTISHOT = 1 << 6;

// ---- sqe->cancel_flags ----
/** sqe->cancel_flags: cancel every matching request, not only the first. */
export const IORING_ASYNC_CANCEL_ALL = 1 << 0;
/** sqe->cancel_flags: match requests by fd instead of user_data. */
export const IORING_ASYNC_CANCEL_FD = 1 << 1;
/** sqe->cancel_flags: match any request. */
export const IORING_ASYNC_CANCEL_ANY = 1 << 2;

// ---- sqe->ioprio for send/recv (IORING_RECVSEND_*) and accept ----
/** sqe->ioprio of send/recv: poll the socket before trying the transfer. */
export const IORING_RECVSEND_POLL_FIRST = 1 << 0;
/** sqe->ioprio of recv/recvmsg: multishot (a completion per receive until it ends; Linux 6.0). */
export const IORING_RECV_MULTISHOT = 1 << 1;
/** sqe->ioprio of send: send from a registered buffer (`buf_index`). */
export const IORING_RECVSEND_FIXED_BUF = 1 << 2;
/** sqe->ioprio of zero-copy sends: the notification says whether the kernel copied after all. */
export const IORING_SEND_ZC_REPORT_USAGE = 1 << 3;
/** sqe->ioprio of send/recv: one completion may fill several provided buffers (Linux 6.10). */
export const IORING_RECVSEND_BUNDLE = 1 << 4;
/** sqe->ioprio of accept: multishot (a completion per connection; Linux 5.19). */
export const IORING_ACCEPT_MULTISHOT = 1 << 0;

// ---- cqe->flags (IORING_CQE_F_*) ----
/** cqe->flags: a provided buffer was used; its id is `flags >>> IORING_CQE_BUFFER_SHIFT`. */
export const IORING_CQE_F_BUFFER = 1 << 0;
/** cqe->flags: more completions of this request follow (multishot; a zero-copy send's notification). */
export const IORING_CQE_F_MORE = 1 << 1;
/** cqe->flags: the socket still had data after this receive. */
export const IORING_CQE_F_SOCK_NONEMPTY = 1 << 2;
/** cqe->flags: a zero-copy send's notification: the kernel no longer reads the memory. */
export const IORING_CQE_F_NOTIF = 1 << 3;
/** cqe->flags: the kernel keeps the buffer for more data (incremental buffer rings; Linux 6.12). */
export const IORING_CQE_F_BUF_MORE = 1 << 4;
/** Shift of the buffer id in cqe->flags. */
export const IORING_CQE_BUFFER_SHIFT = 16;

// ---- io_uring_register opcodes ----
/** io_uring_register opcode: register a provided-buffer ring (Linux 5.19). */
export const IORING_REGISTER_PBUF_RING = 22;
/** io_uring_register opcode: unregister a provided-buffer ring. */
export const IORING_UNREGISTER_PBUF_RING = 23;

// ---- struct io_uring_buf_reg.flags ----
/** struct io_uring_buf_reg.flags: the kernel allocates the ring; map it from the ring fd (Linux 6.4). */
export const IOU_PBUF_RING_MMAP = 1;
/** struct io_uring_buf_reg.flags: incremental consumption, a buffer filled piece by piece (Linux 6.12). */
export const IOU_PBUF_RING_INC = 2;
/** mmap offset of a kernel-allocated buffer ring: IORING_OFF_PBUF_RING | (bgid << IORING_OFF_PBUF_SHIFT). */
export const IORING_OFF_PBUF_RING = 0x80000000;
/** Shift of the group id in the mmap offset of a kernel-allocated buffer ring. */
export const IORING_OFF_PBUF_SHIFT = 16;

/** IO_URING_OP_SUPPORTED in struct io_uring_probe_op.flags. */
export const IO_URING_OP_SUPPORTED = 1;

// ---- struct io_uring_sqe (64 bytes) ----
/** Size of struct io_uring_sqe in bytes. */
export const SQE_SIZE = 64;
/** Byte offset of `__u8 opcode` in struct io_uring_sqe. */
export const SQE_OPCODE = 0;
/** Byte offset of `__u8 flags` in struct io_uring_sqe. */
export const SQE_FLAGS = 1;
/** Byte offset of `__u16 ioprio` in struct io_uring_sqe. */
export const SQE_IOPRIO = 2;
/** Byte offset of `__s32 fd` in struct io_uring_sqe. */
export const SQE_FD = 4;
/** Byte offset of `__u64 off / addr2` in struct io_uring_sqe. */
export const SQE_OFF = 8;
/** Byte offset of `__u64 addr / splice_off_in` in struct io_uring_sqe. */
export const SQE_ADDR = 16;
/** Byte offset of `__u32 len` in struct io_uring_sqe. */
export const SQE_LEN = 24;
/** Byte offset of the `__u32` op flags (rw_flags / msg_flags / timeout_flags / ...) in struct io_uring_sqe. */
export const SQE_OP_FLAGS = 28;
/** Byte offset of `__u64 user_data` in struct io_uring_sqe. */
export const SQE_USER_DATA = 32;
/** Byte offset of `__u16 buf_index / buf_group` in struct io_uring_sqe. */
export const SQE_BUF_INDEX = 40;
/** Byte offset of `__u16 personality` in struct io_uring_sqe. */
export const SQE_PERSONALITY = 42;
/** Byte offset of `__s32 splice_fd_in / __u32 file_index / addr_len` in struct io_uring_sqe. */
export const SQE_FILE_INDEX = 44;
/** Byte offset of `__u64 addr3` in struct io_uring_sqe. */
export const SQE_ADDR3 = 48;
/** Byte offset of `__u64 __pad2[1]` in struct io_uring_sqe. */
export const SQE_PAD2 = 56;

// ---- struct io_uring_cqe (16 bytes) ----
/** Size of struct io_uring_cqe in bytes. */
export const CQE_SIZE = 16;
/** Byte offset of `__u64 user_data` in struct io_uring_cqe. */
export const CQE_USER_DATA = 0;
/** Byte offset of `__s32 res` in struct io_uring_cqe. */
export const CQE_RES = 8;
/** Byte offset of `__u32 flags` in struct io_uring_cqe. */
export const CQE_FLAGS = 12;

// ---- struct io_uring_params (120 bytes) ----
/** Size of struct io_uring_params in bytes. */
export const PARAMS_SIZE = 120;
/** Byte offset of `__u32 sq_entries` in struct io_uring_params. */
export const PARAMS_SQ_ENTRIES = 0;
/** Byte offset of `__u32 cq_entries` in struct io_uring_params. */
export const PARAMS_CQ_ENTRIES = 4;
/** Byte offset of `__u32 flags` in struct io_uring_params. */
export const PARAMS_FLAGS = 8;
/** Byte offset of `__u32 features` in struct io_uring_params. */
export const PARAMS_FEATURES = 20;

// ---- struct io_uring (liburing 2.3, 216 bytes) ----
/** Size of liburing 2.3's struct io_uring in bytes. */
export const IO_URING_SIZE = 216;
/** Byte offset of `unsigned *khead` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_KHEAD = 0;
/** Byte offset of `unsigned *ktail` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_KTAIL = 8;
/** Byte offset of `unsigned *kring_mask` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_KRING_MASK = 16;
/** Byte offset of `unsigned *kring_entries` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_KRING_ENTRIES = 24;
/** Byte offset of `unsigned *kflags` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_KFLAGS = 32;
/** Byte offset of `unsigned *kdropped` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_KDROPPED = 40;
/** Byte offset of `unsigned *array` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_ARRAY = 48;
/** Byte offset of `struct io_uring_sqe *sqes` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_SQES = 56;
/** Byte offset of `unsigned sqe_head` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_SQE_HEAD = 64;
/** Byte offset of `unsigned sqe_tail` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_SQE_TAIL = 68;
/** Byte offset of `size_t ring_sz` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_RING_SZ = 72;
/** Byte offset of `void *ring_ptr` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_RING_PTR = 80;
/** Byte offset of `unsigned ring_mask` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_RING_MASK = 88;
/** Byte offset of `unsigned ring_entries` in liburing's struct io_uring (its struct io_uring_sq sq). */
export const RING_SQ_RING_ENTRIES = 92;
/** Byte offset of `unsigned *khead` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_KHEAD = 104;
/** Byte offset of `unsigned *ktail` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_KTAIL = 112;
/** Byte offset of `unsigned *kring_mask` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_KRING_MASK = 120;
/** Byte offset of `unsigned *kring_entries` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_KRING_ENTRIES = 128;
/** Byte offset of `unsigned *kflags` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_KFLAGS = 136;
/** Byte offset of `unsigned *koverflow` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_KOVERFLOW = 144;
/** Byte offset of `struct io_uring_cqe *cqes` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_CQES = 152;
/** Byte offset of `size_t ring_sz` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_RING_SZ = 160;
/** Byte offset of `void *ring_ptr` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_RING_PTR = 168;
/** Byte offset of `unsigned ring_mask` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_RING_MASK = 176;
/** Byte offset of `unsigned ring_entries` in liburing's struct io_uring (its struct io_uring_cq cq). */
export const RING_CQ_RING_ENTRIES = 180;
/** Byte offset of `unsigned flags` in liburing's struct io_uring. */
export const RING_FLAGS = 192;
/** Byte offset of `int ring_fd` in liburing's struct io_uring. */
export const RING_RING_FD = 196;
/** Byte offset of `unsigned features` in liburing's struct io_uring. */
export const RING_FEATURES = 200;
/** Byte offset of `int enter_ring_fd` in liburing's struct io_uring. */
export const RING_ENTER_RING_FD = 204;
/** Byte offset of `__u8 int_flags` in liburing's struct io_uring. */
export const RING_INT_FLAGS = 208;

// ---- struct io_uring_probe (16 + 8 * ops_len bytes) ----
/** Byte offset of `__u8 last_op` in struct io_uring_probe. */
export const PROBE_LAST_OP = 0;
/** Byte offset of `__u8 ops_len` in struct io_uring_probe. */
export const PROBE_OPS_LEN = 1;
/** Byte offset of `ops[]` (struct io_uring_probe_op) in struct io_uring_probe. */
export const PROBE_OPS = 16;
/** Size of struct io_uring_probe_op ({ __u8 op; __u8 resv; __u16 flags; __u32 resv2; }). */
export const PROBE_OP_SIZE = 8;
/** Byte offset of `__u16 flags` in struct io_uring_probe_op. */
export const PROBE_OP_FLAGS = 2;

// ---- struct io_uring_buf_reg (40 bytes) ----
/** Size of struct io_uring_buf_reg in bytes. */
export const BUF_REG_SIZE = 40;
/** Byte offset of `__u64 ring_addr` in struct io_uring_buf_reg. */
export const BUF_REG_RING_ADDR = 0;
/** Byte offset of `__u32 ring_entries` in struct io_uring_buf_reg. */
export const BUF_REG_RING_ENTRIES = 8;
/** Byte offset of `__u16 bgid` in struct io_uring_buf_reg. */
export const BUF_REG_BGID = 12;
/** Byte offset of `__u16 flags` in struct io_uring_buf_reg. */
export const BUF_REG_FLAGS = 14;

// ---- struct io_uring_buf (16 bytes); the ring's tail is entry 0's `resv` ----
/** Size of struct io_uring_buf (one buffer-ring entry) in bytes. */
export const BUF_SIZE = 16;
/** Byte offset of `__u64 addr` in struct io_uring_buf. */
export const BUF_ADDR = 0;
/** Byte offset of `__u32 len` in struct io_uring_buf. */
export const BUF_LEN = 8;
/** Byte offset of `__u16 bid` in struct io_uring_buf. */
export const BUF_BID = 12;
/** Byte offset of the ring's `__u16 tail` (struct io_uring_buf_ring; it aliases bufs[0].resv). */
export const BUF_RING_TAIL = 14;
/** The most entries a provided-buffer ring may have. */
export const BUF_RING_MAX_ENTRIES = 32768;

// ---- struct io_uring_recvmsg_out (16 bytes) ----
/** Size of struct io_uring_recvmsg_out in bytes (the header multishot recvmsg writes before the name). */
export const RECVMSG_OUT_SIZE = 16;
/** Byte offset of `__u32 namelen` in struct io_uring_recvmsg_out. */
export const RECVMSG_OUT_NAMELEN = 0;
/** Byte offset of `__u32 controllen` in struct io_uring_recvmsg_out. */
export const RECVMSG_OUT_CONTROLLEN = 4;
/** Byte offset of `__u32 payloadlen` in struct io_uring_recvmsg_out (the datagram's full length). */
export const RECVMSG_OUT_PAYLOADLEN = 8;
/** Byte offset of `__u32 flags` (MSG_*) in struct io_uring_recvmsg_out. */
export const RECVMSG_OUT_FLAGS = 12;

// ---- struct __kernel_timespec (16 bytes) ----
/** Size of struct __kernel_timespec in bytes. */
export const TIMESPEC_SIZE = 16;
/** Byte offset of `__kernel_time64_t tv_sec` in struct __kernel_timespec. */
export const TIMESPEC_SEC = 0;
/** Byte offset of `long long tv_nsec` in struct __kernel_timespec. */
export const TIMESPEC_NSEC = 8;

// ---- struct msghdr (56 bytes) ----
/** Size of struct msghdr in bytes (LP64). */
export const MSGHDR_SIZE = 56;
/** Byte offset of `void *msg_name` in struct msghdr. */
export const MSGHDR_NAME = 0;
/** Byte offset of `socklen_t msg_namelen` in struct msghdr. */
export const MSGHDR_NAMELEN = 8;
/** Byte offset of `struct iovec *msg_iov` in struct msghdr. */
export const MSGHDR_IOV = 16;
/** Byte offset of `size_t msg_iovlen` in struct msghdr. */
export const MSGHDR_IOVLEN = 24;
/** Byte offset of `void *msg_control` in struct msghdr. */
export const MSGHDR_CONTROL = 32;
/** Byte offset of `size_t msg_controllen` in struct msghdr. */
export const MSGHDR_CONTROLLEN = 40;
/** Byte offset of `int msg_flags` in struct msghdr. */
export const MSGHDR_FLAGS = 48;

// ---- struct iovec (16 bytes) ----
/** Size of struct iovec in bytes (LP64). */
export const IOVEC_SIZE = 16;
/** Byte offset of `void *iov_base` in struct iovec. */
export const IOVEC_BASE = 0;
/** Byte offset of `size_t iov_len` in struct iovec. */
export const IOVEC_LEN = 8;

// ---- mmap (sys/mman.h) ----
/** mmap(2) prot: readable. */
export const PROT_READ = 1;
/** mmap(2) prot: writable. */
export const PROT_WRITE = 2;
/** mmap(2) flags: shared (with the file, or the kernel's ring memory). */
export const MAP_SHARED = 0x01;
/** mmap(2) flags: private copy-on-write mapping. */
export const MAP_PRIVATE = 0x02;
/** mmap(2) flags: memory not backed by a file, zero-filled. */
export const MAP_ANONYMOUS = 0x20;
/** mmap(2) flags: fault the pages in at once. */
export const MAP_POPULATE = 0x8000;
/** madvise(2) advice: the pages' contents may go; the next touch maps zeroed pages (private anonymous memory). */
export const MADV_DONTNEED = 4;
/** The page size this module assumes (4 KiB: x86-64, and aarch64 with 4 KiB pages). */
export const PAGE_SIZE = 4096;

// ---- sockets (sys/socket.h, netinet/in.h, netinet/tcp.h) ----
/** Address family: IPv4. */
export const AF_INET = 2;
/** Address family: IPv6. */
export const AF_INET6 = 10;
/** Socket type: a byte stream (TCP). */
export const SOCK_STREAM = 1;
/** Socket type: datagrams (UDP). */
export const SOCK_DGRAM = 2;
/** socket(2) type flag: non-blocking. */
export const SOCK_NONBLOCK = 0o4000;
/** socket(2) type flag (and accept4 flag): close on exec. */
export const SOCK_CLOEXEC = 0o2000000;
/** setsockopt(2) level: the socket itself. */
export const SOL_SOCKET = 1;
/** SOL_SOCKET option: bind a port with connections in TIME_WAIT. */
export const SO_REUSEADDR = 2;
/** SOL_SOCKET option (getsockopt): the socket's pending error, cleared by reading it (ECONNRESET after a reset). */
export const SO_ERROR = 4;
/** SOL_SOCKET option: receive buffer size. */
export const SO_RCVBUF = 8;
/** SOL_SOCKET option: several sockets listen on one port, the kernel spreads connections. */
export const SO_REUSEPORT = 15;
/** SOL_SOCKET option: struct linger { int l_onoff; int l_linger; } ({1, 0}: close with a reset). */
export const SO_LINGER = 13;
/** SOL_SOCKET option (getsockopt, asm-generic/socket.h): u32[SK_MEMINFO_VARS] of the socket's memory counters. */
export const SO_MEMINFO = 55;
/** linux/sock_diag.h: the entries SO_MEMINFO fills. */
export const SK_MEMINFO_VARS = 9;
/** linux/sock_diag.h: SO_MEMINFO's entry of packets the socket dropped (a full receive buffer, mostly). */
export const SK_MEMINFO_DROPS = 8;
/** setsockopt(2) level: TCP. */
export const IPPROTO_TCP = 6;
/** setsockopt(2) level: IPv6. */
export const IPPROTO_IPV6 = 41;
/** IPPROTO_IPV6 option: an IPv6 socket does not take IPv4 connections. */
export const IPV6_V6ONLY = 26;
/** IPPROTO_TCP option: send small segments at once (no Nagle). */
export const TCP_NODELAY = 1;
/** IPPROTO_TCP option (getsockopt): struct tcp_info (linux/tcp.h). */
export const TCP_INFO = 11;
/** struct tcp_info: tcpi_bytes_acked (__u64, 4.1+), our bytes the peer has acknowledged. */
export const TCP_INFO_BYTES_ACKED = 120;
/** struct tcp_info: tcpi_snd_wnd (__u32, 6.2+), the receive window the peer last advertised. */
export const TCP_INFO_SND_WND = 228;
/** sizeof(struct tcp_info) up to tcpi_snd_wnd. */
export const TCP_INFO_SIZE = 232;
/** poll(2) event: an error is pending on the fd (a TCP socket's reset). */
export const POLLERR = 0x8;
/** poll(2) event: hang-up (a TCP socket shut down both ways, or reset). */
export const POLLHUP = 0x10;
/** shutdown(2): no more receives. */
export const SHUT_RD = 0;
/** shutdown(2): no more sends (the peer sees EOF). */
export const SHUT_WR = 1;
/** shutdown(2): both. */
export const SHUT_RDWR = 2;
/** msg_flags: the datagram was longer than the buffer (the rest was dropped). */
export const MSG_TRUNC = 0x20;
/** msg_flags: control data was truncated. */
export const MSG_CTRUNC = 0x08;
/** recv(2) flag: wait for the full length. */
export const MSG_WAITALL = 0x100;
/** send(2) flag: no SIGPIPE when the peer has gone. */
export const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_in). */
export const SOCKADDR_IN_SIZE = 16;
/** sizeof(struct sockaddr_in6). */
export const SOCKADDR_IN6_SIZE = 28;
/** sizeof(struct sockaddr_storage): room for any address. */
export const SOCKADDR_STORAGE_SIZE = 128;

// ---- open(2) ----
/** open(2) flag: read only. */
export const O_RDONLY = 0;
/** open(2) flag: write only. */
export const O_WRONLY = 0o1;
/** open(2) flag: read and write. */
export const O_RDWR = 0o2;
/** open(2) flag: create the file if it does not exist (with `mode`). */
export const O_CREAT = 0o100;
/** open(2) flag: with O_CREAT, fail with EEXIST if the file exists. */
export const O_EXCL = 0o200;
/** open(2) flag: truncate to length 0. */
export const O_TRUNC = 0o1000;
/** open(2) flag: every write appends. */
export const O_APPEND = 0o2000;
/** open(2) flag: close on exec. */
export const O_CLOEXEC = 0o2000000;
