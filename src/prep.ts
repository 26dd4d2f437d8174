/**
 * SQE preparation, byte-for-byte what liburing 2.3's inline `io_uring_prep_*` helpers write (proved by
 * tests/prep_oracle_test.ts against a C oracle). Like liburing, none of them touch user_data.
 * Addresses are plain numbers (user-space pointers fit in 2^53). Each takes the SQE array and a slot.
 */
import * as abi from "./abi.ts";
import * as sqe from "./sqe.ts";
import type { SqeArray } from "./sqe.ts";
import { describe, numberError } from "./options.ts";

// A module-local binding, because JSC checks an import binding on every call through it (measured:
// about 0.1 ns per prep on Bun); this one it folds away.
const writeU64 = sqe.writeU64;

// SQE fields as indices into the typed views: a slot's first u32 is `slot << 4`, its first u16
// `slot << 5`, its first byte `slot << 6` (64-byte SQEs). Computed once so each prep is index arithmetic.
const FD_WORD = abi.SQE_FD >> 2;
const OFF_WORD = abi.SQE_OFF >> 2;
const ADDR_WORD = abi.SQE_ADDR >> 2;
const LEN_WORD = abi.SQE_LEN >> 2;
const OP_FLAGS_WORD = abi.SQE_OP_FLAGS >> 2;
const BUF_INDEX_WORD = abi.SQE_BUF_INDEX >> 2; // buf_index and personality share this word
const FILE_INDEX_WORD = abi.SQE_FILE_INDEX >> 2;
const ADDR3_WORD = abi.SQE_ADDR3 >> 2;
const PAD2_WORD = abi.SQE_PAD2 >> 2;
const IOPRIO_HALF = abi.SQE_IOPRIO >> 1;
const BUF_GROUP_HALF = abi.SQE_BUF_INDEX >> 1;

/** Mirrors io_uring_prep_rw: every field but user_data is written. */
export function prepRw(
  s: SqeArray,
  slot: number,
  op: number,
  fd: number,
  addr: number,
  len: number,
  offset: number,
): void {
  const w = slot << 4;
  const u32 = s.u32;
  u32[w] = op & 0xff; // the first word: opcode = (__u8) op, flags = 0, ioprio = 0 (little-endian u8, u8, u16)
  s.i32[w + FD_WORD] = fd;
  writeU64(u32, w + OFF_WORD, offset);
  writeU64(u32, w + ADDR_WORD, addr);
  u32[w + LEN_WORD] = len;
  u32[w + OP_FLAGS_WORD] = 0;
  u32[w + BUF_INDEX_WORD] = 0;
  u32[w + FILE_INDEX_WORD] = 0;
  u32[w + ADDR3_WORD] = 0;
  u32[w + ADDR3_WORD + 1] = 0;
  u32[w + PAD2_WORD] = 0;
  u32[w + PAD2_WORD + 1] = 0;
}

/**
 * A buffer length must be what the SQE's u32 holds: a Uint32Array store would make -1 a 4 GiB buffer
 * the kernel writes past the end of (and 2^32 + 5 a 5-byte one). The one check the prep functions make:
 * the rest (fds, addresses) fail in the kernel, this one would not.
 */
function checkLength(len: number, name: string): void {
  if ((len >>> 0) !== len) throw numberError(len, `${name} must be an integer in [0, 2^32 - 1], got ${describe(len)}`);
}

/** Mirrors io_uring_prep_nop. */
export function prepNop(s: SqeArray, slot: number): void {
  prepRw(s, slot, abi.IORING_OP_NOP, -1, 0, 0, 0);
}

/** Mirrors io_uring_prep_read. `offset` -1 reads at the file position (and for pipes/sockets). */
export function prepRead(s: SqeArray, slot: number, fd: number, addr: number, nbytes: number, offset: number): void {
  checkLength(nbytes, "nbytes");
  prepRw(s, slot, abi.IORING_OP_READ, fd, addr, nbytes, offset);
}

/** Mirrors io_uring_prep_write. */
export function prepWrite(s: SqeArray, slot: number, fd: number, addr: number, nbytes: number, offset: number): void {
  checkLength(nbytes, "nbytes");
  prepRw(s, slot, abi.IORING_OP_WRITE, fd, addr, nbytes, offset);
}

/** Mirrors io_uring_prep_recv. With buffer select, pass addr 0 and the max length (or 0). */
export function prepRecv(s: SqeArray, slot: number, fd: number, addr: number, len: number, flags: number): void {
  checkLength(len, "len");
  prepRw(s, slot, abi.IORING_OP_RECV, fd, addr, len, 0);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // msg_flags
}

/** Mirrors io_uring_prep_recv_multishot (5.19+/6.0; needs IOSQE_BUFFER_SELECT). */
export function prepRecvMultishot(
  s: SqeArray,
  slot: number,
  fd: number,
  addr: number,
  len: number,
  flags: number,
): void {
  prepRecv(s, slot, fd, addr, len, flags);
  s.u16[(slot << 5) + IOPRIO_HALF] |= abi.IORING_RECV_MULTISHOT;
}

