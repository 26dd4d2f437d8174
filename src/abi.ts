/**
 * Kernel and liburing ABI: every opcode, flag, struct offset and size we use, named after the header
 * field it mirrors (`include/uapi/linux/io_uring.h` of Linux, `liburing.h` 2.3). x86-64 / aarch64 LP64.
 */

// ---- enum io_uring_op (grouped by the kernel that added them) ----
export const IORING_OP_NOP = 0;
export const IORING_OP_READV = 1;
export const IORING_OP_WRITEV = 2;
export const IORING_OP_SENDMSG = 9; // 5.3
export const IORING_OP_RECVMSG = 10;
export const IORING_OP_TIMEOUT = 11; // 5.4
export const IORING_OP_TIMEOUT_REMOVE = 12; // 5.5
export const IORING_OP_ACCEPT = 13;
export const IORING_OP_ASYNC_CANCEL = 14;
export const IORING_OP_LINK_TIMEOUT = 15;
export const IORING_OP_CONNECT = 16;
export const IORING_OP_CLOSE = 19; // 5.6
export const IORING_OP_READ = 22;
export const IORING_OP_WRITE = 23;
export const IORING_OP_SEND = 26;
export const IORING_OP_RECV = 27;
export const IORING_OP_PROVIDE_BUFFERS = 31; // 5.7
export const IORING_OP_REMOVE_BUFFERS = 32;
export const IORING_OP_SHUTDOWN = 34; // 5.11
export const IORING_OP_SOCKET = 45; // 5.19
export const IORING_OP_SEND_ZC = 47; // 6.0
export const IORING_OP_SENDMSG_ZC = 48; // 6.1
export const IORING_OP_READ_MULTISHOT = 49; // 6.7
export const IORING_OP_LAST_KNOWN = 64; // probe table size we print names for

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
export const IOSQE_FIXED_FILE = 1 << 0;
export const IOSQE_IO_DRAIN = 1 << 1;
export const IOSQE_IO_LINK = 1 << 2;
export const IOSQE_IO_HARDLINK = 1 << 3;
export const IOSQE_ASYNC = 1 << 4;
export const IOSQE_BUFFER_SELECT = 1 << 5;
export const IOSQE_CQE_SKIP_SUCCESS = 1 << 6;

// ---- io_uring_params.flags (IORING_SETUP_*) ----
export const IORING_SETUP_IOPOLL = 1 << 0;
export const IORING_SETUP_SQPOLL = 1 << 1;
export const IORING_SETUP_SQ_AFF = 1 << 2;
export const IORING_SETUP_CQSIZE = 1 << 3;
export const IORING_SETUP_CLAMP = 1 << 4;
export const IORING_SETUP_SUBMIT_ALL = 1 << 7;
export const IORING_SETUP_COOP_TASKRUN = 1 << 8;
export const IORING_SETUP_TASKRUN_FLAG = 1 << 9;
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13;

// ---- io_uring_params.features (IORING_FEAT_*) ----
export const IORING_FEAT_SINGLE_MMAP = 1 << 0;
export const IORING_FEAT_NODROP = 1 << 1;
export const IORING_FEAT_FAST_POLL = 1 << 5;
export const IORING_FEAT_EXT_ARG = 1 << 8;
export const IORING_FEAT_CQE_SKIP = 1 << 11;
export const IORING_FEAT_RECVSEND_BUNDLE = 1 << 14; // 6.10

// ---- sq ring flags (*sq->kflags) ----
export const IORING_SQ_NEED_WAKEUP = 1 << 0;
export const IORING_SQ_CQ_OVERFLOW = 1 << 1;
export const IORING_SQ_TASKRUN = 1 << 2;

// ---- io_uring_enter flags ----
export const IORING_ENTER_GETEVENTS = 1 << 0;

// ---- sqe->timeout_flags ----
export const IORING_TIMEOUT_ABS = 1 << 0;
export const IORING_TIMEOUT_ETIME_SUCCESS = 1 << 5;
export const IORING_TIMEOUT_MULTISHOT = 1 << 6;

// ---- sqe->cancel_flags ----
export const IORING_ASYNC_CANCEL_ALL = 1 << 0;
export const IORING_ASYNC_CANCEL_FD = 1 << 1;
export const IORING_ASYNC_CANCEL_ANY = 1 << 2;

// ---- sqe->ioprio for send/recv (IORING_RECVSEND_*) and accept ----
export const IORING_RECVSEND_POLL_FIRST = 1 << 0;
export const IORING_RECV_MULTISHOT = 1 << 1;
export const IORING_RECVSEND_FIXED_BUF = 1 << 2;
export const IORING_SEND_ZC_REPORT_USAGE = 1 << 3;
export const IORING_RECVSEND_BUNDLE = 1 << 4; // 6.10
export const IORING_ACCEPT_MULTISHOT = 1 << 0;

