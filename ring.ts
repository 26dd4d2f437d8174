/**
 * uring-buffers/ring: the layer under the servers, for custom loops and experiments: the ring with
 * its SQE array, every `io_uring_prep_*` equivalent, the kernel ABI (`abi`), the reactor that
 * dispatches completions and the driver that runs it without blocking, the stream and datagram
 * receivers, and the two raw provided-buffer mechanisms (buffer rings, PROVIDE_BUFFERS groups).
 *
 * ```ts
 * import { prepNop, Ring } from "uring-buffers/ring";
 *
 * using ring = new Ring({ entries: 256 });
 * const slot = ring.getSqe();
 * prepNop(ring.sqes, slot);
 * ring.sqes.setUserData(slot, 42);
 * ring.submitAndWait(1, 1000);
 * ring.reap((userData, res, flags) => console.log(userData, res, flags));
 * ```
 *
 * Pools, leases and the error classes come from the package root (`uring-buffers`); socket and
 * file descriptors from `uring-buffers/sys`. `errnoName` and `Errno` name a CQE's negative `res`.
 *
 * @module
 */

// The ring and its submission queue entries.
export { Ring } from "./src/ring.ts";
export type { CompletionHandler, RingOptions } from "./src/ring.ts";
export { SqeArray } from "./src/sqe.ts";

// Prep functions: each writes exactly what liburing's io_uring_prep_* writes.
export {
  prepAccept,
  prepCancel64,
  prepCancelFd,
  prepClose,
  prepConnect,
  prepLinkTimeout,
  prepMsgRing,
  prepMultishotAccept,
  prepNop,
  prepPollAdd,
  prepPollMultishot,
  prepProvideBuffers,
  prepRead,
  prepRecv,
  prepRecvmsg,
  prepRecvmsgMultishot,
  prepRecvMultishot,
  prepRemoveBuffers,
  prepRw,
  prepSend,
  prepSendmsg,
  prepSendmsgZc,
  prepSendZc,
  prepShutdown,
  prepSocket,
  prepTimeout,
  prepTimeoutRemove,
  prepWrite,
  setBufferSelect,
  setBundle,
  setMultishotLimit,
} from "./src/prep.ts";

/** Every kernel constant and struct offset, named after its header field. */
export * as abi from "./src/abi.ts";

// Completion dispatch and the loop driver.
export { NO_TARGET, Reactor } from "./src/reactor.ts";
export type { CompletionTarget, SubmitHook } from "./src/reactor.ts";
export { Driver } from "./src/driver.ts";
export type { DriverStats } from "./src/driver.ts";

// What this kernel and liburing can do (also exported from the package root).
export { probeFeatures } from "./src/probe.ts";
export type { Features } from "./src/probe.ts";

// Receivers over a BufferPool, and the pool's hooks for receivers and lease holders of your own.
export { DATAGRAM_HEADROOM, DatagramReceiver, StreamReceiver } from "./src/receiver.ts";
export type { Datagram, DatagramHandler, ReceiverBase, StreamHandler, StreamReceiverOptions } from "./src/receiver.ts";
export type { BufferWaiter, LeaseHolder } from "./src/buffers/pool.ts";

// A CQE's negative res is -errno: these name it (also exported by the package root).
export { Errno, errnoName } from "./src/errors.ts";
export type { ErrnoName } from "./src/errors.ts";

// Types from the package root and uring-buffers/sys that this layer's signatures mention; the
// classes themselves (BufferPool, Lease, the errors) come from the package root.
export type { BufferPool, BufferPoolOptions, PoolBackend, PoolStats } from "./src/buffers/pool.ts";
export type { Lease } from "./src/buffers/lease.ts";
export type { UringError } from "./src/errors.ts";
export type { SocketAddress } from "./src/sockaddr.ts";
export type { Ptr } from "./ffi/mod.ts";

// The two kernel mechanisms under a BufferPool, and native memory.
export { BufferRing } from "./src/buffers/buffer_ring.ts";
export type { BufferRingOptions } from "./src/buffers/buffer_ring.ts";
export { ProvidedBufferGroup } from "./src/buffers/provided_group.ts";
export { NativeMemory } from "./src/memory.ts";