/** Mirrors io_uring_prep_send. */
export function prepSend(s: SqeArray, slot: number, fd: number, addr: number, len: number, flags: number): void {
  checkLength(len, "len");
  prepRw(s, slot, abi.IORING_OP_SEND, fd, addr, len, 0);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // msg_flags
}

/** Mirrors io_uring_prep_send_zc (6.0+): two CQEs, the second flagged IORING_CQE_F_NOTIF. */
export function prepSendZc(
  s: SqeArray,
  slot: number,
  fd: number,
  addr: number,
  len: number,
  flags: number,
  zcFlags: number,
): void {
  checkLength(len, "len");
  prepRw(s, slot, abi.IORING_OP_SEND_ZC, fd, addr, len, 0);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // msg_flags
  s.u16[(slot << 5) + IOPRIO_HALF] = zcFlags;
}

/** Mirrors io_uring_prep_recvmsg. `msg` is the address of a struct msghdr. */
export function prepRecvmsg(s: SqeArray, slot: number, fd: number, msg: number, flags: number): void {
  prepRw(s, slot, abi.IORING_OP_RECVMSG, fd, msg, 1, 0);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // msg_flags
}

/** Mirrors io_uring_prep_recvmsg_multishot (6.0+; results carry a struct io_uring_recvmsg_out). */
export function prepRecvmsgMultishot(s: SqeArray, slot: number, fd: number, msg: number, flags: number): void {
  prepRecvmsg(s, slot, fd, msg, flags);
  s.u16[(slot << 5) + IOPRIO_HALF] |= abi.IORING_RECV_MULTISHOT;
}

/** Mirrors io_uring_prep_sendmsg. */
export function prepSendmsg(s: SqeArray, slot: number, fd: number, msg: number, flags: number): void {
  prepRw(s, slot, abi.IORING_OP_SENDMSG, fd, msg, 1, 0);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // msg_flags
}

/** Mirrors io_uring_prep_sendmsg_zc (6.1+): a SENDMSG whose pages the kernel sends without copying. */
export function prepSendmsgZc(s: SqeArray, slot: number, fd: number, msg: number, flags: number): void {
  prepSendmsg(s, slot, fd, msg, flags);
  s.u8[(slot << 6) + abi.SQE_OPCODE] = abi.IORING_OP_SENDMSG_ZC;
}

/** Mirrors io_uring_prep_accept. `addr`/`addrlen` may be 0 when the peer address is not wanted. */
export function prepAccept(s: SqeArray, slot: number, fd: number, addr: number, addrlen: number, flags: number): void {
  prepRw(s, slot, abi.IORING_OP_ACCEPT, fd, addr, 0, addrlen);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // accept_flags
}

/** Mirrors io_uring_prep_multishot_accept (5.19+). */
export function prepMultishotAccept(
  s: SqeArray,
  slot: number,
  fd: number,
  addr: number,
  addrlen: number,
  flags: number,
): void {
  prepAccept(s, slot, fd, addr, addrlen, flags);
  s.u16[(slot << 5) + IOPRIO_HALF] |= abi.IORING_ACCEPT_MULTISHOT;
}

/** Mirrors io_uring_prep_connect. */
export function prepConnect(s: SqeArray, slot: number, fd: number, addr: number, addrlen: number): void {
  prepRw(s, slot, abi.IORING_OP_CONNECT, fd, addr, 0, addrlen);
}

/** Mirrors io_uring_prep_close. */
export function prepClose(s: SqeArray, slot: number, fd: number): void {
  prepRw(s, slot, abi.IORING_OP_CLOSE, fd, 0, 0, 0);
}

/** Mirrors io_uring_prep_poll_add (`pollMask`: POLL* events; little-endian, as liburing stores it). */
export function prepPollAdd(s: SqeArray, slot: number, fd: number, pollMask: number): void {
  prepRw(s, slot, abi.IORING_OP_POLL_ADD, fd, 0, 0, 0);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = pollMask; // poll32_events
}

/** Mirrors io_uring_prep_poll_multishot: prepPollAdd with IORING_POLL_ADD_MULTI (5.13). */
export function prepPollMultishot(s: SqeArray, slot: number, fd: number, pollMask: number): void {
  prepPollAdd(s, slot, fd, pollMask);
  s.u32[(slot << 4) + LEN_WORD] = abi.IORING_POLL_ADD_MULTI;
}

/** Mirrors io_uring_prep_shutdown (`how`: SHUT_RD, SHUT_WR, SHUT_RDWR). */
export function prepShutdown(s: SqeArray, slot: number, fd: number, how: number): void {
  prepRw(s, slot, abi.IORING_OP_SHUTDOWN, fd, 0, how, 0);
}