// ---- cqe->flags (IORING_CQE_F_*) ----
export const IORING_CQE_F_BUFFER = 1 << 0;
export const IORING_CQE_F_MORE = 1 << 1;
export const IORING_CQE_F_SOCK_NONEMPTY = 1 << 2;
export const IORING_CQE_F_NOTIF = 1 << 3;
export const IORING_CQE_F_BUF_MORE = 1 << 4; // 6.12, incremental buffer rings
export const IORING_CQE_BUFFER_SHIFT = 16;

// ---- io_uring_register opcodes ----
export const IORING_REGISTER_PBUF_RING = 22;
export const IORING_UNREGISTER_PBUF_RING = 23;

// ---- struct io_uring_buf_reg.flags ----
export const IOU_PBUF_RING_MMAP = 1; // 6.4: the kernel allocates the ring, we mmap it
export const IOU_PBUF_RING_INC = 2; // 6.12: incremental consumption
/** mmap offset of a kernel-allocated buffer ring: IORING_OFF_PBUF_RING | (bgid << IORING_OFF_PBUF_SHIFT). */
export const IORING_OFF_PBUF_RING = 0x80000000;
export const IORING_OFF_PBUF_SHIFT = 16;

/** IO_URING_OP_SUPPORTED in struct io_uring_probe_op.flags. */
export const IO_URING_OP_SUPPORTED = 1;

// ---- struct io_uring_sqe (64 bytes) ----
export const SQE_SIZE = 64;
export const SQE_OPCODE = 0; // __u8 opcode
export const SQE_FLAGS = 1; // __u8 flags
export const SQE_IOPRIO = 2; // __u16 ioprio
export const SQE_FD = 4; // __s32 fd
export const SQE_OFF = 8; // __u64 off / addr2
export const SQE_ADDR = 16; // __u64 addr / splice_off_in
export const SQE_LEN = 24; // __u32 len
export const SQE_OP_FLAGS = 28; // __u32 rw_flags / msg_flags / timeout_flags / accept_flags / cancel_flags ...
export const SQE_USER_DATA = 32; // __u64 user_data
export const SQE_BUF_INDEX = 40; // __u16 buf_index / buf_group
export const SQE_PERSONALITY = 42; // __u16 personality
export const SQE_FILE_INDEX = 44; // __s32 splice_fd_in / __u32 file_index / addr_len
export const SQE_ADDR3 = 48; // __u64 addr3
export const SQE_PAD2 = 56; // __u64 __pad2[1]

// ---- struct io_uring_cqe (16 bytes) ----
export const CQE_SIZE = 16;
export const CQE_USER_DATA = 0; // __u64 user_data
export const CQE_RES = 8; // __s32 res
export const CQE_FLAGS = 12; // __u32 flags

// ---- struct io_uring_params (120 bytes) ----
export const PARAMS_SIZE = 120;
export const PARAMS_SQ_ENTRIES = 0;
export const PARAMS_CQ_ENTRIES = 4;
export const PARAMS_FLAGS = 8;
export const PARAMS_FEATURES = 20;

// ---- struct io_uring (liburing 2.3, 216 bytes) ----
export const IO_URING_SIZE = 216;
export const RING_SQ_KHEAD = 0; // unsigned *khead
export const RING_SQ_KTAIL = 8; // unsigned *ktail
export const RING_SQ_KRING_MASK = 16; // unsigned *kring_mask
export const RING_SQ_KRING_ENTRIES = 24; // unsigned *kring_entries
export const RING_SQ_KFLAGS = 32; // unsigned *kflags
export const RING_SQ_KDROPPED = 40; // unsigned *kdropped
export const RING_SQ_ARRAY = 48; // unsigned *array
export const RING_SQ_SQES = 56; // struct io_uring_sqe *sqes
export const RING_SQ_SQE_HEAD = 64; // unsigned sqe_head
export const RING_SQ_SQE_TAIL = 68; // unsigned sqe_tail
export const RING_SQ_RING_SZ = 72; // size_t ring_sz
export const RING_SQ_RING_PTR = 80; // void *ring_ptr
export const RING_SQ_RING_MASK = 88; // unsigned ring_mask
export const RING_SQ_RING_ENTRIES = 92; // unsigned ring_entries
export const RING_CQ_KHEAD = 104; // unsigned *khead
export const RING_CQ_KTAIL = 112; // unsigned *ktail
export const RING_CQ_KRING_MASK = 120; // unsigned *kring_mask
export const RING_CQ_KRING_ENTRIES = 128; // unsigned *kring_entries
export const RING_CQ_KFLAGS = 136; // unsigned *kflags
export const RING_CQ_KOVERFLOW = 144; // unsigned *koverflow
export const RING_CQ_CQES = 152; // struct io_uring_cqe *cqes
export const RING_CQ_RING_SZ = 160; // size_t ring_sz
export const RING_CQ_RING_PTR = 168; // void *ring_ptr
export const RING_CQ_RING_MASK = 176; // unsigned ring_mask
export const RING_CQ_RING_ENTRIES = 180; // unsigned ring_entries
export const RING_FLAGS = 192; // unsigned flags
export const RING_RING_FD = 196; // int ring_fd
export const RING_FEATURES = 200; // unsigned features
export const RING_ENTER_RING_FD = 204; // int enter_ring_fd
export const RING_INT_FLAGS = 208; // __u8 int_flags

