/**
 * uring-buffers: Linux io_uring with provided buffers (automatic buffer selection) for Deno and Bun,
 * over liburing.so.2 through FFI. The public API, by name; see README.md.
 */

// Servers and clients: what most programs use.
export { connect, listen, Server } from "./src/net/server.ts";
export type { ConnectOptions, ListenOptions, ServerHandlers, ServerStats, StopOptions } from "./src/net/server.ts";
export { Connection } from "./src/net/connection.ts";
export type { ConnectionHandlers, ConnectionOptions } from "./src/net/connection.ts";
export { bindUdp, datagramBufferSize, MAX_UDP_PAYLOAD, UdpSocket } from "./src/net/udp.ts";
export type { UdpHandlers, UdpOptions, UdpStats } from "./src/net/udp.ts";
export { getDefaultLoop, IoLoop } from "./src/net/loop.ts";
export type { IoLoopOptions } from "./src/net/loop.ts";
export { serveWorker, startWorkers, WorkerGroup } from "./src/net/workers.ts";
export type { WorkerGroupOptions } from "./src/net/workers.ts";

// Provided buffers: the pool manager, leases, and the two kernel mechanisms under it.
export { BufferPool } from "./src/buffers/pool.ts";
export type { BufferPoolOptions, BufferWaiter, LeaseHolder, PoolBackend, PoolStats } from "./src/buffers/pool.ts";
export { Lease } from "./src/buffers/lease.ts";
export { BufferRing } from "./src/buffers/buffer_ring.ts";
export type { BufferRingOptions } from "./src/buffers/buffer_ring.ts";
export { ProvidedBufferGroup } from "./src/buffers/provided_group.ts";
export { DATAGRAM_HEADROOM, DatagramReceiver, StreamReceiver } from "./src/receiver.ts";
export type { Datagram, DatagramHandler, StreamHandler, StreamReceiverOptions } from "./src/receiver.ts";

// The ring itself, for experiments and custom loops.
export { Ring } from "./src/ring.ts";
export type { CompletionHandler, RingOptions } from "./src/ring.ts";
export { SqeArray } from "./src/sqe.ts";
export * from "./src/prep.ts";
export { Reactor } from "./src/reactor.ts";
export type { CompletionTarget, SubmitHook } from "./src/reactor.ts";
export { Driver } from "./src/driver.ts";
export type { DriverStats } from "./src/driver.ts";
export { probeFeatures } from "./src/probe.ts";
export type { Features } from "./src/probe.ts";
export { NativeMemory } from "./src/memory.ts";
/** Every kernel constant and struct offset, named after its header field. */
export * as abi from "./src/abi.ts";

// Sockets and files the module opens itself (libc through FFI).
export {
  closeFd,
  connectSocket,
  localAddress,
  setLingerZero,
  setNoDelay,
  setReceiveBuffer,
  tcpConnect,
  tcpListen,
  udpBind,
} from "./src/net/socket.ts";
export type { TcpListenOptions } from "./src/net/socket.ts";
export type { SocketAddress } from "./src/sockaddr.ts";
export { openFile } from "./src/fs/file.ts";

// Errors.
export { ClosedError, Errno, errnoName, SubmissionQueueFullError, UringError } from "./src/errors.ts";