/**
 * Mirrors io_uring_prep_msg_ring: posts a CQE with `res` = `len` and `user_data` = `data` to the ring
 * whose fd is `fd` (5.18); `flags` are IORING_MSG_RING_* (0: plain).
 */
export function prepMsgRing(s: SqeArray, slot: number, fd: number, len: number, data: number, flags: number): void {
  prepRw(s, slot, abi.IORING_OP_MSG_RING, fd, 0, len, data);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // msg_ring_flags
}

/** Mirrors io_uring_prep_timeout. `ts` is the address of a struct __kernel_timespec. */
export function prepTimeout(s: SqeArray, slot: number, ts: number, count: number, flags: number): void {
  prepRw(s, slot, abi.IORING_OP_TIMEOUT, -1, ts, 1, count);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // timeout_flags
}

/** Mirrors io_uring_prep_timeout_remove. */
export function prepTimeoutRemove(s: SqeArray, slot: number, userData: number, flags: number): void {
  prepRw(s, slot, abi.IORING_OP_TIMEOUT_REMOVE, -1, 0, 0, 0);
  writeU64(s.u32, (slot << 4) + ADDR_WORD, userData);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // timeout_flags
}

/** Mirrors io_uring_prep_link_timeout. */
export function prepLinkTimeout(s: SqeArray, slot: number, ts: number, flags: number): void {
  prepRw(s, slot, abi.IORING_OP_LINK_TIMEOUT, -1, ts, 1, 0);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // timeout_flags
}

/** Mirrors io_uring_prep_cancel64: cancel the request whose user_data is `userData`. */
export function prepCancel64(s: SqeArray, slot: number, userData: number, flags: number): void {
  prepRw(s, slot, abi.IORING_OP_ASYNC_CANCEL, -1, 0, 0, 0);
  writeU64(s.u32, (slot << 4) + ADDR_WORD, userData);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // cancel_flags
}

/** Mirrors io_uring_prep_cancel_fd: cancel requests on `fd` (all of them with IORING_ASYNC_CANCEL_ALL). */
export function prepCancelFd(s: SqeArray, slot: number, fd: number, flags: number): void {
  prepRw(s, slot, abi.IORING_OP_ASYNC_CANCEL, fd, 0, 0, 0);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = (flags | abi.IORING_ASYNC_CANCEL_FD) >>> 0;
}

/** Mirrors io_uring_prep_provide_buffers: `nr` buffers of `len` bytes at `addr`, ids bid.. in group bgid. */
export function prepProvideBuffers(
  s: SqeArray,
  slot: number,
  addr: number,
  len: number,
  nr: number,
  bgid: number,
  bid: number,
): void {
  checkLength(len, "len");
  prepRw(s, slot, abi.IORING_OP_PROVIDE_BUFFERS, nr, addr, len, bid);
  s.u16[(slot << 5) + BUF_GROUP_HALF] = bgid;
}

/** Mirrors io_uring_prep_remove_buffers: take up to `nr` buffers of group `bgid` back from the kernel. */
export function prepRemoveBuffers(s: SqeArray, slot: number, nr: number, bgid: number): void {
  prepRw(s, slot, abi.IORING_OP_REMOVE_BUFFERS, nr, 0, 0, 0);
  s.u16[(slot << 5) + BUF_GROUP_HALF] = bgid;
}

/** Mirrors io_uring_prep_socket (5.19+). */
export function prepSocket(
  s: SqeArray,
  slot: number,
  domain: number,
  type: number,
  protocol: number,
  flags: number,
): void {
  prepRw(s, slot, abi.IORING_OP_SOCKET, domain, 0, protocol, type);
  s.u32[(slot << 4) + OP_FLAGS_WORD] = flags; // rw_flags
}

/** Asks the kernel to pick the buffer from group `bgid` (IOSQE_BUFFER_SELECT + sqe->buf_group). */
export function setBufferSelect(s: SqeArray, slot: number, bgid: number): void {
  s.u8[(slot << 6) + abi.SQE_FLAGS] |= abi.IOSQE_BUFFER_SELECT;
  s.u16[(slot << 5) + BUF_GROUP_HALF] = bgid;
}

/**
 * Sets `sqe->optlen` of a multishot recv (6.17+): the receive ends (its last completion without
 * IORING_CQE_F_MORE) once it has taken `bytes` bytes, so that the program decides before it takes
 * more. 0: no limit. Kernels before it fail such a receive with `-EINVAL` (`probeFeatures().multishotLimit`).
 */
export function setMultishotLimit(s: SqeArray, slot: number, bytes: number): void {
  s.u32[(slot << 4) + FILE_INDEX_WORD] = bytes;
}

/** Adds IORING_RECVSEND_BUNDLE (6.10+): one completion may take several consecutive buffers. */
export function setBundle(s: SqeArray, slot: number): void {
  s.u16[(slot << 5) + IOPRIO_HALF] |= abi.IORING_RECVSEND_BUNDLE;
}