// ---- struct io_uring_probe (16 + 8 * ops_len bytes) ----
export const PROBE_LAST_OP = 0; // __u8 last_op
export const PROBE_OPS_LEN = 1; // __u8 ops_len
export const PROBE_OPS = 16; // struct io_uring_probe_op ops[]
export const PROBE_OP_SIZE = 8; // { __u8 op; __u8 resv; __u16 flags; __u32 resv2; }
export const PROBE_OP_FLAGS = 2;

// ---- struct io_uring_buf_reg (40 bytes) ----
export const BUF_REG_SIZE = 40;
export const BUF_REG_RING_ADDR = 0; // __u64 ring_addr
export const BUF_REG_RING_ENTRIES = 8; // __u32 ring_entries
export const BUF_REG_BGID = 12; // __u16 bgid
export const BUF_REG_FLAGS = 14; // __u16 flags

// ---- struct io_uring_buf (16 bytes); the ring's tail is entry 0's `resv` ----
export const BUF_SIZE = 16;
export const BUF_ADDR = 0; // __u64 addr
export const BUF_LEN = 8; // __u32 len
export const BUF_BID = 12; // __u16 bid
export const BUF_RING_TAIL = 14; // __u16 tail (struct io_uring_buf_ring, aliases bufs[0].resv)
export const BUF_RING_MAX_ENTRIES = 32768;

// ---- struct io_uring_recvmsg_out (16 bytes) ----
export const RECVMSG_OUT_SIZE = 16;
export const RECVMSG_OUT_NAMELEN = 0;
export const RECVMSG_OUT_CONTROLLEN = 4;
export const RECVMSG_OUT_PAYLOADLEN = 8;
export const RECVMSG_OUT_FLAGS = 12;

// ---- struct __kernel_timespec (16 bytes) ----
export const TIMESPEC_SIZE = 16;
export const TIMESPEC_SEC = 0; // __kernel_time64_t tv_sec
export const TIMESPEC_NSEC = 8; // long long tv_nsec

// ---- struct msghdr (56 bytes) ----
export const MSGHDR_SIZE = 56;
export const MSGHDR_NAME = 0; // void *msg_name
export const MSGHDR_NAMELEN = 8; // socklen_t msg_namelen
export const MSGHDR_IOV = 16; // struct iovec *msg_iov
export const MSGHDR_IOVLEN = 24; // size_t msg_iovlen
export const MSGHDR_CONTROL = 32; // void *msg_control
export const MSGHDR_CONTROLLEN = 40; // size_t msg_controllen
export const MSGHDR_FLAGS = 48; // int msg_flags

// ---- struct iovec (16 bytes) ----
export const IOVEC_SIZE = 16;
export const IOVEC_BASE = 0; // void *iov_base
export const IOVEC_LEN = 8; // size_t iov_len

// ---- mmap (sys/mman.h) ----
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_POPULATE = 0x8000;
export const PAGE_SIZE = 4096;

// ---- sockets (sys/socket.h, netinet/in.h, netinet/tcp.h) ----
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_RCVBUF = 8;
export const SO_REUSEPORT = 15;
export const SO_LINGER = 13; // struct linger { int l_onoff; int l_linger; }
export const IPPROTO_TCP = 6;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const TCP_NODELAY = 1;
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;
export const MSG_TRUNC = 0x20;
export const MSG_CTRUNC = 0x08;
export const MSG_WAITALL = 0x100;
export const MSG_NOSIGNAL = 0x4000;
export const SOCKADDR_IN_SIZE = 16;
export const SOCKADDR_IN6_SIZE = 28;
export const SOCKADDR_STORAGE_SIZE = 128;

// ---- open(2) ----
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
