/**
 * uring-buffers: Linux io_uring with provided buffers for Deno and Bun, over liburing.so.2 via FFI.
 * The public API, by name. See README.md.
 */
export { Ring } from "./src/ring.ts";
export type { CompletionHandler, RingOptions } from "./src/ring.ts";
export { SqeArray } from "./src/sqe.ts";
export * from "./src/prep.ts";
export { probeFeatures } from "./src/probe.ts";
export type { Features } from "./src/probe.ts";
export { ClosedError, Errno, errnoName, SubmissionQueueFullError, UringError } from "./src/errors.ts";
export { NativeMemory } from "./src/memory.ts";
export { closeFd, connectSocket, localAddress, setNoDelay, setReceiveBuffer, tcpConnect, tcpListen, udpBind } from "./src/net/socket.ts";
export type { ListenOptions } from "./src/net/socket.ts";
export type { SocketAddress } from "./src/net/sockaddr.ts";
export { openFile } from "./src/fs/file.ts";
export { Reactor } from "./src/reactor.ts";
export type { CompletionTarget, SubmitHook } from "./src/reactor.ts";
export { BufferRing } from "./src/buffers/buffer_ring.ts";
export type { BufferRingOptions } from "./src/buffers/buffer_ring.ts";
export { ProvidedBufferGroup } from "./src/buffers/provided_group.ts";
export { BufferPool } from "./src/buffers/pool.ts";
export type { BufferPoolOptions, BufferWaiter, PoolBackend, PoolStats } from "./src/buffers/pool.ts";
export { Lease } from "./src/buffers/lease.ts";
export { DatagramReceiver, StreamReceiver } from "./src/receiver.ts";
export type { Datagram, DatagramHandler, StreamHandler, StreamReceiverOptions } from "./src/receiver.ts";
/** Every kernel constant and struct offset, named after its header field. */
export * as abi from "./src/abi.ts";
export { Driver } from "./src/driver.ts";
export type { DriverStats } from "./src/driver.ts";
export { getDefaultLoop, IoLoop } from "./src/net/loop.ts";
export type { IoLoopOptions } from "./src/net/loop.ts";
export { Connection } from "./src/net/connection.ts";
export type { ConnectionHandlers, ConnectionOptions } from "./src/net/connection.ts";
export { connect, listen, Server } from "./src/net/server.ts";
export type { ConnectOptions, ListenOptions as ServerOptions, ServerHandlers, ServerStats } from "./src/net/server.ts";
export { bindUdp, UdpSocket } from "./src/net/udp.ts";
export type { UdpHandlers, UdpOptions } from "./src/net/udp.ts";
export { serveWorker, startWorkers, WorkerGroup } from "./src/net/workers.ts";
export type { WorkerGroupOptions } from "./src/net/workers.ts";
